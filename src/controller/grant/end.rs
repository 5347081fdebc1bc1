//! Ending a grant (access removed unless another grant still gives it, pauses given back,
//! then the record) and denying one (nothing touched).

use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt, runtime::controller::Action};
use tracing::{info, warn};

use super::{
    effect::Announcement,
    lookup::{list_user_grants, other_holders, target, with_role_fallback},
    pass::Pass,
    pause::{release_asked, restore_targets},
    unassign::{Revoked, revoke_accounts},
};
use crate::{
    api::{BreakGlassGrant, BreakGlassGrantStatus, EndReason, GrantPhase, GrantedMembership},
    aws::{self, Role, Target},
    conditions::Outcome,
    controller::{context::seconds_between, error::Error},
    pause::executor as pausing,
    plan,
    policy::Denial,
};

pub(crate) async fn end(pass: &Pass<'_>, reason: EndReason, revoke: bool) -> Result<Action, Error> {
    if revoke {
        crate::faults::failpoint("before-revoke").await;
    }
    let (grant, ctx, policy) = (pass.grant, pass.ctx, pass.policy);
    let mut journal = pass.journal();
    let now = pass.now.0;
    // When the end became due, as far as the record tells; otherwise when it was noticed.
    let due = match reason {
        EndReason::Expired => journal.status().expires_at.as_ref().map(|t| t.0),
        EndReason::Deleted => grant.metadata.deletion_timestamp.as_ref().map(|t| t.0),
        EndReason::Resolved
        | EndReason::PolicyDeleted
        | EndReason::PolicyChanged
        | EndReason::RevokedOnAws => None,
    }
    .unwrap_or(now);
    let why = policy
        .filter(|_| reason == EndReason::PolicyChanged)
        .and_then(|p| plan::policy_change(grant, p))
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    let mut note = format!("grant ended ({reason:?}{why})");
    let no_record = || Error::NoRecord {
        grant: pass.me.clone(),
    };
    // A grant on several accounts whose access one admin removed (`RevokedOnAws`) still
    // holds the others: they go too.
    if (revoke || reason == EndReason::RevokedOnAws) && has_accounts(journal.status()) {
        let (Some(target), Some(user_id)) =
            (target(grant, policy), journal.status().user_id.clone())
        else {
            return Err(no_record());
        };
        let lock = ctx.user_lock(&user_id).await;
        let _guard = lock.lock().await;
        let same_user = list_user_grants(pass).await?;
        match revoke_accounts(pass, &mut journal, &target, &same_user).await? {
            Revoked::Done(removed) if removed.is_empty() => {}
            Revoked::Done(removed) => note = format!("{note}; {removed}"),
            Revoked::Waiting(delay) => return Ok(Action::requeue(delay)),
        }
        ctx.aws.forget(&target).await;
    } else if revoke {
        let membership = journal
            .status()
            .access
            .as_ref()
            .and_then(|a| a.group_membership.clone());
        let (Some(target), Some(membership), Some(user_id)) = (
            target(grant, policy),
            membership,
            journal.status().user_id.clone(),
        ) else {
            return Err(no_record());
        };
        let lock = ctx.user_lock(&user_id).await;
        let _guard = lock.lock().await;
        let same_user = list_user_grants(pass).await?;
        let holders = other_holders(grant, &same_user, &user_id, &membership, now);
        if holders.is_empty() {
            if let Err(e) = revoke_membership(pass, &target, &user_id, &membership).await {
                return Err(pass.fail(&mut journal, "removing the member", e).await);
            }
            note = format!(
                "{note}; removed {} from group {}",
                grant.spec.user, membership.group_id
            );
        } else {
            note = format!(
                "{note}; access kept: still granted by {}",
                holders.join(", ")
            );
        }
        // The cached session is named after this grant: nothing will use it again.
        ctx.aws.forget(&target).await;
    }
    if let Err(e) = restore_targets(pass, &mut journal, release_asked(grant)).await {
        // Keep what was already restored, so the retry does not misreport it.
        if let Err(w) = journal.checkpoint().await {
            warn!(error = %w, "could not record restore progress on the grant");
        }
        return Err(e);
    }
    let status = journal.status_mut();
    status.phase = Some(GrantPhase::Ended);
    status.end_reason = Some(reason);
    status.ended_at = Some(pass.now.clone());
    let reason_name = format!("{reason:?}");
    journal.settle(&Outcome::Ended {
        reason: &reason_name,
        message: &note,
    });
    journal.commit().await?;
    // Measured to when access is gone, not to the pass's `now`.
    ctx.metrics
        .revoked_after(&reason_name, seconds_between(due, Timestamp::now()));
    info!(reason = ?reason, "{note}");
    pass.announce(&Announcement::normal("Ended", "Revoke", note))
        .await;
    Ok(after_review(journal.status()))
}

