//! The campaign: rounds of workload and faults, each followed by convergence under the
//! independent checker, then a drain in which every grant ends and everything paused must
//! come back.

use std::time::{Duration, Instant};

use crate::{
    Config, Error,
    check::{self, Findings, Kubectl},
    common::{faults::FaultProxy, *},
    inject,
    replicas::Replicas,
    report::Report,
    rng::Rng,
    workload::{self, Workload},
    world::World,
};

const FAILPOINTS: [&str; 3] = [
    "after-create-membership",
    "after-create-assignment",
    "after-record-pause",
];

pub async fn campaign(config: &Config) -> Result<Report, Error> {
    let started = Instant::now();
    let mut rng = Rng::new(config.seed);
    let w = World::new().await?;
    let proxy = FaultProxy::start(&format!("chaos-{}", w.s.ns), serde_json::json!([])).await;
    let mut replicas = Replicas::new(&w.s.ns, &proxy.url);
    let kubectl = Kubectl::new();
    let mut work = Workload::default();
    let mut report = Report::new(config);
    let mut serial = 0;
    wait_for_leader(&replicas).await?;

    for round in 1..=config.rounds {
        let webhook = replicas.webhook(rng.below(2)).to_owned();
        // AWS faults while the round's grants are worked on. The small round goes through
        // each kind of answer once, with a grant that meets it.
        if config.full {
            if rng.chance(60) {
                proxy.set(inject::aws_rules(&mut rng, &mut serial));
            }
        } else {
            // A leader must be there to meet the round's faults while they are set.
            wait_for_leader(&replicas).await?;
            let (rules, kind) = inject::smoke_rules(round);
            proxy.set(rules);
            work.request(&w, &mut rng, Some(kind)).await?;
        }
        work.round(&w, &mut rng, &webhook, &replicas.token).await?;
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1500) as u64)).await;
        // The small round goes through every kind of fault once; the campaign draws them.
        let fault = if config.full {
            rng.below(10)
        } else {
            [0, 3, 5, 6][(round as usize - 1) % 4]
        };
        match fault {
            0..=2 => {
                if let Some(i) = replicas.leader() {
                    replicas.kill(i);
                    report.kills.leader_sigkill += 1;
                    // Half the time it comes back parked at a failpoint, to be killed there.
                    let failpoint = rng.chance(50).then(|| FAILPOINTS[rng.below(3)]);
                    replicas.start(i, failpoint);
                }
            }
            3 | 4 => {
                // The follower takes the next failpoint when it leads.
                let i = replicas.leader().map_or(0, |l| 1 - l);
                replicas.kill(i);
                replicas.start(i, Some(FAILPOINTS[rng.below(3)]));
            }
            5 => {
                let took = inject::restart_apiserver().await?;
                report.apiserver_restarts += 1;
                report.apiserver_restart_seconds.push(took.as_secs_f64());
            }
            6 | 7 => {
                // Any grant that may hold access or a pause: Pending ones included.
                let live: Vec<String> = workload::grants(&w)
                    .await?
                    .into_iter()
                    .filter(|g| g["status"]["phase"] != "Ended")
                    .filter_map(|g| g["metadata"]["name"].as_str().map(str::to_owned))
                    .collect();
                if let Some(name) = rng.pick(&live) {
                    inject::strip_finalizer(&w.s.client, &w.s.ns, name).await?;
                    report.finalizers_stripped += 1;
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(rng.below(3000) as u64)).await;
        proxy.set(serde_json::json!([]));
        let (took, findings) =
            settle(&w, &kubectl, &mut replicas, &mut report, config, false).await;
        println!(
            "[chaos] round {round}/{}: converged {} in {:.1} s",
            config.rounds,
            if findings.clean() { "clean" } else { "NOT" },
            took.as_secs_f64()
        );
        report.round(round, took, &findings);
    }

    let webhook = replicas.webhook(0).to_owned();
    work.drain(&w, &webhook, &replicas.token).await?;
    let (took, findings) = settle(&w, &kubectl, &mut replicas, &mut report, config, true).await;
    println!(
        "[chaos] drained {} in {:.1} s",
        if findings.clean() { "clean" } else { "NOT" },
        took.as_secs_f64()
    );
    report.drained(took, &findings);
    report.faults = fired(&proxy);
    report.workload = work.counts.clone();
    report.grants_listed = workload::grants(&w).await?.len() as u32;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn wait_for_leader(replicas: &Replicas) -> Result<(), Error> {
    eventually(Duration::from_secs(30), || async { replicas.leader() })
        .await
        .map(|_| ())
        .ok_or(Error::Env {
            what: "starting the replicas",
            why: "no replica leads after 30 s".into(),
        })
}

/// Polls the checker until it passes (killing replicas parked at a failpoint meanwhile);
/// the time it took and the last findings. `quiet`: nothing may be live any more, so every
/// grant must have ended and every pause come back.
async fn settle(
    w: &World,
    kubectl: &Kubectl,
    replicas: &mut Replicas,
    report: &mut Report,
    config: &Config,
    quiet: bool,
) -> (Duration, Findings) {
    let started = Instant::now();
    let mut said = false;
    loop {
        report.kills.failpoint += replicas.kill_parked();
        let findings = check::check(w, kubectl).await;
        let done = findings.clean() && (!quiet || all_ended(w).await);
        if done || started.elapsed() > config.converge {
            return (started.elapsed(), findings);
        }
        // What convergence waits for, once (the figures say how long).
        if !said && started.elapsed() > Duration::from_secs(10) {
            said = true;
            println!("[chaos]   still waiting after 10 s: {findings:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn all_ended(w: &World) -> bool {
    workload::grants(w).await.is_ok_and(|gs| {
        gs.iter()
            .all(|g| matches!(g["status"]["phase"].as_str(), Some("Ended" | "Denied")))
    })
}

/// Faults that really fired, by answer kind (from the proxy's own log).
fn fired(proxy: &FaultProxy) -> std::collections::BTreeMap<String, u32> {
    let mut by_kind = std::collections::BTreeMap::new();
    for seen in proxy.seen() {
        if let Some(rule) = seen.fault {
            *by_kind
                .entry(inject::answer_of(&rule).to_owned())
                .or_insert(0) += 1;
        }
    }
    by_kind
}
