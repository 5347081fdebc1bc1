//! The Alertmanager webhook: `POST /v1/alertmanager` turns firing alerts into grants and
//! resolved alerts into resolved grants. Everything is checked before anything is written,
//! so a 4xx answer means nothing changed; a 5xx asks Alertmanager to retry, and retries are
//! harmless because grant names are derived from the alert.

pub mod alertmanager;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use tracing::{info, warn};

use self::alertmanager::{Action, FINGERPRINT_LABEL, STARTS_AT_ANNOTATION};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    telemetry::Metrics,
};

/// Largest accepted body; Alertmanager's own notifications are far smaller.
pub const MAX_BODY: usize = 1024 * 1024;
const FIELD_MANAGER: &str = "breakglass-webhook";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("webhook token file {path}: {why}")]
    Token { path: String, why: String },
    #[error("webhook TLS from {cert} and {key}: {source}")]
    Tls {
        cert: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "webhook cannot tell its own Kubernetes username, which alert-opened grants record as spec.requestedBy: {0}"
    )]
    Whoami(#[source] crate::requester::Error),
    #[error("webhook server on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Where and how the webhook listens.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// PEM certificate chain and key; plain HTTP without.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The bearer token, re-read when its file changes (a mounted Secret is replaced in place).
pub struct Token {
    path: PathBuf,
    cached: Mutex<Option<(Option<SystemTime>, u64, String)>>,
}

impl Token {
    /// Reads the token once; a missing or empty file refuses to start the webhook.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let token = Self {
            path: path.to_owned(),
            cached: Mutex::new(None),
        };
        token.current()?;
        Ok(token)
    }

    fn current(&self) -> Result<String, Error> {
        let err = |why: String| Error::Token {
            path: self.path.display().to_string(),
            why,
        };
        let meta = std::fs::metadata(&self.path).map_err(|e| err(e.to_string()))?;
        let stamp = (meta.modified().ok(), meta.len());
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| err("lock poisoned".into()))?;
        if let Some((modified, len, token)) = cached.as_ref()
            && (*modified, *len) == stamp
        {
            return Ok(token.clone());
        }
        let token = std::fs::read_to_string(&self.path)
            .map_err(|e| err(e.to_string()))?
            .trim()
            .to_owned();
        if token.is_empty() {
            return Err(err("the file is empty".into()));
        }
        *cached = Some((stamp.0, stamp.1, token.clone()));
        Ok(token)
    }
}

/// Equal strings, compared in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct AppState {
    client: Client,
    /// This process's username: the grants it opens say who asked (`spec.requestedBy`).
    requested_by: String,
    token: Token,
    metrics: Arc<Metrics>,
}

/// The router, for serving and for tests.
fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/alertmanager", post(alertmanager_hook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves the webhook until the process ends.
pub async fn serve(
    config: Config,
    token: Token,
    client: Client,
    metrics: Arc<Metrics>,
) -> Result<(), Error> {
    let requested_by = crate::requester::whoami(&client)
        .await
        .map_err(Error::Whoami)?;
    info!(%requested_by, "webhook opens grants as");
    let app = router(Arc::new(AppState {
        client,
        requested_by,
        token,
        metrics,
    }))
    .into_make_service();
    let addr = config.addr;
    let serve_err = |source| Error::Serve { addr, source };
    match &config.tls {
        Some((cert, key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|source| Error::Tls {
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                    source,
                })?;
            let listener = std::net::TcpListener::bind(addr).map_err(serve_err)?;
            listener.set_nonblocking(true).map_err(serve_err)?;
            info!(addr = %listener.local_addr().map_err(serve_err)?, "webhook listening (TLS)");
            axum_server::from_tcp_rustls(listener, tls)
                .map_err(serve_err)?
                .serve(app)
                .await
                .map_err(serve_err)
        }
        None => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(serve_err)?;
            info!(addr = %listener.local_addr().map_err(serve_err)?, "webhook listening");
            axum::serve(listener, app).await.map_err(serve_err)
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

async fn alertmanager_hook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (outcome, response) = handle(&state, &headers, body).await;
    state.metrics.webhook_request(outcome);
    response
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (&'static str, Response) {
    let token = match state.token.current() {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "webhook token unavailable");
            return (
                "error",
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the webhook token is unavailable",
                ),
            );
        }
    };
    if !authorized(headers, &token) {
        return (
            "unauthorized",
            error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                "too_large",
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body larger than {MAX_BODY} bytes"),
                ),
            );
        }
        Err(rejection) => {
            return (
                "malformed",
                error(StatusCode::BAD_REQUEST, rejection.body_text()),
            );
        }
    };
    let payload = match alertmanager::parse(&body) {
        Ok(p) => p,
        Err(e) => return (e.outcome(), error(StatusCode::BAD_REQUEST, e.to_string())),
    };
    let policies: Api<BreakGlassPolicy> = Api::all(state.client.clone());
    let policies = match policies.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            warn!(error = %e, "webhook could not list policies");
            return (
                "error",
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("listing policies: {e}"),
                ),
            );
        }
    };
    let (actions, skipped) = alertmanager::plan(&payload, &policies);
    let mut summary = Summary::default();
    for s in skipped {
        summary
            .skipped
            .push(json!({"fingerprint": s.fingerprint, "why": s.why}));
    }
    for action in actions {
        match action {
            Action::Create {
                namespace,
                mut grant,
            } => {
                grant["spec"]["requestedBy"] = json!(state.requested_by);
                create(state, &namespace, grant, &mut summary).await;
            }
            Action::Resolve {
                fingerprint,
                starts_at,
            } => resolve(state, &fingerprint, &starts_at, &mut summary).await,
        }
    }
    info!(
        alerts = payload.alerts.len(),
        created = summary.created.len(),
        existing = summary.existing.len(),
        resolved = summary.resolved.len(),
        skipped = summary.skipped.len(),
        failed = summary.failed.len(),
        "alertmanager notification"
    );
    let failed = !summary.failed.is_empty();
    let body = Json(json!({
        "created": summary.created,
        "existing": summary.existing,
        "resolved": summary.resolved,
        "skipped": summary.skipped,
        "failed": summary.failed,
    }));
    if failed {
        (
            "error",
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response(),
        )
    } else {
        ("ok", (StatusCode::OK, body).into_response())
    }
}

