//! End state: before automation is given back, the grant records what it would change, and
//! `restore: WhenInSync | Manual` keeps it paused until that is safe. Real controller,
//! real API server with the real Argo CD and Flux CRDs. No Argo CD or Flux controller runs
//! here: the tests write the objects' status as those controllers would (sync status,
//! OutOfSync resources, Ready, revisions).

mod common;

use std::time::Duration;

use breakglass::api::{BreakGlassGrant, GrantPhase, PauseState};
use common::{objects::*, *};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// How long a held target may take to be looked at again (the operator re-checks every
/// 15 s) plus the time to act.
const REVIEW: Duration = Duration::from_secs(40);

/// A policy pausing the `payments` Application with `restore`, and the app as created.
async fn argo(test: &str, restore: &str) -> (Scenario, String, Value) {
    let (s, ns) = scenario(
        test,
        |ns| json!([{"argoCD": {"namespace": ns, "names": ["payments"]}, "restore": restore}]),
    )
    .await;
    let app = create(
        &s.client,
        &ns,
        APPLICATION,
        "payments",
        application(Some(json!({"prune": true, "selfHeal": true}))),
    )
    .await;
    (s, ns, app)
}

/// What Argo CD writes after someone changed a Deployment by hand (or after it synced).
async fn argo_status(s: &Scenario, ns: &str, sync: &str) {
    let status = json!({
        "reconciledAt": format!("2026-11-23T{:02}:00:00Z", if sync == "Synced" { 12 } else { 11 }),
        "sync": {"status": sync, "revision": "4f2c9e1"},
        "resources": [
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "payments", "name": "api", "status": sync},
            {"version": "v1", "kind": "Service", "namespace": "payments", "name": "api", "status": "Synced"},
        ],
    });
    api(&s.client, ns, APPLICATION)
        .patch(
            "payments",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("Argo CD's status");
}

async fn automated(s: &Scenario, ns: &str) -> Value {
    get(&s.client, ns, APPLICATION, "payments").await["spec"]["syncPolicy"]["automated"].clone()
}

async fn wait_state(
    s: &Scenario,
    grant: &str,
    state: PauseState,
    within: Duration,
) -> BreakGlassGrant {
    let grants = s.grants();
    let found = eventually(within, || async {
        let g = grants.get(grant).await.ok()?;
        let now = g
            .status
            .as_ref()?
            .paused_targets
            .iter()
            .find(|t| t.name == "payments")?
            .state;
        (now == state).then_some(g)
    })
    .await;
    match found {
        Some(g) => g,
        None => panic!(
            "{grant}'s payments never reached {state:?}: {:#?}",
            grants.get(grant).await.ok().and_then(|g| g.status)
        ),
    }
}

fn automation_paused(g: &BreakGlassGrant) -> (String, String, String) {
    let c = g
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "AutomationPaused"))
        .expect("AutomationPaused");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

#[tokio::test]
async fn out_of_sync_at_the_end_is_held_until_argo_reports_synced() {
    let (s, ns, before) = argo("end-insync", "WhenInSync").await;
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_state(&s, "g", PauseState::Paused, SOON).await;
    argo_status(&s, &ns, "OutOfSync").await;

    s.resolve("g").await;
    let ended = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert!(
        s.members().await.is_empty(),
        "access is removed on time either way"
    );
    let e = entry(&ended, "payments");
    assert_eq!(e.state, PauseState::Held, "{e:?}");
    let drift = e.drift.clone().expect("drift recorded");
    assert_eq!(drift.in_sync, Some(false));
    assert_eq!(drift.resources.len(), 1, "{drift:?}");
    assert_eq!(drift.resources[0].name, "api");
    assert!(
        drift.summary.contains("did not refresh"),
        "no Argo CD runs here: {}",
        drift.summary
    );
    let (on, reason, message) = automation_paused(&ended);
    assert_eq!((on.as_str(), reason.as_str()), ("True", "HeldForReview"));
    assert!(message.contains("OutOfSync"), "{message}");
    assert_eq!(automated(&s, &ns).await["enabled"], false, "still paused");
    assert!(
        event_reasons(&s.client, &s.ns, "g", &["DriftRecorded", "RestoreHeld"])
            .await
            .is_some()
    );
    assert_eq!(
        scrape_settled(
            &metrics,
            "breakglass_held_targets{kind=\"Application\"}",
            1.0
        )
        .await,
        1.0
    );

    // The repair was codified in Git: Argo CD reports Synced, and auto-sync comes back.
    argo_status(&s, &ns, "Synced").await;
    let back = wait_state(&s, "g", PauseState::Restored, REVIEW).await;
    assert_eq!(
        get(&s.client, &ns, APPLICATION, "payments").await["spec"],
        before["spec"],
        "restored exactly"
    );
    let (on, reason, _) = automation_paused(&back);
    assert_eq!((on.as_str(), reason.as_str()), ("False", "Restored"));
    assert!(
        event_reasons(&s.client, &s.ns, "g", &["Restored"])
            .await
            .is_some()
    );
    assert!(scrape_reaching(&metrics, "breakglass_held_seconds_count", 1.0).await >= 1.0);
    assert_eq!(
        scrape_settled(
            &metrics,
            "breakglass_held_targets{kind=\"Application\"}",
            0.0
        )
        .await,
        0.0
    );
}

