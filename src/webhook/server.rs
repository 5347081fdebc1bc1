//! The HTTP side: the token from the headers first (401 before the request takes a slot or
//! a byte of its body is read, so unauthenticated callers cannot crowd out Alertmanager),
//! then limits (a free slot, else 429; one deadline, 503 past it, which Alertmanager
//! retries), then the body (at most `MAX_BODY`).

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State, rejection::BytesRejection},
    http::StatusCode,
    middleware::{self, Next},
    response::Response,
    routing::post,
};
use tracing::warn;

use super::{AppState, MAX_BODY, auth, error, handler};

/// The router, for serving and for tests.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/alertmanager", post(alertmanager_hook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Layers run outside-in in the reverse order of these calls: auth, then limit.
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// A free slot within `max_concurrent`, else 429; the whole request within `timeout`.
async fn limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Ok(_slot) = state.slots.clone().try_acquire_owned() else {
        state.cache.metrics.webhook_request("busy");
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} notifications are being handled already; retry later",
                state.limits.max_concurrent
            ),
        );
    };
    match tokio::time::timeout(state.limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            // Writes done so far stay; the retry finds them and does the rest.
            state.cache.metrics.webhook_request("timeout");
            warn!(timeout = ?state.limits.timeout, "webhook request timed out");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "not finished within {:?}; what was written stays, retry for the rest",
                    state.limits.timeout
                ),
            )
        }
    }
}

/// The bearer token, from the headers alone: an unauthenticated caller cannot make the
/// webhook read (up to `MAX_BODY` of) a body.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = match state.token.current() {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "webhook token unavailable");
            state.cache.metrics.webhook_request("error");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the webhook token is unavailable",
            );
        }
    };
    if !auth::authorized(request.headers(), &token) {
        state.cache.metrics.webhook_request("unauthorized");
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    next.run(request).await
}

async fn alertmanager_hook(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            state.cache.metrics.webhook_request("too_large");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_BODY} bytes"),
            );
        }
        Err(rejection) => {
            state.cache.metrics.webhook_request("malformed");
            return error(StatusCode::BAD_REQUEST, rejection.body_text());
        }
    };
    let (outcome, response) = handler::handle(&state, &body).await;
    state.cache.metrics.webhook_request(outcome);
    response
}
