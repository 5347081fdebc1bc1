//! Where a grant's accounts stand after a pass: `Active` once AWS confirmed every one,
//! still waiting (polled with backoff until a deadline), or failed (shown per account and
//! retried).

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use tracing::info;

use super::set_entries;
use crate::{
    api::{AssignmentState, GrantPhase, GrantedAssignment},
    assignments::{self, Overall},
    conditions::Outcome,
    controller::{
        context::seconds_between,
        error::{AccountFailure, Error, Failures},
        grant::{
            decide,
            effect::Announcement,
            execute::execute,
            giving::{GiveError, Giving},
            pass::Pass,
        },
        journal::Journal,
    },
};

pub(super) async fn settle_giving(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    giving: &Giving,
    entries: &[GrantedAssignment],
    held_back: bool,
) -> Result<Action, GiveError> {
    let (grant, ctx) = (pass.grant, pass.ctx);
    let expires_at = giving.window.1;
    match assignments::giving(entries) {
        Overall::Assigned => {
            ctx.sso.polled_out(&pass.key);
            let was_active = journal.status().phase == Some(GrantPhase::Active);
            journal.status_mut().phase = Some(GrantPhase::Active);
            let accounts: Vec<&str> = entries.iter().map(|e| e.account_id.as_str()).collect();
            let msg = format!(
                "{} is assigned the permission set on {} until {expires_at}",
                grant.spec.user,
                accounts.join(", ")
            );
            journal.settle(&Outcome::Active { message: &msg });
            if !was_active {
                if let Some(created) = &grant.metadata.creation_timestamp {
                    ctx.metrics
                        .granted_after(seconds_between(created.0, Timestamp::now()));
                }
                info!(expires_at = %expires_at, "access granted on {}", accounts.join(", "));
                pass.announce(&Announcement::normal("Granted", "Grant", msg))
                    .await;
            }
            let plan = decide::keep(&giving.selections, giving.pauses, expires_at);
            execute(pass, journal, plan)
                .await
                .map_err(GiveError::Failed)
        }
        Overall::Assigning { pending } => {
            let msg = if held_back {
                format!(
                    "waiting for AWS on {}: at most {} assignments may be in progress per instance",
                    pending.join(", "),
                    crate::controller::sso_state::MAX_OUTSTANDING
                )
            } else {
                format!("waiting for AWS on {}", pending.join(", "))
            };
            journal.settle(&Outcome::Granting { message: &msg });
            journal.commit().await?;
            match ctx.sso.next_poll(&pass.key) {
                Some(delay) => Ok(Action::requeue(delay)),
                None => {
                    // The deadline: AWS never finished. Recorded as failed, created again
                    // with backoff (AWS answers a create still in flight with a conflict).
                    let mut entries = entries.to_vec();
                    for e in entries
                        .iter_mut()
                        .filter(|e| e.state == AssignmentState::Pending)
                    {
                        e.state = AssignmentState::Failed;
                        e.request_id = None;
                        e.message = Some("still in progress after about 5 minutes".into());
                    }
                    set_entries(journal.status_mut(), &entries);
                    Err(assignment_failed(pass, journal, &entries).await.into())
                }
            }
        }
        Overall::Failed(_) => Err(assignment_failed(pass, journal, entries).await.into()),
        Overall::Removed | Overall::Removing { .. } => Ok(Action::await_change()),
    }
}

/// Shows AWS's failures on the grant (per account, with its reason) and returns the error
/// that retries with backoff.
async fn assignment_failed(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    entries: &[GrantedAssignment],
) -> Error {
    let failures: Vec<AccountFailure> = entries
        .iter()
        .filter(|e| e.state == AssignmentState::Failed)
        .map(|e| AccountFailure {
            account_id: e.account_id.clone(),
            reason: e.message.clone(),
        })
        .collect();
    let msg = format!(
        "AWS failed the assignment on {}; retrying",
        Failures(&failures)
    );
    journal.settle(&Outcome::Failed {
        reason: "AssignmentFailed",
        message: &msg,
    });
    if journal.commit_failure().await {
        pass.announce(&Announcement::warning("AssignmentFailed", "Grant", msg))
            .await;
    }
    Error::Assignment {
        grant: pass.me.clone(),
        failures,
    }
}
