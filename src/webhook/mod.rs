//! The Alertmanager webhook: `POST /v1/alertmanager` turns firing alerts into grants and
//! resolved alerts into resolved grants. Everything is checked before anything is written,
//! so a 4xx answer means nothing changed; a 5xx asks Alertmanager to retry, and retries are
//! harmless because every write is decided against what the grants already record.
//!
//! `server` (auth, limits, body), `auth` (token), `tls` (reloaded certificate), `cache`
//! (watched grants and policies), `handler` (one notification), `alertmanager` (payload
//! and matching, pure, from `breakglass-core`), `storm` (grouping and writing).

/// Payloads and matching (pure, in `breakglass-core`).
pub use breakglass_core::alertmanager;
pub mod auth;
pub mod cache;
mod handler;
mod server;
pub mod storm;
pub mod tls;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use kube::Client;
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::info;

use self::cache::Cache;
pub use self::{auth::Token, server::router, tls::TlsFiles};
use crate::telemetry::Metrics;

/// Largest accepted body; Alertmanager's own notifications are far smaller.
pub const MAX_BODY: usize = 1024 * 1024;

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
    #[error("webhook server on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "webhook cannot tell its own Kubernetes username, which alert-opened grants record as spec.requestedBy: {0}"
    )]
    Whoami(#[source] crate::requester::Error),
}

/// How much the webhook takes on at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Notifications handled at once; more are answered 429.
    pub max_concurrent: usize,
    /// Deadline of one request; past it the answer is 503 (Alertmanager retries).
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent: 8,
            timeout: Duration::from_secs(25),
        }
    }
}

/// Where and how the webhook listens.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// PEM certificate chain and key; plain HTTP without.
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    /// Header and idle timeouts, open connections.
    pub http: crate::serve::Limits,
}

/// The webhook's Kubernetes clients.
#[derive(Clone)]
pub struct Clients {
    /// Watches of grants and policies (reads only; the operator's own identity serves).
    pub watches: Client,
    /// Grant writes and whoami: the webhook's own identity (`--webhook-impersonate`), whose
    /// username every grant it opens records as `spec.requestedBy`.
    pub writes: Client,
}

pub struct AppState {
    token: Token,
    cache: Arc<Cache>,
    /// The webhook's own Kubernetes username: `spec.requestedBy` of the grants it opens.
    requested_by: String,
    slots: Arc<Semaphore>,
    limits: Limits,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Serves the webhook until the process ends.
pub async fn serve(
    config: Config,
    token: Token,
    clients: Clients,
    metrics: Arc<Metrics>,
) -> Result<(), Error> {
    let addr = config.addr;
    let serve_err = |source| Error::Serve { addr, source };
    // Bound first: Alertmanager's connections wait in the backlog while the identity and
    // the caches are fetched, instead of being refused.
    let listener = std::net::TcpListener::bind(addr).map_err(serve_err)?;
    listener.set_nonblocking(true).map_err(serve_err)?;
    let local = listener.local_addr().map_err(serve_err)?;
    // Asked once: it does not change while the process runs.
    let requested_by = crate::requester::whoami(&clients.writes)
        .await
        .map_err(Error::Whoami)?;
    info!(user = %requested_by, "webhook asks for grants as this user");
    let state = Arc::new(AppState {
        token,
        cache: Cache::start(clients, metrics),
        requested_by,
        slots: Arc::new(Semaphore::new(config.limits.max_concurrent.max(1))),
        limits: config.limits,
    });
    let app = router(state);
    let listener = tokio::net::TcpListener::from_std(listener).map_err(serve_err)?;
    let tls = config.tls.map(TlsFiles::load_and_watch).transpose()?;
    match tls {
        Some(_) => info!(addr = %local, "webhook listening (TLS)"),
        None => info!(addr = %local, "webhook listening"),
    }
    match crate::serve::run(listener, app, tls, config.http).await {}
}
