//! Restoring from either record: the object's annotations, or the grant's own entry when
//! the annotations are gone. Objects from `tests/fixtures/pause/`, patches applied in memory.

use serde_json::{Value, json};

use super::*;
use crate::{PauseMethod, PauseState, PausedTarget};

use super::testing::{A, B, NOW, fixture, paused_by_a, record, strip};

#[test]
fn a_grant_entry_is_a_record_only_once_the_pause_reached_the_object() {
    let app = fixture("application-automated.yaml");
    let (_, entry) = paused_by_a(&app, &Method::DisableAutoSync, true);
    let r = record(&entry);
    assert_eq!(r.method, PauseMethod::DisableAutoSync);
    assert_eq!(r.path, "/spec/syncPolicy/automated/enabled");
    assert_eq!(r.paused, Some(json!(false)));
    assert_eq!(r.original, None);
    for state in [
        PauseState::Pausing,
        PauseState::Skipped,
        PauseState::Restored,
    ] {
        let e = PausedTarget {
            state,
            ..entry.clone()
        };
        assert_eq!(Record::of_entry(&e), None, "{state:?}");
    }
    let old = PausedTarget {
        path: None,
        ..entry.clone()
    };
    assert_eq!(Record::of_entry(&old), None, "no path: annotations only");
    let bad = PausedTarget {
        original: Some("{not json".into()),
        ..entry
    };
    assert_eq!(Record::of_entry(&bad), None);
}

#[test]
fn stripped_annotations_keep_the_pause_held_and_restore_from_the_grant() {
    let app = fixture("application-automated.yaml");
    let (paused, entry) = paused_by_a(&app, &Method::DisableAutoSync, true);
    let stripped = strip(&paused);
    let mine = record(&entry);
    // Without the grant's record, the next look would take it for someone else's pause.
    assert_eq!(
        plan_pause(&stripped, &Method::DisableAutoSync, A, true, None),
        Ok(PausePlan::Skip(SkipReason::AlreadyPaused))
    );
    assert_eq!(
        plan_pause(&stripped, &Method::DisableAutoSync, A, true, Some(&mine)),
        Ok(PausePlan::Held {
            record: mine.clone(),
            changed: false,
            source: Source::Grant
        })
    );
    assert_eq!(
        plan_restore(&stripped, A, &[], NOW, None, &[]),
        Ok(RestorePlan::NotHeld),
        "annotations alone: nothing to restore (the bug this fixes)"
    );
    let plan = plan_restore(&stripped, A, &[], NOW, Some(&mine), &[]).expect("plan");
    let RestorePlan::Restore { ops, source, .. } = &plan else {
        panic!("expected a restore, got {plan:?}");
    };
    assert_eq!(*source, Source::Grant);
    let restored = apply_ops(&stripped, ops).expect("patch applies");
    assert_eq!(restored["spec"], app["spec"], "auto-sync back exactly");
}

#[test]
fn with_both_records_the_grant_record_is_written_back() {
    let app = fixture("application-automated.yaml");
    let (paused, entry) = paused_by_a(&app, &Method::DisableAutoSync, true);
    // Whoever may edit the Application rewrote the object's record to aim elsewhere.
    let mut forged = paused.clone();
    forged["metadata"]["annotations"][PAUSE_RECORD] = json!(
        r#"{"method":"DisableAutoSync","path":"/spec/source/repoURL","original":"https://evil.example/x.git"}"#
    );
    let plan = plan_restore(&forged, A, &[], NOW, Some(&record(&entry)), &[]).expect("plan");
    let RestorePlan::Restore {
        ops,
        source,
        record,
    } = &plan
    else {
        panic!("expected a restore, got {plan:?}");
    };
    // The annotations said who holds it; the grant's record said what to write.
    assert_eq!(*source, Source::Annotations);
    assert_eq!(record.path, "/spec/syncPolicy/automated/enabled");
    let restored = apply_ops(&forged, ops).expect("patch applies");
    assert_eq!(restored["spec"], app["spec"], "repoURL untouched");
    assert_eq!(
        restored["metadata"]["annotations"],
        json!({"argocd.argoproj.io/refresh": "normal"})
    );
}

#[test]
fn an_unreadable_annotation_record_falls_back_to_the_grant() {
    let app = fixture("kustomization.yaml");
    let (paused, entry) = paused_by_a(&app, &Method::Suspend, false);
    let mut broken = paused.clone();
    broken["metadata"]["annotations"][PAUSE_RECORD] = json!("{garbage");
    assert!(plan_restore(&broken, A, &[], NOW, None, &[]).is_err());
    let plan = plan_restore(&broken, A, &[], NOW, Some(&record(&entry)), &[]).expect("plan");
    let RestorePlan::Restore { ops, .. } = &plan else {
        panic!("expected a restore, got {plan:?}");
    };
    let restored = apply_ops(&broken, ops).expect("patch applies");
    assert_eq!(restored["spec"], app["spec"]);
    assert!(
        restored["metadata"]["annotations"]
            .get(PAUSE_RECORD)
            .is_none()
    );
}