fn has_accounts(status: &BreakGlassGrantStatus) -> bool {
    status
        .access
        .as_ref()
        .is_some_and(|a| !a.account_assignments.is_empty())
}

/// How often targets held for review are looked at again (their status may have turned in
/// sync); a change to the grant (the restore annotation) is seen at once.
const REVIEW_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

fn after_review(status: &BreakGlassGrantStatus) -> Action {
    if pausing::held(&status.paused_targets) {
        Action::requeue(REVIEW_RECHECK)
    } else {
        Action::await_change()
    }
}

/// An Ended grant that holds targets for review: give back those now in sync, or all of
/// them when a person asked or the grant is being deleted.
pub(crate) async fn review(pass: &Pass<'_>) -> Result<Action, Error> {
    let mut journal = pass.journal();
    let restored = restore_targets(pass, &mut journal, release_asked(pass.grant)).await;
    journal.commit().await?;
    if let Some(ended) = journal.status().ended_at.as_ref()
        && !pausing::held(&journal.status().paused_targets)
    {
        pass.ctx
            .metrics
            .held_for(seconds_between(ended.0, Timestamp::now()));
    }
    restored?;
    Ok(after_review(journal.status()))
}

/// Removes the membership (as the recorded role, else the policy's current one).
async fn revoke_membership(
    pass: &Pass<'_>,
    target: &Target,
    user_id: &str,
    membership: &GrantedMembership,
) -> Result<(), aws::Error> {
    let ctx = pass.ctx;
    with_role_fallback(pass, target, |t| async move {
        ctx.aws
            .store(&t, Role::Write)
            .await?
            .remove_membership(
                &membership.group_id,
                user_id,
                membership.membership_id.as_deref(),
            )
            .await
    })
    .await
}

pub(crate) async fn deny(pass: &Pass<'_>, denial: &Denial) -> Result<Action, Error> {
    let grant = pass.grant;
    // The whole status is applied from this object: should the cache lag behind a record of
    // access (the window written before the AWS change), denying would erase that record
    // while the access exists. Decide on a fresh read.
    let api: Api<BreakGlassGrant> = Api::namespaced(
        pass.ctx.client.clone(),
        &grant.namespace().unwrap_or_default(),
    );
    let fresh = api
        .get_opt(&grant.name_any())
        .await
        .map_err(|source| Error::Load {
            grant: pass.me.clone(),
            what: "re-reading before denying",
            source,
        })?;
    match fresh {
        None => return Ok(Action::await_change()),
        Some(f) if plan::may_hold_access(&f) => {
            info!("the cached grant is older than its record of access; planning again");
            return Ok(Action::requeue(std::time::Duration::from_millis(200)));
        }
        Some(_) => {}
    }
    let mut journal = pass.journal();
    let msg = denial.to_string();
    journal.status_mut().phase = Some(GrantPhase::Denied);
    journal.settle(&Outcome::Denied {
        reason: denial.reason(),
        message: &msg,
    });
    journal.commit().await?;
    info!(reason = denial.reason(), "grant denied: {msg}");
    pass.announce(&Announcement {
        warning: true,
        reason: "Denied",
        action: "Evaluate",
        note: msg,
    })
    .await;
    Ok(Action::await_change())
}
