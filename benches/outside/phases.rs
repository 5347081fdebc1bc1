//! The run, phase by phase. Every latency is a send time taken just before the request
//! and the receive time of the watch event that shows its effect.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, UNIX_EPOCH},
};

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use breakglass::api::BreakGlassGrant;
use kube::Api;

use crate::{
    Config, Error, common,
    controller::Controller,
    probe::{self, Metrics, Recorder},
    report::*,
    stats::latency,
    watch::{GrantSeen, Seen, Watch},
    world::World,
};

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn per(calls: &Calls, n: usize) -> Calls {
    calls
        .iter()
        .map(|(op, c)| (op.clone(), (c / n.max(1) as f64 * 100.0).round() / 100.0))
        .collect()
}

/// Waits for `want` on every grant; latencies from each grant's send time.
async fn timed(
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

fn budget(n: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(100) * n as u32
}

/// Creates grants for ordinary users `users` as fast as the bench can send them.
async fn burst(
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
            world
                .create_grant(&name, i, duration)
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

fn alerts(alertname: &str, items: &[(String, String)]) -> Value {
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
fn created(answer: &Value) -> Vec<String> {
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
struct Window {
    before: BTreeMap<String, f64>,
    started: Instant,
}

impl Window {
    async fn open(c: &Controller, moto: &Recorder) -> Result<Self, Error> {
        moto.start().await?;
        Ok(Self {
            before: Metrics::scrape(c.admin).await?.aws_calls(),
            started: Instant::now(),
        })
    }

    async fn close(self, c: &Controller, moto: &Recorder) -> Result<(Calls, Calls, f64), Error> {
        let after = Metrics::scrape(c.admin).await?.aws_calls();
        let moto_calls = moto.stop().await?;
        Ok((
            probe::delta(&self.before, &after),
            moto_calls,
            self.started.elapsed().as_secs_f64(),
        ))
    }
}

const SETTLE: Duration = Duration::from_secs(3);

fn machine() -> Machine {
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

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(common::repo_path("."))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

/// Seeds, measures, and always cleans up what it made (grants first, while a controller
/// runs to take their finalizers off).
pub async fn run(cfg: &Config) -> Result<Report, Error> {
    let started_at = k8s_openapi::jiff::Timestamp::now().to_string();
    progress(&format!(
        "seeding {} users and {} alert users in moto",
        cfg.n + cfg.expiring + 1,
        cfg.alert_users
    ));
    let world = World::seed(cfg.n + cfg.expiring + 1, cfg.alert_users).await;
    let endpoint = common::setting("AWS_ENDPOINT_URL");
    let moto = Recorder {
        moto: endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| Error::Unexpected {
                phase: "setup",
                what: format!("AWS_ENDPOINT_URL {endpoint}: {e}"),
            })?,
    };
    let api: Api<BreakGlassGrant> = Api::namespaced(world.client.clone(), &world.ns);
    let watch = Watch::start(api.clone()).await;
    let mut ctl = Controller::new(&world.ns)?;
    ctl.start().await?;
    let result = measure(cfg, &world, &watch, &mut ctl, &moto).await;
    if let Err(e) = &result {
        progress(&format!("failed ({e}); cleaning up"));
    }
    cleanup(&world, &api, &mut ctl).await;
    let mut report = result?;
    report.started_at = started_at;
    Ok(report)
}

async fn cleanup(world: &World, api: &Api<BreakGlassGrant>, ctl: &mut Controller) {
    if ctl.pid() == 0 {
        let _ = ctl.start().await;
    }
    let _ = api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    let deadline = Instant::now() + budget(world.users());
    loop {
        let left = api
            .list_metadata(&ListParams::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(usize::MAX);
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            progress(&format!(
                "{left} grants still have finalizers; removing them by hand"
            ));
            let strip = Patch::Merge(json!({"metadata": {"finalizers": null}}));
            if let Ok(list) = api.list_metadata(&ListParams::default()).await {
                for g in list.items {
                    let name = g.metadata.name.unwrap_or_default();
                    let _ = api.patch(&name, &PatchParams::default(), &strip).await;
                }
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ctl.kill();
    world.remove_policies().await;
}

fn names_where(watch: &Watch, names: &[String], keep: fn(&GrantSeen) -> bool) -> Vec<String> {
    names
        .iter()
        .filter(|n| keep(&watch.get(n)))
        .cloned()
        .collect()
}

async fn measure(
    cfg: &Config,
    world: &World,
    watch: &Watch,
    ctl: &mut Controller,
    moto: &Recorder,
) -> Result<Report, Error> {
    let n = cfg.n;
    let api: Api<BreakGlassGrant> = Api::namespaced(world.client.clone(), &world.ns);
    let mut all: Vec<String> = vec![];

    progress(&format!("apply → Active: a burst of {n} grants"));
    let w = Window::open(ctl, moto).await?;
    let sent = burst(world, "b", 0..n, None, cfg.concurrency).await?;
    let (apply, apply_total) =
        timed(watch, "apply", "Active", &sent, |g| g.active, budget(n)).await?;
    tokio::time::sleep(SETTLE).await;
    let (grant_calls, moto_grant, _) = w.close(ctl, moto).await?;
    all.extend(sent.into_iter().map(|(name, _)| name));

    progress(&format!(
        "steady state: {:?} with {n} Active grants",
        cfg.steady
    ));
    let w = Window::open(ctl, moto).await?;
    tokio::time::sleep(cfg.steady).await;
    let (steady_calls, moto_steady, steady_s) = w.close(ctl, moto).await?;
    let (rss_active, mut peak) = ctl.memory()?;

    progress(&format!(
        "expiry: {} grants of {}",
        cfg.expiring, cfg.expiry_duration
    ));
    let sent = burst(
        world,
        "e",
        n..n + cfg.expiring,
        Some(cfg.expiry_duration),
        8,
    )
    .await?;
    timed(
        watch,
        "expiry",
        "Active",
        &sent,
        |g| g.active,
        budget(cfg.expiring),
    )
    .await?;
    let names: Vec<String> = sent.iter().map(|(n, _)| n.clone()).collect();
    let within = budget(cfg.expiring) + Duration::from_secs(30);
    watch
        .wait_all(&names, |g| g.ended, within)
        .await
        .map_err(|missing| Error::Timeout {
            phase: "expiry",
            want: "Ended",
            within,
            missing,
        })?;
    let lags: Vec<f64> = names
        .iter()
        .filter_map(|name| {
            let g = watch.get(name);
            let ended = g.ended?.wall.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
            Some(ended - g.expires_at?.as_millisecond() as f64 / 1000.0)
        })
        .collect();

    progress(&format!("alert POST → Active: {} alerts", cfg.alert_posts));
    let mut sent = vec![];
    for (i, user) in world.alert_users.iter().take(cfg.alert_posts).enumerate() {
        let body = alerts(
            &world.alertname,
            &[(user.clone(), format!("{:016x}", i + 1))],
        );
        let t = Instant::now();
        let (_, answer) = ctl.post(&body).await?;
        match created(&answer).as_slice() {
            [one] => sent.push((one.clone(), t)),
            other => {
                return Err(Error::Unexpected {
                    phase: "alert",
                    what: format!("one alert created {other:?}: {answer}"),
                });
            }
        }
    }
    let (alert, alert_total) = timed(
        watch,
        "alert",
        "Active",
        &sent,
        |g| g.active,
        budget(sent.len()),
    )
    .await?;
    all.extend(sent.into_iter().map(|(name, _)| name));

    progress(&format!(
        "webhook: one payload of {} alerts, then again",
        cfg.payload
    ));
    let items: Vec<(String, String)> = (0..cfg.payload)
        .map(|i| {
            let user = &world.alert_users[i % world.alert_users.len()];
            (user.clone(), format!("{:016x}", 0xb000_0000 + i))
        })
        .collect();
    let body = alerts(&world.alertname, &items);
    let count = || async {
        api.list_metadata(&ListParams::default())
            .await
            .map(|l| l.items.len())
            .map_err(|source| Error::Kube {
                phase: "counting grants",
                source,
            })
    };
    let before = count().await?;
    let t = Instant::now();
    let (took, answer) = ctl.post(&body).await?;
    let made = created(&answer);
    let (took_again, again) = ctl.post(&body).await?;
    let after = count().await?;
    let repeat_created = created(&again).len() + (after - before).saturating_sub(made.len());
    let sent: Vec<(String, Instant)> = made.iter().map(|m| (m.clone(), t)).collect();
    let (_, payload_total) = timed(
        watch,
        "webhook payload",
        "Active",
        &sent,
        |g| g.active,
        budget(sent.len()),
    )
    .await?;
    let webhook = Webhook {
        payload_alerts: cfg.payload,
        payload_alerts_per_s: (cfg.payload as f64 / took.as_secs_f64()).round(),
        payload_created: made.len(),
        repeat_alerts_per_s: (cfg.payload as f64 / took_again.as_secs_f64()).round(),
        repeat_created,
        payload_to_all_active_s: payload_total,
    };
    all.extend(made);

    let active = names_where(watch, &all, |g| g.active.is_some() && g.ended.is_none());
    progress(&format!("restart with {} Active grants", active.len()));
    moto.start().await?;
    ctl.kill();
    let pending = "p-0".to_owned();
    world
        .create_grant(&pending, n + cfg.expiring, None)
        .await
        .map_err(|source| Error::Kube {
            phase: "restart",
            source,
        })?;
    let (t0, ready) = ctl.start().await?;
    let first_reconcile = loop {
        if Metrics::scrape(ctl.admin).await?.reconciles() >= 1.0 {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(120) {
            return Err(Error::Unexpected {
                phase: "restart",
                what: "no reconcile within 120s of the restart".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let (pending_lat, _) = timed(
        watch,
        "restart",
        "Active",
        &[(pending.clone(), t0)],
        |g| g.active,
        // Today a restart re-checks every Active grant before it gets to the new one.
        budget(active.len()),
    )
    .await?;
    tokio::time::sleep(cfg.restart_window.saturating_sub(t0.elapsed())).await;
    let restart_calls = probe::delta(
        &BTreeMap::new(),
        &Metrics::scrape(ctl.admin).await?.aws_calls(),
    );
    let restart_window_s = t0.elapsed().as_secs_f64();
    let moto_restart = moto.stop().await?;
    let (rss_restart, hwm) = ctl.memory()?;
    peak = peak.max(hwm);
    all.push(pending);

    let to_end = names_where(watch, &all, |g| g.active.is_some() && g.ended.is_none());
    progress(&format!("resolve → Ended: {} grants", to_end.len()));
    let w = Window::open(ctl, moto).await?;
    let resolve = Patch::Merge(json!({"spec": {"resolved": true}}));
    let sent: Vec<(String, Instant)> = stream::iter(&to_end)
        .map(|name| {
            let (api, resolve) = (&api, &resolve);
            async move {
                let t = Instant::now();
                api.patch(name, &PatchParams::default(), resolve)
                    .await
                    .map(|_| (name.clone(), t))
                    .map_err(|source| Error::Kube {
                        phase: "resolving",
                        source,
                    })
            }
        })
        .buffer_unordered(cfg.concurrency)
        .try_collect()
        .await?;
    let (ended, resolve_total) = timed(
        watch,
        "resolve",
        "Ended",
        &sent,
        |g| g.ended,
        budget(sent.len()),
    )
    .await?;
    tokio::time::sleep(SETTLE).await;
    let (revoke_calls, moto_revoke, _) = w.close(ctl, moto).await?;
    tokio::time::sleep(SETTLE).await;
    let (rss_end, hwm) = ctl.memory()?;
    peak = peak.max(hwm);
    let members_left = world
        .members_left()
        .await
        .map_err(|what| Error::Unexpected {
            phase: "checking AWS",
            what,
        })?;

    let grant_per_grant = per(&grant_calls, n);
    let revoke_per_grant = per(&revoke_calls, to_end.len());
    let restart_total = probe::total(&restart_calls);
    let per_minute = |c: f64| (c * 60.0 / steady_s * 10.0).round() / 10.0;
    let mib = |v: f64| v.round();
    Ok(Report {
        schema: 1,
        n,
        mode: if cfg.full { "full" } else { "smoke" },
        started_at: String::new(),
        git_commit: git_commit(),
        machine: machine(),
        apply_to_active: Phase {
            latency: latency(&apply),
            total_s: apply_total,
        },
        resolve_to_ended: Phase {
            latency: latency(&ended),
            total_s: resolve_total,
        },
        expiry_lag: Expiry {
            latency: latency(&lags),
            grants: cfg.expiring,
            duration: cfg.expiry_duration.into(),
            reference: "status.expiresAt (whole seconds; the operator ends at that instant) \
                        vs. the bench's wall clock when the Ended watch event arrived",
        },
        alert_to_active: Phase {
            latency: latency(&alert),
            total_s: alert_total,
        },
        webhook,
        aws: Aws {
            lifecycle_per_grant: ((probe::total(&grant_per_grant)
                + probe::total(&revoke_per_grant))
                * 100.0)
                .round()
                / 100.0,
            grant_per_grant,
            revoke_per_grant,
            steady_window_s: secs(Duration::from_secs_f64(steady_s)),
            steady_per_minute: per_minute(probe::total(&steady_calls)),
            steady_per_minute_by_operation: steady_calls
                .iter()
                .map(|(op, c)| (op.clone(), per_minute(*c)))
                .collect(),
            restart_window_s: secs(Duration::from_secs_f64(restart_window_s)),
            restart_first_window_total: restart_total,
            restart_per_active_grant: ((restart_total / active.len().max(1) as f64) * 100.0)
                .round()
                / 100.0,
            restart_first_window: restart_calls,
            moto_side: MotoSide {
                grant_burst: moto_grant,
                steady: moto_steady,
                restart_first_window: moto_restart,
                revoke: moto_revoke,
            },
        },
        restart: Restart {
            active_grants: active.len(),
            ready_s: secs(ready),
            first_reconcile_s: secs(first_reconcile),
            pending_grant_active_s: pending_lat
                .first()
                .copied()
                .map_or(0.0, |s| secs(Duration::from_secs_f64(s))),
        },
        memory: Memory {
            rss_active_mib: mib(rss_active),
            rss_after_restart_mib: mib(rss_restart),
            rss_after_end_mib: mib(rss_end),
            rss_peak_mib: mib(peak),
        },
        correctness: Correctness {
            members_left_after_end: members_left,
        },
    })
}
