//! The webhook's grant writes (`webhook::storm::write`) against the mocked API server: the
//! requests one notification makes, in order, and what a conflict, a grant gone meanwhile
//! or a refusal does. tests/webhook_storm.rs proves the same end to end on a real server.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{ApiServer, client, finish, grant, merged, spawn};
use crate::{
    api::GrantKey,
    api::{AlertState, BreakGlassGrant, GrantAlert},
    telemetry::Metrics,
    webhook::{
        cache::Cache,
        storm::write::{FIELD_MANAGER, NewGrant, Writer, Written},
    },
};

/// The webhook's username in these tests: `spec.requestedBy` of its grants.
pub(super) const WEBHOOK: &str = "system:serviceaccount:breakglass:breakglass-webhook";

pub(super) const GRANTS: &str =
    "/apis/breakglass.dev/v1alpha1/namespaces/incidents/breakglassgrants";

pub(super) fn alert(fp: &str, state: AlertState) -> GrantAlert {
    GrantAlert {
        fingerprint: fp.into(),
        starts_at: "2026-11-21T10:00:00Z".into(),
        state,
    }
}

pub(super) fn firing(fp: &str) -> GrantAlert {
    alert(fp, AlertState::Firing)
}

pub(super) fn resolved(fp: &str) -> GrantAlert {
    alert(fp, AlertState::Resolved)
}

pub(super) fn cache() -> (Arc<Cache>, ApiServer) {
    let (client, server) = client();
    (Cache::detached(client, Arc::new(Metrics::new())), server)
}

pub(super) fn path(name: &str) -> String {
    format!("{GRANTS}/{name}")
}

pub(super) fn value(g: &BreakGlassGrant) -> Value {
    serde_json::to_value(g).expect("grant")
}

/// A grant `g` with `alerts` recorded, at `version`.
pub(super) fn with_alerts(name: &str, version: u64, alerts: &[GrantAlert]) -> BreakGlassGrant {
    grant(
        "incidents",
        name,
        version,
        json!({"spec": {"requestedBy": WEBHOOK}, "status": {"alerts": alerts}}),
    )
}

pub(super) fn fingerprints(body: &Value) -> Vec<(String, String)> {
    body.pointer("/status/alerts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["fingerprint"].as_str().unwrap_or_default().to_owned(),
                a["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub(super) fn update(
    name: &str,
    upserts: Vec<GrantAlert>,
) -> Vec<(String, String, Vec<GrantAlert>)> {
    vec![("incidents".into(), name.into(), upserts)]
}

#[tokio::test]
async fn a_new_grant_is_created_then_its_alerts_recorded_against_the_created_version() {
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
            alerts: vec![firing("a1"), firing("a2")],
        }];
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(creates, vec![])
        .await
    });

    let create = api.expect("POST", GRANTS).await;
    assert!(
        create.has_query(&format!("fieldManager={FIELD_MANAGER}")),
        "{create}"
    );
    assert_eq!(create.body["metadata"]["name"], "g-1");
    assert!(
        create.body.get("status").is_none(),
        "alerts go in the status, after: {create}"
    );
    let created = grant("incidents", "g-1", 7, json!({}));
    create.created(&created);

    let status = api.expect("PATCH", &path("g-1/status")).await;
    assert_eq!(status.content_type, "application/merge-patch+json");
    assert_eq!(
        status.body["metadata"]["resourceVersion"], "7",
        "computed from the created version, guarded by it"
    );
    assert_eq!(
        fingerprints(&status.body),
        [
            ("a1".into(), "Firing".into()),
            ("a2".into(), "Firing".into())
        ]
    );
    let after = merged(&value(&created), &status.body);
    status.ok(&after);

    let written = finish(pass).await;
    assert_eq!(
        written,
        [Written::Created {
            id: GrantKey::new("incidents", "g-1"),
            resolved: false
        }]
    );
    api.idle();
    let kept = cache
        .get("incidents", "g-1")
        .expect("the write is remembered");
    assert_eq!(kept.metadata.resource_version.as_deref(), Some("8"));
    assert_eq!(kept.status.map(|s| s.alerts.len()), Some(2));
}

#[tokio::test]
async fn a_conflict_on_the_alerts_rereads_and_merges_so_no_writer_loses_an_alert() {
    let (cache, mut api) = cache();
    cache.remember(with_alerts("g-1", 5, &[firing("a1")]));
    let c = cache.clone();
    let pass = spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("mine")]))
        .await
    });

    // Computed from the remembered copy: refused, someone wrote in between.
    let first = api.expect("PATCH", &path("g-1/status")).await;
    assert_eq!(first.body["metadata"]["resourceVersion"], "5");
    first.conflict();
    // The other writer's alert is on the fresh copy; both end up recorded.
    let theirs = with_alerts("g-1", 6, &[firing("a1"), firing("theirs")]);
    api.expect("GET", &path("g-1")).await.ok(&theirs);
    let second = api.expect("PATCH", &path("g-1/status")).await;
    assert_eq!(second.body["metadata"]["resourceVersion"], "6");
    let fps: Vec<String> = fingerprints(&second.body)
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(fps, ["a1", "theirs", "mine"]);
    let after = merged(&value(&theirs), &second.body);
    second.ok(&after);

    let written = finish(pass).await;
    assert_eq!(
        written,
        [Written::Updated {
            id: GrantKey::new("incidents", "g-1"),
            resolved: false
        }]
    );
    api.idle();
}

