//! Which other grants still hold a pause (`others_holding`), from the object's annotations
//! and the grants' own records, on objects from `tests/fixtures/pause/`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::others_holding;
use crate::{
    api::{PauseState, PausedTarget},
    pause::{
        Method, PAUSE_RECORD, PAUSED_BY, PausePlan, Record, RestorePlan, apply_ops, plan_pause,
        plan_restore,
    },
};

const NOW: &str = "2026-01-01T12:00:00Z";
const A: &str = "incidents/inc-1-alice";
const B: &str = "incidents/inc-2-bob";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/pause/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Pauses `obj` as grant A and returns the object and A's entry, as the status records it.
fn paused_by_a(obj: &Value, method: &Method, enabled: bool) -> (Value, PausedTarget) {
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
fn strip(obj: &Value) -> Value {
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

fn record(entry: &PausedTarget) -> Record {
    Record::of_entry(entry).expect("a complete record")
}

#[test]
fn holders_ending_together_on_stale_views_still_restore_once() {
    const C: &str = "incidents/inc-3-carol";
    let app = fixture("application-automated.yaml");
    let (mut obj, entry_a) = paused_by_a(&app, &Method::DisableAutoSync, true);
    for joiner in [B, C] {
        let Ok(PausePlan::Join { ops, .. }) =
            plan_pause(&obj, &Method::DisableAutoSync, joiner, true, None)
        else {
            panic!("{joiner} joins");
        };
        obj = apply_ops(&obj, &ops).expect("join applies");
    }
    // Every grant's entry records the pause (B's and C's as A's: the same record).
    let entries: Vec<(String, Record)> = [A, B, C]
        .iter()
        .map(|k| ((*k).to_owned(), record(&entry_a)))
        .collect();
    let everyone: BTreeSet<String> = [A, B, C].iter().map(|k| (*k).to_owned()).collect();
    let mut restored = 0;
    for me in [A, B, C] {
        // Stale: every other grant still looks live, its record still Paused.
        let recorded: Vec<(String, Record)> =
            entries.iter().filter(|(k, _)| k != me).cloned().collect();
        let others = others_holding(&obj, me, &everyone, Some(&recorded));
        let plan = plan_restore(&obj, me, &others, NOW, Some(&record(&entry_a))).expect("plan");
        match &plan {
            RestorePlan::Release { ops, .. } => obj = apply_ops(&obj, ops).expect("release"),
            RestorePlan::Restore { ops, .. } => {
                obj = apply_ops(&obj, ops).expect("restore");
                restored += 1;
            }
            other => panic!("{me}: unexpected {other:?}"),
        }
    }
    assert_eq!(restored, 1, "the last holder restores, once");
    assert_eq!(obj["spec"], app["spec"], "auto-sync back exactly");
    assert!(
        annotations_of(&obj)
            .iter()
            .all(|k| !k.starts_with("breakglass.dev/pause")),
        "{:?}",
        annotations_of(&obj)
    );

    // Annotations stripped: the grants' records are all there is, and they still count.
    let (paused, _) = paused_by_a(&app, &Method::DisableAutoSync, true);
    let stripped = strip(&paused);
    let recorded = vec![(B.to_owned(), record(&entry_a))];
    assert_eq!(
        others_holding(&stripped, A, &everyone, Some(&recorded)),
        vec![B.to_owned()]
    );
}

fn annotations_of(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}
