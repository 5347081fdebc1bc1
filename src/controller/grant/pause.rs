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
    pause::{Selection, grant as pausing},
};

/// Pauses what the policy names, recording each original on the grant before the object is
/// patched. Leaves `status` describing the outcome, also on error.
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
    let generation = grant.metadata.generation;
    let pause_error = |source| Error::Pause {
        grant: me.clone(),
        source,
    };
    let outcome = async {
        let work = pausing::survey(&ctx.client, selections, &me, FIELD_MANAGER)
            .await
            .map_err(pause_error)?;
        if pausing::record_intent(&mut status.paused_targets, &work) {
            write_status(grant, ctx, status).await?;
            failpoint("after-record-pause").await;
        }
        pausing::execute(
            &ctx.client,
            &work,
            &mut status.paused_targets,
            FIELD_MANAGER,
        )
        .await
        .map_err(pause_error)
    }
    .await;
    let (on, reason, msg) = pausing::condition(&status.paused_targets);
    match &outcome {
        Ok(_) => conditions::set(
            &mut status.conditions,
            AUTOMATION_PAUSED,
            on,
            reason,
            &msg,
            generation,
            now,
        ),
        Err(e) => conditions::set(
            &mut status.conditions,
            AUTOMATION_PAUSED,
            on,
            "PauseFailed",
            format!("{msg}; {e}; retrying"),
            generation,
            now,
        ),
    }
    for note in pausing::merge(outcome?) {
        publish_note(ctx, grant, &note, "Pause").await;
    }
    Ok(())
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
    let live = live_grants(&list_grants(grant, ctx, None).await?);
    let notes = pausing::restore(
        &ctx.client,
        &mut status.paused_targets,
        &me,
        &live,
        &now.0.to_string(),
        FIELD_MANAGER,
    )
    .await
    .map_err(|source| Error::Pause { grant: me, source })?;
    conditions::set(
        &mut status.conditions,
        AUTOMATION_PAUSED,
        false,
        "Restored",
        pausing::restored_summary(&status.paused_targets),
        grant.metadata.generation,
        now,
    );
    for note in pausing::merge(notes) {
        publish_note(ctx, grant, &note, "Restore").await;
    }
    Ok(())
}
