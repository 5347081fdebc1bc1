//! Restore never depends on one record: objects that lose the operator's annotations (a
//! merge patch, a real `kubectl replace`) are restored from the grant's own record, a later
//! grant joins by that record, and a person re-enabling automation shows without any change
//! to the grant. A real controller process against the real kube-apiserver and moto.

mod common;

use std::time::Duration;

use breakglass::api::{GrantPhase, PauseState};
use common::{objects::*, *};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const PAUSED_BY: &str = "breakglass.dev/paused-by";
const PAUSE_RECORD: &str = "breakglass.dev/pause-record";

/// What an annotation-pruning tool does: our two annotations removed, nothing else.
async fn strip_annotations(s: &Scenario, ns: &str) {
    api(&s.client, ns, APPLICATION)
        .patch(
            "payments",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {PAUSED_BY: null, PAUSE_RECORD: null}}}),
            ),
        )
        .await
        .expect("strip the annotations");
}

/// What a person does with `kubectl replace`: the object as read, without our annotations.
fn kubectl_replace_without_annotations(ns: &str) {
    let mut get = tool("kubectl");
    get.args([
        "get",
        "applications.argoproj.io",
        "payments",
        "-n",
        ns,
        "-o",
        "json",
    ]);
    let (ok, out) = run_with_input(get, "");
    assert!(ok, "{out}");
    let mut obj: Value = serde_json::from_str(&out).expect("json");
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(PAUSED_BY);
        a.remove(PAUSE_RECORD);
    }
    let mut replace = tool("kubectl");
    replace.args(["replace", "-f", "-"]);
    let (ok, out) = run_with_input(replace, &obj.to_string());
    assert!(ok, "kubectl replace: {out}");
}

async fn wait_message(s: &Scenario, grant: &str, says: &str) -> breakglass::api::BreakGlassGrant {
    let grants = s.grants();
    let found = eventually(SOON, || async {
        let g = grants.get(grant).await.ok()?;
        let e = g
            .status
            .as_ref()?
            .paused_targets
            .iter()
            .find(|t| t.name == "payments")?;
        (e.state == PauseState::Paused && e.message.as_deref()?.contains(says)).then_some(g)
    })
    .await;
    match found {
        Some(g) => g,
        None => panic!(
            "{grant}'s payments entry never said {says:?}: {:#?}",
            grants.get(grant).await.ok().and_then(|g| g.status)
        ),
    }
}

async fn ends_restored_from_the_record(s: &Scenario, ns: &str, grant: &str, before: &Value) {
    s.resolve(grant).await;
    let ended = s.wait_phase(grant, GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&ended, "payments").state, PauseState::Restored);
    let after = get(&s.client, ns, APPLICATION, "payments").await;
    assert_eq!(after["spec"], before["spec"], "auto-sync back exactly");
    assert_eq!(our_annotations(&after), Vec::<String>::new());
    assert!(
        event_reasons(&s.client, &s.ns, grant, &["RestoredFromGrantRecord"])
            .await
            .is_some(),
        "an Event says the grant's record restored it"
    );
}

#[tokio::test]
async fn stripped_annotations_are_restored_from_the_grant_record() {
    let (s, ns, before) = payments_app("strip", json!({"prune": true, "selfHeal": true})).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;
    strip_annotations(&s, &ns).await;
    touch(&s, "g").await;
    // Before: the next look took the paused field for someone else's and said Skipped.
    let g = wait_message(&s, "g", "annotations are gone").await;
    let e = entry(&g, "payments");
    assert_eq!(
        e.path.as_deref(),
        Some("/spec/syncPolicy/automated/enabled")
    );
    assert_eq!(e.paused.as_deref(), Some("false"));
    ends_restored_from_the_record(&s, &ns, "g", &before).await;
}

#[tokio::test]
async fn an_application_replaced_with_kubectl_is_restored_from_the_grant_record() {
    let (s, ns, before) = payments_app("replace", json!({"prune": true})).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;
    kubectl_replace_without_annotations(&ns);
    let live = get(&s.client, &ns, APPLICATION, "payments").await;
    assert_eq!(
        our_annotations(&live),
        Vec::<String>::new(),
        "replace dropped them"
    );
    ends_restored_from_the_record(&s, &ns, "g", &before).await;
}

#[tokio::test]
async fn a_later_grant_joins_by_record_and_the_last_one_restores() {
    let (s, ns, before) = payments_app("join-record", json!({"prune": true})).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("first", |_| {}).await;
    wait_entry_state(&s, "first", "payments", PauseState::Paused).await;
    strip_annotations(&s, &ns).await;
    s.create_grant("second", |_| {}).await;
    let second = wait_message(&s, "second", "already paused by").await;
    let msg = entry(&second, "payments")
        .message
        .clone()
        .unwrap_or_default();
    assert!(msg.contains(&format!("{}/first", s.ns)), "{msg}");

    s.resolve("first").await;
    let first = s.wait_phase("first", GrantPhase::Ended, SOON).await;
    assert_eq!(entry(&first, "payments").state, PauseState::Released);
    let live = get(&s.client, &ns, APPLICATION, "payments").await;
    assert_eq!(
        live.pointer("/spec/syncPolicy/automated/enabled"),
        Some(&json!(false)),
        "still paused for the second grant"
    );
    ends_restored_from_the_record(&s, &ns, "second", &before).await;
}

#[tokio::test]
async fn a_person_re_enabling_auto_sync_shows_without_touching_the_grant() {
    let (s, ns, _) = payments_app("recheck", json!({"prune": true})).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;
    api(&s.client, &ns, APPLICATION)
        .patch(
            "payments",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"enabled": true}}}})),
        )
        .await
        .expect("a person turns auto-sync back on");
    // Nothing about the grant changes: only the periodic re-check (30 s) can notice.
    let grants = s.grants();
    let seen = eventually(Duration::from_secs(45), || async {
        let g = grants.get("g").await.ok()?;
        (entry(&g, "payments").state == PauseState::ChangedByOthers).then_some(g)
    })
    .await;
    assert!(seen.is_some(), "never shown as ChangedByOthers");
    assert!(
        event_reasons(&s.client, &s.ns, "g", &["PauseOverridden"])
            .await
            .is_some()
    );
}

/// Found by `make chaos`: a grant deleted without its finalizer never gives its pause back.
/// The sweep sees `paused-by` naming only grants that no longer exist and restores the
/// object from its annotation record, with a Warning Event on the policy and a count.
#[tokio::test]
async fn a_pause_whose_grant_was_deleted_without_its_finalizer_is_restored_by_the_sweep() {
    let (s, ns, before) = payments_app("orphan-pause", json!({"prune": true})).await;
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    wait_entry_state(&s, "g", "payments", PauseState::Paused).await;
    s.strip_finalizer_and_delete("g").await;
    let restored = eventually(SOON, || async {
        let app = get(&s.client, &ns, APPLICATION, "payments").await;
        our_annotations(&app).is_empty().then_some(app)
    })
    .await
    .expect("the sweep restores the pause nobody holds");
    assert_eq!(restored["spec"], before["spec"], "auto-sync back exactly");
    assert!(
        event_reasons(&s.client, "default", &s.policy, &["RestoredOrphanedPause"])
            .await
            .is_some(),
        "a Warning Event on the policy says so"
    );
    assert_eq!(
        scrape_reaching(
            &metrics,
            "breakglass_pauses_orphaned_total{kind=\"Application\"}",
            1.0
        )
        .await,
        1.0
    );
}