#[tokio::test]
async fn a_grant_deleted_meanwhile_is_forgotten_so_a_retry_decides_afresh() {
    let (cache, mut api) = cache();
    cache.remember(with_alerts("g-1", 5, &[firing("a1")]));
    let c = cache.clone();
    let pass = spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("a2")]))
        .await
    });
    api.expect("PATCH", &path("g-1/status")).await.not_found();
    let written = finish(pass).await;
    assert!(
        matches!(&written[..], [Written::Failed { id, .. }] if *id == GrantKey::new("incidents", "g-1")),
        "{written:?}"
    );
    api.idle();
    assert!(
        cache.get("incidents", "g-1").is_none(),
        "a grant found gone is not written to again"
    );
}

#[tokio::test]
async fn a_grant_found_gone_on_the_conflict_reread_is_forgotten_too() {
    let (cache, mut api) = cache();
    cache.remember(with_alerts("g-1", 5, &[firing("a1")]));
    let c = cache.clone();
    let pass = spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("a2")]))
        .await
    });
    api.expect("PATCH", &path("g-1/status")).await.conflict();
    api.expect("GET", &path("g-1")).await.not_found();
    let written = finish(pass).await;
    assert!(
        matches!(&written[..], [Written::Failed { .. }]),
        "{written:?}"
    );
    api.idle();
    assert!(cache.get("incidents", "g-1").is_none());
}

#[tokio::test]
async fn the_last_resolution_records_the_alerts_then_resolves_the_grant() {
    let (cache, mut api) = cache();
    let before = with_alerts("g-1", 5, &[firing("a1"), resolved("a2")]);
    cache.remember(before.clone());
    let c = cache.clone();
    let pass = spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![resolved("a1")]))
        .await
    });
    let status = api.expect("PATCH", &path("g-1/status")).await;
    let after = merged(&value(&before), &status.body);
    status.ok(&after);
    // Only once every alert is recorded resolved is the grant itself resolved.
    let spec = api.expect("PATCH", &path("g-1")).await;
    assert_eq!(spec.body, json!({"spec": {"resolved": true}}));
    let resolved_grant = merged(&after, &spec.body);
    spec.ok(&resolved_grant);
    let written = finish(pass).await;
    assert_eq!(
        written,
        [Written::Updated {
            id: GrantKey::new("incidents", "g-1"),
            resolved: true
        }]
    );
    api.idle();
    assert!(
        cache
            .get("incidents", "g-1")
            .is_some_and(|g| g.spec.resolved)
    );
}

#[tokio::test]
async fn a_repeated_alert_on_a_remembered_grant_makes_no_request() {
    let (cache, mut api) = cache();
    cache.remember(with_alerts("g-1", 5, &[firing("a1")]));
    let c = cache.clone();
    let written = finish(spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("a1")]))
        .await
    }))
    .await;
    assert_eq!(
        written,
        [Written::Updated {
            id: GrantKey::new("incidents", "g-1"),
            resolved: false
        }]
    );
    api.idle();
}

#[tokio::test]
async fn a_firing_after_its_resolution_does_not_reopen_it() {
    let (cache, mut api) = cache();
    // Resolved already, and the grant with it: a late firing changes nothing.
    let mut done = with_alerts("g-1", 5, &[resolved("a1")]);
    done.spec.resolved = true;
    cache.remember(done);
    let c = cache.clone();
    let written = finish(spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("a1")]))
        .await
    }))
    .await;
    assert!(matches!(
        &written[..],
        [Written::Updated {
            resolved: false,
            ..
        }]
    ));
    api.idle();
}

#[tokio::test]
async fn conflicts_without_end_give_up_after_five_attempts() {
    let (cache, mut api) = cache();
    cache.remember(with_alerts("g-1", 5, &[]));
    let c = cache.clone();
    let pass = spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("a1")]))
        .await
    });
    for attempt in 0..5u64 {
        api.expect("PATCH", &path("g-1/status")).await.conflict();
        api.expect("GET", &path("g-1"))
            .await
            .ok(with_alerts("g-1", 6 + attempt, &[]));
    }
    let written = finish(pass).await;
    assert!(
        matches!(&written[..], [Written::Failed { why, .. }] if why.contains("conflicting")),
        "{written:?}"
    );
    api.idle();
}

#[tokio::test]
async fn an_update_of_a_grant_not_in_the_cache_reads_it_first() {
    let (cache, mut api) = cache();
    let c = cache.clone();
    let pass = spawn(async move {
        Writer {
            cache: &c,
            requested_by: WEBHOOK,
        }
        .run(vec![], update("g-1", vec![firing("a1")]))
        .await
    });
    let read = with_alerts("g-1", 9, &[]);
    api.expect("GET", &path("g-1")).await.ok(&read);
    let status = api.expect("PATCH", &path("g-1/status")).await;
    assert_eq!(status.body["metadata"]["resourceVersion"], "9");
    let after = merged(&value(&read), &status.body);
    status.ok(&after);
    finish(pass).await;
    api.idle();
}