#[derive(Default)]
struct Summary {
    created: Vec<String>,
    existing: Vec<String>,
    resolved: Vec<String>,
    skipped: Vec<Value>,
    failed: Vec<Value>,
}

async fn create(state: &AppState, namespace: &str, grant: Value, summary: &mut Summary) {
    let api: Api<BreakGlassGrant> = Api::namespaced(state.client.clone(), namespace);
    let name = grant
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = format!("{namespace}/{name}");
    let object: BreakGlassGrant = match serde_json::from_value(grant) {
        Ok(o) => o,
        Err(e) => {
            summary
                .skipped
                .push(json!({"grant": id, "why": e.to_string()}));
            return;
        }
    };
    match api
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PostParams::default()
            },
            &object,
        )
        .await
    {
        Ok(_) => {
            state.metrics.grant_created("alertmanager");
            summary.created.push(id);
        }
        Err(kube::Error::Api(s)) if s.is_already_exists() => summary.existing.push(id),
        // A missing namespace or a grant the API server refuses will not get better by
        // retrying: report it, do not make Alertmanager resend forever.
        Err(kube::Error::Api(s)) if s.is_not_found() || s.is_invalid() => {
            summary.skipped.push(json!({"grant": id, "why": s.message}));
        }
        Err(e) => {
            warn!(grant = %id, error = %e, "webhook could not create grant");
            summary
                .failed
                .push(json!({"grant": id, "why": e.to_string()}));
        }
    }
}

async fn resolve(state: &AppState, fingerprint: &str, starts_at: &str, summary: &mut Summary) {
    let all: Api<BreakGlassGrant> = Api::all(state.client.clone());
    let selector = format!(
        "{FINGERPRINT_LABEL}={}",
        alertmanager::label_value(fingerprint)
    );
    let list = match all.list(&ListParams::default().labels(&selector)).await {
        Ok(l) => l,
        Err(e) => {
            summary
                .failed
                .push(json!({"fingerprint": fingerprint, "why": e.to_string()}));
            return;
        }
    };
    for g in list.items {
        let same_firing = g
            .annotations()
            .get(STARTS_AT_ANNOTATION)
            .is_some_and(|s| s == starts_at);
        if !same_firing || g.spec.resolved {
            continue;
        }
        let ns = g.namespace().unwrap_or_default();
        let id = format!("{ns}/{}", g.name_any());
        let api: Api<BreakGlassGrant> = Api::namespaced(state.client.clone(), &ns);
        match api
            .patch(
                &g.name_any(),
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Merge(json!({"spec": {"resolved": true}})),
            )
            .await
        {
            Ok(_) => {
                state.metrics.grant_resolved("alertmanager");
                summary.resolved.push(id);
            }
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => summary
                .failed
                .push(json!({"grant": id, "why": e.to_string()})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_compare_exactly() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            "Bearer s3cret".parse().expect("header"),
        );
        assert!(authorized(&h, "s3cret"));
        assert!(!authorized(&h, "s3cret2"));
        assert!(!authorized(&h, "s3cre"));
        h.insert(
            header::AUTHORIZATION,
            "Basic s3cret".parse().expect("header"),
        );
        assert!(!authorized(&h, "s3cret"));
    }

    #[test]
    fn the_token_file_is_reread_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("bg-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        std::fs::write(&path, "").expect("write");
        assert!(
            Token::load(&path).is_err(),
            "an empty token refuses to start"
        );
        std::fs::write(&path, "first\n").expect("write");
        let token = Token::load(&path).expect("token");
        assert_eq!(token.current().expect("current"), "first");
        std::fs::write(&path, "second-token\n").expect("write");
        assert_eq!(token.current().expect("current"), "second-token");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
