//! One grant's pauses end to end: survey what its policy names, record the intent in
//! `status.pausedTargets`, patch, and at the end restore. The controller writes the status
//! between [`survey`] and [`execute`], so the original value is on the grant before the
//! object is touched. A target that fails is that target's entry (`Failed`, with its
//! reason); it never keeps the others from being paused or restored.

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;
use serde_json::Value;

use super::{
    Method, PausePlan, Record, RestorePlan, Selection, SkipReason, Source,
    cluster::{self, Found, Kinds, Problem},
    plan::{holders, join_recorded as join_one, plan_pause, plan_restore},
};
use crate::api::{BreakGlassGrant, PauseProblem, PauseState, PausedTarget, TargetRef};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{count} target(s) changed while being patched, e.g. {first}; looking again")]
    Conflicts { count: usize, first: Problem },
    #[error("{count} target(s) could not be restored yet, e.g. {first}")]
    NotRestored { count: usize, first: Problem },
}

const ANNOTATIONS_GONE: &str = "the object's pause annotations are gone";

/// Something worth an Event on the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// One found object and what to do with it.
#[derive(Debug)]
pub struct Work {
    pub found: Found,
    /// `Err`: the object could not be read or checked, or its pause record is unreadable.
    pub plan: Result<PausePlan, Problem>,
}

/// Finds every object the selections name and plans its pause for grant `me`; `entries`
/// are the grant's `pausedTargets` (its own record of what it paused).
pub async fn survey(
    client: &Client,
    kinds: &Kinds,
    selections: &[Selection],
    me: &str,
    entries: &[PausedTarget],
    field_manager: &str,
) -> Vec<Work> {
    let mut out: Vec<Work> = vec![];
    for sel in selections {
        for found in cluster::resolve(client, kinds, sel).await {
            if out.iter().any(|w| w.found.target == found.target) {
                continue;
            }
            let plan = match &found.object {
                Err(why) => Err(why.clone()),
                Ok(obj) => plan_one(client, &found, obj, me, entries, field_manager).await,
            };
            out.push(Work { found, plan });
        }
    }
    out
}

async fn plan_one(
    client: &Client,
    found: &Found,
    obj: &Value,
    me: &str,
    entries: &[PausedTarget],
    field_manager: &str,
) -> Result<PausePlan, Problem> {
    let mine = entries
        .iter()
        .find(|e| e.target() == found.target)
        .and_then(Record::of_entry);
    let enabled = found.method == Method::DisableAutoSync
        && mine.is_none()
        && holders(obj).is_empty()
        && obj
            .pointer("/spec/syncPolicy/automated")
            .is_some_and(|v| !v.is_null())
        && cluster::supports_enabled(client, found, field_manager).await?;
    plan_pause(obj, &found.method, me, enabled, mine.as_ref())
        .map_err(|e| Problem::new(PauseProblem::BadRecord, e.to_string()))
}

/// Whether the survey found a target already paused with no annotation saying by whom:
/// only then are the other grants' records worth reading.
pub fn unexplained(work: &[Work]) -> bool {
    work.iter()
        .any(|w| matches!(w.plan, Ok(PausePlan::Skip(SkipReason::AlreadyPaused))))
}

/// The pauses other live grants record holding, by target. Pure.
pub fn recorded_holders(
    grants: &[BreakGlassGrant],
    me: &str,
    live: &BTreeSet<String>,
) -> BTreeMap<TargetRef, Vec<(String, Record)>> {
    let mut out: BTreeMap<TargetRef, Vec<(String, Record)>> = BTreeMap::new();
    for g in grants {
        let key = format!(
            "{}/{}",
            g.metadata.namespace.as_deref().unwrap_or_default(),
            g.metadata.name.as_deref().unwrap_or_default()
        );
        if key == me || !live.contains(&key) {
            continue;
        }
        for e in g.status.iter().flat_map(|s| &s.paused_targets) {
            if let Some(record) = Record::of_entry(e) {
                out.entry(e.target())
                    .or_default()
                    .push((key.clone(), record));
            }
        }
    }
    out
}

/// Targets found already paused with no holder annotation join the grants whose records
/// say they paused them. Pure.
pub fn join_recorded(work: &mut [Work], recorded: &BTreeMap<TargetRef, Vec<(String, Record)>>) {
    for w in work.iter_mut() {
        if !matches!(w.plan, Ok(PausePlan::Skip(SkipReason::AlreadyPaused))) {
            continue;
        }
        let (Ok(obj), Some(records)) = (&w.found.object, recorded.get(&w.found.target)) else {
            continue;
        };
        if let Some(plan) = join_one(obj, records) {
            w.plan = Ok(plan);
        }
    }
}

