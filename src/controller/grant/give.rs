//! Giving access: look-ups, the record written before the first AWS change, the membership,
//! then pausing what the policy names.

use std::time::Duration;

use crate::api::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{controller::Action, events::EventType};
use tracing::info;

use super::{
    assign::give_accounts,
    keep::{GiveError, keep},
    lookup::target,
    status::{fail, publish, settle, write_status},
};
use crate::{
    api::{
        AwsSession, BreakGlassGrant, BreakGlassGrantStatus, BreakGlassPolicySpec, GrantPhase,
        GrantedAccess, GrantedMembership,
    },
    aws::Role,
    conditions::Outcome,
    controller::{
        context::{Context, FIELD_MANAGER, failpoint, instance, key, seconds_between, time},
        error::Error,
        ledger,
    },
    pause::{self, Selection, executor as pausing},
    plan,
    policy::{Denial, Eligibility},
    targets::{GroupTarget, Target},
};

pub(crate) async fn give(
    grant: &BreakGlassGrant,
    ctx: &Context,
    policy: &BreakGlassPolicySpec,
    eligibility: Option<Eligibility>,
    started_at: Timestamp,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<Action, GiveError> {
    let Some(target) = target(grant, Some(policy)) else {
        return Ok(Action::await_change());
    };
    let mut status = grant.status.clone().unwrap_or_default();
    let at = time(now);
    let now = &at;
    let first = status.expires_at.is_none();

    let selections = pause::selections(policy);
    if ctx.is_echo(
        &instance(grant),
        grant.metadata.resource_version.as_deref(),
        expires_at,
    ) {
        // Access needs no look (the sweep compares AWS); pauses are checked on every pass,
        // so a person re-enabling automation shows within the re-check interval.
        if !selections.is_empty() || !status.paused_targets.is_empty() {
            return keep(grant, ctx, &selections, status, expires_at, now)
                .await
                .map_err(GiveError::Failed);
        }
        return Ok(Action::requeue(plan::requeue_after(
            expires_at,
            Timestamp::now(),
        )));
    }
    if first
        && let Some(wait) = wait_for_required(grant, ctx, &selections, &mut status, now).await?
    {
        return Ok(wait);
    }
    let group = match (
        &policy.access.group_membership,
        &policy.access.account_assignment,
    ) {
        (Some(group), _) => group,
        (None, Some(accounts)) => {
            return give_accounts(
                grant,
                ctx,
                policy,
                accounts,
                &target,
                &selections,
                eligibility,
                (started_at, expires_at),
                now,
            )
            .await;
        }
        (None, None) => return Ok(Action::await_change()),
    };

    // Already Active with its membership recorded: AWS is the sweep's to compare (one list
    // per group, whatever the number of grants), so neither the periodic look nor a restart
    // costs an AWS call per grant.
    let held = status.phase == Some(GrantPhase::Active)
        && status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .is_some_and(|m| {
                m.membership_id.is_some() && m.identity_store_id == target.identity_store_id
            });
    if held {
        return keep(grant, ctx, &selections, status, expires_at, now)
            .await
            .map_err(GiveError::Failed);
    }

    let reader = match ctx.aws.store(&target, Role::Read).await {
        Ok(c) => c,
        Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
    };
    // Ids recorded by an earlier pass are stable.
    let recorded = status.user_id.clone().zip(
        status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .filter(|m| m.identity_store_id == target.identity_store_id)
            .map(|m| m.group_id.clone()),
    );
    let (user_id, group_id) = match recorded {
        Some(ids) => ids,
        None => {
            let user_id = match reader.user_id(&grant.spec.user).await {
                Ok(u) => u,
                Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
            };
            let group_id = match (&group.group_id, &group.group_name) {
                (Some(id), _) => id.clone(),
                (None, Some(name)) => match ctx.cached_group_id(&target.identity_store_id, name) {
                    Some(id) => id,
                    None => match reader.group_id(name).await {
                        Ok(id) => {
                            ctx.cache_group_id(&target.identity_store_id, name, Some(&id));
                            id
                        }
                        Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
                    },
                },
                (None, None) => return Ok(Action::await_change()),
            };
            (user_id, group_id)
        }
    };
    if let Some(Eligibility::ByGroup(groups)) = &eligibility {
        match reader.member_of_any(&user_id, groups).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(GiveError::Denied(Denial::UserNotEligible {
                    user: grant.spec.user.clone(),
                    policy: grant.spec.policy.clone(),
                }));
            }
            Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
        }
    }

    // Record the window and the session before the first AWS change: a crash after the
    // change still leaves the expiry, and what to revoke, on the grant.
    status.user_id = Some(user_id.clone());
    status.aws = Some(AwsSession {
        role_arn: target.role_arn.clone(),
        session_name: target.session_name.clone(),
        region: target.region.clone(),
        external_id: target.external_id.clone(),
    });
    let mut access = status.access.clone().unwrap_or(GrantedAccess {
        group_membership: None,
        account_assignments: vec![],
    });
    // Named by id, the group is the id; named by name, the name is what a policy edit changes.
    let group_name = group
        .group_id
        .is_none()
        .then(|| group.group_name.clone())
        .flatten();
    let membership_id = access
        .group_membership
        .as_ref()
        .and_then(|m| m.membership_id.clone());
    access.group_membership = Some(GrantedMembership {
        identity_store_id: target.identity_store_id.clone(),
        group_id: group_id.clone(),
        group_name: group_name.clone(),
        membership_id,
    });
    status.access = Some(access.clone());
    status.granted_at = Some(time(started_at));
    status.expires_at = Some(time(expires_at));
    if first {
        status.phase = Some(GrantPhase::Pending);
        let granting = Outcome::Granting {
            message: "adding the user to the group",
        };
        settle(&mut status, grant, &granting, now);
        write_status(grant, ctx, &status).await?;
    }

    // The ledger, too, before the change: whatever is added can be taken back even if this
    // grant is later deleted without its finalizer.
    let member_of = Target::Group(GroupTarget {
        identity_store_id: target.identity_store_id.clone(),
        group_id: group_id.clone(),
    });
    let entry = ledger::Entry::new(member_of, &user_id, &grant.spec.user, key(grant), &target);
    let newly_recorded = match ctx.ledger.record(&entry).await {
        Ok(new) => new,
        Err(source) => {
            return Err(Error::Ledger {
                grant: key(grant),
                source,
            }
            .into());
        }
    };
    let writer = match ctx.aws.store(&target, Role::Write).await {
        Ok(c) => c,
        Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
    };
    let lock = ctx.user_lock(&user_id).await;
    let guard = lock.lock().await;
    let membership = match writer
        // Look first unless this is the first attempt and no other grant recorded the
        // member: then it cannot exist yet, except added by hand (AWS answers Conflict).
        .ensure_membership(&group_id, &user_id, !(first && newly_recorded))
        .await
    {
        Ok(m) => m,
        Err(e) => {
            drop(guard);
            if let Some(name) = &group.group_name {
                // The group may have been replaced: look its id up again next time.
                ctx.cache_group_id(&target.identity_store_id, name, None);
            }
            return Err(fail(grant, ctx, status, e, now).await.into());
        }
    };
    drop(guard);
    failpoint("after-create-membership").await;

    let was_active = status.phase == Some(GrantPhase::Active);
    access.group_membership = Some(GrantedMembership {
        identity_store_id: target.identity_store_id.clone(),
        group_id: group_id.clone(),
        group_name,
        membership_id: Some(membership.clone()),
    });
    status.access = Some(access);
    status.phase = Some(GrantPhase::Active);
    let msg = format!(
        "{} is a member of group {group_id} until {expires_at}",
        grant.spec.user
    );
    settle(&mut status, grant, &Outcome::Active { message: &msg }, now);
    if !was_active {
        if let Some(created) = &grant.metadata.creation_timestamp {
            // Latency is measured to when access exists, not to the pipeline's `now`.
            ctx.metrics
                .granted_after(seconds_between(created.0, Timestamp::now()));
        }
        info!(membership = %membership, expires_at = %expires_at, "access granted");
        publish(ctx, grant, EventType::Normal, "Granted", "Grant", &msg).await;
    }
    keep(grant, ctx, &selections, status, expires_at, now)
        .await
        .map_err(GiveError::Failed)
}

