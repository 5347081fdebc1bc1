//! Records on objects are input: only a field the method owns is written back, with the
//! value the method sets and an original of its type; an app-of-apps is a parent only by
//! its own status; the sweep's set of known pauses shrinks again.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    orphan::{Holder, Known, plan_orphan},
    owned::{Refusal, check},
    plan::{Error, manages},
    *,
};
use crate::{PauseMethod, PausedTarget, TargetRef};

use super::testing::{A, B, NOW, fixture, paused_by_a};

/// `obj` as a user left it: `paused-by` naming `holder`, and `record` as the pause record.
fn forged(obj: &Value, holder: &str, record: Value) -> Value {
    let mut out = obj.clone();
    out["metadata"]["annotations"] = json!({PAUSED_BY: holder, PAUSE_RECORD: record.to_string()});
    out
}

fn refusal(result: Option<Result<RestorePlan, Error>>) -> Refusal {
    match result {
        Some(Err(Error::Refused { why, .. })) => *why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn orphan(obj: &Value, recorded: &[Method]) -> Option<Result<RestorePlan, Error>> {
    plan_orphan(obj, &[(A.to_owned(), Holder::Gone)], NOW, recorded)
}

#[test]
fn every_record_a_pause_makes_is_inside_its_method() {
    let app = fixture("application-automated.yaml");
    let tf = fixture("terraform.yaml");
    let annotation = Method::Annotation {
        key: "example.com/paused".into(),
        value: "yes".into(),
    };
    let cases = [
        (&app, Method::DisableAutoSync, true),
        (&app, Method::DisableAutoSync, false),
        (&app, Method::SkipReconcile, false),
        (&fixture("kustomization.yaml"), Method::Suspend, false),
        (&tf, Method::PlanOnly, false),
        (&tf, Method::CrossplanePause, false),
        (&tf, annotation, false),
    ];
    for (obj, method, enabled) in cases {
        let Ok(PausePlan::Pause { record, .. }) = plan_pause(obj, &method, A, enabled, None) else {
            panic!("{method:?}: expected a pause");
        };
        assert_eq!(check(&record, std::slice::from_ref(&method)), Ok(()));
    }
}

#[test]
fn an_orphan_record_aimed_at_another_field_is_refused() {
    let app = fixture("application-automated.yaml");
    let evil = forged(
        &app,
        A,
        json!({"method": "DisableAutoSync", "path": "/spec/source/repoURL", "original": "https://evil.example/x.git"}),
    );
    assert_eq!(
        refusal(orphan(&evil, &[Method::DisableAutoSync])),
        Refusal::Path {
            method: PauseMethod::DisableAutoSync,
            path: "/spec/source/repoURL".into()
        }
    );
    // A method the operator never recorded for the object is refused whatever its path.
    let other = forged(
        &app,
        A,
        json!({"method": "SkipReconcile", "path": "/metadata/annotations/argocd.argoproj.io~1skip-reconcile", "paused": "true"}),
    );
    assert_eq!(
        refusal(orphan(&other, &[Method::DisableAutoSync])),
        Refusal::Method(PauseMethod::SkipReconcile)
    );
}

#[test]
fn an_orphan_record_on_an_owned_field_with_a_forged_value_is_refused() {
    let mut app = fixture("application-automated.yaml");
    app["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
    let enabled = "/spec/syncPolicy/automated/enabled";
    // The original must be a boolean (or unset).
    let typed = forged(
        &app,
        A,
        json!({"method": "DisableAutoSync", "path": enabled, "paused": false, "original": {"x": 1}}),
    );
    assert!(matches!(
        refusal(orphan(&typed, &[Method::DisableAutoSync])),
        Refusal::Original { .. }
    ));
    // The paused value must be the method's.
    let paused = forged(
        &app,
        A,
        json!({"method": "DisableAutoSync", "path": enabled, "paused": "off"}),
    );
    assert!(matches!(
        refusal(orphan(&paused, &[Method::DisableAutoSync])),
        Refusal::Paused { .. }
    ));
    // The whole `automated` block comes back only as an object.
    let block = forged(
        &app,
        A,
        json!({"method": "DisableAutoSync", "path": "/spec/syncPolicy/automated", "original": "yes"}),
    );
    assert!(matches!(
        refusal(orphan(&block, &[Method::DisableAutoSync])),
        Refusal::Original { .. }
    ));
    // The genuine record is still restored.
    let (paused, _) = paused_by_a(
        &fixture("application-automated.yaml"),
        &Method::DisableAutoSync,
        true,
    );
    assert!(matches!(
        orphan(&paused, &[Method::DisableAutoSync]),
        Some(Ok(RestorePlan::Restore { .. }))
    ));
}

#[test]
fn joining_a_pause_with_a_forged_record_is_refused() {
    let app = fixture("application-automated.yaml");
    let evil = forged(
        &app,
        B,
        json!({"method": "DisableAutoSync", "path": "/spec/source/repoURL", "original": "https://evil.example/x.git"}),
    );
    let err = plan_pause(&evil, &Method::DisableAutoSync, A, true, None).expect_err("refused");
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    // Another policy's method for the kind is fine: the first grant's method is shared.
    let (paused, _) = paused_by_a(&app, &Method::SkipReconcile, false);
    let plan = plan_pause(&paused, &Method::DisableAutoSync, B, true, None).expect("join");
    assert!(matches!(plan, PausePlan::Join { .. }), "{plan:?}");
}

fn entry(method: PauseMethod, path: Option<&str>, paused: Option<&str>) -> PausedTarget {
    let (_, mut e) = paused_by_a(
        &fixture("application-automated.yaml"),
        &Method::DisableAutoSync,
        true,
    );
    e.method = method;
    e.path = path.map(str::to_owned);
    e.paused = paused.map(str::to_owned);
    e
}

#[test]
fn the_method_recorded_on_a_grant_entry() {
    let e = entry(
        PauseMethod::Annotation,
        Some("/metadata/annotations/example.com~1paused"),
        Some("\"yes\""),
    );
    assert_eq!(
        Method::recorded(&e),
        Some(Method::Annotation {
            key: "example.com/paused".into(),
            value: "yes".into()
        })
    );
    // An annotation method's key is known from nothing else.
    assert_eq!(
        Method::recorded(&entry(PauseMethod::Annotation, None, None)),
        None
    );
    assert_eq!(
        Method::recorded(&entry(PauseMethod::Suspend, None, None)),
        Some(Method::Suspend)
    );
}

#[test]
fn a_parent_is_one_only_when_its_status_lists_the_child() {
    let child = fixture("application-manual.yaml");
    let mut parent = fixture("application-automated.yaml");
    let listed = |ns: &str, kind: &str| {
        json!([
            {"group": "apps", "kind": "Deployment", "namespace": "argocd", "name": "ledger"},
            {"group": "argoproj.io", "kind": kind, "namespace": ns, "name": "ledger"},
        ])
    };
    assert!(!manages(&parent, &child), "no status");
    parent["status"] = json!({"resources": listed("argocd", "Application")});
    assert!(manages(&parent, &child));
    parent["status"] = json!({"resources": listed("team-a", "Application")});
    assert!(!manages(&parent, &child), "another namespace's ledger");
    parent["status"] = json!({"resources": listed("argocd", "ApplicationSet")});
    assert!(!manages(&parent, &child), "another kind");
}

#[test]
fn known_pauses_are_forgotten_once_settled_and_unreferenced() {
    let target = |name: &str| TargetRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some("argocd".into()),
        name: name.into(),
    };
    let mut known = Known::default();
    for name in ["restored", "still-held", "referenced", "unread"] {
        let mut e = entry(PauseMethod::DisableAutoSync, None, None);
        e.name = name.into();
        known.remember(&e);
    }
    let settled: BTreeSet<TargetRef> = [target("restored"), target("referenced")].into();
    let referenced: BTreeSet<TargetRef> = [target("referenced")].into();
    known.prune(&settled, &referenced);
    let left: Vec<&str> = known.iter().map(|(t, _)| t.name.as_str()).collect();
    assert_eq!(left, ["referenced", "still-held", "unread"]);
    let methods: Vec<&[Method]> = known.iter().map(|(_, m)| m).collect();
    assert!(methods.iter().all(|m| *m == [Method::DisableAutoSync]));
}
