//! The bench's building blocks: bursts of requests, waiting on the watch with send-time
//! latencies, AWS-call windows, and the facts about the run.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::{
    Error, common,
    controller::Controller,
    probe::{self, Metrics, Recorder},
    report::{ApiServerIdle, Calls, Machine},
    watch::{GrantSeen, Seen, Watch},
    world::World,
};

pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

pub fn per(calls: &Calls, n: usize) -> Calls {
    calls
        .iter()
        .map(|(op, c)| (op.clone(), (c / n.max(1) as f64 * 100.0).round() / 100.0))
        .collect()
}

/// Waits for `want` on every grant; latencies from each grant's send time.
pub async fn timed(
    watch: &Watch,
    phase: &'static str,
    want: &'static str,
    sent: &[(String, Instant)],
    pick: fn(&GrantSeen) -> Option<Seen>,
    within: Duration,
) -> Result<(Vec<f64>, f64), Error> {
    let names: Vec<String> = sent.iter().map(|(n, _)| n.clone()).collect();
    let seen = watch
        .wait_all(&names, pick, within)
        .await
        .map_err(|missing| Error::Timeout {
            phase,
            want,
            within,
            missing,
        })?;
    let lat: Vec<f64> = sent
        .iter()
        .zip(&seen)
        .map(|((_, t), s)| s.at.saturating_duration_since(*t).as_secs_f64())
        .collect();
    let first = sent.iter().map(|(_, t)| *t).min();
    let last = seen.iter().map(|s| s.at).max();
    let total = match (first, last) {
        (Some(f), Some(l)) => secs(l.saturating_duration_since(f)),
        _ => 0.0,
    };
    Ok((lat, total))
}

/// How long a phase of `n` grants may take before the run is called hung: generous, since
/// the bench measures and a timeout only ends a run that would never finish (a burst of
/// endings that restore shared pauses runs at a few a second: docs/performance.md).
pub fn budget(n: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(600) * n as u32
}

/// Requests the API server answered with a transient failure and the bench sent again.
static RETRIED: AtomicUsize = AtomicUsize::new(0);

pub fn retried() -> usize {
    RETRIED.load(Ordering::Relaxed)
}

