//! Giving pauses back (`pause::executor::restore`) against the mocked API server: each
//! entry re-read, then released, restored or left, and one target's failure never keeps
//! the others from being given back. tests/pause.rs and tests/end_state.rs prove the same
//! on real CRDs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    client, finish, patched, spawn,
    tests_pause_executor::{FIELD_MANAGER, FLUX, ME, flux_served, object_path, pause_web},
};
use crate::{
    api::{PauseState, PausedTarget},
    pause::{
        PAUSE_RECORD, PAUSED_BY,
        cluster::Kinds,
        executor::{self, Ending},
    },
};

type Restored = (Vec<executor::Note>, Result<(), String>, Vec<PausedTarget>);

/// Ends grant `ME`'s holds with `live` grants still holding; the server and the pass.
fn restore(
    mut entries: Vec<PausedTarget>,
    live: &[&str],
) -> (super::ApiServer, tokio::task::JoinHandle<Restored>) {
    let (client, api) = client();
    let live: BTreeSet<String> = live.iter().map(|s| (*s).to_owned()).collect();
    let pass = spawn(async move {
        let recorded = BTreeMap::new();
        let ending = Ending {
            me: ME,
            live: &live,
            recorded: &recorded,
            now: "2026-01-01T12:00:00Z",
            field_manager: FIELD_MANAGER,
            release_held: false,
        };
        let (notes, result) =
            executor::restore(&client, &Kinds::default(), &mut entries, &ending).await;
        (notes, result.map_err(|e| e.to_string()), entries)
    });
    (api, pass)
}

#[tokio::test]
async fn the_last_holder_restores_the_original_and_removes_its_marks() {
    let (entries, paused) = pause_web(3).await;
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let patch = api.expect("PATCH", &object_path("web")).await;
    assert_eq!(patch.body[0]["op"], "test", "guarded by the version read");
    let back = patched(&paused, &patch.body).expect("applies");
    patch.ok(&back);
    let (notes, result, entries) = finish(pass).await;
    api.idle();
    assert_eq!(result, Ok(()));
    assert_eq!(
        back["spec"],
        json!({"interval": "5m", "path": "./", "prune": true})
    );
    let annotations = &back["metadata"]["annotations"];
    assert!(
        annotations.get(PAUSED_BY).is_none() && annotations.get(PAUSE_RECORD).is_none(),
        "no pause marks left: {back}"
    );
    assert_eq!(
        annotations["reconcile.fluxcd.io/requestedAt"], "2026-01-01T12:00:00Z",
        "Flux is asked to reconcile at once"
    );
    assert_eq!(entries[0].state, PauseState::Restored);
    assert!(notes.iter().any(|n| n.reason == "Restored"), "{notes:?}");
}

