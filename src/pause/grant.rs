//! One grant's pauses: survey what its policy names, record the intent in
//! `status.pausedTargets`, patch, and at the end restore. The controller writes the status
//! between [`survey`] and [`execute`], so the original value is on the grant before the
//! object is touched.

use std::collections::BTreeSet;

use kube::Client;
use serde_json::Value;

use super::{
    Method, PausePlan, RestorePlan, Selection,
    apply::{self, Error, Found},
    holders, plan_pause, plan_restore,
};
use crate::api::PausedTarget;

/// States of a `pausedTargets` entry.
pub mod state {
    /// Original recorded on the grant; the object is about to be patched.
    pub const PAUSING: &str = "Pausing";
    pub const PAUSED: &str = "Paused";
    /// Nothing to pause (already paused by someone else, auto-sync off, …).
    pub const SKIPPED: &str = "Skipped";
    /// The object or its kind does not exist.
    pub const NOT_FOUND: &str = "NotFound";
    pub const FAILED: &str = "Failed";
    /// Someone else changed the paused field during the grant; it is left as they set it.
    pub const CHANGED_BY_OTHERS: &str = "ChangedByOthers";
    pub const RESTORED: &str = "Restored";
    /// Other grants still hold the pause; the last of them restores it.
    pub const RELEASED: &str = "Released";
    /// The pause never reached the object (e.g. a crash after recording), so nothing to undo.
    pub const NOT_PAUSED: &str = "NotPaused";
    /// The object was deleted during the grant.
    pub const GONE: &str = "Gone";
}

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
    /// `Err`: the object is missing or its pause record is unreadable.
    pub plan: Result<PausePlan, String>,
}

/// Finds every object the selections name and plans its pause for grant `me`.
pub async fn survey(
    client: &Client,
    selections: &[Selection],
    me: &str,
    field_manager: &str,
) -> Result<Vec<Work>, Error> {
    let mut out: Vec<Work> = vec![];
    for sel in selections {
        for found in apply::resolve(client, sel).await? {
            if out.iter().any(|w| same(&w.found, &found)) {
                continue;
            }
            let plan = match &found.object {
                Err(why) => Err(why.clone()),
                Ok(obj) => {
                    let enabled = found.method == Method::DisableAutoSync
                        && holders(obj).is_empty()
                        && obj
                            .pointer("/spec/syncPolicy/automated")
                            .is_some_and(|v| !v.is_null())
                        && apply::supports_enabled(client, &found, field_manager).await?;
                    plan_pause(obj, &found.method, me, enabled).map_err(|e| e.to_string())
                }
            };
            out.push(Work { found, plan });
        }
    }
    Ok(out)
}

fn same(a: &Found, b: &Found) -> bool {
    a.api_version == b.api_version
        && a.kind == b.kind
        && a.namespace == b.namespace
        && a.name == b.name
}

fn entry_for<'a>(entries: &'a mut Vec<PausedTarget>, found: &Found) -> &'a mut PausedTarget {
    let pos = entries.iter().position(|e| {
        e.api_version == found.api_version
            && e.kind == found.kind
            && e.namespace == found.namespace
            && e.name == found.name
    });
    match pos {
        Some(i) => &mut entries[i],
        None => {
            entries.push(PausedTarget {
                api_version: found.api_version.clone(),
                kind: found.kind.clone(),
                namespace: found.namespace.clone(),
                name: found.name.clone(),
                method: found.method.name().to_owned(),
                original: None,
                state: String::new(),
                message: None,
            });
            let last = entries.len() - 1;
            &mut entries[last]
        }
    }
}

