//! Pausing automation end to end: a real controller process against the real kube-apiserver
//! with the real Argo CD, Flux and Crossplane provider CRDs (installed by `make env-up`) and
//! moto. Every object a test pauses lives in the test's own namespace.

mod common;

use std::time::Duration;

use breakglass::api::{GrantPhase, PauseMethod, PauseState};
use common::{objects::*, *};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

#[tokio::test]
async fn argo_application_auto_sync_is_disabled_and_restored_exactly() {
    let (s, ns) = scenario(
        "argo",
        |ns| json!([{"argoCD": {"namespace": ns, "names": ["payments", "manual", "empty"]}}]),
    )
    .await;
    let c = &s.client;
    let payments = create(
        c,
        &ns,
        APPLICATION,
        "payments",
        application(Some(json!({"prune": true, "selfHeal": true}))),
    )
    .await;
    let manual = create(c, &ns, APPLICATION, "manual", application(None)).await;
    let empty = create(
        c,
        &ns,
        APPLICATION,
        "empty",
        application(Some(json!({"allowEmpty": true, "prune": false}))),
    )
    .await;
    let _controller = ControllerProcess::start(&s.ns, &[]);

    // Denied means nothing happened: no AWS call, and nothing paused.
    s.create_grant("denied", |spec| spec["user"] = json!("mallory@example.com"))
        .await;
    let denied = s.wait_phase("denied", GrantPhase::Denied, SOON).await;
    assert!(
        denied
            .status
            .as_ref()
            .is_some_and(|st| st.paused_targets.is_empty())
    );
    assert_eq!(
        get(c, &ns, APPLICATION, "payments").await["metadata"]["resourceVersion"],
        payments["metadata"]["resourceVersion"],
        "a denied grant pauses nothing"
    );

    s.create_grant("g", |_| {}).await;
    let g = wait_entry_state(&s, "g", "empty", PauseState::Paused).await;
    let g = match g.status.as_ref().and_then(|st| st.phase) {
        Some(GrantPhase::Active) => g,
        _ => s.wait_phase("g", GrantPhase::Active, SOON).await,
    };
    assert_eq!(
        states(&g),
        pairs(&[
            ("payments", "Paused"),
            ("manual", "Skipped"),
            ("empty", "Paused")
        ])
    );
    let live = get(c, &ns, APPLICATION, "payments").await;
    assert_eq!(
        live.pointer("/spec/syncPolicy/automated"),
        Some(&json!({"prune": true, "selfHeal": true, "enabled": false})),
        "auto-sync off, prune/selfHeal kept (Argo CD >= 3.1 CRD)"
    );
    assert_eq!(
        annotations(&live)["breakglass.dev/paused-by"],
        json!(format!("{}/g", s.ns))
    );
    let e = entry(&g, "payments");
    assert_eq!(
        (e.method, e.original.as_deref()),
        (PauseMethod::DisableAutoSync, None)
    );
    assert!(
        entry(&g, "manual")
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("not enabled")
    );
    let paused = condition(&g, "AutomationPaused").expect("AutomationPaused");
    assert_eq!(
        (paused.status.as_str(), paused.reason.as_str()),
        ("True", "Paused")
    );
    assert_eq!(
        get(c, &ns, APPLICATION, "manual").await["metadata"]["resourceVersion"],
        manual["metadata"]["resourceVersion"],
        "an app that does not auto-sync is not touched"
    );

    s.resolve("g").await;
    let g = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert!(s.members().await.is_empty());
    for (name, before) in [("payments", &payments), ("empty", &empty)] {
        let after = get(c, &ns, APPLICATION, name).await;
        assert_eq!(after["spec"], before["spec"], "{name} restored exactly");
        assert_eq!(our_annotations(&after), Vec::<String>::new(), "{name}");
        assert_eq!(
            annotations(&after)["argocd.argoproj.io/refresh"],
            json!("normal"),
            "{name} refresh requested"
        );
    }
    assert_eq!(
        states(&g),
        pairs(&[
            ("payments", "Restored"),
            ("manual", "Skipped"),
            ("empty", "Restored")
        ])
    );
    let paused = condition(&g, "AutomationPaused").expect("AutomationPaused");
    assert_eq!(
        (paused.status.as_str(), paused.reason.as_str()),
        ("False", "Restored")
    );
    assert!(
        event_reasons(c, &s.ns, "g", &["Granted", "Paused", "Restored", "Ended"])
            .await
            .is_some(),
        "pause and restore are recorded as Events"
    );
}

