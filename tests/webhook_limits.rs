//! The webhook's limits, against a real controller process: the token is checked before a
//! byte of the body is read, notifications beyond `--webhook-max-concurrent` are refused
//! with 429, and a request that does not finish within `--webhook-timeout` gets a 503.
//! Requests are written by hand on raw connections so a body can be held back.

mod common;

use std::io::Write;

use common::{hook::*, *};
use serde_json::Value;

fn error_of(what: &str, body: &str) -> String {
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    v["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_wrong_token_is_refused_before_the_body_is_read() {
    let h = Hook::new("authfirst").await;
    // Announce a 1 MiB body and send none of it: only an answer from the headers alone
    // can come back.
    let body = vec![b' '; 1024 * 1024];
    let mut held = start_request(&h.url, "wrong-token", &body, 0);
    let (code, text) = read_answer(&mut held);
    assert_eq!(code, 401, "{text}");
    assert!(error_of("401", &text).contains("bearer token"), "{text}");
    assert!(h.grants().await.is_empty());
}

#[tokio::test]
async fn notifications_beyond_the_limit_get_429_and_the_slot_comes_back() {
    let h = Hook::with_args("busy", &["--webhook-max-concurrent", "1"]).await;
    let good = h.payload("firing", &h.alertname).to_string();
    // One notification holds the only slot: its body is still coming.
    let mut held = start_request(&h.url, &h.token, good.as_bytes(), 10);
    let refused = eventually(SOON, || async {
        let (code, text) = post_json(&h.url, Some(&h.token), good.as_bytes());
        (code == 429).then_some(text)
    })
    .await
    .expect("a second notification is refused with 429 while the slot is taken");
    assert!(
        error_of("429", &refused).contains("retry later"),
        "{refused}"
    );
    assert!(h.grants().await.is_empty(), "a 429 writes nothing");
    assert!(
        metric(
            &h.metrics(),
            "breakglass_webhook_requests_total{outcome=\"busy\"}"
        ) >= 1.0
    );

    // The held body completes: that notification is handled, and the slot is free again.
    held.write_all(&good.as_bytes()[10..])
        .expect("rest of the body");
    let (code, text) = read_answer(&mut held);
    assert_eq!(code, 200, "{text}");
    let (code, text) = post_json(&h.url, Some(&h.token), good.as_bytes());
    assert_eq!(code, 200, "{text}");
    assert_eq!(h.grants().await.len(), 1);
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_503_and_writes_nothing() {
    let h = Hook::with_args("deadline", &["--webhook-timeout", "2s"]).await;
    let good = h.payload("firing", &h.alertname).to_string();
    let mut held = start_request(&h.url, &h.token, good.as_bytes(), 10);
    let (code, text) = read_answer(&mut held);
    assert_eq!(code, 503, "{text}");
    assert!(
        error_of("503", &text).contains("not finished within"),
        "{text}"
    );
    assert!(h.grants().await.is_empty());
    assert!(
        metric(
            &h.metrics(),
            "breakglass_webhook_requests_total{outcome=\"timeout\"}"
        ) >= 1.0
    );
}
