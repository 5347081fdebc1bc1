//! Pause plans, pure: the exact JSON patches (RFC 6902, each starting with a
//! `resourceVersion` test) that pause, join, release and restore one object, on the field
//! its method owns ([`super::owned`]). The annotations say who holds a pause; what is
//! written back comes from the grant's own record, and from the object's record only when
//! the grant has none and the record stays inside a field the method owns.

use serde_json::Value;

mod object;

pub use object::{apply_ops, argo_parent, holders, holders_of, manages};

use self::object::{Ops, annotation_path, checked_record, joined};
pub use super::record::Record;
use super::{
    Method, PAUSE_RECORD, PAUSED_BY,
    owned::{ARGO_SKIP_RECONCILE, AUTOMATED, CROSSPLANE_PAUSED, Refusal},
};
use crate::PauseMethod;

const ARGO_REFRESH: &str = "argocd.argoproj.io/refresh";
const FLUX_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{kind} {name}: annotation {PAUSE_RECORD} is missing or unreadable ({why})")]
    BadRecord {
        kind: String,
        name: String,
        why: String,
    },
    /// The object's record names a field or value its method does not own: not written.
    #[error("{kind} {name}: annotation {PAUSE_RECORD} refused, nothing written back ({why})")]
    Refused {
        kind: String,
        name: String,
        /// Boxed: the error stays small on the common path.
        why: Box<Refusal>,
    },
}

/// Why there is nothing to pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Nothing the method would change (auto-sync off, plan-only already, …).
    NothingToPause(String),
    /// The field already holds the paused value and no annotation says which grant set it:
    /// paused by a person, or by a grant whose annotations were lost (see
    /// [`join_recorded`]).
    AlreadyPaused,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NothingToPause(why) => f.write_str(why),
            SkipReason::AlreadyPaused => f.write_str("already paused by someone else; left alone"),
        }
    }
}

/// Which record a plan is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The object's own annotations.
    Annotations,
    /// The grant's `pausedTargets[]` entry: the annotations are gone.
    Grant,
}

/// The next change for one object when a grant wants it paused.
#[derive(Debug, Clone, PartialEq)]
pub enum PausePlan {
    /// Nothing to pause, and nothing will be restored.
    Skip(SkipReason),
    /// First holder: set the owned field and record the original. `ops` is the JSON patch.
    Pause { record: Record, ops: Vec<Value> },
    /// Already paused for other grants: add this grant to the holders.
    Join {
        record: Record,
        holders: Vec<String>,
        ops: Vec<Value>,
    },
    /// Paused by other grants whose records say so, with the annotations gone: hold it with
    /// them (no patch; the last holder restores from its record).
    JoinRecorded {
        record: Record,
        holders: Vec<String>,
    },
    /// This grant already holds it. `changed` when someone else has since changed the field.
    Held {
        record: Record,
        changed: bool,
        source: Source,
    },
}

/// The next change for one object when a grant that may hold its pause ends. An empty
/// `ops` means there is nothing to send.
#[derive(Debug, Clone, PartialEq)]
pub enum RestorePlan {
    /// This grant does not hold it (never patched, or already released).
    NotHeld,
    /// Other grants still hold it: only remove this grant from the holders.
    Release {
        others: Vec<String>,
        ops: Vec<Value>,
    },
    /// Last holder: put the field back, drop our annotations, ask the tool to reconcile.
    Restore {
        record: Record,
        ops: Vec<Value>,
        source: Source,
    },
    /// Last holder, but someone changed the field meanwhile: leave it, drop our annotations.
    KeepChange {
        record: Record,
        current: Option<Value>,
        ops: Vec<Value>,
    },
}

/// The field `method` owns on `obj` and the value it takes while paused, or why there is
/// nothing to pause. `enabled_supported`: the Application CRD has `automated.enabled`.
fn field(method: &Method, obj: &Value, enabled_supported: bool) -> Result<Record, SkipReason> {
    let nothing = |why: &str| Err(SkipReason::NothingToPause(why.to_owned()));
    let (path, paused) = match method {
        Method::DisableAutoSync => {
            let automated = obj.pointer(AUTOMATED).filter(|v| !v.is_null());
            let Some(automated) = automated else {
                return nothing("auto-sync is not enabled; nothing to pause");
            };
            if enabled_supported {
                if automated.get("enabled") == Some(&Value::Bool(false)) {
                    // The paused value is in place: a person's pause, or a grant's whose
                    // annotations are gone (its record tells).
                    return Err(SkipReason::AlreadyPaused);
                }
                (format!("{AUTOMATED}/enabled"), Some(Value::Bool(false)))
            } else {
                (AUTOMATED.to_owned(), None)
            }
        }
        Method::SkipReconcile => (
            annotation_path(ARGO_SKIP_RECONCILE),
            Some(Value::from("true")),
        ),
        Method::Suspend => ("/spec/suspend".to_owned(), Some(Value::Bool(true))),
        Method::CrossplanePause => (
            annotation_path(CROSSPLANE_PAUSED),
            Some(Value::from("true")),
        ),
        Method::PlanOnly => {
            let current = obj.pointer("/spec/approvePlan").and_then(Value::as_str);
            if current.unwrap_or_default().is_empty() {
                return nothing("approvePlan is already empty (plan only); nothing to pause");
            }
            ("/spec/approvePlan".to_owned(), Some(Value::from("")))
        }
        Method::Annotation { key, value } => {
            (annotation_path(key), Some(Value::from(value.as_str())))
        }
    };
    let original = obj.pointer(&path).cloned();
    if original == paused {
        return Err(SkipReason::AlreadyPaused);
    }
    Ok(Record {
        method: method.kind(),
        path,
        paused,
        original,
    })
}