#[tokio::test]
async fn flux_crossplane_skip_reconcile_and_annotation_targets_round_trip() {
    let (s, ns) = scenario(
        "kinds",
        |ns| json!([
            {"flux": {"kind": "Kustomization", "namespace": ns, "selector": {"matchLabels": {"tier": "prod"}}}},
            {"flux": {"kind": "HelmRelease", "namespace": ns, "names": ["ingress"]}},
            {"crossplane": {"apiVersion": "kubernetes.m.crossplane.io/v1alpha1", "kind": "Object", "namespace": ns, "names": ["db"]}},
            {"argoCD": {"namespace": ns, "names": ["frozen"], "method": "SkipReconcile"}},
            {"annotation": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": ns, "names": ["knobs"], "key": "example.com/paused", "value": "yes"}},
        ]),
    )
    .await;
    let c = &s.client;
    let ks = json!({"spec": {"interval": "10m", "path": "./infra", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "fleet"}}});
    let mut prod = ks.clone();
    prod["labels"] = json!({"tier": "prod"});
    let mut was_suspended_false = prod.clone();
    was_suspended_false["spec"]["suspend"] = json!(false);
    let originals = vec![
        (KUSTOMIZATION, "infra", create(c, &ns, KUSTOMIZATION, "infra", prod).await),
        (KUSTOMIZATION, "apps", create(c, &ns, KUSTOMIZATION, "apps", was_suspended_false).await),
        (HELM_RELEASE, "ingress", create(c, &ns, HELM_RELEASE, "ingress", json!({"spec": {"interval": "5m", "chart": {"spec": {"chart": "ingress-nginx", "sourceRef": {"kind": "HelmRepository", "name": "ingress"}}}}})).await),
        (XP_OBJECT, "db", create(c, &ns, XP_OBJECT, "db", json!({"annotations": {"team": "data"}, "spec": {"forProvider": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}}}})).await),
        (APPLICATION, "frozen", create(c, &ns, APPLICATION, "frozen", application(Some(json!({"selfHeal": true})))).await),
        (CONFIG_MAP, "knobs", create(c, &ns, CONFIG_MAP, "knobs", json!({"data": {"replicas": "3"}})).await),
    ];
    let ignored = create(c, &ns, KUSTOMIZATION, "staging", ks).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    let g = wait_entry_state(&s, "g", "knobs", PauseState::Paused).await;
    assert_eq!(
        states(&g),
        pairs(&[
            ("infra", "Paused"),
            ("apps", "Paused"),
            ("ingress", "Paused"),
            ("db", "Paused"),
            ("frozen", "Paused"),
            ("knobs", "Paused")
        ])
    );
    let at = |obj: &Value, p: &str| obj.pointer(p).cloned();
    for (gvk, name, path, want) in [
        (KUSTOMIZATION, "infra", "/spec/suspend", json!(true)),
        (KUSTOMIZATION, "apps", "/spec/suspend", json!(true)),
        (HELM_RELEASE, "ingress", "/spec/suspend", json!(true)),
        (
            XP_OBJECT,
            "db",
            "/metadata/annotations/crossplane.io~1paused",
            json!("true"),
        ),
        (
            APPLICATION,
            "frozen",
            "/metadata/annotations/argocd.argoproj.io~1skip-reconcile",
            json!("true"),
        ),
        (
            CONFIG_MAP,
            "knobs",
            "/metadata/annotations/example.com~1paused",
            json!("yes"),
        ),
    ] {
        assert_eq!(
            at(&get(c, &ns, gvk, name).await, path),
            Some(want),
            "{name} paused"
        );
    }
    assert_eq!(
        entry(&g, "apps").original.as_deref(),
        Some("false"),
        "original recorded"
    );
    assert_eq!(
        get(c, &ns, KUSTOMIZATION, "staging").await["metadata"]["resourceVersion"],
        ignored["metadata"]["resourceVersion"],
        "not selected, not touched"
    );

    s.resolve("g").await;
    s.wait_phase("g", GrantPhase::Ended, SOON).await;
    for (gvk, name, before) in &originals {
        let after = get(c, &ns, *gvk, name).await;
        let body = if gvk.2 == "ConfigMap" { "data" } else { "spec" };
        assert_eq!(after[body], before[body], "{name} restored exactly");
        assert_eq!(our_annotations(&after), Vec::<String>::new(), "{name}");
        let mut left = annotations(&after);
        if let Some(m) = left.as_object_mut() {
            m.remove("reconcile.fluxcd.io/requestedAt");
            m.remove("argocd.argoproj.io/refresh");
        }
        assert_eq!(
            left,
            annotations(before),
            "{name}: only the reconcile request was added"
        );
    }
    let requested = get(c, &ns, KUSTOMIZATION, "infra").await;
    assert!(
        annotations(&requested)["reconcile.fluxcd.io/requestedAt"].is_string(),
        "Flux asked to reconcile"
    );
}

