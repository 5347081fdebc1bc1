//! The executor: applies a plan's effects in order through the pass's journal, then says
//! when to look at the grant again. The failpoints sit where tests SIGKILL the process:
//! right after the AWS change, before anything records its answer.

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use tracing::{info, warn};

use super::{
    assignment::{self, set_entries},
    decide,
    effect::{AddMember, After, Effect, Plan, RemoveMember, RestoreFailure},
    lookup::with_role_fallback,
    pass::Pass,
    pause::{pause_targets, restore_targets},
};
use crate::{
    api::{BreakGlassGrantStatus, GrantPhase},
    aws::{self, Role},
    controller::{
        context::{failpoint, seconds_between},
        error::Error,
        journal::Journal,
    },
    pause::{executor as pausing, watch::needs_poll},
    plan,
};

/// How often an Active grant's pauses are looked at again while a watch cannot tell it
/// what changed (a target that failed, a kind not watched or not in sync); otherwise the
/// watch reconciles it at each change, and `Context::pause_recheck` is only a safety net.
const PAUSE_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// How often targets held for review are looked at again (their status may have turned in
/// sync); a change to the grant (the restore annotation) is seen at once.
const REVIEW_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

pub(crate) async fn execute(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    plan: Plan,
) -> Result<Action, Error> {
    apply(pass, journal, plan.effects).await?;
    let watched = |kind: &_| pass.ctx.pause_watches.in_sync(kind);
    let polled = needs_poll(&journal.status().paused_targets, watched);
    let recheck = if polled {
        PAUSE_RECHECK
    } else {
        pass.ctx.pause_recheck
    };
    Ok(after(plan.after, journal.status(), recheck))
}

