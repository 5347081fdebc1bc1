//! The webhook's creates against the mocked API server: a grant already under the name
//! (a retry, or another writer) gets the alerts recorded on it when the webhook requested
//! it, and none when someone else did; a create refused for good is not retried, one
//! failing otherwise asks for a retry.

use serde_json::json;

use super::{
    finish, grant, merged, spawn,
    tests_webhook_write::{GRANTS, WEBHOOK, cache, fingerprints, firing, path, value, with_alerts},
};
use crate::webhook::storm::write::{NewGrant, Writer, Written};

#[tokio::test]
async fn an_existing_grant_on_create_gets_the_alerts_recorded_on_it() {
    let (cache, mut api) = cache();
    let new = grant(
        "incidents",
        "g-1",
        0,
        json!({"metadata": {"resourceVersion": null}}),
    );
    let c = cache.clone();
    let pass = spawn(async move {
        let creates = vec![NewGrant {
            grant: new,
            alerts: vec![firing("a1")],
        }];
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(creates, vec![])
        .await
    });
    // A retry, or another replica, made it first.
    api.expect("POST", GRANTS).await.fail(409, "AlreadyExists");
    let theirs = with_alerts("g-1", 3, &[firing("a0")]);
    api.expect("GET", &path("g-1")).await.ok(&theirs);
    let status = api.expect("PATCH", &path("g-1/status")).await;
    assert_eq!(status.body["metadata"]["resourceVersion"], "3");
    assert_eq!(fingerprints(&status.body).len(), 2);
    let after = merged(&value(&theirs), &status.body);
    status.ok(&after);
    let written = finish(pass).await;
    assert!(
        matches!(
            &written[..],
            [Written::Updated {
                resolved: false,
                ..
            }]
        ),
        "{written:?}"
    );
    api.idle();
}

#[tokio::test]
async fn a_create_the_api_server_refuses_for_good_is_not_retried() {
    for (code, reason) in [(404, "NotFound"), (422, "Invalid"), (403, "Forbidden")] {
        let (cache, mut api) = cache();
        let new = grant(
            "incidents",
            "g-1",
            0,
            json!({"metadata": {"resourceVersion": null}}),
        );
        let c = cache.clone();
        let pass = spawn(async move {
            let creates = vec![NewGrant {
                grant: new,
                alerts: vec![firing("a1")],
            }];
            Writer {
                cache: &c,
                requested_by: WEBHOOK,
            }
            .run(creates, vec![])
            .await
        });
        api.expect("POST", GRANTS).await.fail(code, reason);
        let written = finish(pass).await;
        assert!(
            matches!(&written[..], [Written::Refused { .. }]),
            "{code}: {written:?}"
        );
        api.idle();
    }
}

#[tokio::test]
async fn a_create_failing_otherwise_asks_for_a_retry() {
    let (cache, mut api) = cache();
    let new = grant(
        "incidents",
        "g-1",
        0,
        json!({"metadata": {"resourceVersion": null}}),
    );
    let c = cache.clone();
    let pass = spawn(async move {
        let creates = vec![NewGrant {
            grant: new,
            alerts: vec![firing("a1")],
        }];
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(creates, vec![])
        .await
    });
    api.expect("POST", GRANTS).await.fail(500, "InternalError");
    let written = finish(pass).await;
    assert!(
        matches!(&written[..], [Written::Failed { .. }]),
        "{written:?}"
    );
    api.idle();
}

#[tokio::test]
async fn a_name_taken_by_a_grant_someone_else_requested_gets_no_alerts() {
    let (cache, mut api) = cache();
    let new = grant(
        "incidents",
        "g-1",
        0,
        json!({"metadata": {"resourceVersion": null}, "spec": {"requestedBy": WEBHOOK}}),
    );
    let c = cache.clone();
    let pass = spawn(async move {
        let creates = vec![NewGrant {
            grant: new,
            alerts: vec![firing("a1")],
        }];
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(creates, vec![])
        .await
    });
    api.expect("POST", GRANTS).await.fail(409, "AlreadyExists");
    // Mallory's grant, made first under the name (predictable from the alert).
    let squatter = grant(
        "incidents",
        "g-1",
        3,
        json!({"spec": {"requestedBy": "mallory@example.com", "user": "mallory@example.com"}}),
    );
    api.expect("GET", &format!("{GRANTS}/g-1"))
        .await
        .ok(&squatter);
    let written = finish(pass).await;
    let [Written::Refused { why, .. }] = &written[..] else {
        panic!("refused, not written to: {written:?}")
    };
    assert!(why.contains("mallory@example.com"), "{why}");
    // No status patch, no resolution: nothing more was asked.
    api.idle();
}