/// Plans pausing `obj` for grant `me` (`namespace/name`). `mine`: this grant's own record
/// of a pause it holds ([`Record::of_entry`]); it comes before the object's. The object's
/// record (joining another grant's pause) must stay inside a field `method` or the
/// object's kind owns ([`Method::of_kind`]): the joining grant copies it to its entry.
pub fn plan_pause(
    obj: &Value,
    method: &Method,
    me: &str,
    enabled_supported: bool,
    mine: Option<&Record>,
) -> Result<PausePlan, Error> {
    let mut current = holders(obj);
    let held = current.iter().any(|h| h == me);
    if !current.is_empty() {
        let record = match mine {
            Some(m) if held => m.clone(),
            _ => {
                let text = |p: &str| obj.get(p).and_then(Value::as_str).unwrap_or_default();
                let mut allowed = Method::of_kind(text("apiVersion"), text("kind"));
                allowed.push(method.clone());
                checked_record(obj, &allowed)?
            }
        };
        if held {
            let changed = !record.still_paused(obj);
            return Ok(PausePlan::Held {
                record,
                changed,
                source: Source::Annotations,
            });
        }
        current.push(me.to_owned());
        let mut ops = Ops::new(obj);
        ops.annotate(obj, PAUSED_BY, Some(joined(&current)));
        return Ok(PausePlan::Join {
            record,
            holders: current,
            ops: ops.ops,
        });
    }
    // The annotations are gone but this grant paused it: its own record says what it set,
    // so the pause stays held (and a change by a person is still noticed).
    if let Some(mine) = mine {
        return Ok(PausePlan::Held {
            record: mine.clone(),
            changed: !mine.still_paused(obj),
            source: Source::Grant,
        });
    }
    let record = match field(method, obj, enabled_supported) {
        Ok(r) => r,
        Err(why) => return Ok(PausePlan::Skip(why)),
    };
    let mut ops = Ops::new(obj);
    ops.set(
        &record.path,
        record.paused.clone(),
        obj.pointer(&record.path),
    );
    ops.annotate(obj, PAUSED_BY, Some(me.to_owned()));
    let raw = serde_json::to_string(&record).unwrap_or_default();
    ops.annotate(obj, PAUSE_RECORD, Some(raw));
    Ok(PausePlan::Pause {
        record,
        ops: ops.ops,
    })
}

/// When `obj` is already paused and carries no holder annotation: joins the grants whose
/// records say they paused it (their field value still in place), or `None` when no such
/// record explains the paused value (a person paused it).
pub fn join_recorded(obj: &Value, recorded: &[(String, Record)]) -> Option<PausePlan> {
    if !holders(obj).is_empty() {
        return None;
    }
    let still: Vec<&(String, Record)> = recorded
        .iter()
        .filter(|(_, r)| r.still_paused(obj))
        .collect();
    let (_, record) = still.first()?;
    Some(PausePlan::JoinRecorded {
        record: record.clone(),
        holders: still.iter().map(|(k, _)| k.clone()).collect(),
    })
}

/// Plans ending `me`'s hold on `obj`. `others_live`: the other grants that still hold it
/// and are still live (from the annotations or from their own records; stale holders are
/// dropped, so a lost grant cannot pin a pause). `mine`: this grant's own record; what is
/// written back comes from it. Without one (an orphan, an entry from before `path` was
/// recorded), the object's record is used only when it stays inside a field one of
/// `allowed` owns. `now` (RFC 3339) goes into Flux's reconcile request.
pub fn plan_restore(
    obj: &Value,
    me: &str,
    others_live: &[String],
    now: &str,
    mine: Option<&Record>,
    allowed: &[Method],
) -> Result<RestorePlan, Error> {
    let current = holders(obj);
    let by_annotations = current.iter().any(|h| h == me);
    if !by_annotations && (!current.is_empty() || mine.is_none()) {
        // Held by others only (this grant released it or never joined), or never held.
        return Ok(RestorePlan::NotHeld);
    }
    let source = if by_annotations {
        Source::Annotations
    } else {
        Source::Grant
    };
    let mut ops = Ops::new(obj);
    if !others_live.is_empty() {
        if by_annotations {
            ops.annotate(obj, PAUSED_BY, Some(joined(others_live)));
        }
        return Ok(RestorePlan::Release {
            others: others_live.to_vec(),
            ops: if by_annotations { ops.ops } else { vec![] },
        });
    }
    let record = match mine {
        Some(m) => m.clone(),
        None => checked_record(obj, allowed)?,
    };
    let now_value = obj.pointer(&record.path).cloned();
    let changed = now_value != record.paused;
    if !changed {
        ops.set(&record.path, record.original.clone(), now_value.as_ref());
    }
    ops.annotate(obj, PAUSED_BY, None);
    ops.annotate(obj, PAUSE_RECORD, None);
    if changed {
        return Ok(RestorePlan::KeepChange {
            record,
            current: now_value,
            ops: if ops.ops.len() > 1 { ops.ops } else { vec![] },
        });
    }
    match record.method {
        PauseMethod::DisableAutoSync | PauseMethod::SkipReconcile => {
            ops.annotate(obj, ARGO_REFRESH, Some("normal".into()));
        }
        PauseMethod::Suspend | PauseMethod::PlanOnly => {
            ops.annotate(obj, FLUX_REQUESTED_AT, Some(now.to_owned()));
        }
        PauseMethod::CrossplanePause | PauseMethod::Annotation => {}
    }
    Ok(RestorePlan::Restore {
        record,
        ops: ops.ops,
        source,
    })
}
