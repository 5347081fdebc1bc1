//! Giving pauses back when a grant ends: release, restore (from the object's annotations or
//! the grant's own record), or leave a person's change; one target's failure never stops
//! the others.

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;

use super::{Error, Note, shown};
use crate::{
    api::{PauseProblem, PauseState, PausedTarget, TargetRef},
    pause::{
        Record, RestorePlan, Source,
        cluster::{self, Found, Kinds, Problem},
        plan::{holders, plan_restore},
    },
};

/// Ends grant `me`'s holds. `live`: keys of grants that still count as holders (not Ended or
/// Denied); `recorded`: the pauses other live grants record holding. `now` is RFC 3339.
/// Entries are updated as each object is dealt with; a target that cannot be dealt with
/// keeps its state, says why, and is tried again (the others are restored meanwhile).
/// Returns the Events worth publishing either way.
#[allow(clippy::too_many_arguments)]
pub async fn restore(
    client: &Client,
    kinds: &Kinds,
    entries: &mut [PausedTarget],
    me: &str,
    live: &BTreeSet<String>,
    recorded: &BTreeMap<TargetRef, Vec<(String, Record)>>,
    now: &str,
    field_manager: &str,
) -> (Vec<Note>, Result<(), Error>) {
    let mut notes = vec![];
    let mut failed: Vec<Problem> = vec![];
    for e in entries.iter_mut().filter(|e| e.state.may_hold()) {
        if e.state == PauseState::Failed && e.path.is_none() {
            // It failed before any patch was planned (a read, a dry run): never paused.
            e.state = PauseState::NotPaused;
            e.message = Some(format!(
                "never paused: {}",
                e.message.as_deref().unwrap_or("it could not be read")
            ));
            continue;
        }
        let target = e.target();
        let (obj, found) = match cluster::reread(client, kinds, &target).await {
            Ok(Some(got)) => got,
            Ok(None) => {
                e.state = PauseState::Gone;
                e.reason = None;
                e.message = Some("the object no longer exists".into());
                continue;
            }
            Err(p) => {
                fail_restore(e, &p, &mut notes);
                failed.push(p);
                continue;
            }
        };
        let mut others: Vec<String> = holders(&obj)
            .into_iter()
            .filter(|h| h != me && live.contains(h))
            .collect();
        for (key, record) in recorded.get(&target).into_iter().flatten() {
            if record.still_paused(&obj) && !others.contains(key) {
                others.push(key.clone());
            }
        }
        let mine = Record::of_entry(e);
        let plan = match plan_restore(&obj, me, &others, now, mine.as_ref()) {
            Ok(p) => p,
            Err(err) => {
                let p = Problem::new(PauseProblem::BadRecord, err.to_string());
                fail_restore(e, &p, &mut notes);
                failed.push(p);
                continue;
            }
        };
        if let Err(p) = send(client, &found, &plan, field_manager).await {
            fail_restore(e, &p, &mut notes);
            failed.push(p);
            continue;
        }
        e.reason = None;
        settle_restore(e, &found, plan, &mut notes);
    }
    let outcome = match failed.len() {
        0 => Ok(()),
        count => Err(Error::NotRestored {
            count,
            first: failed.swap_remove(0),
        }),
    };
    (notes, outcome)
}

async fn send(
    client: &Client,
    found: &Found,
    plan: &RestorePlan,
    field_manager: &str,
) -> Result<(), Problem> {
    let ops = match plan {
        RestorePlan::NotHeld => return Ok(()),
        RestorePlan::Release { ops, .. }
        | RestorePlan::Restore { ops, .. }
        | RestorePlan::KeepChange { ops, .. } => ops,
    };
    if !ops.is_empty() {
        cluster::patch(client, found, ops, field_manager).await?;
    }
    Ok(())
}

fn fail_restore(e: &mut PausedTarget, p: &Problem, notes: &mut Vec<Note>) {
    e.reason = Some(p.reason);
    e.message = Some(format!("could not restore yet: {}", p.message));
    notes.push(Note {
        warning: true,
        reason: "RestoreFailed",
        message: format!("{}: {p}", e.target()),
    });
}

fn settle_restore(e: &mut PausedTarget, found: &Found, plan: RestorePlan, notes: &mut Vec<Note>) {
    match plan {
        RestorePlan::NotHeld => {
            if e.state != PauseState::ChangedByOthers {
                e.state = PauseState::NotPaused;
                e.message = Some("the pause never reached the object; nothing to undo".into());
            }
        }
        RestorePlan::Release { others, .. } => {
            e.state = PauseState::Released;
            e.message = Some(format!("still paused for {}", others.join(", ")));
        }
        RestorePlan::Restore { record, source, .. } => {
            e.state = PauseState::Restored;
            let (reason, how) = match source {
                Source::Annotations => ("Restored", ""),
                Source::Grant => (
                    "RestoredFromGrantRecord",
                    " (from this grant's record: the object's pause annotations were gone)",
                ),
            };
            e.message = Some(format!(
                "{} back to {}{how}",
                record.path,
                shown(&record.original)
            ));
            notes.push(Note {
                warning: false,
                reason,
                message: format!("restored {} ({:?}){how}", found.target, record.method),
            });
        }
        RestorePlan::KeepChange {
            record, current, ..
        } => {
            let msg = format!(
                "{} was changed by someone else to {} during the grant; left as is (original {})",
                record.path,
                shown(&current),
                shown(&record.original)
            );
            e.state = PauseState::ChangedByOthers;
            e.message = Some(msg.clone());
            notes.push(Note {
                warning: true,
                reason: "PauseOverridden",
                message: format!("{}: {msg}", found.target),
            });
        }
    }
}

/// The `AutomationPaused` message after the grant ended.
pub fn restored_summary(entries: &[PausedTarget]) -> String {
    let count = |s: PauseState| entries.iter().filter(|e| e.state == s).count();
    format!(
        "{} restored, {} still paused for other grants, {} left as changed by others",
        count(PauseState::Restored),
        count(PauseState::Released),
        count(PauseState::ChangedByOthers)
    )
}
