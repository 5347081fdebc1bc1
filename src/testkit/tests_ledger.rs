//! The ledger (`controller::ledger`) against the mocked API server: what is written before
//! a member is added, the touch of an entry already there, the conditional forget that
//! never deletes an entry recorded again meanwhile, what a list trusts, and the migration
//! of the ConfigMap ledger.

use serde_json::{Value, json};

use super::{client, finish, installation, spawn};
use crate::{
    api::{ledger_entry_name, legacy_ledger_name},
    controller::ledger::{Entry, INSTALLATION_LABEL, LABEL, Ledger, migrate},
    targets::{GroupTarget, Target},
};

const ENTRIES: &str = "/apis/breakglass.dev/v1alpha1/breakglassledgerentries";
const CONFIG_MAPS: &str = "/api/v1/namespaces/breakglass-system/configmaps";

fn group() -> Target {
    Target::Group(GroupTarget {
        identity_store_id: "d-1".into(),
        group_id: "g-1".into(),
    })
}

fn entry(user_id: &str, version: Option<&str>) -> Entry {
    Entry {
        target: group(),
        user_id: user_id.into(),
        user: "alice@example.com".into(),
        grant: "incidents/inc-1".into(),
        policy: "prod-admin".into(),
        version: version.map(str::to_owned),
        recorded_at: None,
    }
}

fn name(user_id: &str) -> String {
    ledger_entry_name(installation().as_str(), &group(), user_id)
}

/// An entry object as stored: `installation` wrote it for `user_id`, under `name`.
fn stored(name: &str, installation: &str, user_id: &str, version: &str) -> Value {
    json!({
        "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassLedgerEntry",
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {"installation": installation,
                 "target": {"group": {"identityStoreId": "d-1", "groupId": "g-1"}},
                 "userId": user_id, "user": "x", "grant": "incidents/inc-1",
                 "policy": "prod-admin", "recordedAt": "2026-12-03T10:00:00Z"},
    })
}

#[tokio::test]
async fn a_new_member_is_recorded_with_where_and_whom_never_a_role() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, installation());
    let e = entry("u-1", None);
    let pass = spawn(async move { ledger.record(&e).await.map_err(|e| e.to_string()) });
    let create = api.expect("POST", ENTRIES).await;
    assert_eq!(create.body["metadata"]["name"], name("u-1").as_str());
    assert_eq!(create.body["metadata"]["labels"][LABEL], "member");
    assert_eq!(
        create.body["metadata"]["labels"][INSTALLATION_LABEL],
        "test1"
    );
    let mut spec = create.body["spec"].clone();
    let recorded_at = spec
        .as_object_mut()
        .and_then(|d| d.remove("recordedAt"))
        .expect("when it was recorded");
    assert!(
        recorded_at
            .as_str()
            .is_some_and(|t| t.parse::<k8s_openapi::jiff::Timestamp>().is_ok()),
        "{recorded_at}"
    );
    assert_eq!(
        spec,
        json!({"installation": "test1",
               "target": {"group": {"identityStoreId": "d-1", "groupId": "g-1"}},
               "userId": "u-1", "user": "alice@example.com", "grant": "incidents/inc-1",
               "policy": "prod-admin"})
    );
    let body = create.body.clone();
    create.created(&body);
    assert_eq!(finish(pass).await, Ok(true));
    api.idle();
}

#[tokio::test]
async fn a_member_recorded_already_is_touched_so_a_settling_sweep_leaves_it() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, installation());
    let mut e = entry("u-1", None);
    e.grant = "incidents/inc-2".into();
    let pass = spawn(async move { ledger.record(&e).await.map_err(|e| e.to_string()) });
    api.expect("POST", ENTRIES).await.fail(409, "AlreadyExists");
    let touch = api
        .expect("PATCH", &format!("{ENTRIES}/{}", name("u-1")))
        .await;
    assert_eq!(touch.content_type, "application/merge-patch+json");
    assert_eq!(touch.body["spec"]["grant"], "incidents/inc-2");
    assert!(
        touch.body["spec"]["recordedAt"].is_string(),
        "a touch renews when it was recorded (its add may be in flight again)"
    );
    touch.ok(stored(&name("u-1"), "test1", "u-1", "12"));
    assert_eq!(finish(pass).await, Ok(false), "not newly recorded");
    api.idle();
}

