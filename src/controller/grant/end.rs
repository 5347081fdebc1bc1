//! Ending a grant (access removed unless another grant still gives it, pauses given back,
//! then the record) and denying one (nothing touched).

use kube::{Api, ResourceExt, runtime::controller::Action};
use tracing::info;

use super::{
    decide::ending,
    decide::holders::holders,
    execute::{apply, execute},
    lookup::{list_user_grants, target},
    pass::Pass,
    pause::release_asked,
    unassign::{Revoked, revoke_accounts},
};
use crate::{
    api::{BreakGlassGrant, EndReason},
    controller::error::Error,
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
    let deleted_at = grant.metadata.deletion_timestamp.as_ref().map(|t| t.0);
    let due = ending::due(reason, journal.status(), deleted_at, now);
    let why = policy
        .filter(|_| reason == EndReason::PolicyChanged)
        .and_then(|p| plan::policy_change(&plan::record(grant), p));
    let mut note = ending::note(reason, why);
    let no_record = || Error::NoRecord {
        grant: pass.me.clone(),
    };
    // A grant on several accounts whose access one admin removed (`RevokedOnAws`) still
    // holds the others: they go too.
    if (revoke || reason == EndReason::RevokedOnAws) && ending::has_accounts(journal.status()) {
        let (Some(target), Some(user_id)) =
            (target(grant, policy), journal.status().user_id.clone())
        else {
            return Err(no_record());
        };
        let _guard = ctx.user_lock(&user_id).await;
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
        // Who else holds the membership is read, and the member removed, under the user's
        // lock: an overlapping grant cannot add or count on it meanwhile.
        let _guard = ctx.user_lock(&user_id).await;
        let same_user = list_user_grants(pass).await?;
        let holders = holders(grant, &same_user, &user_id, now, |s| {
            s.access
                .as_ref()
                .and_then(|a| a.group_membership.as_ref())
                .is_some_and(|m| {
                    m.group_id == membership.group_id
                        && m.identity_store_id == membership.identity_store_id
                })
        });
        let (effects, said) =
            ending::take_member(&grant.spec.user, target, user_id, membership, &holders);
        apply(pass, &mut journal, effects).await?;
        note = format!("{note}; {said}");
    }
    let plan = ending::ended(reason, note.clone(), due, release_asked(grant));
    let action = execute(pass, &mut journal, plan).await?;
    info!(reason = ?reason, "{note}");
    Ok(action)
}

/// An Ended grant that holds targets for review: give back those now in sync, or all of
/// them when a person asked or the grant is being deleted.
pub(crate) async fn review(pass: &Pass<'_>) -> Result<Action, Error> {
    let mut journal = pass.journal();
    execute(
        pass,
        &mut journal,
        ending::review(release_asked(pass.grant)),
    )
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
        Some(f) if plan::may_hold_access(f.status.as_ref()) => {
            info!("the cached grant is older than its record of access; planning again");
            return Ok(Action::requeue(std::time::Duration::from_millis(200)));
        }
        Some(_) => {}
    }
    let mut journal = pass.journal();
    info!(reason = denial.reason(), "grant denied: {denial}");
    execute(pass, &mut journal, ending::deny(denial)).await
}