fn json(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

fn parent_note(found: &Found, msg: String) -> Option<String> {
    Some(match &found.parent_of {
        Some(child) => format!("app-of-apps of {child}: {msg}"),
        None => msg,
    })
}

/// Records on `entries` what the survey found; pauses about to happen become `Pausing` with
/// their original value. Returns whether any object is about to be patched. Pure.
pub fn record_intent(entries: &mut Vec<PausedTarget>, work: &[Work]) -> bool {
    let mut pending = false;
    for w in work {
        // An object this grant paused earlier keeps its entry (and original) as it is.
        let e = entry_for(entries, &w.found);
        match &w.plan {
            Err(why) => {
                if e.state != state::PAUSED {
                    e.state = if w.found.object.is_err() {
                        state::NOT_FOUND
                    } else {
                        state::FAILED
                    }
                    .into();
                    e.message = parent_note(&w.found, why.clone());
                }
            }
            Ok(PausePlan::Skip(why)) => {
                e.state = state::SKIPPED.into();
                e.message = parent_note(&w.found, why.clone());
            }
            Ok(PausePlan::Pause { record, .. }) | Ok(PausePlan::Join { record, .. }) => {
                pending = true;
                e.method = record.method.clone();
                e.original = json(&record.original);
                e.state = state::PAUSING.into();
                e.message = parent_note(&w.found, format!("setting {}", record.path));
            }
            Ok(PausePlan::Held { record, .. }) => {
                e.method = record.method.clone();
                e.original = json(&record.original);
            }
        }
    }
    pending
}

/// Sends the planned patches and records the outcome on `entries`.
pub async fn execute(
    client: &Client,
    work: &[Work],
    entries: &mut Vec<PausedTarget>,
    field_manager: &str,
) -> Result<Vec<Note>, Error> {
    let mut notes = vec![];
    let mut first_error = None;
    for w in work {
        let Ok(plan) = &w.plan else { continue };
        let e = entry_for(entries, &w.found);
        match plan {
            PausePlan::Pause { record, ops } | PausePlan::Join { record, ops, .. } => {
                match apply::patch(client, &w.found, ops, field_manager).await {
                    Ok(_) => {
                        e.state = state::PAUSED.into();
                        let how = match plan {
                            PausePlan::Join { holders, .. } => {
                                format!("already paused; held with {}", holders.join(", "))
                            }
                            _ => change(&record.path, &record.paused),
                        };
                        e.message = parent_note(&w.found, how);
                        notes.push(Note {
                            warning: false,
                            reason: "Paused",
                            message: format!("paused {} ({})", w.found.describe(), record.method),
                        });
                    }
                    Err(err) => {
                        e.state = state::FAILED.into();
                        e.message = parent_note(&w.found, err.to_string());
                        first_error.get_or_insert(err);
                    }
                }
            }
            PausePlan::Held { record, changed } => {
                let was = e.state.clone();
                if *changed {
                    e.state = state::CHANGED_BY_OTHERS.into();
                    e.message = parent_note(
                        &w.found,
                        format!(
                            "{} was changed by someone else during the grant; it will be left as they set it",
                            record.path
                        ),
                    );
                    if was != state::CHANGED_BY_OTHERS {
                        notes.push(Note {
                            warning: true,
                            reason: "PauseOverridden",
                            message: format!(
                                "{} {} was changed by someone else; it will not be restored",
                                w.found.describe(),
                                record.path
                            ),
                        });
                    }
                } else if was != state::PAUSED {
                    e.state = state::PAUSED.into();
                    e.message = parent_note(&w.found, change(&record.path, &record.paused));
                }
            }
            PausePlan::Skip(_) => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(notes),
    }
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
        .filter_map(|w| w.found.object.as_ref().err().cloned())
        .collect();
    (!missing.is_empty()).then(|| format!("waiting for required targets: {}", missing.join("; ")))
}

/// States whose object may carry this grant's hold.
fn may_hold(state: &str) -> bool {
    matches!(
        state,
        state::PAUSING | state::PAUSED | state::CHANGED_BY_OTHERS | state::FAILED
    )
}

/// Ends grant `me`'s holds. `live`: keys of grants that still count as holders (not Ended or
/// Denied). `now` is RFC 3339. Entries are updated as each object is dealt with.
pub async fn restore(
    client: &Client,
    entries: &mut [PausedTarget],
    me: &str,
    live: &BTreeSet<String>,
    now: &str,
    field_manager: &str,
) -> Result<Vec<Note>, Error> {
    let mut notes = vec![];
    for e in entries.iter_mut().filter(|e| may_hold(&e.state)) {
        let Some((obj, found)) = apply::reread(
            client,
            &e.api_version,
            &e.kind,
            e.namespace.as_deref(),
            &e.name,
        )
        .await?
        else {
            e.state = state::GONE.into();
            e.message = Some("the object no longer exists".into());
            continue;
        };
        let others: Vec<String> = holders(&obj)
            .into_iter()
            .filter(|h| h != me && live.contains(h))
            .collect();
        let plan = match plan_restore(&obj, me, &others, now) {
            Ok(p) => p,
            Err(err) => {
                e.state = state::FAILED.into();
                e.message = Some(err.to_string());
                notes.push(Note {
                    warning: true,
                    reason: "RestoreFailed",
                    message: err.to_string(),
                });
                continue;
            }
        };
        match plan {
            RestorePlan::NotHeld => {
                if e.state != state::CHANGED_BY_OTHERS {
                    e.state = state::NOT_PAUSED.into();
                    e.message = Some("the pause never reached the object; nothing to undo".into());
                }
            }
            RestorePlan::Release { others, ops } => {
                apply::patch(client, &found, &ops, field_manager).await?;
                e.state = state::RELEASED.into();
                e.message = Some(format!("still paused for {}", others.join(", ")));
            }
            RestorePlan::Restore { record, ops } => {
                apply::patch(client, &found, &ops, field_manager).await?;
                e.state = state::RESTORED.into();
                e.message = Some(format!(
                    "{} back to {}",
                    record.path,
                    shown(&record.original)
                ));
                notes.push(Note {
                    warning: false,
                    reason: "Restored",
                    message: format!("restored {} ({})", found.describe(), record.method),
                });
            }
            RestorePlan::KeepChange {
                record,
                current,
                ops,
            } => {
                apply::patch(client, &found, &ops, field_manager).await?;
                let msg = format!(
                    "{} was changed by someone else to {} during the grant; left as is (original {})",
                    record.path,
                    shown(&current),
                    shown(&record.original)
                );
                e.state = state::CHANGED_BY_OTHERS.into();
                e.message = Some(msg.clone());
                notes.push(Note {
                    warning: true,
                    reason: "PauseOverridden",
                    message: format!("{}: {msg}", found.describe()),
                });
            }
        }
    }
    Ok(notes)
}

/// The `AutomationPaused` condition while the grant is active: (status, reason, message).
pub fn condition(entries: &[PausedTarget]) -> (bool, &'static str, String) {
    let count = |s: &str| entries.iter().filter(|e| e.state == s).count();
    let paused = count(state::PAUSED);
    let failed: Vec<String> = entries
        .iter()
        .filter(|e| e.state == state::FAILED)
        .map(|e| {
            format!(
                "{} {}: {}",
                e.kind,
                e.name,
                e.message.clone().unwrap_or_default()
            )
        })
        .collect();
    let summary = format!(
        "{paused} paused, {} skipped, {} not found, {} changed by others",
        count(state::SKIPPED),
        count(state::NOT_FOUND),
        count(state::CHANGED_BY_OTHERS)
    );
    if !failed.is_empty() {
        return (
            paused > 0,
            "PauseFailed",
            format!("{summary}; failed: {}", failed.join("; ")),
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
    let count = |s: &str| entries.iter().filter(|e| e.state == s).count();
    format!(
        "{} restored, {} still paused for other grants, {} left as changed by others",
        count(state::RESTORED),
        count(state::RELEASED),
        count(state::CHANGED_BY_OTHERS)
    )
}
