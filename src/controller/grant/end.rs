//! Ending a grant (access removed unless another grant still gives it, pauses given back,
//! then the record) and denying one (nothing touched).

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    runtime::{controller::Action, events::EventType},
};
use tracing::{info, warn};

use super::{
    lookup::{list_user_grants, other_holders, target, with_role_fallback},
    pause::{release_asked, restore_targets},
    status::{fail, publish, settle, write_status},
    unassign::{Revoked, revoke_accounts},
};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicySpec, EndReason, GrantPhase, GrantedMembership},
    aws::{self, Role, Target},
    conditions::Outcome,
    controller::{
        context::{Context, key, seconds_between, time},
        error::Error,
    },
    pause::executor as pausing,
    plan,
    policy::Denial,
};

pub(crate) async fn end(
    grant: &BreakGlassGrant,
    ctx: &Context,
    policy: Option<&BreakGlassPolicySpec>,
    reason: EndReason,
    revoke: bool,
    now: Timestamp,
) -> Result<Action, Error> {
    if revoke {
        crate::faults::failpoint("before-revoke").await;
    }
    let mut status = grant.status.clone().unwrap_or_default();
    let now = time(now);
    // When the end became due, as far as the record tells; otherwise when it was noticed.
    let due = match reason {
        EndReason::Expired => status.expires_at.as_ref().map(|t| t.0),
        EndReason::Deleted => grant.metadata.deletion_timestamp.as_ref().map(|t| t.0),
        EndReason::Resolved
        | EndReason::PolicyDeleted
        | EndReason::PolicyChanged
        | EndReason::RevokedOnAws => None,
    }
    .unwrap_or(now.0);
    let why = policy
        .filter(|_| reason == EndReason::PolicyChanged)
        .and_then(|p| plan::policy_change(grant, p))
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    let mut note = format!("grant ended ({reason:?}{why})");
    // A grant on several accounts whose access one admin removed (`RevokedOnAws`) still
    // holds the others: they go too.
    if (revoke || reason == EndReason::RevokedOnAws)
        && status
            .access
            .as_ref()
            .is_some_and(|a| !a.account_assignments.is_empty())
    {
        let (Some(target), Some(user_id)) = (target(grant, policy), status.user_id.clone()) else {
            return Err(Error::NoRecord(key(grant)));
        };
        let lock = ctx.user_lock(&user_id).await;
        let _guard = lock.lock().await;
        let same_user = list_user_grants(grant, ctx).await?;
        match revoke_accounts(grant, ctx, policy, &target, &mut status, &same_user, &now).await? {
            Revoked::Done(removed) if removed.is_empty() => {}
            Revoked::Done(removed) => note = format!("{note}; {removed}"),
            Revoked::Waiting(delay) => return Ok(Action::requeue(delay)),
        }
        ctx.aws.forget(&target).await;
    } else if revoke {
        let membership = status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.clone());
        let (Some(target), Some(membership), Some(user_id)) =
            (target(grant, policy), membership, status.user_id.clone())
        else {
            return Err(Error::NoRecord(key(grant)));
        };
        let lock = ctx.user_lock(&user_id).await;
        let _guard = lock.lock().await;
        let same_user = list_user_grants(grant, ctx).await?;
        let holders = other_holders(grant, &same_user, &user_id, &membership, now.0);
        if holders.is_empty() {
            if let Err(e) =
                revoke_membership(grant, ctx, policy, &target, &user_id, &membership).await
            {
                return Err(fail(grant, ctx, status, e, &now).await);
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
    if let Err(e) = restore_targets(grant, ctx, &mut status, &now, release_asked(grant)).await {
        // Keep what was already restored, so the retry does not misreport it.
        if let Err(w) = write_status(grant, ctx, &status).await {
            warn!(error = %w, "could not record restore progress on the grant");
        }
        return Err(e);
    }
    status.phase = Some(GrantPhase::Ended);
    status.end_reason = Some(reason);
    status.ended_at = Some(now.clone());
    let reason_name = format!("{reason:?}");
    let ended = Outcome::Ended {
        reason: &reason_name,
        message: &note,
    };
    settle(&mut status, grant, &ended, &now);
    write_status(grant, ctx, &status).await?;
    // Measured to when access is gone, not to the pipeline's `now`.
    ctx.metrics
        .revoked_after(&reason_name, seconds_between(due, Timestamp::now()));
    info!(reason = ?reason, "{note}");
    publish(ctx, grant, EventType::Normal, "Ended", "Revoke", &note).await;
    Ok(after_review(&status))
}

/// How often targets held for review are looked at again (their status may have turned in
/// sync); a change to the grant (the restore annotation) is seen at once.
const REVIEW_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

fn after_review(status: &crate::api::BreakGlassGrantStatus) -> Action {
    if pausing::held(&status.paused_targets) {
        Action::requeue(REVIEW_RECHECK)
    } else {
        Action::await_change()
    }
}

/// An Ended grant that holds targets for review: give back those now in sync, or all of
/// them when a person asked or the grant is being deleted.
pub(crate) async fn review(
    grant: &BreakGlassGrant,
    ctx: &Context,
    now: Timestamp,
) -> Result<Action, Error> {
    let mut status = grant.status.clone().unwrap_or_default();
    let now = time(now);
    let restored = restore_targets(grant, ctx, &mut status, &now, release_asked(grant)).await;
    if grant.status.as_ref() != Some(&status) {
        write_status(grant, ctx, &status).await?;
    }
    if let Some(ended) = status.ended_at.as_ref()
        && !pausing::held(&status.paused_targets)
    {
        ctx.metrics
            .held_for(seconds_between(ended.0, Timestamp::now()));
    }
    restored?;
    Ok(after_review(&status))
}

/// Removes the membership (as the recorded role, else the policy's current one).
async fn revoke_membership(
    grant: &BreakGlassGrant,
    ctx: &Context,
    policy: Option<&BreakGlassPolicySpec>,
    target: &Target,
    user_id: &str,
    membership: &GrantedMembership,
) -> Result<(), aws::Error> {
    with_role_fallback(grant, ctx, policy, target, |t| async move {
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

pub(crate) async fn deny(
    grant: &BreakGlassGrant,
    ctx: &Context,
    denial: &Denial,
    now: Timestamp,
) -> Result<Action, Error> {
    // The whole status is applied from this object: should the cache lag behind a record of
    // access (the window written before the AWS change), denying would erase that record
    // while the access exists. Decide on a fresh read.
    let api: Api<BreakGlassGrant> =
        Api::namespaced(ctx.client.clone(), &grant.namespace().unwrap_or_default());
    let fresh = api
        .get_opt(&grant.name_any())
        .await
        .map_err(|source| Error::Load {
            action: "re-reading before denying",
            namespace: grant.namespace().unwrap_or_default(),
            name: grant.name_any(),
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
    let mut status = grant.status.clone().unwrap_or_default();
    let msg = denial.to_string();
    status.phase = Some(GrantPhase::Denied);
    let denied = Outcome::Denied {
        reason: denial.reason(),
        message: &msg,
    };
    settle(&mut status, grant, &denied, &time(now));
    write_status(grant, ctx, &status).await?;
    info!(reason = denial.reason(), "grant denied: {msg}");
    publish(ctx, grant, EventType::Warning, "Denied", "Evaluate", &msg).await;
    Ok(Action::await_change())
}
