//! Giving pauses back when a grant ends: release, restore (from the object's annotations or
//! the grant's own record), or leave a person's change; one target's failure never stops
//! the others.

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;

use super::{
    Error, Note,
    end_state::{self, ARGO_REFRESH_WAIT},
    problem_of, shown,
};
use crate::{
    api::{PauseMethod, PauseState, PausedTarget, RestoreMode, TargetRef},
    pause::{
        Method, Record, RestorePlan, Source,
        cluster::{self, Found, Kinds, Problem},
        drift::{self, Decision},
        plan::{holders, plan_restore},
    },
};

/// What ending needs to know besides the entries.
pub struct Ending<'a> {
    /// This grant (`namespace/name`).
    pub me: &'a str,
    /// Grants that still count as holders: not Ended or Denied, or holding a target for
    /// review.
    pub live: &'a BTreeSet<String>,
    /// The pauses other live grants record holding.
    pub recorded: &'a BTreeMap<TargetRef, Vec<(String, Record)>>,
    /// RFC 3339.
    pub now: &'a str,
    pub field_manager: &'a str,
    /// A person asked for everything back now (annotation `breakglass.dev/restore: now`,
    /// `kubectl breakglass restore`, or the grant is being deleted).
    pub release_held: bool,
}

/// The patches [`assess`] decided to send, for [`give_back`], and what it found.
pub struct Assessed {
    notes: Vec<Note>,
    failed: Vec<Problem>,
    /// Per entry (by index): the object and the plan to send.
    sends: Vec<(usize, Found, RestorePlan)>,
}

impl Assessed {
    /// Whether [`give_back`] will write to any object: only then is a checkpoint due.
    pub fn acts(&self) -> bool {
        !self.sends.is_empty()
    }
}

/// Ends this grant's holds in one go: [`assess`] then [`give_back`], with no write of the
/// entries between them (the controller writes them there: a checkpoint).
pub async fn restore(
    client: &Client,
    kinds: &Kinds,
    entries: &mut [PausedTarget],
    end: &Ending<'_>,
) -> (Vec<Note>, Result<(), Error>) {
    let assessed = assess(client, kinds, entries, end).await;
    give_back(client, entries, assessed, end.field_manager).await
}

