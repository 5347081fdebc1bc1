//! Pausing what the policy names while access is given, and giving it back after.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    lookup::{list_grants, live_grants},
    status::{publish_note, write_status},
};
use crate::{
    api::{BreakGlassGrant, BreakGlassGrantStatus},
    conditions::{self, AUTOMATION_PAUSED},
    controller::{
        context::{Context, FIELD_MANAGER, failpoint, key},
        error::Error,
    },
    pause::{Selection, executor as pausing},
};

/// Pauses what the policy names, recording each original on the grant before the object is
/// patched. Leaves `status` describing the outcome, also on error. A target that fails is
/// shown as its own `Failed` entry and looked at again at the next check; only a target
/// that changed under a patch makes the reconcile retry at once.
pub(crate) async fn pause_targets(
    grant: &BreakGlassGrant,
    ctx: &Context,
    selections: &[Selection],
    status: &mut BreakGlassGrantStatus,
    now: &Time,
) -> Result<(), Error> {
    if selections.is_empty() && status.paused_targets.is_empty() {
        return Ok(());
    }
    let me = key(grant);
    let mut work = pausing::survey(
        &ctx.client,
        &ctx.kinds,
        selections,
        &me,
        &status.paused_targets,
        FIELD_MANAGER,
    )
    .await;
    // Already paused with no annotation saying by whom: another grant's record may explain
    // it (its annotations were stripped), and then this grant holds the pause with it.
    if pausing::unexplained(&work) {
        let grants = list_grants(grant, ctx, None).await?;
        let recorded = pausing::recorded_holders(&grants, &me, &live_grants(&grants));
        pausing::join_recorded(&mut work, &recorded);
    }
    if pausing::record_intent(&mut status.paused_targets, &work) {
        write_status(grant, ctx, status).await?;
        failpoint("after-record-pause").await;
    }
    let done = pausing::execute(
        &ctx.client,
        &work,
        &mut status.paused_targets,
        FIELD_MANAGER,
    )
    .await;
    let (on, reason, msg) = pausing::condition(&status.paused_targets);
    conditions::set(
        &mut status.conditions,
        AUTOMATION_PAUSED,
        on,
        reason,
        &msg,
        grant.metadata.generation,
        now,
    );
    for note in pausing::merge(done.notes) {
        publish_note(ctx, grant, &note, "Pause").await;
    }
    match done.conflicts.len() {
        0 => Ok(()),
        count => Err(Error::Pause {
            grant: me,
            source: pausing::Error::Conflicts {
                count,
                first: done.conflicts.into_iter().next().expect("count > 0"),
            },
        }),
    }
}

/// After access is removed: give back every pause this grant holds.
pub(crate) async fn restore_targets(
    grant: &BreakGlassGrant,
    ctx: &Context,
    status: &mut BreakGlassGrantStatus,
    now: &Time,
) -> Result<(), Error> {
    if status.paused_targets.is_empty() {
        return Ok(());
    }
    let me = key(grant);
    let grants = list_grants(grant, ctx, None).await?;
    let live = live_grants(&grants);
    let recorded = pausing::recorded_holders(&grants, &me, &live);
    let (notes, restored) = pausing::restore(
        &ctx.client,
        &ctx.kinds,
        &mut status.paused_targets,
        &me,
        &live,
        &recorded,
        &now.0.to_string(),
        FIELD_MANAGER,
    )
    .await;
    for note in pausing::merge(notes) {
        publish_note(ctx, grant, &note, "Restore").await;
    }
    if let Err(source) = restored {
        conditions::set(
            &mut status.conditions,
            AUTOMATION_PAUSED,
            true,
            "RestoreFailed",
            format!("{source}; retrying"),
            grant.metadata.generation,
            now,
        );
        return Err(Error::Pause { grant: me, source });
    }
    conditions::set(
        &mut status.conditions,
        AUTOMATION_PAUSED,
        false,
        "Restored",
        pausing::restored_summary(&status.paused_targets),
        grant.metadata.generation,
        now,
    );
    Ok(())
}
