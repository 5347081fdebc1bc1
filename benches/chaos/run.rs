//! The campaign: rounds of workload and faults (`round.rs`), each followed by convergence
//! under the independent checker, then a drain in which every grant ends and everything
//! paused must come back.

use std::time::{Duration, Instant};

use crate::{
    Config, Error,
    check::{self, Findings, Kubectl},
    common::{
        faults::{FaultProxy, Seen},
        *,
    },
    inject,
    replicas::Replicas,
    report::Report,
    rng::Rng,
    workload::{self, Workload},
    world::World,
};

/// The campaign's state, shared by its rounds (`round.rs`).
pub struct Campaign<'a> {
    pub config: &'a Config,
    pub rng: Rng,
    pub w: World,
    pub proxy: FaultProxy,
    pub replicas: Replicas,
    pub kubectl: Kubectl,
    pub work: Workload,
    pub report: Report,
    /// Numbers the AWS fault rules.
    pub serial: u32,
}

pub async fn campaign(config: &Config) -> Result<Report, Error> {
    let started = Instant::now();
    let w = World::new().await?;
    let proxy = FaultProxy::start(&format!("chaos-{}", w.s.ns), serde_json::json!([])).await;
    let replicas = Replicas::new(&w.s.ns, &proxy.url);
    let mut report = Report::new(config);
    report.aws_timeout = replicas.aws_timeout.map(str::to_owned);
    let mut c = Campaign {
        config,
        rng: Rng::new(config.seed),
        w,
        proxy,
        replicas,
        kubectl: Kubectl::new(),
        work: Workload::default(),
        report,
        serial: 0,
    };
    wait_for_leader(&c.replicas).await?;

    for round in 1..=config.rounds {
        c.round(round).await?;
    }

    let webhook = c.replicas.webhook(0).to_owned();
    c.work.drain(&c.w, &webhook, &c.replicas.token).await?;
    let (took, findings) = c.settle(true).await;
    println!(
        "[chaos] drained {} in {:.1} s",
        if findings.clean() { "clean" } else { "NOT" },
        took.as_secs_f64()
    );
    let mut report = c.report;
    report.drained(took, &findings);
    report.faults = fired(&c.proxy.seen());
    report.workload = c.work.counts.clone();
    report.grants_listed = workload::grants(&c.w).await?.len() as u32;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

pub async fn wait_for_leader(replicas: &Replicas) -> Result<(), Error> {
    eventually(Duration::from_secs(30), || async { replicas.leader() })
        .await
        .map(|_| ())
        .ok_or(Error::Env {
            what: "starting the replicas",
            why: "no replica leads after 30 s".into(),
        })
}

impl Campaign<'_> {
    /// Polls the checker until it passes (killing replicas parked at a failpoint
    /// meanwhile); the time it took and the last findings. `quiet`: nothing may be live any
    /// more, so every grant must have ended and every pause come back.
    pub async fn settle(&mut self, quiet: bool) -> (Duration, Findings) {
        let started = Instant::now();
        let mut said = false;
        loop {
            self.report.kills.failpoint += self.replicas.kill_parked();
            let findings = check::check(&self.w, &self.kubectl).await;
            let done = findings.clean() && (!quiet || all_ended(&self.w).await);
            if done || started.elapsed() > self.config.converge {
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
}

async fn all_ended(w: &World) -> bool {
    workload::grants(w).await.is_ok_and(|gs| {
        gs.iter()
            .all(|g| matches!(g["status"]["phase"].as_str(), Some("Ended" | "Denied")))
    })
}

/// Faults that really fired, by answer kind (from the proxy's own log).
pub fn fired(seen: &[Seen]) -> std::collections::BTreeMap<String, u32> {
    let mut by_kind = std::collections::BTreeMap::new();
    for seen in seen {
        if let Some(rule) = &seen.fault {
            *by_kind
                .entry(inject::answer_of(rule).to_owned())
                .or_insert(0) += 1;
        }
    }
    by_kind
}