#[tokio::test]
async fn overlapping_grants_share_a_pause_and_the_last_one_restores() {
    let (s, ns, before) = payments_app("shared", json!({"prune": true, "selfHeal": true})).await;
    let c = &s.client;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("first", |_| {}).await;
    wait_entry_state(&s, "first", "payments", PauseState::Paused).await;
    s.create_grant("second", |_| {}).await;
    let second = wait_entry_state(&s, "second", "payments", PauseState::Paused).await;
    assert!(
        entry(&second, "payments")
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("held with")
    );
    let live = get(c, &ns, APPLICATION, "payments").await;
    assert_eq!(
        annotations(&live)["breakglass.dev/paused-by"],
        json!(format!("{0}/first,{0}/second", s.ns))
    );

    s.resolve("first").await;
    let first = s.wait_phase("first", GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&first, "payments").state, PauseState::Released);
    let live = get(c, &ns, APPLICATION, "payments").await;
    assert_eq!(
        live.pointer("/spec/syncPolicy/automated/enabled"),
        Some(&json!(false)),
        "still paused for the second grant"
    );
    assert_eq!(
        annotations(&live)["breakglass.dev/paused-by"],
        json!(format!("{}/second", s.ns))
    );

    s.resolve("second").await;
    let second = s.wait_phase("second", GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&second, "payments").state, PauseState::Restored);
    let after = get(c, &ns, APPLICATION, "payments").await;
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(our_annotations(&after), Vec::<String>::new());
}

#[tokio::test]
async fn a_human_edit_during_the_grant_is_kept_and_reported() {
    let (s, ns, _) = payments_app("human", json!({"prune": true})).await;
    let c = &s.client;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;

    // Someone turns auto-sync back on by hand while the grant is active.
    api(c, &ns, APPLICATION)
        .patch(
            "payments",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"enabled": true}}}})),
        )
        .await
        .expect("human edit");
    touch(&s, "g").await;
    let g = wait_entry_state(&s, "g", "payments", PauseState::ChangedByOthers).await;
    assert!(
        entry(&g, "payments")
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("changed by someone else")
    );

    s.resolve("g").await;
    let g = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    let e = entry(&g, "payments");
    assert_eq!(e.state, PauseState::ChangedByOthers);
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("left as is"),
        "{e:?}"
    );
    let after = get(c, &ns, APPLICATION, "payments").await;
    assert_eq!(
        after.pointer("/spec/syncPolicy/automated"),
        Some(&json!({"prune": true, "enabled": true})),
        "the human's value stays"
    );
    assert_eq!(our_annotations(&after), Vec::<String>::new());
    assert!(
        event_reasons(c, &s.ns, "g", &["PauseOverridden"])
            .await
            .is_some(),
        "a Warning event says the pause was overridden"
    );
}

#[tokio::test]
async fn missing_targets_are_reported_and_required_ones_make_the_grant_wait() {
    let (s, ns) = scenario("missing", |ns| {
        json!([
            {"argoCD": {"namespace": ns, "names": ["nope"]}},
            // tofu-controller's CRD is not installed here: a missing kind is reported, not fatal.
            {"tofu": {"namespace": ns, "names": ["network"]}},
        ])
    })
    .await;
    let c = &s.client;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("optional", |_| {}).await;
    let g = s.wait_phase("optional", GrantPhase::Active, SOON).await;
    let g = match states(&g).len() {
        2 => g,
        _ => wait_entry_state(&s, "optional", "network", PauseState::NotFound).await,
    };
    assert_eq!(
        states(&g),
        pairs(&[("nope", "NotFound"), ("network", "NotFound")])
    );
    assert!(
        entry(&g, "network")
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("not installed")
    );
    assert!(
        entry(&g, "nope")
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("not found")
    );
    let paused = condition(&g, "AutomationPaused").expect("AutomationPaused");
    assert_eq!(
        (paused.status.as_str(), paused.reason.as_str()),
        ("False", "NothingPaused")
    );
    assert_eq!(
        s.members().await,
        std::slice::from_ref(&s.alice),
        "access given all the same"
    );

    // A required target that is missing holds the grant back: no access until it exists.
    let required = unique_name("required", &s.ns);
    s.create_policy(&required, |spec| {
        spec["pause"] = json!([{"flux": {"kind": "Kustomization", "namespace": ns, "names": ["later"], "required": true}}]);
    })
    .await;
    s.resolve("optional").await;
    s.wait_phase("optional", GrantPhase::Ended, SOON).await;
    s.create_grant("waits", |spec| spec["policy"] = json!(required))
        .await;
    let g = s.wait_phase("waits", GrantPhase::Pending, SOON).await;
    let ready = condition(&g, "Ready").expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "WaitingForRequiredTarget")
    );
    assert!(ready.message.contains("later"), "{}", ready.message);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(s.members().await.is_empty(), "no AWS access while waiting");
    assert!(
        g.status
            .as_ref()
            .and_then(|st| st.expires_at.as_ref())
            .is_none(),
        "the clock has not started"
    );

    create(c, &ns, KUSTOMIZATION, "later", json!({"spec": {"interval": "1m", "prune": false, "sourceRef": {"kind": "GitRepository", "name": "x"}}})).await;
    let g = wait_entry_state(&s, "waits", "later", PauseState::Paused).await;
    assert_eq!(
        g.status.as_ref().and_then(|st| st.phase),
        Some(GrantPhase::Active)
    );
    assert_eq!(s.members().await, std::slice::from_ref(&s.alice));
    assert_eq!(
        get(c, &ns, KUSTOMIZATION, "later").await["spec"]["suspend"],
        json!(true)
    );
}