#[tokio::test]
async fn manual_is_held_until_a_person_says_so_and_auto_is_unchanged() {
    let (s, ns) = scenario("end-manual", |ns| {
        json!([
            {"flux": {"kind": "Kustomization", "namespace": ns, "names": ["infra"]}, "restore": "Manual"},
            {"argoCD": {"namespace": ns, "names": ["payments"]}},
        ])
    })
    .await;
    create(
        &s.client,
        &ns,
        KUSTOMIZATION,
        "infra",
        json!({"spec": {"interval": "5m", "path": "./infra", "prune": true,
                        "sourceRef": {"kind": "GitRepository", "name": "infra"}}}),
    )
    .await;
    let app_before = create(
        &s.client,
        &ns,
        APPLICATION,
        "payments",
        application(Some(json!({"prune": true}))),
    )
    .await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_state(&s, "g", PauseState::Paused, SOON).await;
    argo_status(&s, &ns, "OutOfSync").await;

    s.resolve("g").await;
    let ended = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    let infra = ended
        .status
        .as_ref()
        .and_then(|st| st.paused_targets.iter().find(|t| t.name == "infra"))
        .cloned()
        .expect("infra entry");
    assert_eq!(
        infra.state,
        PauseState::Held,
        "Manual: held whatever the drift"
    );
    assert!(
        infra
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("kubectl breakglass restore")
    );
    // Auto: given back at once, drift recorded first (OutOfSync as Argo CD said).
    let app = entry(&ended, "payments");
    assert_eq!(app.state, PauseState::Restored);
    assert_eq!(app.drift.as_ref().and_then(|d| d.in_sync), Some(false));
    assert_eq!(
        get(&s.client, &ns, APPLICATION, "payments").await["spec"],
        app_before["spec"]
    );
    let suspended = |k: Value| k["spec"]["suspend"].clone();
    assert_eq!(
        suspended(get(&s.client, &ns, KUSTOMIZATION, "infra").await),
        json!(true)
    );

    // The person says so (what `kubectl breakglass restore` does).
    s.grants()
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"breakglass.dev/restore": "now"}}})),
        )
        .await
        .expect("restore now");
    let grants = s.grants();
    let back = eventually(SOON, || async {
        let g = grants.get("g").await.ok()?;
        let t = g
            .status
            .as_ref()?
            .paused_targets
            .iter()
            .find(|t| t.name == "infra")?;
        (t.state == PauseState::Restored).then_some(())
    })
    .await;
    assert!(back.is_some(), "given back once asked");
    assert_eq!(
        suspended(get(&s.client, &ns, KUSTOMIZATION, "infra").await),
        Value::Null
    );
}

#[tokio::test]
async fn a_held_target_is_not_given_back_by_another_grant_ending() {
    let (s, ns, before) = argo("end-overlap", "WhenInSync").await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("first", |_| {}).await;
    wait_state(&s, "first", PauseState::Paused, SOON).await;
    argo_status(&s, &ns, "OutOfSync").await;
    s.resolve("first").await;
    wait_state(&s, "first", PauseState::Held, SOON).await;

    // A later grant joins the pause, and ends: the first still holds it for review.
    s.create_grant("second", |_| {}).await;
    wait_state(&s, "second", PauseState::Paused, SOON).await;
    s.resolve("second").await;
    let second = wait_state(&s, "second", PauseState::Released, SOON).await;
    assert_eq!(
        second.status.as_ref().and_then(|st| st.phase),
        Some(GrantPhase::Ended)
    );
    assert_eq!(
        automated(&s, &ns).await["enabled"],
        false,
        "not given back early"
    );

    argo_status(&s, &ns, "Synced").await;
    wait_state(&s, "first", PauseState::Restored, REVIEW).await;
    assert_eq!(
        get(&s.client, &ns, APPLICATION, "payments").await["spec"],
        before["spec"]
    );
}

/// Grant `g` paused the app, ended with it out of sync (held), and its controller was
/// SIGKILLed.
async fn held_then_killed(s: &Scenario, ns: &str) {
    let controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_state(s, "g", PauseState::Paused, SOON).await;
    argo_status(s, ns, "OutOfSync").await;
    s.resolve("g").await;
    wait_state(s, "g", PauseState::Held, SOON).await;
    controller.kill();
}

