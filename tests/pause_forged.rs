//! What tenants write on their objects is input, not an instruction: a pause record edited
//! to aim at another field (or with a value of the wrong type) is never written back, and
//! an Application's labels alone never make a platform app-of-apps its parent to pause.
//! A real controller process against the real kube-apiserver with the real Argo CD CRD.

mod common;

use breakglass::api::{PauseProblem, PauseState};
use common::{objects::*, *};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const PAUSE_RECORD: &str = "breakglass.dev/pause-record";
const EVIL: &str = "https://evil.example/takeover.git";

/// What someone who may edit the Application does: rewrite the operator's record.
async fn forge(s: &Scenario, ns: &str, name: &str, record: Value) {
    api(&s.client, ns, APPLICATION)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {PAUSE_RECORD: record.to_string()}}})),
        )
        .await
        .expect("forge the record");
}

/// Found by review (issue 26): the sweep restored an orphan from its annotation record
/// wherever that record pointed, as the operator.
#[tokio::test]
async fn a_forged_record_on_an_orphaned_pause_is_refused_not_written() {
    let (s, ns) = scenario(
        "forged-orphan",
        |ns| json!([{"argoCD": {"namespace": ns, "names": ["payments", "ledger"]}}]),
    )
    .await;
    for name in ["payments", "ledger"] {
        create(
            &s.client,
            &ns,
            APPLICATION,
            name,
            application(Some(json!({"prune": true}))),
        )
        .await;
    }
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;
    wait_entry_state(&s, "g", "ledger", PauseState::Paused).await;
    // Another field altogether; and the field the method owns, with a string for a boolean.
    forge(
        &s,
        &ns,
        "payments",
        json!({"method": "DisableAutoSync", "path": "/spec/source/repoURL", "original": EVIL}),
    )
    .await;
    forge(
        &s,
        &ns,
        "ledger",
        json!({"method": "DisableAutoSync", "path": "/spec/syncPolicy/automated/enabled", "paused": false, "original": EVIL}),
    )
    .await;
    s.strip_finalizer_and_delete("g").await;

    for name in ["payments", "ledger"] {
        assert!(
            event_reasons(&s.client, &ns, name, &["PauseRecordRefused"])
                .await
                .is_some(),
            "{name}: a Warning Event on the object says the record was refused"
        );
    }
    assert!(
        event_reasons(&s.client, "default", &s.policy, &["PauseRecordRefused"])
            .await
            .is_some(),
        "and on the policy"
    );
    assert!(
        scrape_reaching(
            &metrics,
            "breakglass_pause_records_refused_total{kind=\"Application\"}",
            2.0
        )
        .await
            >= 2.0
    );
    for name in ["payments", "ledger"] {
        let app = get(&s.client, &ns, APPLICATION, name).await;
        assert_eq!(
            app.pointer("/spec/source/repoURL"),
            Some(&json!("https://git.example.com/apps.git")),
            "{name}: nothing written from the forged record"
        );
        assert_eq!(
            app.pointer("/spec/syncPolicy/automated/enabled"),
            Some(&json!(false)),
            "{name}: left paused for a person to put right"
        );
    }
}

/// An Application whose status lists the given Applications as resources it manages.
fn parent_listing(ns: &str, children: &[&str]) -> Value {
    let mut body = application(Some(json!({"prune": true, "selfHeal": true})));
    let resources: Vec<Value> = children
        .iter()
        .map(|c| json!({"group": "argoproj.io", "version": "v1alpha1", "kind": "Application", "namespace": ns, "name": c, "status": "Synced"}))
        .collect();
    body["status"] = json!({"resources": resources});
    body
}

fn child_of(parent: &str) -> Value {
    let mut body = application(Some(json!({"selfHeal": true})));
    body["labels"] = json!({"app.kubernetes.io/instance": parent});
    body
}

