//! One grant's pauses end to end: survey what its policy names, record the intent in
//! `status.pausedTargets`, patch, and at the end restore. The controller writes the status
//! between [`survey`] and [`execute`], so the original value is on the grant before the
//! object is touched. A target that fails is that target's entry (`Failed`, with its
//! reason); it never keeps the others from being paused or restored.

mod end_state;
mod intent;
mod restore;

pub use intent::{Executed, execute, record_intent};
pub use restore::{
    Assessed, Ending, assess, give_back, held, held_summary, others_holding, restore,
    restored_summary,
};

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;
use serde_json::Value;

use super::{
    Method, PausePlan, Record, Selection, SkipReason,
    cluster::{self, Found, Kinds, Problem},
    plan::{self, holders, join_recorded as join_one, plan_pause},
};
use crate::api::{BreakGlassGrant, PauseProblem, PauseState, PausedTarget, RestoreMode, TargetRef};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{count} target(s) changed while being patched, e.g. {first}; looking again")]
    Conflicts { count: usize, first: Problem },
    #[error("{count} target(s) could not be restored yet, e.g. {first}")]
    NotRestored { count: usize, first: Problem },
}

/// The Event reason of a pause record on an object that was not written back (on the
/// grant, the object and the policies).
pub const REFUSED: &str = "PauseRecordRefused";

pub(super) const ANNOTATIONS_GONE: &str = "the object's pause annotations are gone";

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
    plan_pause(obj, &found.method, me, enabled, mine.as_ref()).map_err(problem_of)
}

/// A plan error as the target's problem: a record refused (outside its method's field) is
/// told apart from an unreadable one.
pub(super) fn problem_of(e: plan::Error) -> Problem {
    let reason = match e {
        plan::Error::BadRecord { .. } => PauseProblem::BadRecord,
        plan::Error::Refused { .. } => PauseProblem::RefusedRecord,
    };
    Problem::new(reason, e.to_string())
}

/// The entries that came to carry `reason` between `before` and `after`: each is reported
/// once (Warning Event, metric), not at every re-check or retry. Pure.
pub fn newly<'a>(
    before: &[PausedTarget],
    after: &'a [PausedTarget],
    reason: PauseProblem,
) -> Vec<&'a PausedTarget> {
    after
        .iter()
        .filter(|e| e.reason == Some(reason))
        .filter(|e| {
            !before
                .iter()
                .any(|b| b.target() == e.target() && b.reason == Some(reason))
        })
        .collect()
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

pub(super) fn entry_for<'a>(
    entries: &'a mut Vec<PausedTarget>,
    found: &Found,
) -> &'a mut PausedTarget {
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
            restore: (found.restore != RestoreMode::Auto).then_some(found.restore),
            drift: None,
            reason: None,
            message: None,
        });
        entries.len() - 1
    });
    &mut entries[i]
}

pub(super) fn json(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

pub(super) fn remember(e: &mut PausedTarget, record: &Record) {
    e.method = record.method;
    e.path = Some(record.path.clone());
    e.paused = json(&record.paused);
    e.original = json(&record.original);
}

pub(super) fn parent_note(found: &Found, msg: String) -> Option<String> {
    Some(match &found.parent_of {
        Some(child) => format!("app-of-apps of {child}: {msg}"),
        None => msg,
    })
}

pub(super) fn set_problem(e: &mut PausedTarget, found: &Found, p: &Problem) {
    e.reason = Some(p.reason);
    e.message = parent_note(found, p.message.clone());
}

pub(super) fn shown(v: &Option<Value>) -> String {
    v.as_ref()
        .map(Value::to_string)
        .unwrap_or_else(|| "unset".into())
}

/// `path set to value`, or `path removed`.
pub(super) fn change(path: &str, value: &Option<Value>) -> String {
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

/// Where the pauses stand while the grant is active: (any paused, any failed, message);
/// `conditions::apply` turns it into `AutomationPaused`.
pub fn condition(entries: &[PausedTarget]) -> (bool, bool, String) {
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
            true,
            format!("{summary}: {}", failed.join("; ")),
        );
    }
    (paused > 0, false, summary)
}

#[cfg(test)]
mod tests;
