//! The mocked API server: every request the client sends waits here until the test answers.

use std::{fmt, future::Future, time::Duration};

use futures::FutureExt;
use http::{Request, Response};
use kube::{Client, client::Body};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle, SendResponse};

/// How long a test waits for the next request or for the pass to finish: far longer than
/// in-process code takes, short enough that a missing request fails fast.
const WAIT: Duration = Duration::from_secs(10);

/// A client whose every request goes to the returned [`ApiServer`].
pub(crate) fn client() -> (Client, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), ApiServer { handle })
}

pub(crate) struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// One request, to be answered with one of the consuming methods.
pub(crate) struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
    pub content_type: String,
    send: SendResponse<Response<Body>>,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}?{} {}",
            self.method, self.path, self.query, self.body
        )
    }
}

impl ApiServer {
    /// The next request; fails the test when none comes in time.
    pub(crate) async fn next(&mut self) -> Call {
        let (req, send) = tokio::time::timeout(WAIT, self.handle.next_request())
            .await
            .expect("the code under test sent no further request")
            .expect("every client is gone");
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        let header = |name: http::header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Call {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            content_type: header(http::header::CONTENT_TYPE),
            body,
            send,
        }
    }

    /// The next request, which must be `method path`.
    pub(crate) async fn expect(&mut self, method: &str, path: &str) -> Call {
        let call = self.next().await;
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            (method, path),
            "unexpected request: {call}"
        );
        call
    }

    /// Asserts that no request is waiting: call once the code under test has finished.
    pub(crate) fn idle(&mut self) {
        if let Some(Some((req, _))) = self.handle.next_request().now_or_never() {
            panic!("unexpected request: {} {}", req.method(), req.uri());
        }
    }
}

/// Runs one pass of operator code beside the test's answers.
pub(crate) fn spawn<F>(pass: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(pass)
}

/// The pass's result, once it finished (in time, without panicking).
pub(crate) async fn finish<T>(pass: JoinHandle<T>) -> T {
    tokio::time::timeout(WAIT, pass)
        .await
        .expect("the pass did not finish")
        .expect("the pass panicked")
}

impl Call {
    pub(crate) fn respond(self, code: u16, body: &Value) {
        let response = Response::builder()
            .status(code)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string().into_bytes()))
            .expect("response");
        self.send.send_response(response);
    }

    /// 200 with `body`.
    pub(crate) fn ok(self, body: impl Serialize) {
        let v = serde_json::to_value(body).expect("serializable answer");
        self.respond(200, &v);
    }

    /// 201 with `body`.
    pub(crate) fn created(self, body: impl Serialize) {
        let v = serde_json::to_value(body).expect("serializable answer");
        self.respond(201, &v);
    }

    /// A `Status` failure, as the API server sends it.
    pub(crate) fn fail(self, code: u16, reason: &str) {
        let body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "reason": reason, "code": code,
            "message": format!("{reason} (from the test's API server)"),
        });
        self.respond(code, &body);
    }

    pub(crate) fn not_found(self) {
        self.fail(404, "NotFound");
    }

    pub(crate) fn conflict(self) {
        self.fail(409, "Conflict");
    }

    /// Whether the query carries `key=value` (as sent, URL-encoded).
    pub(crate) fn has_query(&self, pair: &str) -> bool {
        self.query.split('&').any(|p| p == pair)
    }
}