#[tokio::test]
async fn a_record_that_cannot_be_written_fails_before_any_member_is_added() {
    for code in [403, 500] {
        let (client, mut api) = client();
        let ledger = Ledger::new(client, installation());
        let pass = spawn(async move {
            ledger
                .record(&entry("u-1", None))
                .await
                .map_err(|e| e.to_string())
        });
        api.expect("POST", ENTRIES).await.fail(code, "Oops");
        let err = finish(pass).await.expect_err("the record failed");
        assert!(
            err.starts_with("writing ledger entry breakglass-member-"),
            "{err}"
        );
        api.idle();
    }
}

#[tokio::test]
async fn a_failed_touch_is_an_error_too() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, installation());
    let e = entry("u-1", None);
    let pass = spawn(async move { ledger.record(&e).await.map_err(|e| e.to_string()) });
    api.expect("POST", ENTRIES).await.fail(409, "AlreadyExists");
    api.expect("PATCH", &format!("{ENTRIES}/{}", name("u-1")))
        .await
        .fail(500, "InternalError");
    let err = finish(pass).await.expect_err("the touch failed");
    assert!(err.starts_with("touching ledger entry"), "{err}");
}

#[tokio::test]
async fn forgetting_is_conditional_on_the_version_read() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, installation());
    let e = entry("u-1", Some("41"));
    let pass = spawn(async move { ledger.forget(&e).await.map_err(|e| e.to_string()) });
    let delete = api
        .expect("DELETE", &format!("{ENTRIES}/{}", name("u-1")))
        .await;
    assert_eq!(
        delete.body["preconditions"]["resourceVersion"], "41",
        "an entry recorded again since the read must survive: {delete}"
    );
    delete.ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
    assert_eq!(finish(pass).await, Ok(()));
    api.idle();
}

#[tokio::test]
async fn an_entry_gone_or_recorded_again_is_left_and_other_failures_reported() {
    for (code, ok) in [(404, true), (409, true), (500, false), (403, false)] {
        let (client, mut api) = client();
        let ledger = Ledger::new(client, installation());
        let e = entry("u-1", Some("41"));
        let pass = spawn(async move { ledger.forget(&e).await.map_err(|e| e.to_string()) });
        api.next().await.fail(code, "Whatever");
        let got = finish(pass).await;
        assert_eq!(got.is_ok(), ok, "{code}: {got:?}");
        if let Err(e) = got {
            assert!(e.starts_with("deleting ledger entry"), "{e}");
        }
    }
}

/// The installation's own entries are read as its own, another installation's as theirs;
/// one under a name not computed for its content (by hand) is reported, never used.
#[tokio::test]
async fn a_list_tells_own_entries_from_others_and_from_forged_ones() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, installation());
    let pass = spawn(async move { ledger.all().await.map_err(|e| e.to_string()) });
    let list = api.expect("GET", ENTRIES).await;
    assert!(
        list.has_query("labelSelector=breakglass.dev%2Fledger%3Dmember"),
        "{list}"
    );
    list.ok(json!({
        "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassLedgerEntryList",
        "metadata": {"resourceVersion": "50"},
        "items": [
            stored(&name("u-1"), "test1", "u-1", "10"),
            stored(&name("u-2"), "test1", "u-2", "11"),
            stored("breakglass-member-forged", "test1", "u-3", "12"),
            stored(&name("u-4"), "other", "u-4", "13"),
            stored(&ledger_entry_name("other", &group(), "u-5"), "other", "u-5", "14"),
        ],
    }));
    let all = finish(pass).await.expect("listed");
    api.idle();
    assert_eq!(all.by_target.len(), 1, "one target");
    let users = all.by_target.values().next().expect("the group");
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u-1", "u-2"]);
    assert_eq!(
        users["u-2"].version.as_deref(),
        Some("11"),
        "kept for the forget"
    );
    assert_eq!(
        all.ignored,
        [String::from("breakglass-member-forged"), name("u-4")]
    );
}

