//! One grant's pauses (`pause::executor`: survey, record, execute) against the mocked API
//! server: which reads and patches a pass makes, in order, and what each answer does to the
//! grant's entries. tests/pause.rs proves the same on real CRDs.

use serde_json::{Value, json};

use super::{ApiServer, client, finish, kustomization, patched, resource_list, spawn};
use crate::{
    api::{PauseProblem, PauseState, PausedTarget, RestoreMode},
    pause::{
        Method, PAUSE_RECORD, PAUSED_BY, Selection,
        cluster::Kinds,
        executor::{self, Executed, Work},
    },
};

pub(super) const ME: &str = "incidents/g-1";
pub(super) const FLUX: &str = "/apis/kustomize.toolkit.fluxcd.io/v1";
pub(super) const FIELD_MANAGER: &str = "breakglass-controller";

pub(super) fn kustomizations(names: &[&str]) -> Selection {
    Selection {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        namespace: Some("apps".into()),
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        selector: None,
        method: Method::Suspend,
        required: false,
        pause_parent: false,
        restore: RestoreMode::Auto,
    }
}

pub(super) fn object_path(name: &str) -> String {
    format!("{FLUX}/namespaces/apps/kustomizations/{name}")
}

pub(super) fn flux_served() -> Value {
    resource_list(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "kustomizations",
        true,
    )
}

/// Runs a survey of `selections` on a fresh client; the server and the pass.
pub(super) fn survey(
    selections: Vec<Selection>,
    entries: Vec<PausedTarget>,
) -> (ApiServer, tokio::task::JoinHandle<Vec<Work>>) {
    let (client, api) = client();
    let pass = spawn(async move {
        executor::survey(
            &client,
            &Kinds::default(),
            &selections,
            ME,
            &entries,
            FIELD_MANAGER,
        )
        .await
    });
    (api, pass)
}

/// Sends the planned patches on a fresh client.
fn execute(
    work: Vec<Work>,
    mut entries: Vec<PausedTarget>,
) -> (
    ApiServer,
    tokio::task::JoinHandle<(Executed, Vec<PausedTarget>)>,
) {
    let (client, api) = client();
    let pass = spawn(async move {
        let done = executor::execute(&client, &work, &mut entries, FIELD_MANAGER).await;
        (done, entries)
    });
    (api, pass)
}

