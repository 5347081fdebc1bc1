//! The Alertmanager webhook end to end: a real Alertmanager (built from its Go module by
//! `make env-up`) notifies a real controller process, which creates grants in the real
//! kube-apiserver and memberships in moto. Bad requests are sent straight to the webhook.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use breakglass::api::{GrantPhase, IncidentSource};
use common::{hook::*, *};
use serde_json::{Value, json};

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[tokio::test]
async fn a_fired_alert_opens_a_grant_and_its_resolution_ends_it() {
    let h = Hook::new("alert").await;
    let am = Alertmanager::start(&h.dir, &h.url, &h.token_file);
    let labels =
        json!({"alertname": h.alertname, "severity": "critical", "breakglass_user": ALICE});
    let starts_at = now_rfc3339();
    let fired = Instant::now();
    am.alert(labels.clone(), &starts_at, None);

    let grant = eventually(SOON, || async {
        let g = h.grants().await.into_iter().next()?;
        (g.status.as_ref()?.phase == Some(GrantPhase::Active)).then_some(g)
    })
    .await
    .unwrap_or_else(|| panic!("no Active grant; log in {}", h.dir.display()));
    println!("TIMING alert_to_active_ms={}", fired.elapsed().as_millis());
    assert_eq!(h.s.members().await, std::slice::from_ref(&h.s.alice));
    assert_eq!(grant.spec.user, ALICE);
    assert_eq!(grant.spec.reason, "Checkout 5xx above 5%");
    assert_eq!(grant.spec.duration.as_deref(), Some("2h"));
    let incident = grant.spec.incident.clone().expect("incident");
    assert_eq!(incident.source, IncidentSource::Alertmanager);
    assert_eq!(
        incident.url.as_deref(),
        Some("http://prometheus.example.com/graph")
    );

    // Alertmanager repeats the notification every 2s: still one grant.
    let before = metric(
        &h.metrics(),
        "breakglass_webhook_requests_total{outcome=\"ok\"}",
    );
    let repeated = eventually(Duration::from_secs(15), || async {
        let now = metric(
            &h.metrics(),
            "breakglass_webhook_requests_total{outcome=\"ok\"}",
        );
        (now >= before + 1.0).then_some(now)
    })
    .await;
    assert!(repeated.is_some(), "Alertmanager repeated the notification");
    assert_eq!(
        h.grants().await.len(),
        1,
        "a repeat creates no second grant"
    );
    assert_eq!(
        metric(
            &h.metrics(),
            "breakglass_grants_created_total{source=\"alertmanager\"}"
        ),
        1.0
    );

    // The alert resolves: the grant is resolved, ends, and the membership goes.
    am.alert(labels, &starts_at, Some(&now_rfc3339()));
    let ended =
        h.s.wait_phase(
            &grant.metadata.name.clone().unwrap_or_default(),
            GrantPhase::Ended,
            SOON,
        )
        .await;
    assert!(ended.spec.resolved);
    assert!(h.s.members().await.is_empty());
    assert_eq!(
        metric(
            &h.metrics(),
            "breakglass_grants_resolved_total{source=\"alertmanager\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn bad_requests_get_a_json_4xx_and_change_nothing() {
    let h = Hook::new("badhook").await;
    let good = h.payload("firing", &h.alertname).to_string();
    let oversized = {
        let mut p = h.payload("firing", &h.alertname);
        p["padding"] = json!("x".repeat(1024 * 1024 + 1));
        p.to_string()
    };
    let too_many = {
        let mut p = h.payload("firing", &h.alertname);
        let alert = p["alerts"][0].clone();
        p["alerts"] = json!(vec![alert; 1001]);
        p.to_string()
    };
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        ("no token", None, good.clone(), 401, "bearer token"),
        (
            "wrong token",
            Some("nope"),
            good.clone(),
            401,
            "bearer token",
        ),
        (
            "malformed JSON",
            Some(&h.token),
            "{\"version\": \"4\", \"alerts\": [".into(),
            400,
            "not an Alertmanager webhook payload",
        ),
        (
            "wrong version",
            Some(&h.token),
            good.replace("\"version\":\"4\"", "\"version\":\"3\""),
            400,
            "unsupported payload version",
        ),
        (
            "body over 1 MiB",
            Some(&h.token),
            oversized,
            413,
            "larger than",
        ),
        (
            "too many alerts",
            Some(&h.token),
            too_many,
            400,
            "at most 1000",
        ),
    ];
    for (what, token, body, want, message) in cases {
        let (code, text) = post_json(&h.url, token, body.as_bytes());
        assert_eq!(code, want, "{what}: {text}");
        let err: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        let msg = err["error"].as_str().unwrap_or_default();
        assert!(msg.contains(message), "{what}: {msg}");
    }
    assert!(h.grants().await.is_empty(), "nothing created by a 4xx");

    // Valid, but matching no policy: 200 and nothing created.
    let (code, text) = post_json(
        &h.url,
        Some(&h.token),
        h.payload("firing", "SomethingElse").to_string().as_bytes(),
    );
    assert_eq!(code, 200, "{text}");
    assert!(h.grants().await.is_empty());

    // The token is re-read when its file changes (a rotated Secret).
    std::fs::write(&h.token_file, "rotated-token\n").expect("rotate");
    let (code, _) = post_json(&h.url, Some(&h.token), good.as_bytes());
    assert_eq!(code, 401, "the old token no longer works");
    let (code, text) = post_json(&h.url, Some("rotated-token"), good.as_bytes());
    assert_eq!(code, 200, "{text}");
    let created: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        created["created"].as_array().map(Vec::len),
        Some(1),
        "{text}"
    );
    // A retry of the same delivery finds the grant.
    let (code, text) = post_json(&h.url, Some("rotated-token"), good.as_bytes());
    assert_eq!(code, 200);
    let again: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(again["existing"], created["created"], "{text}");
    assert_eq!(h.grants().await.len(), 1);

    let m = h.metrics();
    for (outcome, at_least) in [
        ("unauthorized", 3.0),
        ("malformed", 1.0),
        ("wrong_version", 1.0),
        ("too_large", 1.0),
        ("too_many_alerts", 1.0),
        ("ok", 3.0),
    ] {
        let v = metric(
            &m,
            &format!("breakglass_webhook_requests_total{{outcome=\"{outcome}\"}}"),
        );
        assert!(v >= at_least, "{outcome}: {v}\n{m}");
    }
}