#[tokio::test]
async fn crash_between_recording_and_patching_leaves_nothing_paused() {
    let (s, ns, before) =
        payments_app("pausecrash", json!({"prune": true, "selfHeal": true})).await;
    let c = &s.client;
    let controller =
        ControllerProcess::start(&s.ns, &[("BREAKGLASS_FAILPOINT", "after-record-pause")]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Pausing).await;
    controller.wait_for_failpoint().await;
    assert_eq!(
        get(c, &ns, APPLICATION, "payments").await["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"],
        "recorded on the grant, not yet patched"
    );
    controller.kill();

    // The incident ends while the operator is down.
    s.resolve("g").await;
    let _restarted = ControllerProcess::start(&s.ns, &[]);
    let g = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&g, "payments").state, PauseState::NotPaused);
    let after = get(c, &ns, APPLICATION, "payments").await;
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(our_annotations(&after), Vec::<String>::new());
    assert!(s.members().await.is_empty());
}

#[tokio::test]
async fn crash_after_recording_converges_to_paused_then_restored() {
    let (s, ns) = scenario(
        "pausecrash-resume",
        |ns| json!([{"flux": {"kind": "HelmRelease", "namespace": ns, "names": ["ingress"]}}]),
    )
    .await;
    let c = &s.client;
    let before = create(c, &ns, HELM_RELEASE, "ingress", json!({"spec": {"interval": "5m", "chart": {"spec": {"chart": "ingress-nginx", "sourceRef": {"kind": "HelmRepository", "name": "ingress"}}}}})).await;
    let controller =
        ControllerProcess::start(&s.ns, &[("BREAKGLASS_FAILPOINT", "after-record-pause")]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "ingress", PauseState::Pausing).await;
    controller.wait_for_failpoint().await;
    controller.kill();

    let _restarted = ControllerProcess::start(&s.ns, &[]);
    wait_entry_state(&s, "g", "ingress", PauseState::Paused).await;
    assert_eq!(
        get(c, &ns, HELM_RELEASE, "ingress").await["spec"]["suspend"],
        json!(true)
    );
    s.resolve("g").await;
    s.wait_phase("g", GrantPhase::Ended, SOON).await;
    let after = get(c, &ns, HELM_RELEASE, "ingress").await;
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(our_annotations(&after), Vec::<String>::new());
}

#[tokio::test]
async fn the_app_of_apps_is_paused_with_its_child() {
    let (s, ns) = scenario(
        "parent",
        |ns| json!([{"argoCD": {"namespace": ns, "names": ["payments"], "pauseParent": true}}]),
    )
    .await;
    let c = &s.client;
    // Argo CD lists the child among the resources the parent manages: only that makes
    // `root` its parent (the child's tracking id is the child's to write).
    let mut root_body = application(Some(json!({"prune": true, "selfHeal": true})));
    root_body["status"] = json!({"resources": [
        {"group": "argoproj.io", "version": "v1alpha1", "kind": "Application", "namespace": ns, "name": "payments", "status": "Synced"}
    ]});
    let root = create(c, &ns, APPLICATION, "root", root_body).await;
    let mut child_body = application(Some(json!({"selfHeal": true})));
    child_body["annotations"] = json!({"argocd.argoproj.io/tracking-id": format!("root:argoproj.io/Application:{ns}/payments")});
    let child = create(c, &ns, APPLICATION, "payments", child_body).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    let g = wait_entry_state(&s, "g", "root", PauseState::Paused).await;
    assert!(
        entry(&g, "root")
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("app-of-apps of payments")
    );
    for name in ["root", "payments"] {
        assert_eq!(
            get(c, &ns, APPLICATION, name)
                .await
                .pointer("/spec/syncPolicy/automated/enabled"),
            Some(&json!(false)),
            "{name}"
        );
    }
    s.resolve("g").await;
    s.wait_phase("g", GrantPhase::Ended, SOON).await;
    for (name, before) in [("root", &root), ("payments", &child)] {
        let after = get(c, &ns, APPLICATION, name).await;
        assert_eq!(after["spec"], before["spec"], "{name}");
        assert_eq!(our_annotations(&after), Vec::<String>::new(), "{name}");
    }
}
