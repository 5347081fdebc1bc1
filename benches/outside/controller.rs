//! The controller under test, run as its users run it (a process with its admin endpoint
//! and webhook on loopback), and the bench's requests to it.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    Error,
    common::{self, ControllerProcess},
    probe,
};

/// The controller under test and where to reach it.
pub struct Controller {
    process: Option<ControllerProcess>,
    ns: String,
    pub admin: SocketAddr,
    webhook: SocketAddr,
    token: String,
    token_file: std::path::PathBuf,
    /// The running process's pid (0: none), for the sampler that reads it from outside.
    current: Arc<AtomicU32>,
}

/// `BENCH_AWS_RATE`: calls per second the controller allows itself. Default 1000: moto has
/// no account limit, and the bench measures the operator's own cost and latency; at the
/// controller's default (10/s) a burst simply queues at the rate (docs/performance.md).
pub fn aws_rate() -> String {
    std::env::var("BENCH_AWS_RATE").unwrap_or_else(|_| "1000".into())
}

impl Controller {
    pub fn new(ns: &str) -> Result<Self, Error> {
        let port = |_| SocketAddr::from(([127, 0, 0, 1], common::free_port()));
        let dir = common::repo_path("target/bench");
        let token_file = dir.join(format!("token-{ns}"));
        let token = format!("bench-{ns}");
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&token_file, &token))
            .map_err(|source| Error::Write {
                path: token_file.clone(),
                source,
            })?;
        Ok(Self {
            process: None,
            ns: ns.to_owned(),
            admin: port(0),
            webhook: port(1),
            token,
            token_file,
            current: Arc::default(),
        })
    }

    /// Starts the process; returns when `/readyz` answers 200, and how long that took.
    pub async fn start(&mut self) -> Result<(Instant, Duration), Error> {
        let started = Instant::now();
        let args = [
            "--admin-addr".to_owned(),
            self.admin.to_string(),
            "--webhook-addr".to_owned(),
            self.webhook.to_string(),
            "--webhook-token-file".to_owned(),
            self.token_file.display().to_string(),
            // The defaults, said out loud: the figures are for these.
            "--sweep-interval".to_owned(),
            "60s".to_owned(),
            "--aws-rate".to_owned(),
            aws_rate(),
            "--aws-rate-identitystore".to_owned(),
            aws_rate(),
            "--aws-rate-ssoadmin".to_owned(),
            aws_rate(),
            "--aws-rate-sts".to_owned(),
            aws_rate(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = format!("bench-{}", self.ns);
        self.process = Some(ControllerProcess::start_logged(
            &self.ns,
            &log,
            &[("RUST_LOG", "info")],
            &args,
        ));
        self.current.store(self.pid(), Ordering::Relaxed);
        loop {
            if let Ok(r) = probe::http("GET", self.admin, "/readyz", &[], b"").await
                && r.status == 200
            {
                return Ok((started, started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(Error::Unexpected {
                    phase: "start",
                    what: "the controller's /readyz did not answer 200 within 60s".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.process
            .as_ref()
            .map(ControllerProcess::pid)
            .unwrap_or_default()
    }

    /// The pid of whichever process runs now, also after a restart.
    pub fn current_pid(&self) -> Arc<AtomicU32> {
        self.current.clone()
    }

    pub fn memory(&self) -> Result<(f64, f64), Error> {
        Ok(probe::memory(self.pid())?)
    }

    pub fn kill(&mut self) {
        self.current.store(0, Ordering::Relaxed);
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }

    pub async fn post(&self, body: &Value) -> Result<(Duration, Value), Error> {
        let auth = format!("Bearer {}", self.token);
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let sent = Instant::now();
        let r = probe::http(
            "POST",
            self.webhook,
            "/v1/alertmanager",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &bytes,
        )
        .await?;
        let took = sent.elapsed();
        if r.status != 200 {
            return Err(Error::Unexpected {
                phase: "webhook",
                what: format!("POST answered {}: {}", r.status, r.body),
            });
        }
        let answer = serde_json::from_str(&r.body).map_err(|e| Error::Unexpected {
            phase: "webhook",
            what: format!("unreadable answer {:?}: {e}", r.body),
        })?;
        Ok((took, answer))
    }
}

impl Drop for Controller {
    /// The token is only good for this run's controller; leave none behind.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.token_file);
    }
}