/// Found by review (issue 26): `pauseParent` took the parent from the child's labels alone.
#[tokio::test]
async fn a_tenant_app_naming_a_platform_parent_does_not_pause_it() {
    let (s, ns) = scenario(
        "tenant-parent",
        |ns| json!([{"argoCD": {"namespace": ns, "names": ["tenant", "decoy", "payments"], "pauseParent": true}}]),
    )
    .await;
    let c = &s.client;
    // `platform` manages other things; `root` manages `payments` only.
    let platform = create(
        c,
        &ns,
        APPLICATION,
        "platform",
        parent_listing(&ns, &["infra"]),
    )
    .await;
    create(
        c,
        &ns,
        APPLICATION,
        "root",
        parent_listing(&ns, &["payments"]),
    )
    .await;
    create(c, &ns, APPLICATION, "tenant", child_of("platform")).await;
    // Named before `payments`, claiming `root` too: it does not keep `root` from being paused.
    create(c, &ns, APPLICATION, "decoy", child_of("root")).await;
    create(c, &ns, APPLICATION, "payments", child_of("root")).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    let g = wait_entry_state(&s, "g", "root", PauseState::Paused).await;
    let g = match entry(&g, "platform").state {
        PauseState::Skipped => g,
        _ => wait_entry_state(&s, "g", "platform", PauseState::Skipped).await,
    };
    let e = entry(&g, "platform");
    assert_eq!(e.reason, Some(PauseProblem::NotManaged));
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("does not list it"),
        "{e:?}"
    );
    assert_eq!(
        get(c, &ns, APPLICATION, "platform").await["metadata"]["resourceVersion"],
        platform["metadata"]["resourceVersion"],
        "the platform app-of-apps is not touched"
    );
    assert_eq!(
        get(c, &ns, APPLICATION, "root")
            .await
            .pointer("/spec/syncPolicy/automated/enabled"),
        Some(&json!(false)),
        "the parent that lists its child is paused"
    );
    assert!(
        event_reasons(c, &s.ns, "g", &["ParentNotPaused"])
            .await
            .is_some(),
        "a Warning Event on the grant says so"
    );
}

/// A later grant joining a pause copies the object's record into its own entry (its
/// restore would write it back): a forged one is refused at the join, once, and reported.
#[tokio::test]
async fn a_grant_joining_a_pause_with_a_forged_record_refuses_it() {
    let (s, ns, before) = payments_app("forged-join", json!({"prune": true})).await;
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
    s.create_grant("first", |_| {}).await;
    wait_entry_state(&s, "first", "payments", PauseState::Paused).await;
    forge(
        &s,
        &ns,
        "payments",
        json!({"method": "DisableAutoSync", "path": "/spec/source/repoURL", "original": EVIL}),
    )
    .await;
    s.create_grant("second", |_| {}).await;
    let second = wait_entry_state(&s, "second", "payments", PauseState::Failed).await;
    assert_eq!(
        entry(&second, "payments").reason,
        Some(PauseProblem::RefusedRecord)
    );
    for (ns, name) in [(&s.ns, "second"), (&ns, "payments")] {
        assert!(
            event_reasons(&s.client, ns, name, &["PauseRecordRefused"])
                .await
                .is_some(),
            "a Warning Event on {name}"
        );
    }
    assert_eq!(
        scrape_reaching(
            &metrics,
            "breakglass_pause_records_refused_total{kind=\"Application\"}",
            1.0
        )
        .await,
        1.0,
        "reported once, not at every re-check"
    );
    // The first grant's own record restores it; the forged one is dropped with our
    // annotations.
    s.resolve("second").await;
    s.resolve("first").await;
    s.wait_phase("first", breakglass::api::GrantPhase::Ended, SOON)
        .await;
    let after = get(&s.client, &ns, APPLICATION, "payments").await;
    assert_eq!(
        after["spec"], before["spec"],
        "restored exactly, repoURL untouched"
    );
    assert_eq!(our_annotations(&after), Vec::<String>::new());
}