#[test]
fn a_person_re_enabling_after_the_strip_is_left_alone() {
    let app = fixture("application-automated.yaml");
    let (paused, entry) = paused_by_a(&app, &Method::DisableAutoSync, true);
    let mut edited = strip(&paused);
    edited["spec"]["syncPolicy"]["automated"]["enabled"] = json!(true);
    let mine = record(&entry);
    assert!(matches!(
        plan_pause(&edited, &Method::DisableAutoSync, A, true, Some(&mine)),
        Ok(PausePlan::Held { changed: true, .. })
    ));
    let plan = plan_restore(&edited, A, &[], NOW, Some(&mine), &[]).expect("plan");
    assert_eq!(
        plan,
        RestorePlan::KeepChange {
            record: mine,
            current: Some(json!(true)),
            ops: vec![],
        },
        "nothing to send: no annotations to drop, the person's value stays"
    );
}

#[test]
fn a_later_grant_joins_by_record_and_the_last_holder_restores() {
    let app = fixture("application-automated.yaml");
    let (paused, entry_a) = paused_by_a(&app, &Method::DisableAutoSync, true);
    let stripped = strip(&paused);
    let rec_a = record(&entry_a);
    let plan_b = plan_pause(&stripped, &Method::DisableAutoSync, B, true, None).expect("plan");
    assert_eq!(plan_b, PausePlan::Skip(SkipReason::AlreadyPaused));
    let joined = join_recorded(&stripped, &[(A.to_owned(), rec_a.clone())]);
    assert_eq!(
        joined,
        Some(PausePlan::JoinRecorded {
            record: rec_a.clone(),
            holders: vec![A.to_owned()],
        })
    );
    // A person's pause is not explained by a record whose value is not in place.
    let mut by_person = stripped.clone();
    by_person["spec"]["syncPolicy"]["automated"]["enabled"] = json!(true);
    assert_eq!(
        join_recorded(&by_person, &[(A.to_owned(), rec_a.clone())]),
        None
    );

    // A ends first: B still holds it by its record, so nothing is sent.
    let plan = plan_restore(&stripped, A, &[B.to_owned()], NOW, Some(&rec_a), &[]).expect("plan");
    assert_eq!(
        plan,
        RestorePlan::Release {
            others: vec![B.to_owned()],
            ops: vec![],
        }
    );
    // B, the last holder, restores from its own record (a copy of A's).
    let plan = plan_restore(&stripped, B, &[], NOW, Some(&rec_a), &[]).expect("plan");
    let RestorePlan::Restore { ops, source, .. } = &plan else {
        panic!("expected a restore, got {plan:?}");
    };
    assert_eq!(*source, Source::Grant);
    assert_eq!(
        apply_ops(&stripped, ops).expect("applies")["spec"],
        app["spec"]
    );
}

/// Found by `make chaos`: three grants holding one pause, resolved together. Each ending saw
/// the others still live (its cache lagged) and their entries still `Paused`; taking those
/// records as holders wrote back grants that had already released it, so the last one to
/// end released to them and nobody restored. With the annotations present they alone say
/// who holds it, and the endings (serialized by the resourceVersion test) leave the last
/// holder alone to restore.
fn annotations_of(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn a_pause_is_orphaned_only_when_no_named_grant_holds_it() {
    use crate::pause::orphan::{Holder, plan_orphan};
    let app = fixture("application-automated.yaml");
    let (paused, _) = paused_by_a(&app, &Method::DisableAutoSync, true);
    let held = |h: Holder| {
        plan_orphan(
            &paused,
            &[(A.to_owned(), h)],
            NOW,
            &[Method::DisableAutoSync],
        )
    };
    assert!(held(Holder::Live).is_none(), "its own pipeline restores it");
    assert!(
        held(Holder::Ended { holds: true }).is_none(),
        "held for review"
    );
    for gone in [Holder::Gone, Holder::Ended { holds: false }] {
        let Some(Ok(RestorePlan::Restore { ops, .. })) = held(gone) else {
            panic!("{gone:?}: expected a restore");
        };
        let restored = apply_ops(&paused, &ops).expect("patch applies");
        assert_eq!(
            restored["spec"], app["spec"],
            "{gone:?}: auto-sync back exactly"
        );
        assert!(
            annotations_of(&restored)
                .iter()
                .all(|k| !k.starts_with("breakglass.dev/pause"))
        );
    }
    let one_live = [(A.to_owned(), Holder::Gone), (B.to_owned(), Holder::Live)];
    assert!(plan_orphan(&paused, &one_live, NOW, &[Method::DisableAutoSync]).is_none());
    assert!(
        plan_orphan(&app, &[], NOW, &[Method::DisableAutoSync]).is_none(),
        "not paused by the operator"
    );
}
