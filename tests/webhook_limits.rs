//! The webhook's limits, against a real controller process: the token is checked before a
//! byte of the body is read, notifications beyond `--webhook-max-concurrent` are refused
//! with 429, and a request that does not finish within `--webhook-timeout` gets a 503.
//! Both servers (webhook and admin) cut off a request head that does not arrive within
//! `--http-header-timeout` and keep at most `--http-max-connections` connections open.
//! Requests are written by hand on raw connections so a body or a head can be held back.

mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

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

/// `127.0.0.1:port` of an `http://` URL.
fn host_port(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http:// url");
    rest.split('/').next().expect("host").to_owned()
}

/// Waits until the peer closes `stream` (a read returns 0 or fails other than by timing
/// out), discarding anything it sends: true if it did within `within`.
fn closed_by_peer(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The status line of an answer on `stream`, if one starts within `within`.
fn status_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut got = vec![];
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).to_string();
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off_after_the_header_timeout() {
    let h = Hook::with_args("headtimeout", &["--http-header-timeout", "1s"]).await;
    for (server, addr) in [
        ("webhook", host_port(&h.url)),
        ("admin", host_port(&h.admin)),
    ] {
        let start = Instant::now();
        let mut half = TcpStream::connect(&addr).expect("connect");
        half.write_all(b"POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\n")
            .expect("half a head");
        assert!(
            closed_by_peer(&mut half, Duration::from_secs(10)),
            "{server}: half a request head held the connection open for 10 s"
        );
        // Loosely: the timer starts after the connect, so not before 1 s.
        let after = start.elapsed();
        assert!(
            after >= Duration::from_millis(500),
            "{server}: closed after {after:?}, before the header timeout"
        );
    }
    // A kept-alive connection has the same time to send its next head.
    let mut kept = TcpStream::connect(host_port(&h.admin)).expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let (code, text) = read_answer(&mut kept);
    assert_eq!((code, text.as_str()), (200, "ok"));
    assert!(
        closed_by_peer(&mut kept, Duration::from_secs(10)),
        "an idle kept-alive connection outlived the header timeout by 10 s"
    );
}

/// One unauthenticated request announcing a 1 MiB body: the answer is read first (it
/// comes from the headers alone), then the body is trickled until the server's close
/// stops it. True if the answer was 401.
fn unauthenticated(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let head = format!(
        "POST /v1/alertmanager HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let refused = status_within(&mut stream, Duration::from_secs(30))
        .is_some_and(|status| status.contains(" 401 "));
    let chunk = [b' '; 64 * 1024];
    for _ in 0..16 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    refused
}

#[tokio::test]
async fn a_flood_of_unauthenticated_requests_does_not_crowd_out_alertmanager() {
    let h = Hook::with_args("flood", &["--webhook-max-concurrent", "1"]).await;
    let addr = host_port(&h.url);
    let (stop, refused) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    // Bounded: 32 connections at a time, at most 200 requests each, 127.0.0.1 only.
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let (addr, stop, refused) = (addr.clone(), stop.clone(), refused.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if unauthenticated(&addr) {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    eventually(SOON, || async {
        (refused.load(Ordering::Relaxed) >= 32).then_some(())
    })
    .await
    .expect("the flood is answered 401");

    let good = h.payload("firing", &h.alertname).to_string();
    let before = refused.load(Ordering::Relaxed);
    for i in 0..20 {
        let (code, text) = post_json(&h.url, Some(&h.token), good.as_bytes());
        assert_eq!(code, 200, "notification {i}, during the flood: {text}");
    }
    let during = refused.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.join().expect("flood thread");
    }
    assert!(
        during > 0,
        "the flood went on while the notifications were sent"
    );
    assert_eq!(h.grants().await.len(), 1);
    let metrics = h.metrics();
    assert_eq!(
        try_metric(
            &metrics,
            "breakglass_webhook_requests_total{outcome=\"busy\"}"
        )
        .unwrap_or(0.0),
        0.0,
        "no request was refused for want of a slot"
    );
    assert!(
        metric(
            &metrics,
            "breakglass_webhook_requests_total{outcome=\"unauthorized\"}"
        ) >= 32.0
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_in_the_backlog_until_one_closes() {
    let h = Hook::with_args(
        "conncap",
        &[
            "--http-max-connections",
            "4",
            "--http-header-timeout",
            "30s",
        ],
    )
    .await;
    let servers = [
        (
            "admin",
            host_port(&h.admin),
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            " 200 ",
        ),
        (
            "webhook",
            host_port(&h.url),
            "POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            " 401 ",
        ),
    ];
    for (server, addr, request, answer) in servers {
        let held: Vec<_> = (0..4)
            .map(|_| TcpStream::connect(&addr).expect("connect"))
            .collect();
        // The kernel completes the handshake; the server does not accept it yet.
        let mut waiting = TcpStream::connect(&addr).expect("a connection beyond the cap opens");
        waiting.write_all(request.as_bytes()).expect("request");
        assert_eq!(
            status_within(&mut waiting, Duration::from_secs(2)),
            None,
            "{server}: answered while 4 idle connections held the cap"
        );
        drop(held);
        // Well within the 30 s header timeout that would free the slots anyway.
        let status = status_within(&mut waiting, Duration::from_secs(15));
        assert!(
            status.as_deref().is_some_and(|s| s.contains(answer)),
            "{server}: once the held connections closed, the waiting one was answered: {status:?}"
        );
    }
    assert!(get_text(&format!("{}/healthz", h.admin)).contains("ok"));
}