#[tokio::test]
async fn a_failed_list_is_an_error_not_an_empty_ledger() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, installation());
    let pass = spawn(async move { ledger.all().await.map_err(|e| e.to_string()) });
    api.expect("GET", ENTRIES).await.fail(500, "InternalError");
    let err = finish(pass).await.expect_err("a failed list");
    assert!(err.starts_with("listing ledger entry"), "{err}");
}

/// A migration of the `breakglass-system` ConfigMap ledger, running against the mock.
fn migrating() -> (
    super::ApiServer,
    tokio::task::JoinHandle<Result<migrate::Migrated, String>>,
) {
    let (client, api) = client();
    let ledger = Ledger::new(client.clone(), installation());
    let pass = spawn(async move {
        migrate::run(&client, "breakglass-system", &ledger)
            .await
            .map_err(|e| e.to_string())
    });
    (api, pass)
}

fn config_map(name: &str, version: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "breakglass-system", "resourceVersion": version},
        "data": data,
    })
}

/// Alice's grant `incidents/inc-1`, whose status records u-1 on the group.
fn grant_recording_u1() -> Value {
    json!({"apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
           "metadata": {"name": "inc-1", "namespace": "incidents"},
           "spec": {"user": "alice", "policy": "prod-admin", "reason": "r"},
           "status": {"userId": "u-1", "access": {"groupMembership": {
               "identityStoreId": "d-1", "groupId": "g-1"}}}})
}

/// An old ConfigMap entry that its grant's status confirms becomes an entry of the new kind
/// (that grant's policy, the ConfigMap's role dropped), and only then is deleted; one under
/// a name the old release would not have computed, or whose grant does not record that
/// user, stays where it is and is reported.
#[tokio::test]
async fn the_config_map_ledger_moves_without_its_roles() {
    let (mut api, pass) = migrating();
    let old = legacy_ledger_name(&group(), "u-1");
    let data = |user: &str| {
        json!({"identityStoreId": "d-1", "groupId": "g-1", "userId": user, "user": "alice",
               "grant": "incidents/inc-1", "roleArn": "arn:aws:iam::999999999999:role/attacker"})
    };
    api.expect("GET", CONFIG_MAPS).await.ok(json!({
        "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "5"},
        "items": [
            config_map(&old, "3", data("u-1")),
            config_map("breakglass-member-forged", "4", data("u-9")),
            config_map(&legacy_ledger_name(&group(), "u-8"), "5", data("u-8")),
        ],
    }));
    api.expect(
        "GET",
        "/apis/breakglass.dev/v1alpha1/namespaces/incidents/breakglassgrants/inc-1",
    )
    .await
    .ok(grant_recording_u1());
    let create = api.expect("POST", ENTRIES).await;
    assert_eq!(create.body["metadata"]["name"], name("u-1").as_str());
    assert_eq!(create.body["spec"]["policy"], "prod-admin");
    assert!(
        !create.body.to_string().contains("attacker"),
        "no role carried over: {}",
        create.body
    );
    let body = create.body.clone();
    create.created(&body);
    let delete = api.expect("DELETE", &format!("{CONFIG_MAPS}/{old}")).await;
    assert_eq!(delete.body["preconditions"]["resourceVersion"], "3");
    delete.ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
    // u-8's ConfigMap names the same grant, which records u-1, not u-8.
    api.expect(
        "GET",
        "/apis/breakglass.dev/v1alpha1/namespaces/incidents/breakglassgrants/inc-1",
    )
    .await
    .ok(grant_recording_u1());
    let done = finish(pass).await.expect("migrated");
    api.idle();
    assert_eq!(done.moved, 1);
    assert_eq!(
        done.refused,
        [
            String::from("breakglass-member-forged"),
            legacy_ledger_name(&group(), "u-8")
        ]
    );
}

#[tokio::test]
async fn without_the_right_to_read_config_maps_there_is_nothing_to_migrate() {
    let (mut api, pass) = migrating();
    api.expect("GET", CONFIG_MAPS).await.fail(403, "Forbidden");
    assert_eq!(finish(pass).await.map(|m| m.moved), Ok(0));
    api.idle();
}
