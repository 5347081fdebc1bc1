//! Pause targets are watched, not polled: against the real kube-apiserver and Argo CD CRD,
//! with the safety re-check set to an hour, a change to a paused object is seen within the
//! usual `SOON` (shorter than the 30 s poll the operator used before), so only the watch can
//! explain it.

mod common;

use breakglass::api::{GrantPhase, PauseState};
use common::{objects::*, *};
use kube::api::{Patch, PatchParams};
use serde_json::json;

const NO_POLL: &[&str] = &["--pause-recheck-interval", "1h"];

/// Lets the controller's reconciles of its own last writes pass (they look at the targets
/// too), so that what follows can only be the watch's doing. Not an assertion.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_person_re_enabling_auto_sync_is_seen_without_a_poll() {
    let (s, ns, _) = payments_app("watched", json!({"prune": true})).await;
    let c = &s.client;
    let _controller = ControllerProcess::start_with_args(&s.ns, &[], NO_POLL);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;
    settle().await;

    // Someone turns auto-sync back on by hand; nothing touches the grant.
    api(c, &ns, APPLICATION)
        .patch(
            "payments",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"enabled": true}}}})),
        )
        .await
        .expect("human edit");
    let g = wait_entry_state(&s, "g", "payments", PauseState::ChangedByOthers).await;
    assert_eq!(
        g.status.as_ref().and_then(|st| st.phase),
        Some(GrantPhase::Active)
    );
    assert!(
        event_reasons(c, &s.ns, "g", &["PauseOverridden"])
            .await
            .is_some(),
        "a Warning event says the pause was overridden"
    );
}

#[tokio::test]
async fn a_new_object_a_selector_matches_is_paused_without_a_poll() {
    let (s, ns) = scenario("watched-new", |ns| {
        json!([{"argoCD": {"namespace": ns, "selector": {"matchLabels": {"team": "payments"}}}}])
    })
    .await;
    let c = &s.client;
    let _controller = ControllerProcess::start_with_args(&s.ns, &[], NO_POLL);
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    wait_entry_state(&s, "g", "*", PauseState::NotFound).await;
    settle().await;

    let mut app = application(Some(json!({"prune": true})));
    app["labels"] = json!({"team": "payments"});
    create(c, &ns, APPLICATION, "late", app).await;
    wait_entry_state(&s, "g", "late", PauseState::Paused).await;
    let live = get(c, &ns, APPLICATION, "late").await;
    assert_eq!(
        live.pointer("/spec/syncPolicy/automated/enabled"),
        Some(&json!(false))
    );
}
