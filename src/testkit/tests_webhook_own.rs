//! The webhook records alerts only on grants it requested: a grant someone else created
//! under the name the webhook would give its own is left alone.

use std::sync::Arc;

use serde_json::json;

use super::{client, finish, grant, spawn};
use crate::{
    api::{AlertState, GrantAlert},
    telemetry::Metrics,
    webhook::{
        cache::Cache,
        storm::write::{NewGrant, Writer, Written},
    },
};

const WEBHOOK: &str = "system:serviceaccount:breakglass:breakglass-webhook";
const GRANTS: &str = "/apis/breakglass.dev/v1alpha1/namespaces/incidents/breakglassgrants";

#[tokio::test]
async fn a_name_taken_by_a_grant_someone_else_requested_gets_no_alerts() {
    let (client, mut api) = client();
    let cache = Cache::detached(client, Arc::new(Metrics::new()));
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
            alerts: vec![GrantAlert {
                fingerprint: "a1".into(),
                starts_at: "2026-11-21T10:00:00Z".into(),
                state: AlertState::Firing,
            }],
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
