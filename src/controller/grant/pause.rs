//! Pausing what the policy names while access is given, and giving it back after.

use crate::api::Time;

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

/// After access is removed: give back every pause this grant holds, or hold it for review
/// (`restore: WhenInSync` with drift left, `Manual`) unless `release_held` (a person asked,
/// or the grant is being deleted).
pub(crate) async fn restore_targets(
    grant: &BreakGlassGrant,
    ctx: &Context,
    status: &mut BreakGlassGrantStatus,
    now: &Time,
    release_held: bool,
) -> Result<(), Error> {
    if status.paused_targets.is_empty() {
        return Ok(());
    }
    let me = key(grant);
    let grants = list_grants(grant, ctx, None).await?;
    // A grant holding a target for review still holds it: another grant ending does not
    // give it back early.
    let mut live = live_grants(&grants);
    live.extend(grants.iter().filter(|g| holds_for_review(g)).map(key));
    let recorded = pausing::recorded_holders(&grants, &me, &live);
    let now_text = now.0.to_string();
    let ending = pausing::Ending {
        me: &me,
        live: &live,
        recorded: &recorded,
        now: &now_text,
        field_manager: FIELD_MANAGER,
        release_held,
    };
    let (notes, restored) =
        pausing::restore(&ctx.client, &ctx.kinds, &mut status.paused_targets, &ending).await;
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
    let (on, reason, message) = if pausing::held(&status.paused_targets) {
        (
            true,
            "HeldForReview",
            pausing::held_summary(&status.paused_targets),
        )
    } else {
        (
            false,
            "Restored",
            pausing::restored_summary(&status.paused_targets),
        )
    };
    conditions::set(
        &mut status.conditions,
        AUTOMATION_PAUSED,
        on,
        reason,
        message,
        grant.metadata.generation,
        now,
    );
    Ok(())
}

/// Annotation on a grant: give back every target held for review now.
pub(crate) const RESTORE_ANNOTATION: &str = "breakglass.dev/restore";

/// Whether held targets go back now: a person asked (`breakglass.dev/restore: now`), or the
/// grant is being deleted (nothing would be left to give them back later).
pub(crate) fn release_asked(grant: &BreakGlassGrant) -> bool {
    grant.metadata.deletion_timestamp.is_some()
        || grant
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RESTORE_ANNOTATION))
            .is_some_and(|v| v == "now")
}

/// Whether the grant keeps a target paused for review after it ended.
pub(crate) fn holds_for_review(grant: &BreakGlassGrant) -> bool {
    grant
        .status
        .as_ref()
        .is_some_and(|s| pausing::held(&s.paused_targets))
}