#[tokio::test]
async fn without_a_token_the_webhook_refuses_to_start() {
    let dir = repo_path("target/test-logs/empty-token");
    std::fs::create_dir_all(&dir).expect("dir");
    let empty = dir.join("token");
    std::fs::write(&empty, "\n").expect("token");
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args([
            "controller",
            "--admin-addr",
            "127.0.0.1:0",
            "--webhook-token-file",
        ])
        .arg(&empty)
        .envs(env_settings())
        .output()
        .expect("breakglass");
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("the file is empty"), "{log}");
}

#[tokio::test]
async fn the_webhook_serves_tls_from_cert_and_key_files_and_reloads_them() {
    let dir = repo_path(&format!(
        "target/test-logs/webhook-tls-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key, token) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("token"));
    // A self-signed certificate for 127.0.0.1 and its key, written to `cert` and `key`.
    let make_cert = |cert: &std::path::Path, key: &std::path::Path| {
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
            ])
            .arg(key)
            .arg("-out")
            .arg(cert)
            .output()
            .expect("openssl");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    };
    make_cert(&cert, &key);
    std::fs::write(&token, "tls-token").expect("token");
    let port = free_port();
    let ns = format!("tls-{}", std::process::id());
    let _controller = ControllerProcess::start_with_args(
        &ns,
        &[],
        &[
            "--webhook-addr",
            &format!("127.0.0.1:{port}"),
            "--webhook-token-file",
            &token.display().to_string(),
            "--webhook-tls-cert",
            &cert.display().to_string(),
            "--webhook-tls-key",
            &key.display().to_string(),
            "--http-header-timeout",
            "1s",
        ],
    );
    // curl's exit status and the HTTP status (`000` when there was no answer).
    let attempt = |token: &str, ca: &std::path::Path| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .args([
                "-X",
                "POST",
                "-H",
                &format!("Authorization: Bearer {token}"),
            ])
            .args(["-d", r#"{"version":"4","alerts":[]}"#])
            .arg(format!("https://127.0.0.1:{port}/v1/alertmanager"))
            .output()
            .expect("curl");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let call = |token: &str, ca: &std::path::Path| attempt(token, ca).1;
    let ok = eventually(SOON, || async {
        (call("tls-token", &cert) == "200").then_some(())
    })
    .await;
    assert!(ok.is_some(), "HTTPS with a verified certificate");
    // A refusal may close the connection while curl still sends its body (the token is
    // checked before the body is read): "000" is that race, never a pass.
    let refused = eventually(SOON, || async {
        let code = call("wrong", &cert);
        assert_ne!(code, "200", "a wrong token is never accepted");
        (code == "401").then_some(())
    })
    .await;
    assert!(refused.is_some(), "a wrong token gets 401");

    // Renewal (as cert-manager rewrites the mounted Secret): a new key and certificate
    // replace the files; the running webhook serves the new one.
    let old = dir.join("old-cert.pem");
    std::fs::copy(&cert, &old).expect("keep the old certificate");
    let (new_cert, new_key) = (dir.join("new-cert.pem"), dir.join("new-key.pem"));
    make_cert(&new_cert, &new_key);
    std::fs::rename(&new_key, &key).expect("replace key");
    std::fs::rename(&new_cert, &cert).expect("replace cert");
    let renewed = eventually(SOON, || async {
        (call("tls-token", &cert) == "200").then_some(())
    })
    .await;
    assert!(renewed.is_some(), "the renewed certificate is served");
    // A client that connects and never starts the TLS handshake is cut off after the
    // header timeout (1 s; 10 s allowed).
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let read = std::io::Read::read(&mut silent, &mut [0u8; 64]);
    assert!(
        match &read {
            Ok(n) => *n == 0,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        },
        "a connection without a TLS handshake is closed by the webhook: {read:?}"
    );
    // A client trusting only the old certificate fails the handshake on verification
    // (curl 60: the peer's certificate is not signed by a known CA), not for want of a
    // server (7: connection refused), which answers a client trusting the new one.
    assert_eq!(
        attempt("tls-token", &old),
        (Some(60), "000".to_owned()),
        "the old certificate is no longer served"
    );
    assert_eq!(
        call("tls-token", &cert),
        "200",
        "the server still answers, with the new certificate"
    );
}
