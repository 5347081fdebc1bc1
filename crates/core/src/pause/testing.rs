//! Fixtures shared by the pause tests of this crate and of the operator (feature
//! `testing`): objects from `tests/fixtures/pause/`, paused in memory as a grant would.

use serde_json::Value;

use super::{Method, PAUSE_RECORD, PAUSED_BY, PausePlan, Record, apply_ops, plan_pause};
use crate::{PauseState, PausedTarget};

pub const NOW: &str = "2026-01-01T12:00:00Z";
pub const A: &str = "incidents/inc-1-alice";
pub const B: &str = "incidents/inc-2-bob";

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/pause/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Pauses `obj` as grant A and returns the object and A's entry, as the status records it.
pub fn paused_by_a(obj: &Value, method: &Method, enabled: bool) -> (Value, PausedTarget) {
    let Ok(PausePlan::Pause { record, ops }) = plan_pause(obj, method, A, enabled, None) else {
        panic!("expected a pause");
    };
    let entry = PausedTarget {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some("argocd".into()),
        name: "payments".into(),
        method: record.method,
        path: Some(record.path.clone()),
        original: record.original.as_ref().map(Value::to_string),
        paused: record.paused.as_ref().map(Value::to_string),
        state: PauseState::Paused,
        restore: None,
        drift: None,
        reason: None,
        message: None,
    };
    (apply_ops(obj, &ops).expect("patch applies"), entry)
}

/// What `kubectl replace` of the object without our annotations leaves.
pub fn strip(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(a) = out
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(PAUSED_BY);
        a.remove(PAUSE_RECORD);
    }
    out
}

pub fn record(entry: &PausedTarget) -> Record {
    Record::of_entry(entry).expect("a complete record")
}
