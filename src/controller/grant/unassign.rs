//! Taking account assignments back: per account, unless another Active grant of the user
//! still gives it, a delete whose request id is recorded before it is polled; the grant
//! ends only once AWS confirmed every account.

use k8s_openapi::jiff::Timestamp;

use super::{
    assign::{assignment, recorded, set_entries},
    lookup::with_role_fallback,
    pass::Pass,
};
use crate::{
    api::{AssignmentState, BreakGlassGrant, GrantPhase},
    assignments::{self, Next, Overall},
    aws::{Assignment, Role, Target},
    controller::{context::key, error::Error, journal::Journal},
};

/// What `revoke_accounts` came to.
pub(super) enum Revoked {
    /// Every account is removed (or kept for another grant): the note says which.
    Done(String),
    /// AWS is still deleting: look again after this long.
    Waiting(std::time::Duration),
}

/// Takes the permission set back on every account, except where another Active grant of
/// the same user still gives it. Each delete's request id is recorded before it is polled.
pub(super) async fn revoke_accounts(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    target: &Target,
    others: &[BreakGlassGrant],
) -> Result<Revoked, Error> {
    let (grant, ctx) = (pass.grant, pass.ctx);
    let Some(user_id) = journal.status().user_id.clone() else {
        return Err(Error::NoRecord {
            grant: pass.me.clone(),
        });
    };
    let mut entries = recorded(journal.status());
    let mut kept = vec![];
    for i in 0..entries.len() {
        let a = assignment(&entries[i]);
        let holders = holders_of(grant, others, &user_id, &a, pass.now.0);
        let answer = match assignments::to_end(&entries[i], !holders.is_empty()) {
            Next::Done => {
                if !holders.is_empty() && entries[i].state != AssignmentState::Removed {
                    entries[i].state = AssignmentState::Removed;
                    entries[i].request_id = None;
                    entries[i].message =
                        Some(format!("kept: still granted by {}", holders.join(", ")));
                    kept.push(format!(
                        "{} (still granted by {})",
                        a.account_id,
                        holders.join(", ")
                    ));
                }
                continue;
            }
            Next::PollDelete(id) => {
                with_role_fallback(pass, target, |t| {
                    let (instance, id) = (a.instance_arn.clone(), id.clone());
                    async move {
                        let sso = ctx.aws.sso(&t, Role::Write).await?;
                        sso.deletion(&instance, &id).await
                    }
                })
                .await
            }
            Next::Delete => {
                with_role_fallback(pass, target, |t| {
                    let (a, user_id) = (a.clone(), user_id.clone());
                    async move {
                        ctx.aws
                            .sso(&t, Role::Write)
                            .await?
                            .delete(&a, &user_id)
                            .await
                    }
                })
                .await
            }
            Next::Create { .. } | Next::PollCreate(_) => continue,
        };
        let progress = match answer {
            Ok(p) => p,
            Err(e) => {
                set_entries(journal.status_mut(), &entries);
                return Err(pass.fail(journal, "removing the assignment", e).await);
            }
        };
        let was_asked = entries[i].request_id.is_none();
        assignments::deleted(&mut entries[i], progress);
        if was_asked && entries[i].request_id.is_some() {
            // The request id before it is polled: a restart polls instead of asking again.
            set_entries(journal.status_mut(), &entries);
            journal.checkpoint().await?;
        }
    }
    set_entries(journal.status_mut(), &entries);
    match assignments::ending(&entries) {
        Overall::Removed => {
            ctx.sso.polled_out(&pass.key);
            let removed: Vec<&str> = entries
                .iter()
                .filter(|e| e.message.is_none())
                .map(|e| e.account_id.as_str())
                .collect();
            let mut parts = vec![];
            if !removed.is_empty() {
                parts.push(format!(
                    "removed the permission set on {}",
                    removed.join(", ")
                ));
            }
            if !kept.is_empty() {
                parts.push(format!("kept on {}", kept.join(", ")));
            }
            Ok(Revoked::Done(parts.join("; ")))
        }
        _ => {
            journal.commit().await?;
            let delay = ctx
                .sso
                .next_poll(&pass.key)
                .unwrap_or(std::time::Duration::from_secs(10));
            Ok(Revoked::Waiting(delay))
        }
    }
}

/// Other Active grants of this user that still give this assignment.
fn holders_of(
    grant: &BreakGlassGrant,
    others: &[BreakGlassGrant],
    user_id: &str,
    a: &Assignment,
    now: Timestamp,
) -> Vec<String> {
    others
        .iter()
        .filter(|g| g.metadata.uid != grant.metadata.uid)
        .filter(|g| g.metadata.deletion_timestamp.is_none() && !g.spec.resolved)
        .filter(|g| {
            g.status.as_ref().is_some_and(|s| {
                s.phase == Some(GrantPhase::Active)
                    && s.user_id.as_deref() == Some(user_id)
                    && s.expires_at.as_ref().is_some_and(|e| e.0 > now)
                    && recorded(s)
                        .iter()
                        .any(|e| e.state == AssignmentState::Assigned && assignment(e) == *a)
            })
        })
        .map(key)
        .collect()
}
