//! The ledger (`controller::ledger`) against the mocked API server: what is written before
//! a member is added, the touch of an entry already there, and the conditional forget
//! that never deletes an entry recorded again meanwhile.

use serde_json::{Value, json};

use super::{client, finish, spawn};
use crate::{
    controller::ledger::{self, Entry, LABEL, Ledger},
    targets::{GroupTarget, Target},
};

const CONFIG_MAPS: &str = "/api/v1/namespaces/breakglass-system/configmaps";

fn entry(user_id: &str, version: Option<&str>) -> Entry {
    Entry {
        target: Target::Group(GroupTarget {
            identity_store_id: "d-1".into(),
            group_id: "g-1".into(),
        }),
        user_id: user_id.into(),
        user: "alice@example.com".into(),
        grant: "incidents/inc-1".into(),
        role_arn: "arn:aws:iam::111111111111:role/bg".into(),
        external_id: None,
        region: Some("eu-west-1".into()),
        version: version.map(str::to_owned),
        recorded_at: None,
    }
}

fn config_map(name: &str, version: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "breakglass-system", "resourceVersion": version},
        "data": data,
    })
}

#[tokio::test]
async fn a_new_member_is_recorded_with_everything_needed_to_take_it_back() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, "breakglass-system");
    let e = entry("u-1", None);
    let name = ledger::name(&e.target, "u-1");
    let pass = spawn(async move { ledger.record(&e).await.map_err(|e| e.to_string()) });
    let create = api.expect("POST", CONFIG_MAPS).await;
    assert_eq!(create.body["metadata"]["name"], name.as_str());
    assert_eq!(create.body["metadata"]["labels"][LABEL], "member");
    let mut data = create.body["data"].clone();
    let recorded_at = data
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
        data,
        json!({"identityStoreId": "d-1", "groupId": "g-1", "userId": "u-1",
               "user": "alice@example.com", "grant": "incidents/inc-1",
               "roleArn": "arn:aws:iam::111111111111:role/bg", "region": "eu-west-1"})
    );
    let body = create.body.clone();
    create.created(&body);
    assert_eq!(finish(pass).await, Ok(true));
    api.idle();
}

#[tokio::test]
async fn a_member_recorded_already_is_touched_so_a_settling_sweep_leaves_it() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, "breakglass-system");
    let mut e = entry("u-1", None);
    e.grant = "incidents/inc-2".into();
    let name = ledger::name(&e.target, "u-1");
    let pass = spawn(async move { ledger.record(&e).await.map_err(|e| e.to_string()) });
    api.expect("POST", CONFIG_MAPS)
        .await
        .fail(409, "AlreadyExists");
    let touch = api.expect("PATCH", &format!("{CONFIG_MAPS}/{name}")).await;
    assert_eq!(touch.content_type, "application/merge-patch+json");
    assert_eq!(touch.body["data"]["grant"], "incidents/inc-2");
    assert!(
        touch.body["data"]["recordedAt"].is_string(),
        "a touch renews when it was recorded (its add may be in flight again)"
    );
    touch.ok(config_map(&name, "12", json!({})));
    assert_eq!(finish(pass).await, Ok(false), "not newly recorded");
    api.idle();
}

#[tokio::test]
async fn a_record_that_cannot_be_written_fails_before_any_member_is_added() {
    for code in [403, 500] {
        let (client, mut api) = client();
        let ledger = Ledger::new(client, "breakglass-system");
        let pass = spawn(async move {
            ledger
                .record(&entry("u-1", None))
                .await
                .map_err(|e| e.to_string())
        });
        api.expect("POST", CONFIG_MAPS).await.fail(code, "Oops");
        let err = finish(pass).await.expect_err("the record failed");
        assert!(
            err.starts_with("writing ledger entry breakglass-system/"),
            "{err}"
        );
        api.idle();
    }
}

#[tokio::test]
async fn a_failed_touch_is_an_error_too() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, "breakglass-system");
    let e = entry("u-1", None);
    let name = ledger::name(&e.target, "u-1");
    let pass = spawn(async move { ledger.record(&e).await.map_err(|e| e.to_string()) });
    api.expect("POST", CONFIG_MAPS)
        .await
        .fail(409, "AlreadyExists");
    api.expect("PATCH", &format!("{CONFIG_MAPS}/{name}"))
        .await
        .fail(500, "InternalError");
    let err = finish(pass).await.expect_err("the touch failed");
    assert!(err.starts_with("touching ledger entry"), "{err}");
}

#[tokio::test]
async fn forgetting_is_conditional_on_the_version_read() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, "breakglass-system");
    let e = entry("u-1", Some("41"));
    let name = ledger::name(&e.target, "u-1");
    let pass = spawn(async move { ledger.forget(&e).await.map_err(|e| e.to_string()) });
    let delete = api.expect("DELETE", &format!("{CONFIG_MAPS}/{name}")).await;
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
        let ledger = Ledger::new(client, "breakglass-system");
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

#[tokio::test]
async fn every_entry_is_listed_by_target_and_user_and_unreadable_ones_skipped() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, "breakglass-system");
    let pass = spawn(async move { ledger.all().await.map_err(|e| e.to_string()) });
    let list = api.expect("GET", CONFIG_MAPS).await;
    assert!(
        list.has_query("labelSelector=breakglass.dev%2Fledger%3Dmember"),
        "{list}"
    );
    let member = |user: &str, version: &str| {
        config_map(
            &format!("m-{user}"),
            version,
            json!({"identityStoreId": "d-1", "groupId": "g-1", "userId": user,
                   "user": "x", "grant": "incidents/inc-1", "roleArn": "arn:r"}),
        )
    };
    list.ok(json!({
        "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "50"},
        "items": [
            member("u-1", "10"),
            member("u-2", "11"),
            // No userId: not an entry the operator wrote.
            config_map("broken", "12", json!({"groupId": "g-1", "roleArn": "arn:r"})),
        ],
    }));
    let all = finish(pass).await.expect("listed");
    api.idle();
    assert_eq!(all.len(), 1, "one target");
    let users = all.values().next().expect("the group");
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u-1", "u-2"]);
    assert_eq!(
        users["u-2"].version.as_deref(),
        Some("11"),
        "kept for the forget"
    );
}

#[tokio::test]
async fn a_failed_list_is_an_error_not_an_empty_ledger() {
    let (client, mut api) = client();
    let ledger = Ledger::new(client, "breakglass-system");
    let pass = spawn(async move { ledger.all().await.map_err(|e| e.to_string()) });
    api.expect("GET", CONFIG_MAPS)
        .await
        .fail(500, "InternalError");
    let err = finish(pass).await.expect_err("a failed list");
    assert!(err.starts_with("listing ledger entry"), "{err}");
}