fn entry_for<'a>(entries: &'a mut Vec<PausedTarget>, found: &Found) -> &'a mut PausedTarget {
    let pos = entries.iter().position(|e| e.target() == found.target);
    let i = pos.unwrap_or_else(|| {
        let t = &found.target;
        entries.push(PausedTarget {
            api_version: t.api_version.clone(),
            kind: t.kind.clone(),
            namespace: t.namespace.clone(),
            name: t.name.clone(),
            method: found.method.kind(),
            path: None,
            original: None,
            paused: None,
            state: PauseState::Pausing,
            reason: None,
            message: None,
        });
        entries.len() - 1
    });
    &mut entries[i]
}

fn json(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

fn remember(e: &mut PausedTarget, record: &Record) {
    e.method = record.method;
    e.path = Some(record.path.clone());
    e.paused = json(&record.paused);
    e.original = json(&record.original);
}

fn parent_note(found: &Found, msg: String) -> Option<String> {
    Some(match &found.parent_of {
        Some(child) => format!("app-of-apps of {child}: {msg}"),
        None => msg,
    })
}

fn set_problem(e: &mut PausedTarget, found: &Found, p: &Problem) {
    e.reason = Some(p.reason);
    e.message = parent_note(found, p.message.clone());
}

/// Records on `entries` what the survey found; pauses about to happen become `Pausing` with
/// their record (path, paused value, original). Returns whether any object is about to be
/// patched. Pure.
pub fn record_intent(entries: &mut Vec<PausedTarget>, work: &[Work]) -> bool {
    let mut pending = false;
    for w in work {
        // An object this grant paused earlier keeps its entry (and original) as it is.
        let e = entry_for(entries, &w.found);
        match &w.plan {
            Err(problem) => {
                if !matches!(e.state, PauseState::Paused | PauseState::ChangedByOthers) {
                    e.state = if problem.is_missing() {
                        PauseState::NotFound
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

fn shown(v: &Option<Value>) -> String {
    v.as_ref()
        .map(Value::to_string)
        .unwrap_or_else(|| "unset".into())
}

/// `path set to value`, or `path removed`.
fn change(path: &str, value: &Option<Value>) -> String {
    match value {
        Some(v) => format!("{path} set to {v}"),
        None => format!("{path} removed"),
    }
}

/// One Event per reason: the recorder folds same-reason Events into a series and would keep
/// only the first message.
pub fn merge(notes: Vec<Note>) -> Vec<Note> {
    let mut out: Vec<Note> = vec![];
    for n in notes {
        match out
            .iter_mut()
            .find(|o| o.reason == n.reason && o.warning == n.warning)
        {
            Some(o) => {
                o.message.push_str("; ");
                o.message.push_str(&n.message);
            }
            None => out.push(n),
        }
    }
    out
}

/// Whether a required selection is missing: the grant waits, with this message.
pub fn missing_required(work: &[Work]) -> Option<String> {
    let missing: Vec<String> = work
        .iter()
        .filter(|w| w.found.required)
        .filter_map(|w| w.found.object.as_ref().err())
        .filter(|p| p.is_missing())
        .map(|p| p.message.clone())
        .collect();
    (!missing.is_empty()).then(|| format!("waiting for required targets: {}", missing.join("; ")))
}

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

/// The `AutomationPaused` condition while the grant is active: (status, reason, message).
pub fn condition(entries: &[PausedTarget]) -> (bool, &'static str, String) {
    let count = |s: PauseState| entries.iter().filter(|e| e.state == s).count();
    let paused = count(PauseState::Paused);
    let failed: Vec<String> = entries
        .iter()
        .filter(|e| e.state == PauseState::Failed)
        .map(|e| format!("{}: {}", e.target(), e.message.clone().unwrap_or_default()))
        .collect();
    let summary = format!(
        "{paused} paused, {} skipped, {} not found, {} changed by others, {} failed",
        count(PauseState::Skipped),
        count(PauseState::NotFound),
        count(PauseState::ChangedByOthers),
        failed.len()
    );
    if !failed.is_empty() {
        return (
            paused > 0,
            "PauseFailed",
            format!("{summary}: {}", failed.join("; ")),
        );
    }
    if paused > 0 {
        (true, "Paused", summary)
    } else {
        (false, "NothingPaused", summary)
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