/// Before any AWS change: when a `required` pause target does not exist, the grant waits
/// (Pending, no access) and looks again shortly.
pub(crate) async fn wait_for_required(
    grant: &BreakGlassGrant,
    ctx: &Context,
    selections: &[Selection],
    status: &mut BreakGlassGrantStatus,
    now: &Time,
) -> Result<Option<Action>, Error> {
    let required: Vec<Selection> = selections.iter().filter(|s| s.required).cloned().collect();
    if required.is_empty() {
        return Ok(None);
    }
    let work = pausing::survey(
        &ctx.client,
        &ctx.kinds,
        &required,
        &key(grant),
        &status.paused_targets,
        FIELD_MANAGER,
    )
    .await;
    let Some(msg) = pausing::missing_required(&work) else {
        return Ok(None);
    };
    let missing: Vec<pausing::Work> = work
        .into_iter()
        .filter(|w| w.found.object.as_ref().is_err_and(|p| p.is_missing()))
        .collect();
    pausing::record_intent(&mut status.paused_targets, &missing);
    status.phase = Some(GrantPhase::Pending);
    let waiting = Outcome::WaitingForRequiredTarget { message: &msg };
    settle(status, grant, &waiting, now);
    if grant.status.as_ref() != Some(status) {
        write_status(grant, ctx, status).await?;
        publish(ctx, grant, EventType::Warning, "Waiting", "Pause", &msg).await;
    }
    Ok(Some(Action::requeue(Duration::from_secs(5))))
}
