//! What one grant's pause survey finds (`pause::executor::survey`) against the mocked API
//! server: discovery once per kind, kinds not served, missing or unreadable objects,
//! selectors. The patches that follow are in `tests_pause_executor.rs`.

use serde_json::json;

use super::tests_pause_executor::{FLUX, flux_served, kustomizations, object_path, survey};
use super::{finish, kustomization};
use crate::{
    api::{PauseProblem, PauseState},
    pause::executor,
};

#[tokio::test]
async fn discovery_is_asked_once_for_every_selection_of_a_kind() {
    let (mut api, pass) = survey(
        vec![kustomizations(&["web"]), kustomizations(&["api", "web"])],
        vec![],
    );
    api.expect("GET", FLUX).await.ok(flux_served());
    for name in ["web", "api", "web"] {
        api.expect("GET", &object_path(name))
            .await
            .ok(kustomization("apps", name, 3));
    }
    let work = finish(pass).await;
    api.idle();
    let names: Vec<&str> = work.iter().map(|w| w.found.target.name.as_str()).collect();
    assert_eq!(names, ["web", "api"], "a target named twice is one target");
}

#[tokio::test]
async fn a_kind_not_served_is_reported_per_name_without_reading_objects() {
    let mut sel = kustomizations(&["web", "api"]);
    sel.required = true;
    let (mut api, pass) = survey(vec![sel], vec![]);
    // A group that is not served answers with a plain-text 404.
    api.expect("GET", FLUX).await.fail(404, "NotFound");
    let work = finish(pass).await;
    api.idle();
    assert_eq!(work.len(), 2);
    for w in &work {
        let p = w.plan.as_ref().expect_err("no object");
        assert_eq!(p.reason, PauseProblem::KindNotInstalled);
    }
    let waiting = executor::missing_required(&work).expect("a required kind is missing");
    assert!(
        waiting.starts_with("waiting for required targets: "),
        "{waiting}"
    );
    let mut entries = vec![];
    assert!(
        !executor::record_intent(&mut entries, &work),
        "nothing to patch"
    );
    assert!(entries.iter().all(|e| e.state == PauseState::NotFound));
}

#[tokio::test]
async fn a_missing_object_is_not_found_and_a_failed_read_is_failed() {
    let (mut api, pass) = survey(vec![kustomizations(&["gone", "locked"])], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("gone")).await.not_found();
    api.expect("GET", &object_path("locked"))
        .await
        .fail(500, "InternalError");
    let work = finish(pass).await;
    api.idle();
    assert_eq!(
        executor::missing_required(&work),
        None,
        "neither is required"
    );
    let mut entries = vec![];
    executor::record_intent(&mut entries, &work);
    let states: Vec<_> = entries.iter().map(|e| (e.state, e.reason)).collect();
    assert_eq!(
        states,
        [
            (PauseState::NotFound, Some(PauseProblem::NotFound)),
            (PauseState::Failed, Some(PauseProblem::KubernetesError)),
        ]
    );
}

#[tokio::test]
async fn a_namespaced_kind_without_a_namespace_is_invalid_and_never_read() {
    let mut sel = kustomizations(&["web"]);
    sel.namespace = None;
    let (mut api, pass) = survey(vec![sel], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    let work = finish(pass).await;
    api.idle();
    let p = work[0].plan.as_ref().expect_err("invalid");
    assert_eq!(p.reason, PauseProblem::Invalid);
    assert!(p.message.contains("set a namespace"), "{p}");
}

#[tokio::test]
async fn a_selector_lists_the_objects_and_one_that_matches_none_is_not_found() {
    let mut sel = kustomizations(&[]);
    sel.selector =
        Some(serde_json::from_value(json!({"matchLabels": {"team": "web"}})).expect("selector"));
    let (mut api, pass) = survey(vec![sel.clone()], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    let list = api
        .expect("GET", &format!("{FLUX}/namespaces/apps/kustomizations"))
        .await;
    assert!(list.has_query("labelSelector=team%3Dweb"), "{list}");
    list.ok(json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "KustomizationList",
                   "metadata": {}, "items": [kustomization("apps", "a", 1), kustomization("apps", "b", 2)]}));
    let work = finish(pass).await;
    let names: Vec<&str> = work.iter().map(|w| w.found.target.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(work.iter().all(|w| w.plan.is_ok()));

    let (mut api, pass) = survey(vec![sel], vec![]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &format!("{FLUX}/namespaces/apps/kustomizations"))
        .await
        .ok(json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}));
    let work = finish(pass).await;
    assert_eq!(work[0].found.target.name, "*");
    assert_eq!(
        work[0].plan.as_ref().expect_err("none").reason,
        PauseProblem::NotFound
    );
}