/// Applies effects in order; the first failure ends the pass.
pub(crate) async fn apply(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    effects: Vec<Effect>,
) -> Result<(), Error> {
    // A pause conflict fails the pass once the commit has recorded everything else; a
    // review's restore failure once every effect is applied.
    let mut deferred = None;
    let mut unrestored = None;
    for effect in effects {
        match effect {
            Effect::Phase(phase) => journal.status_mut().phase = Some(phase),
            Effect::Settle(s) => journal.settle(&s.outcome()),
            Effect::Checkpoint => journal.checkpoint().await?,
            Effect::AddMember(add) => add_member(pass, journal, *add).await?,
            Effect::RemoveMember(remove) => {
                if let Err(e) = remove_member(pass, &remove).await {
                    return Err(pass.fail(journal, "removing the member", e).await);
                }
            }
            Effect::Accounts(entries) => set_entries(journal.status_mut(), &entries),
            Effect::Assign(a) => assignment::assign(pass, journal, *a).await?,
            Effect::Unassign(u) => assignment::unassign(pass, journal, *u).await?,
            Effect::AssignmentFailed => {
                return Err(assignment::assignment_failed(pass, journal).await);
            }
            Effect::PolledOut => pass.ctx.sso.polled_out(&pass.key),
            Effect::Forget(target) => pass.ctx.aws.forget(&target).await,
            Effect::Restore {
                release_held,
                on_failure,
            } => {
                if let Err(e) = restore_targets(pass, journal, release_held).await {
                    match on_failure {
                        RestoreFailure::FailNow => {
                            // Keep what was already restored, so the retry does not
                            // misreport it.
                            if let Err(w) = journal.checkpoint().await {
                                warn!(error = %w, "could not record restore progress on the grant");
                            }
                            return Err(e);
                        }
                        RestoreFailure::Last => unrestored = Some(e),
                    }
                }
            }
            Effect::End(reason) => {
                let now = pass.now.clone();
                let status = journal.status_mut();
                status.phase = Some(GrantPhase::Ended);
                status.end_reason = Some(reason);
                status.ended_at = Some(now);
            }
            Effect::MeasureGranted => {
                if let Some(created) = &pass.grant.metadata.creation_timestamp {
                    // Latency is measured to when access exists, not to the pass's `now`.
                    pass.ctx
                        .metrics
                        .granted_after(seconds_between(created.0, Timestamp::now()));
                }
                info!("access granted");
            }
            Effect::MeasureRevoked { reason, due } => {
                // Measured to when access is gone, not to the pass's `now`.
                pass.ctx
                    .metrics
                    .revoked_after(&reason, seconds_between(due, Timestamp::now()));
            }
            Effect::MeasureHeld => {
                let status = journal.status();
                if let Some(ended) = status.ended_at.as_ref()
                    && !pausing::held(&status.paused_targets)
                {
                    pass.ctx
                        .metrics
                        .held_for(seconds_between(ended.0, Timestamp::now()));
                }
            }
            Effect::Announce(a) => pass.announce(&a).await,
            Effect::Pause(selections) => {
                if let Err(e) = pause_targets(pass, journal, &selections).await {
                    deferred = Some(e);
                }
            }
            Effect::Commit => {
                journal.commit().await?;
                if let Some(e) = deferred.take() {
                    return Err(e);
                }
            }
            Effect::CommitNoting(a) => {
                if journal.commit().await? {
                    pass.announce(&a).await;
                }
            }
            Effect::Confirm(expires_at) => journal.confirm(expires_at),
        }
    }
    match deferred.or(unrestored) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// When to look again. From the clock, not `now`: AWS calls took time, and expiry must not
/// wait for them.
/// `pause_recheck`: within how long a grant that pauses something reads its targets again.
pub(crate) fn after(
    after: After,
    status: &BreakGlassGrantStatus,
    pause_recheck: std::time::Duration,
) -> Action {
    match after {
        // Its resync exists for pauses: a grant whose pauses are watched skips it.
        After::Expiry {
            expires_at,
            pauses: true,
        } => Action::requeue(plan::requeue_within(
            expires_at,
            Timestamp::now(),
            pause_recheck,
        )),
        After::Expiry { expires_at, .. } => {
            Action::requeue(plan::requeue_after(expires_at, Timestamp::now()))
        }
        After::In(delay) => Action::requeue(delay),
        After::Change => Action::await_change(),
        After::Review if pausing::held(&status.paused_targets) => Action::requeue(REVIEW_RECHECK),
        After::Review => Action::await_change(),
    }
}

/// Removes the membership (as the recorded role, else the policy's current one).
async fn remove_member(pass: &Pass<'_>, remove: &RemoveMember) -> Result<(), aws::Error> {
    let ctx = pass.ctx;
    let (user_id, membership) = (&remove.user_id, &remove.membership);
    with_role_fallback(pass, &remove.target, |t| async move {
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

/// Adds the user to the group as the grant's session, under the user's lock (so an
/// overlapping grant's look cannot go stale before its add). It looks first: a member that
/// exists while the ledger has no record of it was there before the grant (standing access)
/// and stays out of the ledger, so neither the end nor the sweep removes it. Otherwise the
/// member is recorded in the ledger before the add.
async fn add_member(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    add: AddMember,
) -> Result<(), Error> {
    const OP: &str = "adding the member";
    let ctx = pass.ctx;
    let ledger_error = |source| Error::Ledger {
        grant: pass.me.clone(),
        source,
    };
    let guard = ctx.user_lock(&add.user_id).await;
    let added = async {
        let writer = ctx.aws.store(&add.target, Role::Write).await?;
        if let Some(existing) = writer.membership_id(&add.group_id, &add.user_id).await? {
            return Ok(Some(existing));
        }
        Ok(None)
    }
    .await;
    let existing = match added {
        Ok(e) => e,
        Err(e) => {
            drop(guard);
            return Err(pass.fail(journal, OP, e).await);
        }
    };
    let (membership, standing) = match existing {
        Some(existing) => {
            let ours = ctx
                .ledger
                .has(&add.entry.target, &add.user_id)
                .await
                .map_err(ledger_error)?;
            (existing, !ours)
        }
        None => {
            ctx.ledger.record(&add.entry).await.map_err(ledger_error)?;
            let created = async {
                let writer = ctx.aws.store(&add.target, Role::Write).await?;
                // Just looked: create at once (a concurrent add by hand answers Conflict,
                // handled by `ensure_membership`).
                writer
                    .ensure_membership(&add.group_id, &add.user_id, false)
                    .await
            }
            .await;
            match created {
                Ok(m) => (m, false),
                Err(e) => {
                    drop(guard);
                    if let Some(name) = &add.group_name {
                        // The group may have been replaced: look its id up again next time.
                        ctx.cache_group_id(&add.target.identity_store_id, name, None);
                    }
                    ctx.user_id_failed(&add.target.identity_store_id, &pass.grant.spec.user, &e);
                    if e.code() == Some("ResourceNotFoundException") {
                        // No membership was made with the recorded id, and AWS no longer
                        // knows it (a deleted user): resolve the user again next pass.
                        journal.status_mut().user_id = None;
                    }
                    return Err(pass.fail(journal, OP, e).await);
                }
            }
        }
    };
    drop(guard);
    failpoint("after-create-membership").await;
    if standing {
        info!(membership = %membership, "the user was a member before the grant: standing access, kept at the end");
    } else {
        info!(membership = %membership, "member added");
    }
    decide::record_membership(journal.status_mut(), membership, standing);
    Ok(())
}
