//! The admin endpoint: `/metrics` (Prometheus), `/healthz` (the process serves requests and,
//! on the leader, its reconciles and sweeps make progress: the liveness probe) and `/readyz`
//! (ready to serve).

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use tracing::{info, warn};

use crate::telemetry::Metrics;

#[derive(Debug, thiserror::Error)]
#[error("admin server on {addr}: {source}")]
pub struct Error {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Serves until the process ends, within `http` (timeouts, open connections).
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    http: crate::serve::Limits,
) -> Result<(), Error> {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(|| async { "ok" }))
        .with_state(metrics);
    let err = |source| Error { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    info!(addr = %listener.local_addr().map_err(err)?, "admin endpoint listening (/metrics, /healthz, /readyz)");
    match crate::serve::run(listener, app, None, http).await {}
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

/// 503 naming the stall when the leader's work has not moved (see `telemetry::Watchdog`), so
/// the kubelet restarts the process and the Lease passes to a standby.
async fn healthz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    match metrics.health() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(stall) => {
            warn!(%stall, "failing /healthz: the controller makes no progress");
            (StatusCode::SERVICE_UNAVAILABLE, format!("stalled: {stall}"))
        }
    }
}