#[tokio::test]
async fn a_grant_ending_while_another_holds_releases_only_its_own_hold() {
    let (entries, mut paused) = pause_web(3).await;
    paused["metadata"]["annotations"][PAUSED_BY] = json!(format!("{ME},incidents/g-2"));
    let (mut api, pass) = restore(entries, &[ME, "incidents/g-2"]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let patch = api.expect("PATCH", &object_path("web")).await;
    let after = patched(&paused, &patch.body).expect("applies");
    patch.ok(&after);
    let (_, result, entries) = finish(pass).await;
    assert_eq!(result, Ok(()));
    assert_eq!(after["spec"]["suspend"], true, "still paused for g-2");
    assert_eq!(after["metadata"]["annotations"][PAUSED_BY], "incidents/g-2");
    assert_eq!(entries[0].state, PauseState::Released);
}

#[tokio::test]
async fn a_holder_that_is_no_longer_live_does_not_keep_the_pause() {
    let (entries, mut paused) = pause_web(3).await;
    paused["metadata"]["annotations"][PAUSED_BY] = json!(format!("{ME},incidents/ended"));
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let patch = api.expect("PATCH", &object_path("web")).await;
    let after = patched(&paused, &patch.body).expect("applies");
    patch.ok(&after);
    let (_, _, entries) = finish(pass).await;
    assert_eq!(entries[0].state, PauseState::Restored);
    assert!(after["spec"].get("suspend").is_none(), "{after}");
}

#[tokio::test]
async fn an_object_deleted_meanwhile_is_gone_with_no_patch() {
    let (entries, _) = pause_web(3).await;
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.not_found();
    let (_, result, entries) = finish(pass).await;
    api.idle();
    assert_eq!(result, Ok(()));
    assert_eq!(entries[0].state, PauseState::Gone);
}

#[tokio::test]
async fn a_kind_uninstalled_meanwhile_is_gone_too() {
    let (entries, _) = pause_web(3).await;
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.not_found();
    let (_, result, entries) = finish(pass).await;
    api.idle();
    assert_eq!(result, Ok(()));
    assert_eq!(entries[0].state, PauseState::Gone);
}

#[tokio::test]
async fn a_target_that_cannot_be_read_keeps_its_state_and_the_others_are_restored() {
    let (mut entries, paused) = pause_web(3).await;
    let mut other = entries[0].clone();
    other.name = "api".into();
    entries.insert(0, other);
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("api"))
        .await
        .fail(500, "InternalError");
    // The discovery answer is cached: the next target is read at once.
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let patch = api.expect("PATCH", &object_path("web")).await;
    let back = patched(&paused, &patch.body).expect("applies");
    patch.ok(&back);
    let (notes, result, entries) = finish(pass).await;
    api.idle();
    let err = result.expect_err("one target is not restored yet");
    assert!(
        err.starts_with("1 target(s) could not be restored yet"),
        "{err}"
    );
    assert_eq!(entries[0].state, PauseState::Paused, "kept, tried again");
    assert!(
        entries[0]
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("could not restore yet")),
        "{:?}",
        entries[0].message
    );
    assert_eq!(entries[1].state, PauseState::Restored);
    assert!(
        notes
            .iter()
            .any(|n| n.reason == "RestoreFailed" && n.warning)
    );
}

#[tokio::test]
async fn a_conflict_on_the_restore_patch_is_not_restored_and_retried() {
    let (entries, paused) = pause_web(3).await;
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    api.expect("PATCH", &object_path("web")).await.conflict();
    let (_, result, entries) = finish(pass).await;
    assert!(result.is_err());
    assert_eq!(entries[0].state, PauseState::Paused);
}

#[tokio::test]
async fn a_target_that_failed_before_any_patch_was_never_paused_and_is_not_read() {
    let (mut entries, _) = pause_web(3).await;
    entries[0].state = PauseState::Failed;
    entries[0].path = None;
    entries[0].message = Some("may not get it".into());
    let (mut api, pass) = restore(entries, &[ME]);
    let (_, result, entries) = finish(pass).await;
    api.idle();
    assert_eq!(result, Ok(()));
    assert_eq!(entries[0].state, PauseState::NotPaused);
    assert_eq!(
        entries[0].message.as_deref(),
        Some("never paused: may not get it")
    );
}

#[tokio::test]
async fn entries_already_given_back_are_left_alone() {
    let (mut entries, _) = pause_web(3).await;
    for state in [PauseState::Restored, PauseState::Released, PauseState::Gone] {
        entries[0].state = state;
        let (mut api, pass) = restore(entries.clone(), &[ME]);
        let (notes, result, after) = finish(pass).await;
        api.idle();
        assert_eq!(result, Ok(()));
        assert!(notes.is_empty());
        assert_eq!(after, entries, "{state:?}");
    }
}

#[tokio::test]
async fn a_person_who_changed_the_paused_field_keeps_their_change() {
    let (entries, mut paused) = pause_web(3).await;
    paused["spec"]["suspend"] = Value::Bool(false);
    let (mut api, pass) = restore(entries, &[ME]);
    api.expect("GET", FLUX).await.ok(flux_served());
    api.expect("GET", &object_path("web")).await.ok(&paused);
    let patch = api.expect("PATCH", &object_path("web")).await;
    let after = patched(&paused, &patch.body).expect("applies");
    patch.ok(&after);
    let (notes, _, entries) = finish(pass).await;
    assert_eq!(after["spec"]["suspend"], false, "their value stays");
    assert!(after["metadata"]["annotations"].get(PAUSED_BY).is_none());
    assert_eq!(entries[0].state, PauseState::ChangedByOthers);
    assert!(notes.iter().any(|n| n.reason == "PauseOverridden"));
}
