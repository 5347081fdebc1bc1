//! Pausing: what the survey found is recorded on the grant (before any patch), then the
//! planned patches are sent and each outcome recorded.

use super::{ANNOTATIONS_GONE, Note, Work, change, entry_for, parent_note, remember, set_problem};
use crate::{
    api::{PauseProblem, PauseState, PausedTarget, RestoreMode},
    pause::{
        PausePlan, Record, Source,
        cluster::{self, Problem},
    },
};
use kube::Client;

/// Records on `entries` what the survey found; pauses about to happen become `Pausing` with
/// their record (path, paused value, original). Returns whether any object is about to be
/// patched. Pure.
pub fn record_intent(entries: &mut Vec<PausedTarget>, work: &[Work]) -> bool {
    let mut pending = false;
    for w in work {
        // An object this grant paused earlier keeps its entry (and original) as it is.
        let e = entry_for(entries, &w.found);
        // The policy's current choice; kept on the entry, so it holds after the grant ends.
        e.restore = (w.found.restore != RestoreMode::Auto).then_some(w.found.restore);
        match &w.plan {
            Err(problem) => {
                if !matches!(e.state, PauseState::Paused | PauseState::ChangedByOthers) {
                    e.state = if problem.is_missing() {
                        PauseState::NotFound
                    } else if problem.is_skip() {
                        PauseState::Skipped
                    } else {
                        PauseState::Failed
                    };
                }
                set_problem(e, &w.found, problem);
            }
            Ok(PausePlan::Skip(why)) => {
                e.state = PauseState::Skipped;
                e.reason = None;
                e.message = parent_note(&w.found, why.to_string());
            }
            Ok(PausePlan::Pause { record, .. }) | Ok(PausePlan::Join { record, .. }) => {
                pending = true;
                remember(e, record);
                e.state = PauseState::Pausing;
                e.reason = None;
                e.message = parent_note(&w.found, format!("setting {}", record.path));
            }
            Ok(PausePlan::JoinRecorded { record, .. }) | Ok(PausePlan::Held { record, .. }) => {
                remember(e, record);
            }
        }
    }
    pending
}

/// What [`execute`] did: Events to publish, and whether a target changed under a patch
/// (worth a quick retry, unlike a missing permission).
#[derive(Debug, Default)]
pub struct Executed {
    pub notes: Vec<Note>,
    pub conflicts: Vec<Problem>,
}

/// Sends the planned patches and records each outcome on `entries`.
pub async fn execute(
    client: &Client,
    work: &[Work],
    entries: &mut Vec<PausedTarget>,
    field_manager: &str,
) -> Executed {
    let mut done = Executed::default();
    for w in work {
        let Ok(plan) = &w.plan else { continue };
        let e = entry_for(entries, &w.found);
        let paused_note = |method| Note {
            warning: false,
            reason: "Paused",
            message: format!("paused {} ({method:?})", w.found.target),
        };
        match plan {
            PausePlan::Pause { record, ops } | PausePlan::Join { record, ops, .. } => {
                match cluster::patch(client, &w.found, ops, field_manager).await {
                    Ok(_) => {
                        e.state = PauseState::Paused;
                        e.reason = None;
                        let how = match plan {
                            PausePlan::Join { holders, .. } => {
                                format!("already paused; held with {}", holders.join(", "))
                            }
                            _ => change(&record.path, &record.paused),
                        };
                        e.message = parent_note(&w.found, how);
                        done.notes.push(paused_note(record.method));
                    }
                    Err(problem) => {
                        e.state = PauseState::Failed;
                        set_problem(e, &w.found, &problem);
                        if problem.reason == PauseProblem::Conflict {
                            done.conflicts.push(problem);
                        }
                    }
                }
            }
            PausePlan::JoinRecorded { record, holders } => {
                if e.state != PauseState::Paused {
                    e.state = PauseState::Paused;
                    e.reason = None;
                    e.message = parent_note(
                        &w.found,
                        format!(
                            "already paused by {} (by their record: {ANNOTATIONS_GONE}); held with them",
                            holders.join(", ")
                        ),
                    );
                    done.notes.push(paused_note(record.method));
                }
            }
            PausePlan::Held {
                record,
                changed,
                source,
            } => held(e, w, record, *changed, *source, &mut done.notes),
            PausePlan::Skip(_) => {}
        }
    }
    done
}

fn held(
    e: &mut PausedTarget,
    w: &Work,
    record: &Record,
    changed: bool,
    source: Source,
    notes: &mut Vec<Note>,
) {
    let was = e.state;
    if changed {
        e.state = PauseState::ChangedByOthers;
        e.reason = None;
        e.message = parent_note(
            &w.found,
            format!(
                "{} was changed by someone else during the grant; it will be left as they set it",
                record.path
            ),
        );
        if was != PauseState::ChangedByOthers {
            notes.push(Note {
                warning: true,
                reason: "PauseOverridden",
                message: format!(
                    "{} {} was changed by someone else; it will not be restored",
                    w.found.target, record.path
                ),
            });
        }
        return;
    }
    // The message changes only when the state or the record in use does (a join's "held
    // with …" stays), so a steady pause writes no status.
    let says_lost = e
        .message
        .as_deref()
        .is_some_and(|m| m.contains(ANNOTATIONS_GONE));
    let how = match source {
        Source::Annotations if was != PauseState::Paused || says_lost => {
            change(&record.path, &record.paused)
        }
        Source::Grant if was != PauseState::Paused || !says_lost => format!(
            "{}; {ANNOTATIONS_GONE}, this grant's record will restore it",
            change(&record.path, &record.paused)
        ),
        _ => return,
    };
    e.state = PauseState::Paused;
    e.reason = None;
    e.message = parent_note(&w.found, how);
}
