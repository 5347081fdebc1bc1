//! One notification: parse, match against the cached policies, decide against the cached
//! grants, write. Everything is checked before the first write, so a 4xx changed nothing.

use std::time::Duration;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tracing::info;

use crate::api::GrantKey;

use super::{
    AppState, alertmanager, error,
    storm::{
        aggregate::{Known, decide},
        grant::{self, Opening},
        known,
        write::{NewGrant, Writer, Written},
    },
};

/// How long a request waits for the caches' first full list after start-up.
const CACHE_WAIT: Duration = Duration::from_secs(10);

/// Handles an authenticated body; returns the outcome for the metric and the answer.
pub async fn handle(state: &AppState, body: &[u8]) -> (&'static str, Response) {
    let payload = match alertmanager::parse(body) {
        Ok(p) => p,
        Err(e) => return (e.outcome(), error(StatusCode::BAD_REQUEST, e.to_string())),
    };
    if !state.cache.ready(CACHE_WAIT).await {
        return (
            "error",
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the webhook's cache of grants and policies is not filled yet; retry",
            ),
        );
    }
    let policies = state.cache.policies();
    let (targets, skipped) = alertmanager::targets(&payload, &policies);
    let known: Vec<Known> = state.cache.grants().iter().map(|g| known(g)).collect();
    let decision = decide(&payload.alerts, &targets, &known, &state.requested_by);
    let metrics = &state.cache.metrics;
    let answered = decision.repeats + decision.late + decision.unmatched;
    metrics.webhook_alerts("repeat", decision.repeats as u64);
    metrics.webhook_alerts("already_resolved", decision.late as u64);
    metrics.webhook_alerts("unmatched", decision.unmatched as u64);
    // Built before any write: typed values, owned, so the writes need nothing borrowed.
    let creates: Vec<NewGrant> = decision
        .creates
        .iter()
        .map(|c| NewGrant {
            grant: grant::build(&Opening {
                group: &c.group,
                rule: c.rule,
                alert: c.opener,
                external_url: &payload.external_url,
                requested_by: &state.requested_by,
                resolved: c.resolved(),
            }),
            alerts: c.alerts.clone(),
        })
        .collect();
    let writer = Writer {
        cache: &state.cache,
        requested_by: &state.requested_by,
    };
    let written = writer.run(creates, decision.updates).await;
    metrics.webhook_alerts(
        "written",
        payload.alerts.len().saturating_sub(answered) as u64,
    );
    let mut out = Summary {
        existing: decision.existing,
        already_resolved: decision.already_resolved,
        skipped: skipped
            .into_iter()
            .map(|s| json!({"fingerprint": s.fingerprint, "why": s.why}))
            .collect(),
        ..Summary::default()
    };
    for w in written {
        match w {
            Written::Created { id, resolved } => {
                if resolved {
                    out.already_resolved.push(id);
                } else {
                    out.created.push(id);
                }
            }
            Written::Updated { id, resolved } => {
                if resolved {
                    out.resolved.push(id);
                } else {
                    out.updated.push(id);
                }
            }
            Written::Refused { id, why } => out.skipped.push(json!({"grant": id, "why": why})),
            Written::Failed { id, why } => out.failed.push(json!({"grant": id, "why": why})),
        }
    }
    info!(
        alerts = payload.alerts.len(),
        created = out.created.len(),
        updated = out.updated.len(),
        existing = out.existing.len(),
        resolved = out.resolved.len(),
        already_resolved = out.already_resolved.len(),
        skipped = out.skipped.len(),
        failed = out.failed.len(),
        "alertmanager notification"
    );
    let failed = !out.failed.is_empty();
    let body = Json(out.json());
    if failed {
        (
            "error",
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response(),
        )
    } else {
        ("ok", (StatusCode::OK, body).into_response())
    }
}

/// The answer: grants by what happened to them (namespace/name), sorted.
#[derive(Default)]
struct Summary {
    created: Vec<GrantKey>,
    updated: Vec<GrantKey>,
    existing: Vec<GrantKey>,
    resolved: Vec<GrantKey>,
    already_resolved: Vec<GrantKey>,
    skipped: Vec<Value>,
    failed: Vec<Value>,
}

impl Summary {
    fn json(mut self) -> Value {
        for v in [
            &mut self.created,
            &mut self.updated,
            &mut self.existing,
            &mut self.resolved,
            &mut self.already_resolved,
        ] {
            v.sort();
            v.dedup();
        }
        json!({
            "created": self.created,
            "updated": self.updated,
            "existing": self.existing,
            "resolved": self.resolved,
            "alreadyResolved": self.already_resolved,
            "skipped": self.skipped,
            "failed": self.failed,
        })
    }
}
