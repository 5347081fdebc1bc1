//! Pausing what the policy names while access is given, and giving it back after. The
//! `AutomationPaused` condition comes from `conditions::apply` like every other.

use super::{
    lookup::{list_grants, live_grants},
    pass::Pass,
};
use kube::runtime::events::EventType;

use crate::{
    api::{BreakGlassGrant, GrantKey, PauseProblem, PausedTarget},
    conditions::{Outcome, Pauses},
    controller::{
        context::{FIELD_MANAGER, failpoint},
        error::Error,
        journal::Journal,
    },
    pause::{Selection, cluster, executor as pausing},
};

/// Pauses what the policy names, recording each original on the grant (a checkpoint)
/// before the object is patched. Leaves the record describing the outcome, also on error.
/// A target that fails is shown as its own `Failed` entry and looked at again at the next
/// check; only a target that changed under a patch makes the reconcile retry at once.
pub(crate) async fn pause_targets(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    selections: &[Selection],
) -> Result<(), Error> {
    if selections.is_empty() && journal.status().paused_targets.is_empty() {
        return Ok(());
    }
    let ctx = pass.ctx;
    let _policy_turn = ctx.pause_locks.lock(&pass.grant.spec.policy).await;
    let before = journal.status().paused_targets.clone();
    let mut work = pausing::survey(
        &ctx.client,
        &ctx.kinds,
        selections,
        &pass.key.to_string(),
        &journal.status().paused_targets,
        FIELD_MANAGER,
    )
    .await;
    // Already paused with no annotation saying by whom: another grant's record may explain
    // it (its annotations were stripped), and then this grant holds the pause with it.
    if pausing::unexplained(&work) {
        let grants = list_grants(pass, None).await?;
        let recorded = pausing::recorded_holders(
            &grants,
            &pass.key.to_string(),
            &texts(&live_grants(&grants)),
        );
        pausing::join_recorded(&mut work, &recorded);
    }
    if pausing::record_intent(&mut journal.status_mut().paused_targets, &work) {
        journal.checkpoint().await?;
        failpoint("after-record-pause").await;
    }
    let done = pausing::execute(
        &ctx.client,
        &work,
        &mut journal.status_mut().paused_targets,
        FIELD_MANAGER,
    )
    .await;
    let (paused, failed, message) = pausing::condition(&journal.status().paused_targets);
    journal.settle(&Outcome::Pauses(Pauses::Applied {
        paused,
        failed,
        message: &message,
    }));
    pass.announce_notes(done.notes, "Pause").await;
    report(pass, &before, &journal.status().paused_targets).await;
    match done.conflicts.len() {
        0 => Ok(()),
        count => Err(Error::Pause {
            grant: pass.me.clone(),
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
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    release_held: bool,
) -> Result<(), Error> {
    if journal.status().paused_targets.is_empty() {
        return Ok(());
    }
    let _policy_turn = pass.ctx.pause_locks.lock(&pass.grant.spec.policy).await;
    let me = &pass.key.to_string();
    let grants = list_grants(pass, None).await?;
    // A grant holding a target for review still holds it: another grant ending does not
    // give it back early.
    let mut live = live_grants(&grants);
    live.extend(
        grants
            .iter()
            .filter(|g| holds_for_review(g))
            .map(|g| g.key()),
    );
    // The pause executor reads holders as its annotations write them.
    let live = texts(&live);
    let recorded = pausing::recorded_holders(&grants, me, &live);
    let now_text = pass.now.0.to_string();
    let before = journal.status().paused_targets.clone();
    let ending = pausing::Ending {
        me,
        live: &live,
        recorded: &recorded,
        now: &now_text,
        field_manager: FIELD_MANAGER,
        release_held,
    };
    let assessed = pausing::assess(
        &pass.ctx.client,
        &pass.ctx.kinds,
        &mut journal.status_mut().paused_targets,
        &ending,
    )
    .await;
    // Write-ahead: the drift and the holds are on the grant before anything is given back
    // (with nothing to give back, the pass's own commit records them).
    if assessed.acts() && journal.status().paused_targets != before {
        journal.checkpoint().await?;
    }
    let (notes, restored) = pausing::give_back(
        &pass.ctx.client,
        &mut journal.status_mut().paused_targets,
        assessed,
        FIELD_MANAGER,
    )
    .await;
    pass.announce_notes(notes, "Restore").await;
    report(pass, &before, &journal.status().paused_targets).await;
    if let Err(source) = restored {
        let message = format!("{source}; retrying");
        journal.settle(&Outcome::Pauses(Pauses::RestoreFailed {
            message: &message,
        }));
        return Err(Error::Pause {
            grant: pass.me.clone(),
            source,
        });
    }
    let entries = &journal.status().paused_targets;
    let message;
    let pauses = if pausing::held(entries) {
        message = pausing::held_summary(entries);
        Pauses::HeldForReview { message: &message }
    } else {
        message = pausing::restored_summary(entries);
        Pauses::Restored { message: &message }
    };
    journal.settle(&Outcome::Pauses(pauses));
    Ok(())
}

/// Annotation on a grant: give back every target held for review now.
pub(crate) use crate::pause::RESTORE as RESTORE_ANNOTATION;

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

/// Grant keys as the pause executor reads them: the text its annotations write.
fn texts(keys: &std::collections::BTreeSet<GrantKey>) -> std::collections::BTreeSet<String> {
    keys.iter().map(ToString::to_string).collect()
}

/// Reports, once each, a target whose pause record on the object was refused (a field or
/// value its method does not own: Warning Event on the grant and on the object, whoever
/// edited it sees it, and `breakglass_pause_records_refused_total`) and an app-of-apps not
/// paused because it does not list the child that names it.
async fn report(pass: &Pass<'_>, before: &[PausedTarget], after: &[PausedTarget]) {
    let ctx = pass.ctx;
    let said = |e: &PausedTarget| {
        format!(
            "{}: {}",
            e.target(),
            e.message.as_deref().unwrap_or_default()
        )
    };
    let mut notes = vec![];
    for e in pausing::newly(before, after, PauseProblem::RefusedRecord) {
        ctx.metrics.pauses.refused(&e.kind);
        let message = said(e);
        let object = cluster::object_ref(&e.target());
        ctx.publish(
            &object,
            EventType::Warning,
            pausing::REFUSED,
            "Pause",
            &message,
        )
        .await;
        notes.push(pausing::Note {
            warning: true,
            reason: pausing::REFUSED,
            message,
        });
    }
    for e in pausing::newly(before, after, PauseProblem::NotManaged) {
        notes.push(pausing::Note {
            warning: true,
            reason: "ParentNotPaused",
            message: said(e),
        });
    }
    pass.announce_notes(notes, "Pause").await;
}
