//! Pause and restore plans applied in memory to objects from `tests/fixtures/pause/`.

use serde_json::{Value, json};

use super::{plan::argo_parent, *};
use crate::{BreakGlassPolicySpec, PauseMethod};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/pause/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const NOW: &str = "2026-01-01T12:00:00Z";
const A: &str = "incidents/inc-1-alice";
const B: &str = "incidents/inc-2-bob";

/// What the API server does with a patch, plus the resourceVersion bump of a write.
fn send(obj: &Value, ops: &[Value]) -> Value {
    let mut out = apply_ops(obj, ops).expect("patch applies");
    let rv: u64 = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    out["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
    out
}

fn pause(obj: &Value, method: &Method, me: &str, enabled: bool) -> Value {
    match plan_pause(obj, method, me, enabled, None).expect("plan") {
        PausePlan::Pause { ops, .. } | PausePlan::Join { ops, .. } => send(obj, &ops),
        other => panic!("expected a patch, got {other:?}"),
    }
}

/// Every method these tests pause with: what a grant's entries would have recorded.
fn every_method() -> Vec<Method> {
    vec![
        Method::DisableAutoSync,
        Method::SkipReconcile,
        Method::Suspend,
        Method::CrossplanePause,
        Method::PlanOnly,
        Method::Annotation {
            key: "example.com/paused".into(),
            value: "yes".into(),
        },
    ]
}

fn restore(obj: &Value, me: &str, others: &[&str]) -> (RestorePlan, Value) {
    let others: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    let plan = plan_restore(obj, me, &others, NOW, None, &every_method()).expect("plan");
    let out = match &plan {
        RestorePlan::Release { ops, .. }
        | RestorePlan::Restore { ops, .. }
        | RestorePlan::KeepChange { ops, .. } => send(obj, ops),
        RestorePlan::NotHeld => obj.clone(),
    };
    (plan, out)
}

fn annotations(obj: &Value) -> Value {
    obj.pointer("/metadata/annotations")
        .cloned()
        .unwrap_or(json!({}))
}

#[test]
fn disable_auto_sync_sets_enabled_false_and_restores_exactly() {
    let app = fixture("application-automated.yaml");
    let paused = pause(&app, &Method::DisableAutoSync, A, true);
    assert_eq!(
        paused.pointer("/spec/syncPolicy/automated"),
        Some(&json!({"prune": true, "selfHeal": true, "enabled": false}))
    );
    assert_eq!(annotations(&paused)[PAUSED_BY], json!(A));
    let (plan, restored) = restore(&paused, A, &[]);
    assert!(matches!(plan, RestorePlan::Restore { .. }), "{plan:?}");
    assert_eq!(restored["spec"], app["spec"]);
    assert_eq!(
        annotations(&restored),
        json!({"argocd.argoproj.io/refresh": "normal"})
    );
    assert_eq!(restored["metadata"]["labels"], app["metadata"]["labels"]);
}

#[test]
fn without_the_enabled_field_the_whole_automated_block_comes_back() {
    let app = fixture("application-automated.yaml");
    let paused = pause(&app, &Method::DisableAutoSync, A, false);
    assert_eq!(paused.pointer("/spec/syncPolicy/automated"), None);
    assert_eq!(
        paused.pointer("/spec/syncPolicy/syncOptions"),
        app.pointer("/spec/syncPolicy/syncOptions")
    );
    let (_, restored) = restore(&paused, A, &[]);
    assert_eq!(restored["spec"], app["spec"]);
}

#[test]
fn nothing_to_pause_is_skipped() {
    let manual = fixture("application-manual.yaml");
    let skip = |obj: &Value, m: &Method| match plan_pause(obj, m, A, true, None) {
        Ok(PausePlan::Skip(why)) => why.to_string(),
        other => panic!("expected Skip, got {other:?}"),
    };
    assert!(skip(&manual, &Method::DisableAutoSync).contains("not enabled"));
    let mut disabled = fixture("application-automated.yaml");
    disabled["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
    assert!(skip(&disabled, &Method::DisableAutoSync).contains("already paused"));
    let mut suspended = fixture("kustomization.yaml");
    suspended["spec"]["suspend"] = json!(true);
    assert!(skip(&suspended, &Method::Suspend).contains("already paused"));
    let mut plan_only = fixture("terraform.yaml");
    plan_only["spec"]["approvePlan"] = json!("");
    assert!(skip(&plan_only, &Method::PlanOnly).contains("plan only"));
}

#[test]
fn shared_pause_is_restored_by_the_last_holder_only() {
    let app = fixture("application-automated.yaml");
    let by_a = pause(&app, &Method::DisableAutoSync, A, true);
    let plan = plan_pause(&by_a, &Method::DisableAutoSync, B, true, None).expect("plan");
    let PausePlan::Join {
        record, holders, ..
    } = &plan
    else {
        panic!("expected Join, got {plan:?}")
    };
    assert_eq!(record.original, None, "enabled was unset before the pause");
    assert_eq!(holders.len(), 2);
    let by_both = pause(&by_a, &Method::DisableAutoSync, B, true);
    assert_eq!(annotations(&by_both)[PAUSED_BY], json!(format!("{A},{B}")));

    let (plan, a_gone) = restore(&by_both, A, &[B]);
    assert!(matches!(plan, RestorePlan::Release { .. }), "{plan:?}");
    assert_eq!(
        a_gone.pointer("/spec/syncPolicy/automated/enabled"),
        Some(&json!(false))
    );
    assert_eq!(annotations(&a_gone)[PAUSED_BY], json!(B));

    let (plan, restored) = restore(&a_gone, B, &[]);
    assert!(matches!(plan, RestorePlan::Restore { .. }), "{plan:?}");
    assert_eq!(restored["spec"], app["spec"]);
    // Ending again is a no-op.
    assert_eq!(restore(&restored, B, &[]).0, RestorePlan::NotHeld);
}

#[test]
fn a_stale_holder_does_not_pin_the_pause() {
    let app = fixture("application-automated.yaml");
    let by_both = pause(
        &pause(&app, &Method::DisableAutoSync, A, true),
        &Method::DisableAutoSync,
        B,
        true,
    );
    // B is not live any more (deleted without its finalizer): A restores.
    let (plan, restored) = restore(&by_both, A, &[]);
    assert!(matches!(plan, RestorePlan::Restore { .. }), "{plan:?}");
    assert_eq!(restored["spec"], app["spec"]);
    assert_eq!(annotations(&restored).get(PAUSED_BY), None);
}

#[test]
fn a_human_change_during_the_grant_is_kept_and_reported() {
    let app = fixture("application-automated.yaml");
    let mut paused = pause(&app, &Method::DisableAutoSync, A, true);
    paused["spec"]["syncPolicy"]["automated"]["enabled"] = json!(true);
    assert!(matches!(
        plan_pause(&paused, &Method::DisableAutoSync, A, true, None),
        Ok(PausePlan::Held { changed: true, .. })
    ));
    let (plan, after) = restore(&paused, A, &[]);
    let RestorePlan::KeepChange { current, .. } = &plan else {
        panic!("expected KeepChange, got {plan:?}")
    };
    assert_eq!(current, &Some(json!(true)));
    assert_eq!(
        after.pointer("/spec/syncPolicy/automated/enabled"),
        Some(&json!(true))
    );
    assert_eq!(
        annotations(&after),
        json!({}),
        "our annotations go, no refresh"
    );
}

#[test]
fn flux_suspend_round_trip_requests_a_reconcile() {
    let ks = fixture("kustomization.yaml");
    let paused = pause(&ks, &Method::Suspend, A, false);
    assert_eq!(paused["spec"]["suspend"], json!(true));
    let (_, restored) = restore(&paused, A, &[]);
    assert_eq!(
        restored["spec"], ks["spec"],
        "suspend was unset, and is unset again"
    );
    assert_eq!(
        annotations(&restored),
        json!({"owner": "platform", "reconcile.fluxcd.io/requestedAt": NOW})
    );
}

#[test]
fn tofu_plan_only_round_trip() {
    let tf = fixture("terraform.yaml");
    let paused = pause(&tf, &Method::PlanOnly, A, false);
    assert_eq!(paused["spec"]["approvePlan"], json!(""));
    let (_, restored) = restore(&paused, A, &[]);
    assert_eq!(restored["spec"], tf["spec"]);
}

#[test]
fn annotation_methods_work_without_an_annotations_map() {
    let tf = fixture("terraform.yaml");
    for method in [
        Method::SkipReconcile,
        Method::CrossplanePause,
        Method::Annotation {
            key: "example.com/paused".into(),
            value: "yes".into(),
        },
    ] {
        let paused = pause(&tf, &method, A, false);
        assert_eq!(annotations(&paused).as_object().map(|m| m.len()), Some(3));
        let (_, restored) = restore(&paused, A, &[]);
        assert_eq!(restored["spec"], tf["spec"]);
        let left = annotations(&restored);
        assert!(left.get(PAUSED_BY).is_none() && left.get(PAUSE_RECORD).is_none());
    }
    let with_value = {
        let mut t = fixture("terraform.yaml");
        t["metadata"]["annotations"] = json!({"crossplane.io/paused": "false"});
        t
    };
    let paused = pause(&with_value, &Method::CrossplanePause, A, false);
    let (_, restored) = restore(&paused, A, &[]);
    assert_eq!(
        annotations(&restored),
        json!({"crossplane.io/paused": "false"})
    );
}

#[test]
fn a_concurrent_write_fails_the_patch() {
    let app = fixture("application-automated.yaml");
    let Ok(PausePlan::Pause { ops, .. }) =
        plan_pause(&app, &Method::DisableAutoSync, A, true, None)
    else {
        panic!("expected Pause")
    };
    let mut moved = app.clone();
    moved["metadata"]["resourceVersion"] = json!("102");
    assert!(apply_ops(&moved, &ops).is_err());
}

#[test]
fn an_unreadable_record_is_an_error() {
    let mut app = fixture("application-automated.yaml");
    app["metadata"]["annotations"] = json!({PAUSED_BY: B, PAUSE_RECORD: "{not json"});
    let err = plan_pause(&app, &Method::DisableAutoSync, A, true, None).expect_err("bad record");
    assert!(err.to_string().contains("argocd/payments"), "{err}");
}

#[test]
fn the_app_of_apps_is_found_from_tracking_id_or_label() {
    let child = fixture("application-manual.yaml");
    assert_eq!(argo_parent(&child), Some((None, "platform".into())));
    let mut any_ns = child.clone();
    any_ns["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
        json!("team-a_platform:argoproj.io/Application:team-a/ledger");
    assert_eq!(
        argo_parent(&any_ns),
        Some((Some("team-a".into()), "platform".into()))
    );
    let mut labelled = fixture("application-automated.yaml");
    labelled["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("root");
    assert_eq!(argo_parent(&labelled), Some((None, "root".into())));
    assert_eq!(argo_parent(&fixture("kustomization.yaml")), None);
}

#[test]
fn selections_follow_the_policy() {
    let text = std::fs::read_to_string(format!(
        "{}/../../tests/fixtures/pause/policy-pause.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let policy: serde_yaml::Value = serde_yaml::from_str(&text).expect("policy");
    let spec: BreakGlassPolicySpec =
        serde_yaml::from_value(policy["spec"].clone()).expect("policy spec");
    let sels = selections(&spec);
    let summary: Vec<(String, String, Option<String>, PauseMethod, bool)> = sels
        .iter()
        .map(|s| {
            (
                s.api_version.clone(),
                s.kind.clone(),
                s.namespace.clone(),
                s.method.kind(),
                s.required,
            )
        })
        .collect();
    let ns = |s: &str| Some(s.to_owned());
    assert_eq!(
        summary,
        vec![
            (
                "argoproj.io/v1alpha1".into(),
                "Application".into(),
                ns("argocd"),
                PauseMethod::DisableAutoSync,
                false
            ),
            (
                "argoproj.io/v1alpha1".into(),
                "Application".into(),
                ns("apps"),
                PauseMethod::SkipReconcile,
                false
            ),
            (
                "helm.toolkit.fluxcd.io/v2".into(),
                "HelmRelease".into(),
                ns("flux-system"),
                PauseMethod::Suspend,
                true
            ),
            (
                "rds.aws.upbound.io/v1beta1".into(),
                "Instance".into(),
                None,
                PauseMethod::CrossplanePause,
                false
            ),
            (
                "infra.contrib.fluxcd.io/v1alpha2".into(),
                "Terraform".into(),
                ns("infra"),
                PauseMethod::PlanOnly,
                false
            ),
            (
                "v1".into(),
                "ConfigMap".into(),
                ns("default"),
                PauseMethod::Annotation,
                false
            ),
        ]
    );
    assert!(sels[0].pause_parent && !sels[1].pause_parent);
}
