//! Which other grants still hold a pause (`others_holding`), from the object's annotations
//! and the grants' own records, on objects from `tests/fixtures/pause/`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{newly, others_holding};
use crate::api::PauseProblem;
use crate::pause::{Method, PausePlan, Record, RestorePlan, apply_ops, plan_pause, plan_restore};

use breakglass_core::pause::testing::{A, B, NOW, fixture, paused_by_a, record, strip};

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
        let plan =
            plan_restore(&obj, me, &others, NOW, Some(&record(&entry_a)), &[]).expect("plan");
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

#[test]
fn a_refusal_is_reported_once_not_at_every_re_check() {
    let (_, entry) = paused_by_a(
        &fixture("application-automated.yaml"),
        &Method::DisableAutoSync,
        true,
    );
    let refused = |name: &str| {
        let mut e = entry.clone();
        e.name = name.into();
        e.reason = Some(PauseProblem::RefusedRecord);
        e
    };
    let before = vec![entry.clone(), refused("already")];
    let after = vec![refused("payments"), refused("already")];
    let new: Vec<&str> = newly(&before, &after, PauseProblem::RefusedRecord)
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(new, ["payments"]);
    assert!(newly(&after, &after, PauseProblem::RefusedRecord).is_empty());
}