#[tokio::test]
async fn killed_while_holding_it_is_still_held_then_restored_once() {
    let (s, ns, before) = argo("end-crash", "WhenInSync").await;
    held_then_killed(&s, &ns).await;

    let _restarted = ControllerProcess::start(&s.ns, &[]);
    touch(&s, "g").await;
    // The restarted controller looks at it (a write it makes bumps observedGeneration or
    // conditions only if something changed): still held, still paused.
    let g = wait_state(&s, "g", PauseState::Held, SOON).await;
    assert_eq!(automated(&s, &ns).await["enabled"], false);
    assert_eq!(
        g.status.as_ref().and_then(|st| st.phase),
        Some(GrantPhase::Ended)
    );

    argo_status(&s, &ns, "Synced").await;
    wait_state(&s, "g", PauseState::Restored, REVIEW).await;
    restored_once(&s, &ns, &before).await;
}

/// The app is back as created, by exactly one restore, and nothing recorded it as changed
/// by someone else.
async fn restored_once(s: &Scenario, ns: &str, before: &Value) {
    assert_eq!(
        get(&s.client, ns, APPLICATION, "payments").await["spec"],
        before["spec"]
    );
    let events = event_reasons(&s.client, &s.ns, "g", &["Restored"])
        .await
        .expect("Restored event");
    assert_eq!(
        events.iter().filter(|r| *r == "Restored").count(),
        1,
        "restored once: {events:?}"
    );
    assert!(
        !events.iter().any(|r| r == "PauseOverridden"),
        "no change by others recorded: {events:?}"
    );
}

/// Label the policy: the controller looks at each of its grants at once, from its cache.
async fn touch_policy(s: &Scenario) {
    let policies: kube::Api<breakglass::api::BreakGlassPolicy> = kube::Api::all(s.client.clone());
    policies
        .patch(
            &s.policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"test/touched": format!("{}", std::time::UNIX_EPOCH.elapsed().map(|d| d.as_millis()).unwrap_or_default())}}})),
        )
        .await
        .expect("touch the policy");
}

#[tokio::test]
async fn a_reconcile_from_a_stale_cache_never_rerecords_a_restored_target() {
    let (s, ns, before) = argo("end-stale", "WhenInSync").await;
    held_then_killed(&s, &ns).await;

    // The next controller's cache lags 5 s behind the API server (as a loaded one does).
    let lag = Duration::from_secs(5);
    let _lagging = ControllerProcess::start(&s.ns, &[("BREAKGLASS_WATCH_LAG_MS", "5000")]);
    argo_status(&s, &ns, "Synced").await;
    // Wakes the review now, rather than at its 15 s re-check.
    touch_policy(&s).await;
    wait_state(&s, "g", PauseState::Restored, REVIEW + lag).await;
    // A second look while the cache still holds the copy from before that write: the
    // target is held there, and the object shows it given back (as a person would have).
    touch_policy(&s).await;
    tokio::time::sleep(lag + Duration::from_secs(2)).await;

    let g = s.grants().get("g").await.expect("the grant");
    let e = entry(&g, "payments");
    assert_eq!(e.state, PauseState::Restored, "{e:?}");
    restored_once(&s, &ns, &before).await;
}

#[tokio::test]
async fn a_change_made_while_ending_never_makes_a_stale_copy_look_current() {
    let (s, ns, before) = argo("end-midway", "WhenInSync").await;
    let controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_state(&s, "g", PauseState::Paused, SOON).await;
    argo_status(&s, &ns, "Synced").await;
    controller.kill();

    let lag = Duration::from_secs(5);
    let _lagging = ControllerProcess::start(&s.ns, &[("BREAKGLASS_WATCH_LAG_MS", "5000")]);
    s.resolve("g").await;
    // The ending asks Argo CD to refresh, then waits up to 5 s for it (none runs here):
    // the grant changes meanwhile, so its next copy is newer than what the ending read and
    // older than what it will write.
    let refreshing = eventually(REVIEW, || async {
        let app = get(&s.client, &ns, APPLICATION, "payments").await;
        app["metadata"]["annotations"]["argocd.argoproj.io/refresh"]
            .is_string()
            .then_some(())
    })
    .await;
    assert!(refreshing.is_some(), "the ending asked Argo CD to refresh");
    touch(&s, "g").await;
    wait_state(&s, "g", PauseState::Restored, REVIEW + lag).await;
    tokio::time::sleep(lag + Duration::from_secs(2)).await;

    let g = s.grants().get("g").await.expect("the grant");
    assert_eq!(entry(&g, "payments").state, PauseState::Restored);
    restored_once(&s, &ns, &before).await;
}