/// Surveys and pauses Kustomization `web` (at `version`), answering every request; the
/// grant's entries and the object as the API server holds it afterwards.
pub(super) async fn pause_web(version: u64) -> (Vec<PausedTarget>, Value) {
    let (mut api, pass) = survey(vec![kustomizations(&["web"])], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    let obj = kustomization("apps", "web", version);
    api.expect("GET", &object_path("web")).await.ok(&obj);
    let work = finish(pass).await;
    let mut entries = vec![];
    assert!(executor::record_intent(&mut entries, &work));
    let (mut api, pass) = execute(work, entries);
    let patch = api.expect("PATCH", &object_path("web")).await;
    let paused = patched(&obj, &patch.body).expect("the planned patch applies");
    patch.ok(&paused);
    let (_, entries) = finish(pass).await;
    (entries, paused)
}

#[tokio::test]
async fn the_intent_is_recorded_with_the_original_before_any_patch_is_planned_to_be_sent() {
    let (mut api, pass) = survey(vec![kustomizations(&["web"])], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web"))
        .await
        .ok(kustomization("apps", "web", 3));
    let work = finish(pass).await;
    api.idle();
    let mut entries = vec![];
    assert!(
        executor::record_intent(&mut entries, &work),
        "a patch is pending"
    );
    let [e] = &entries[..] else {
        panic!("{entries:?}")
    };
    assert_eq!(e.state, PauseState::Pausing);
    assert_eq!(e.path.as_deref(), Some("/spec/suspend"));
    assert_eq!(e.paused.as_deref(), Some("true"));
    assert_eq!(e.original, None, "suspend was unset: restoring removes it");
}

#[tokio::test]
async fn the_patch_is_guarded_by_the_version_read_and_marks_the_object() {
    let (entries, paused) = pause_web(3).await;
    assert_eq!(paused["spec"]["suspend"], true);
    assert_eq!(paused["metadata"]["annotations"][PAUSED_BY], ME);
    assert!(paused["metadata"]["annotations"][PAUSE_RECORD].is_string());
    assert_eq!(entries[0].state, PauseState::Paused);
    assert_eq!(
        entries[0].message.as_deref(),
        Some("/spec/suspend set to true")
    );
}

#[tokio::test]
async fn a_patch_whose_version_test_fails_is_a_conflict_to_retry() {
    let (mut api, pass) = survey(vec![kustomizations(&["web"])], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web"))
        .await
        .ok(kustomization("apps", "web", 3));
    let work = finish(pass).await;
    let mut entries = vec![];
    executor::record_intent(&mut entries, &work);
    let (mut api, pass) = execute(work, entries);
    let patch = api.expect("PATCH", &object_path("web")).await;
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "3"}),
        "every patch starts with a resourceVersion test"
    );
    // Someone wrote the object since the read: the test op fails (422).
    let moved = json!({"metadata": {"resourceVersion": "4"}});
    assert!(patched(&moved, &patch.body).is_err(), "the test op fails");
    patch.fail(422, "Invalid");
    let (done, entries) = finish(pass).await;
    api.idle();
    assert_eq!(done.conflicts.len(), 1);
    assert_eq!(done.conflicts[0].reason, PauseProblem::Conflict);
    assert_eq!(entries[0].state, PauseState::Failed);
    assert_eq!(entries[0].reason, Some(PauseProblem::Conflict));
    assert!(done.notes.is_empty(), "nothing was paused");
}