/// The first half of ending this grant's holds: reads each target and plans what to send.
/// Before the last holder gives a target back, its drift is recorded on the entry, and its
/// `restore` mode decides whether it is given back now or held for review. Nothing is
/// written to any object: the entries, drift included, are meant to be written (a
/// checkpoint) before [`give_back`] acts, so a crash in between loses no record.
pub async fn assess(
    client: &Client,
    kinds: &Kinds,
    entries: &mut [PausedTarget],
    end: &Ending<'_>,
) -> Assessed {
    let Ending {
        me,
        live,
        recorded,
        now,
        field_manager,
        ..
    } = *end;
    let mut notes = vec![];
    let mut failed: Vec<Problem> = vec![];
    let mut sends = vec![];
    for (index, e) in entries.iter_mut().enumerate() {
        if !e.state.may_hold() {
            continue;
        }
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
        let (mut obj, found) = match cluster::reread(client, kinds, &target).await {
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
        let mode = e.restore.unwrap_or_default();
        let mut refreshed = None;
        if mode != RestoreMode::Auto
            && e.state != PauseState::Held
            && matches!(
                e.method,
                PauseMethod::DisableAutoSync | PauseMethod::SkipReconcile
            )
            && holders(&obj).iter().all(|h| h == me || !live.contains(h))
        {
            match cluster::refresh_argo(client, &found, &obj, ARGO_REFRESH_WAIT, field_manager)
                .await
            {
                Ok((fresh, moved)) => {
                    obj = fresh;
                    refreshed = Some(moved);
                }
                Err(p) => {
                    fail_restore(e, &p, &mut notes);
                    failed.push(p);
                    continue;
                }
            }
        }
        let others = others_holding(&obj, me, live, recorded.get(&target));
        let mine = Record::of_entry(e);
        // Without a record of its own, the object's is checked against the method this
        // grant recorded (the operator wrote the entry; anyone may edit the object).
        let allowed: Vec<Method> = Method::recorded(e).into_iter().collect();
        let plan = match plan_restore(&obj, me, &others, now, mine.as_ref(), &allowed) {
            Ok(p) => p,
            Err(err) => {
                let p = problem_of(err);
                fail_restore(e, &p, &mut notes);
                failed.push(p);
                continue;
            }
        };
        // Held for review while another grant joined the pause: this grant still holds it
        // (releasing it would leave the other to give it back without a review).
        if e.state == PauseState::Held
            && matches!(plan, RestorePlan::Release { .. })
            && !end.release_held
        {
            continue;
        }
        if let RestorePlan::Restore { record, .. } = &plan {
            let drift = end_state::drift(
                client,
                kinds,
                record.method,
                &obj,
                refreshed,
                e.drift.as_ref(),
                field_manager,
            )
            .await;
            if e.drift.as_ref() != Some(&drift) {
                notes.push(Note {
                    warning: drift.in_sync == Some(false),
                    reason: "DriftRecorded",
                    message: format!("{target}: {}", drift.summary),
                });
                e.drift = Some(drift.clone());
            }
            if let Decision::Hold(why) = drift::decide(mode, &drift, end.release_held) {
                if e.state != PauseState::Held {
                    notes.push(Note {
                        warning: true,
                        reason: "RestoreHeld",
                        message: format!("{target} stays paused ({mode:?}): {why}"),
                    });
                }
                e.state = PauseState::Held;
                e.reason = None;
                e.message = Some(why);
                continue;
            }
        }
        sends.push((index, found, plan));
    }
    Assessed {
        notes,
        failed,
        sends,
    }
}

/// The second half: sends what [`assess`] planned and records each outcome on its entry; a
/// target that cannot be dealt with keeps its state, says why, and is tried again (the
/// others are restored meanwhile). Returns the Events worth publishing either way.
pub async fn give_back(
    client: &Client,
    entries: &mut [PausedTarget],
    assessed: Assessed,
    field_manager: &str,
) -> (Vec<Note>, Result<(), Error>) {
    let Assessed {
        mut notes,
        mut failed,
        sends,
    } = assessed;
    for (index, found, plan) in sends {
        let Some(e) = entries.get_mut(index) else {
            continue;
        };
        if let Err(p) = send(client, &found, &plan, field_manager).await {
            fail_restore(e, &p, &mut notes);
            failed.push(p);
            continue;
        }
        // Tests crash here: the object is given back, the grant does not say so yet.
        crate::faults::failpoint("after-restore-target").await;
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

/// The live grants other than `me` that hold the pause on `obj`. Pure.
///
/// While the object carries `paused-by`, that annotation alone says who holds it: every
/// change to it is a resourceVersion-tested patch, so concurrent endings serialize on it and
/// the last holder sees only itself. Grant records are consulted only when the annotations
/// are gone; consulting them otherwise would write back holders that already released it
/// (their records lag in the cache), and the pause would outlive every grant.
pub fn others_holding(
    obj: &serde_json::Value,
    me: &str,
    live: &BTreeSet<String>,
    recorded: Option<&Vec<(String, Record)>>,
) -> Vec<String> {
    let annotated = holders(obj);
    if !annotated.is_empty() {
        return annotated
            .into_iter()
            .filter(|h| h != me && live.contains(h))
            .collect();
    }
    let mut others: Vec<String> = vec![];
    for (key, record) in recorded.into_iter().flatten() {
        if key != me && record.still_paused(obj) && !others.contains(key) {
            others.push(key.clone());
        }
    }
    others
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
        // Back at the original with no holder marks left: given back already, by this
        // grant before it could say so (an operator that stopped mid-restore) or by hand.
        RestorePlan::KeepChange {
            record, current, ..
        } if current == record.original => {
            e.state = PauseState::Restored;
            e.message = Some(format!(
                "{} is back to {} already; nothing left to give back",
                record.path,
                shown(&record.original)
            ));
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

/// Whether a target is held for review after the grant ended.
pub fn held(entries: &[PausedTarget]) -> bool {
    entries.iter().any(|e| e.state == PauseState::Held)
}

/// The `AutomationPaused` message while targets are held: each with its drift.
pub fn held_summary(entries: &[PausedTarget]) -> String {
    let held: Vec<String> = entries
        .iter()
        .filter(|e| e.state == PauseState::Held)
        .map(|e| {
            format!(
                "{} ({:?}): {}",
                e.target(),
                e.restore.unwrap_or_default(),
                e.drift
                    .as_ref()
                    .map(|d| d.summary.as_str())
                    .unwrap_or("not assessed")
            )
        })
        .collect();
    format!(
        "{} held for review after the grant ended: {}; give back with kubectl breakglass restore",
        held.len(),
        held.join("; ")
    )
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
