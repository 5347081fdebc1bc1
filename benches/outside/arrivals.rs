//! Grants arriving at a steady rate while N are Active: what a person applying a grant in
//! the middle of a large incident waits. The rate is below the AWS budget, so a slow grant
//! is the operator's doing, not the quota's.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream::FuturesUnordered};

use crate::{
    Config, Error,
    report::{Arrivals, Phase},
    stats::latency,
    steps::*,
    watch::Watch,
    world::World,
};

/// `users`: the ordinary users to grant, one grant each, in order. Returns the figures,
/// every latency, and the grants' names.
pub async fn run(
    cfg: &Config,
    world: &World,
    watch: &Watch,
    users: std::ops::Range<usize>,
    active_before: usize,
) -> Result<(Arrivals, Vec<f64>, Vec<String>), Error> {
    let count = users.len();
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / cfg.arrivals_per_s));
    // Late ticks are sent at once, then the rate resumes: arrivals never bunch up by design.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending = FuturesUnordered::new();
    let mut sent = Vec::with_capacity(count);
    let mut next = users.into_iter();
    let mut left = true;
    // The creates in flight are polled while the clock runs, so each is sent when due.
    loop {
        tokio::select! {
            _ = every.tick(), if left => match next.next() {
                Some(i) => pending.push(async move {
                    let name = format!("s-{i}");
                    let t = Instant::now();
                    world
                        .create_grant(&name, i, None)
                        .await
                        .map(|_| (name, t))
                        .map_err(|source| Error::Kube {
                            phase: "arrivals",
                            source,
                        })
                }),
                None => left = false,
            },
            Some(done) = pending.next(), if !pending.is_empty() => sent.push(done?),
            else => break,
        }
    }
    let (lat, total) = until_active(watch, "arrivals", &sent).await?;
    let names = sent.into_iter().map(|(n, _)| n).collect();
    let arrivals = Arrivals {
        per_s: cfg.arrivals_per_s,
        grants: count,
        active_before,
        apply_to_active: Phase {
            latency: latency(&lat),
            total_s: total,
        },
    };
    Ok((arrivals, lat, names))
}