#[tokio::test]
async fn a_forbidden_patch_names_the_rbac_rule_and_is_no_conflict() {
    let (mut api, pass) = survey(vec![kustomizations(&["web"])], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web"))
        .await
        .ok(kustomization("apps", "web", 3));
    let work = finish(pass).await;
    let (mut api, pass) = execute(work, vec![]);
    api.expect("PATCH", &object_path("web"))
        .await
        .fail(403, "Forbidden");
    let (done, entries) = finish(pass).await;
    assert!(
        done.conflicts.is_empty(),
        "a missing permission is not retried at once"
    );
    assert_eq!(entries[0].reason, Some(PauseProblem::Forbidden));
    let msg = entries[0].message.as_deref().unwrap_or_default();
    assert!(
        msg.contains(
            "apiGroups: [\"kustomize.toolkit.fluxcd.io\"], resources: [\"kustomizations\"]"
        ),
        "{msg}"
    );
}

#[tokio::test]
async fn an_object_this_grant_paused_is_held_with_no_patch() {
    let (entries, paused) = pause_web(3).await;
    // The next check: the object still carries this grant's pause.
    let (mut api, pass) = survey(vec![kustomizations(&["web"])], entries.clone());
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let work = finish(pass).await;
    let mut again = entries.clone();
    assert!(
        !executor::record_intent(&mut again, &work),
        "no patch pending"
    );
    let (mut api, pass) = execute(work, again);
    let (done, after) = finish(pass).await;
    api.idle();
    assert!(done.notes.is_empty(), "a steady pause publishes nothing");
    assert_eq!(after, entries, "and writes no status");
}

#[tokio::test]
async fn a_pause_changed_by_someone_else_is_reported_once_and_left() {
    let (entries, mut paused) = pause_web(3).await;
    paused["spec"]["suspend"] = json!(false);
    paused["metadata"]["resourceVersion"] = json!("9");
    let (mut api, pass) = survey(vec![kustomizations(&["web"])], entries.clone());
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let work = finish(pass).await;
    let (mut api, pass) = execute(work, entries);
    let (done, after) = finish(pass).await;
    api.idle();
    assert_eq!(after[0].state, PauseState::ChangedByOthers);
    assert_eq!(done.notes.len(), 1);
    assert_eq!(done.notes[0].reason, "PauseOverridden");
    assert!(done.notes[0].warning);
}

#[tokio::test]
async fn another_grant_joins_an_object_already_paused_by_this_one() {
    let (_, paused) = pause_web(3).await;
    let (client, mut api) = client();
    let pass = spawn(async move {
        executor::survey(
            &client,
            &Kinds::default(),
            &[kustomizations(&["web"])],
            "incidents/g-2",
            &[],
            FIELD_MANAGER,
        )
        .await
    });
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let work = finish(pass).await;
    let (mut api, pass) = execute(work, vec![]);
    let patch = api.expect("PATCH", &object_path("web")).await;
    let joined = patched(&paused, &patch.body).expect("applies");
    patch.ok(&joined);
    let (_, entries) = finish(pass).await;
    assert_eq!(
        joined["metadata"]["annotations"][PAUSED_BY],
        "incidents/g-1,incidents/g-2"
    );
    assert_eq!(joined["spec"]["suspend"], true);
    let msg = entries[0].message.as_deref().unwrap_or_default();
    assert!(msg.contains("held with incidents/g-1"), "{msg}");
}

fn applications() -> Selection {
    Selection {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some("argocd".into()),
        names: vec!["shop".into()],
        selector: None,
        method: Method::DisableAutoSync,
        required: false,
        pause_parent: false,
        restore: RestoreMode::Auto,
    }
}

/// Surveys Application `shop`, answering the dry run with `enabled` kept or pruned; the
/// object after the planned pause is applied to it.
async fn pause_application(enabled_served: bool) -> Value {
    const ARGO: &str = "/apis/argoproj.io/v1alpha1";
    let app_path = format!("{ARGO}/namespaces/argocd/applications/shop");
    let (client, mut api) = client();
    let pass = spawn(async move {
        executor::survey(
            &client,
            &Kinds::default(),
            &[applications()],
            ME,
            &[],
            FIELD_MANAGER,
        )
        .await
    });
    api.expect("GET", ARGO).await.ok(resource_list(
        "argoproj.io/v1alpha1",
        "Application",
        "applications",
        true,
    ));
    let app = super::application("argocd", "shop", 4);
    api.expect("GET", &app_path).await.ok(&app);
    // Whether the CRD keeps `automated.enabled` (Argo CD ≥ 3.1) is asked of the server.
    let dry = api.expect("PATCH", &app_path).await;
    assert!(dry.has_query("dryRun=All"), "{dry}");
    let answer = if enabled_served {
        patched(&app, &dry.body).expect("applies")
    } else {
        app.clone()
    };
    dry.ok(&answer);
    let work = finish(pass).await;
    api.idle();
    let (mut api, pass) = execute(work, vec![]);
    let patch = api.expect("PATCH", &app_path).await;
    assert!(!patch.has_query("dryRun=All"));
    let paused = patched(&app, &patch.body).expect("applies");
    patch.ok(&paused);
    finish(pass).await;
    paused
}

#[tokio::test]
async fn argo_cd_that_keeps_enabled_is_paused_with_enabled_false() {
    let paused = pause_application(true).await;
    assert_eq!(
        paused.pointer("/spec/syncPolicy/automated"),
        Some(&json!({"prune": true, "selfHeal": true, "enabled": false}))
    );
}

#[tokio::test]
async fn argo_cd_that_prunes_enabled_is_paused_by_removing_automated() {
    let paused = pause_application(false).await;
    assert_eq!(paused.pointer("/spec/syncPolicy/automated"), None);
    assert_eq!(paused["metadata"]["annotations"][PAUSED_BY], ME);
}