/// A failure a user's client would retry: the server timed out, was overloaded or
/// the connection dropped. Anything else is the bench's or the operator's fault.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Sends a request, again on a transient failure (up to 5 times, backing off).
/// `done` says whether an error means an earlier attempt already took effect (a
/// create that timed out on the client but reached etcd answers 409 next time).
async fn with_retry<F, Fut>(send: F, done: fn(&kube::Error) -> bool) -> Result<(), kube::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let mut wait = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt > 1 && done(&e) => return Ok(()),
            Err(e) if attempt < 5 && transient(&e) => {
                RETRIED.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

fn already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Creates grants for ordinary users `users` as fast as the bench can send them.
pub async fn burst(
    world: &World,
    prefix: &str,
    users: std::ops::Range<usize>,
    duration: Option<&str>,
    concurrency: usize,
) -> Result<Vec<(String, Instant)>, Error> {
    stream::iter(users)
        .map(|i| async move {
            let name = format!("{prefix}-{i}");
            let sent = Instant::now();
            with_retry(|| world.create_grant(&name, i, duration), already_exists)
                .await
                .map(|_| (name, sent))
                .map_err(|source| Error::Kube {
                    phase: "creating grants",
                    source,
                })
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

pub fn alerts(alertname: &str, items: &[(String, String)]) -> Value {
    let alerts: Vec<Value> = items
        .iter()
        .map(|(user, fingerprint)| {
            json!({
                "status": "firing",
                "labels": {"alertname": alertname, "severity": "page", "breakglass_user": user},
                "annotations": {"summary": "bench"},
                "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph", "fingerprint": fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4", "groupKey": "bench", "truncatedAlerts": 0, "status": "firing",
        "receiver": "breakglass", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com", "alerts": alerts,
    })
}

/// Names of the grants a webhook answer says it created.
pub fn created(answer: &Value) -> Vec<String> {
    answer["created"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|id| id.rsplit('/').next().unwrap_or(id).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Calls made within a window, from the controller and from moto.
pub struct Window {
    before: BTreeMap<String, f64>,
    started: Instant,
}

impl Window {
    pub async fn open(c: &Controller, moto: &Recorder) -> Result<Self, Error> {
        moto.start().await?;
        Ok(Self {
            before: Metrics::scrape(c.admin).await?.aws_calls(),
            started: Instant::now(),
        })
    }

    pub async fn close(
        self,
        c: &Controller,
        moto: &Recorder,
    ) -> Result<(Calls, Calls, f64), Error> {
        let after = Metrics::scrape(c.admin).await?.aws_calls();
        let moto_calls = moto.stop().await?;
        Ok((
            probe::delta(&self.before, &after),
            moto_calls,
            self.started.elapsed().as_secs_f64(),
        ))
    }
}

pub const SETTLE: Duration = Duration::from_secs(3);

pub fn machine() -> Machine {
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        memory_gib,
    }
}

pub fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(common::repo_path("."))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

pub fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

pub fn names_where(watch: &Watch, names: &[String], keep: fn(&GrantSeen) -> bool) -> Vec<String> {
    names
        .iter()
        .filter(|n| keep(&watch.get(n)))
        .cloned()
        .collect()
}

/// Waits until every grant sent is `Active`: latencies and first send → last event.
pub async fn until_active(
    watch: &Watch,
    phase: &'static str,
    sent: &[(String, Instant)],
) -> Result<(Vec<f64>, f64), Error> {
    timed(
        watch,
        phase,
        "Active",
        sent,
        |g| g.active,
        budget(sent.len()),
    )
    .await
}

/// Waits until every grant sent is `Ended`.
pub async fn until_ended(
    watch: &Watch,
    phase: &'static str,
    sent: &[(String, Instant)],
) -> Result<(Vec<f64>, f64), Error> {
    timed(watch, phase, "Ended", sent, |g| g.ended, budget(sent.len())).await
}

/// Waits until every grant sent has its open sessions cut (the guard's `Revoked`).
pub async fn until_revoked(
    watch: &Watch,
    phase: &'static str,
    sent: &[(String, Instant)],
) -> Result<(Vec<f64>, f64), Error> {
    timed(
        watch,
        phase,
        "sessions Revoked",
        sent,
        |g| g.revoked,
        budget(sent.len()),
    )
    .await
}

/// Sets `spec.resolved: true` on each grant, `concurrency` at a time; the send times.
pub async fn resolve(
    api: &kube::Api<breakglass::api::BreakGlassGrant>,
    names: &[String],
    concurrency: usize,
) -> Result<Vec<(String, Instant)>, Error> {
    let resolve = kube::api::Patch::Merge(json!({"spec": {"resolved": true}}));
    stream::iter(names)
        .map(|name| {
            let resolve = &resolve;
            async move {
                let t = Instant::now();
                let patch = || async {
                    api.patch(name, &kube::api::PatchParams::default(), resolve)
                        .await
                        .map(|_| ())
                };
                with_retry(patch, |_| false)
                    .await
                    .map(|_| (name.clone(), t))
                    .map_err(|source| Error::Kube {
                        phase: "resolving",
                        source,
                    })
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

/// The API server's request counters at the start of a window.
pub struct Requests {
    opened: Instant,
    before: Calls,
}

pub async fn api_server(client: &kube::Client) -> Result<Requests, Error> {
    Ok(Requests {
        opened: Instant::now(),
        before: probe::api_server_requests(client).await?,
    })
}

impl Requests {
    /// Requests per second since the window opened, in all and by resource.
    pub async fn close(self, client: &kube::Client) -> Result<ApiServerIdle, Error> {
        let after = probe::api_server_requests(client).await?;
        let window = self.opened.elapsed().as_secs_f64();
        let rate = |n: f64| (n / window * 1000.0).round() / 1000.0;
        let delta = probe::delta(&self.before, &after);
        Ok(ApiServerIdle {
            window_s: secs(self.opened.elapsed()),
            requests_per_s: rate(probe::total(&delta)),
            by_resource_per_s: delta.iter().map(|(k, n)| (k.clone(), rate(*n))).collect(),
        })
    }
}

/// Creates grant `name` for `user` under `policy` in `ns`, `concurrency` at a time; each
/// with the time it was sent.
pub async fn create_grants(
    world: &World,
    ns: &str,
    grants: &[(String, String, String)],
    concurrency: usize,
    phase: &'static str,
) -> Result<Vec<(String, Instant)>, Error> {
    let api = common::grants_raw(&world.client, ns);
    stream::iter(grants)
        .map(|(name, policy, user)| {
            let api = &api;
            async move {
                let spec = json!({"policy": policy, "user": user, "requestedBy": world.me, "reason": "bench"});
                let t = Instant::now();
                api.create(
                    &kube::api::PostParams::default(),
                    &common::object("BreakGlassGrant", name, Some(ns), spec),
                )
                .await
                .map(|_| (name.clone(), t))
                .map_err(|source| Error::Kube { phase, source })
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

/// A controller's `/metrics` once it answers (within 30 s).
pub async fn wait_metrics(admin: std::net::SocketAddr) -> Result<Metrics, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Metrics::scrape(admin).await {
            Ok(m) => return Ok(m),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
