//! The run, phase by phase. Every latency is a send time taken just before the request
//! and the receive time of the watch event that shows its effect.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, UNIX_EPOCH},
};

use breakglass::api::BreakGlassGrant;
use kube::{Api, api::ListParams};

use crate::{
    Config, Error,
    cleanup::cleanup,
    common,
    controller::Controller,
    probe::{self, Metrics, Recorder},
    report::*,
    series::kept,
    stats::latency,
    steps::*,
    timeline::Sampler,
    watch::Watch,
    world::World,
};

/// Seeds, measures, and always cleans up what it made (grants first, while a controller
/// runs to take their finalizers off).
pub async fn run(cfg: &Config) -> Result<Report, Error> {
    let started_at = k8s_openapi::jiff::Timestamp::now().to_string();
    progress(&format!(
        "seeding {} users and {} alert users in moto",
        cfg.n + cfg.expiring + 1 + cfg.arrival_grants,
        cfg.alert_users
    ));
    let world = World::seed(
        cfg.n + cfg.expiring + 1 + cfg.arrival_grants,
        cfg.alert_users,
    )
    .await;
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
    let sampler = Sampler::start(ctl.admin, ctl.current_pid());
    let result = measure(cfg, &world, &watch, &mut ctl, &moto, &sampler).await;
    let timeline = sampler.finish().await;
    if let Err(e) = &result {
        progress(&format!("failed ({e}); cleaning up"));
    }
    cleanup(&world, &api, &mut ctl).await;
    let mut report = result?;
    report.started_at = started_at;
    if let Some((from, _)) = crate::series::span(&timeline, "budgets") {
        let to = timeline.ticks.last().map_or(from, |t| t.t_s);
        report.budgets.peak_calls_per_s = crate::series::peaks(&timeline.ticks, from, to);
    }
    report.samples.timeline = timeline;
    Ok(report)
}

async fn measure(
    cfg: &Config,
    world: &World,
    watch: &Watch,
    ctl: &mut Controller,
    moto: &Recorder,
    at: &Sampler,
) -> Result<Report, Error> {
    let n = cfg.n;
    let api: Api<BreakGlassGrant> = Api::namespaced(world.client.clone(), &world.ns);
    let mut all: Vec<String> = vec![];

    at.mark("apply");
    progress(&format!("apply → Active: a burst of {n} grants"));
    let w = Window::open(ctl, moto).await?;
    let sent = burst(world, "b", 0..n, None, cfg.concurrency).await?;
    let (apply, apply_total) = until_active(watch, "apply", &sent).await?;
    tokio::time::sleep(SETTLE).await;
    let (grant_calls, moto_grant, _) = w.close(ctl, moto).await?;
    all.extend(sent.into_iter().map(|(name, _)| name));

    at.mark("steady");
    progress(&format!(
        "steady state: {:?} with {n} Active grants",
        cfg.steady
    ));
    let w = Window::open(ctl, moto).await?;
    let requests = api_server(&world.client).await?;
    tokio::time::sleep(cfg.steady).await;
    let api_server_steady = requests.close(&world.client).await?;
    let (steady_calls, moto_steady, steady_s) = w.close(ctl, moto).await?;
    let (rss_active, mut peak) = ctl.memory()?;

    at.mark("arrivals");
    let first = n + cfg.expiring + 1;
    progress(&format!(
        "arrivals: {} grants at {}/s with {n} Active",
        cfg.arrival_grants, cfg.arrivals_per_s
    ));
    let (arrivals, arrival_lat, names) =
        crate::arrivals::run(cfg, world, watch, first..first + cfg.arrival_grants, n).await?;
    all.extend(names);

    at.mark("expiry");
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
    until_active(watch, "expiry", &sent).await?;
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

    at.mark("alerts");
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
    let (alert, alert_total) = until_active(watch, "alert", &sent).await?;
    all.extend(sent.into_iter().map(|(name, _)| name));

    // A storm: many alerts about few people; each person gets one grant.
    let storm_users = world.alert_users.len().min(10);
    at.mark("webhook");
    progress(&format!(
        "webhook: one payload of {} alerts for {storm_users} users, then again",
        cfg.payload
    ));
    let items: Vec<(String, String)> = (0..cfg.payload)
        .map(|i| {
            let user = &world.alert_users[i % storm_users];
            (user.clone(), format!("{:016x}", 0xb000_0000 + i))
        })
        .collect();
    let body = alerts(&world.storm_alertname(), &items);
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
    if made.len() != storm_users || repeat_created != 0 {
        return Err(Error::Unexpected {
            phase: "webhook payload",
            what: format!(
                "{} alerts for {storm_users} users made {} grants, the repeat {repeat_created}: {answer}",
                cfg.payload,
                made.len()
            ),
        });
    }
    let sent: Vec<(String, Instant)> = made.iter().map(|m| (m.clone(), t)).collect();
    let (_, payload_total) = until_active(watch, "webhook payload", &sent).await?;
    let webhook = Webhook {
        payload_alerts: cfg.payload,
        payload_users: storm_users,
        payload_alerts_per_s: (cfg.payload as f64 / took.as_secs_f64()).round(),
        payload_created: made.len(),
        repeat_alerts_per_s: (cfg.payload as f64 / took_again.as_secs_f64()).round(),
        repeat_created,
        payload_to_all_active_s: payload_total,
    };
    all.extend(made);

    let active = names_where(watch, &all, |g| g.active.is_some() && g.ended.is_none());
    at.mark("restart");
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

    // The burst's grants first: one per user, so each ending revokes (no shared access).
    let burst_grants: Vec<String> = (0..n).map(|i| format!("b-{i}")).collect();
    at.mark("resolve");
    progress(&format!("resolve → Ended: the {n} burst grants"));
    let w = Window::open(ctl, moto).await?;
    let sent = resolve(&api, &burst_grants, cfg.concurrency).await?;
    let (ended, resolve_total) = until_ended(watch, "resolve", &sent).await?;
    tokio::time::sleep(SETTLE).await;
    let (revoke_calls, moto_revoke, _) = w.close(ctl, moto).await?;
    let rest = names_where(watch, &all, |g| g.active.is_some() && g.ended.is_none());
    progress(&format!("resolving the other {} grants", rest.len()));
    let sent = resolve(&api, &rest, cfg.concurrency).await?;
    until_ended(watch, "resolve the rest", &sent).await?;
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

    at.mark("accounts");
    progress(&format!(
        "account assignments: {} grants on 2 accounts, SSO calls +{} ms",
        cfg.account_grants,
        crate::accounts::DELAY_MS
    ));
    let (accounts, mut latencies_s) = crate::accounts::run(cfg, world, at).await?;
    let (budgets, budget_lat) = crate::budgets::run(cfg, world, at).await?;
    latencies_s.extend(budget_lat);
    latencies_s.extend([
        ("arrivals_apply_to_active".to_owned(), kept(&arrival_lat)),
        ("apply_to_active".to_owned(), kept(&apply)),
        ("resolve_to_ended".to_owned(), kept(&ended)),
        ("expiry_lag".to_owned(), kept(&lags)),
        ("alert_to_active".to_owned(), kept(&alert)),
    ]);

    let grant_per_grant = per(&grant_calls, n);
    let revoke_per_grant = per(&revoke_calls, n);
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
            api_requests_retried: retried(),
        },
        accounts,
        budgets,
        arrivals,
        api_server_steady,
        samples: Samples {
            latencies_s,
            timeline: Default::default(),
        },
    })
}
