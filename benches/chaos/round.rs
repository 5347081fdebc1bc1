//! One round of the campaign: workload and faults while they are set, then convergence.
//! Every round must fire at least one fault. A random draw can meet nothing: an AWS fault
//! on an operation nobody made while it was set, a leader SIGKILL while no replica led, a
//! finalizer to strip with no grant live. Such a draw is reported ("fault never fired")
//! and the round drawn again, up to `MAX_REDRAWS` times; a round that still fired nothing
//! fails the campaign, which so cannot pass having tested nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    Error, inject,
    run::{Campaign, fired, wait_for_leader},
    workload,
};

const FAILPOINTS: [&str; 3] = [
    "after-create-membership",
    "after-create-assignment",
    "after-record-pause",
];

/// Draws after the first before a round whose faults never fired fails the campaign.
pub const MAX_REDRAWS: u32 = 3;

/// What a draw set up, and what of it took effect.
#[derive(Default)]
struct Draw {
    /// What was drawn, for the log: `throttle on AssumeRole`, `leader SIGKILL`.
    drawn: Vec<String>,
    /// What took effect: the faults that are not AWS answers (those are read from the
    /// proxy's log once the round converged).
    took_effect: Vec<String>,
}

impl Campaign<'_> {
    /// Round `round`: drawn until one of its faults took effect (or the redraws run out).
    pub async fn round(&mut self, round: u32) -> Result<(), Error> {
        for draw in 1..=1 + MAX_REDRAWS {
            let log_from = self.proxy.seen().len();
            let failpoint_kills = self.report.kills.failpoint;
            let mut d = self.draw(round, draw > 1).await?;
            let (took, findings) = self.settle(false).await;
            // The proxy logs a request when a rule matches it: a stall counts while held.
            let seen = self.proxy.seen();
            for (kind, n) in fired(seen.get(log_from..).unwrap_or_default()) {
                d.took_effect.push(format!("{kind} {n}"));
            }
            let parked = self.report.kills.failpoint - failpoint_kills;
            if parked > 0 {
                d.took_effect
                    .push(format!("{parked} killed at a failpoint"));
            }
            let what = if d.took_effect.is_empty() {
                "fault never fired".to_owned()
            } else {
                format!("fired {}", d.took_effect.join(", "))
            };
            println!(
                "[chaos] round {round}/{}{}: {what}; converged {} in {:.1} s",
                self.config.rounds,
                if draw > 1 {
                    format!(" (draw {draw})")
                } else {
                    String::new()
                },
                if findings.clean() { "clean" } else { "NOT" },
                took.as_secs_f64()
            );
            self.report
                .round(round, draw, took, &findings, d.took_effect.clone());
            if !d.took_effect.is_empty() {
                return Ok(());
            }
            println!(
                "[chaos]   drawn: {}",
                if d.drawn.is_empty() {
                    "no fault (no AWS rules, no process fault)".to_owned()
                } else {
                    d.drawn.join(", ")
                }
            );
            if draw <= MAX_REDRAWS {
                self.report.redraws += 1;
            } else {
                self.report.never_fired(round, draw);
            }
        }
        Ok(())
    }

    /// One draw: the round's workload with its faults set, then the faults stopped. A draw
    /// `again` always sets AWS faults, with a grant that meets the first one, and waits for
    /// a leader to meet them.
    async fn draw(&mut self, round: u32, again: bool) -> Result<Draw, Error> {
        let mut d = Draw::default();
        let webhook = self.replicas.webhook(self.rng.below(2)).to_owned();
        if !self.config.full || again {
            wait_for_leader(&self.replicas).await?;
        }
        // AWS faults while the round's grants are worked on. The small round goes through
        // each kind of answer once, with a grant that meets it.
        if self.config.full {
            if again || self.rng.chance(60) {
                let aws = inject::aws_rules(&mut self.rng, &mut self.serial, &self.w.ids);
                self.set_rules(aws.rules, &mut d);
                if again {
                    let (kind, user) = aws.meets;
                    self.work
                        .request(&self.w, &mut self.rng, kind, user)
                        .await?;
                }
            }
        } else {
            let (rules, kind) = inject::smoke_rules(round);
            self.set_rules(rules, &mut d);
            self.work
                .request(&self.w, &mut self.rng, Some(kind), None)
                .await?;
        }
        let token = self.replicas.token.clone();
        self.work
            .round(&self.w, &mut self.rng, &webhook, &token)
            .await?;
        sleep_ms(300 + self.rng.below(1500)).await;
        // The small round goes through every kind of fault once; the campaign draws them.
        let fault = if self.config.full {
            self.rng.below(10)
        } else {
            [0, 3, 5, 6][(round as usize - 1) % 4]
        };
        self.process_fault(fault, &mut d).await?;
        sleep_ms(self.rng.below(3000)).await;
        // Stalled requests are let go here (or earlier, after their `stall_ms`).
        self.proxy.set(json!([]));
        Ok(d)
    }

    /// A fault other than an AWS answer: 0-2 the leader SIGKILLed, 3-4 the follower
    /// restarted at a failpoint, 5 kube-apiserver restarted, 6-7 a finalizer stripped,
    /// 8-9 none.
    async fn process_fault(&mut self, fault: usize, d: &mut Draw) -> Result<(), Error> {
        match fault {
            0..=2 => {
                d.drawn.push("leader SIGKILL".into());
                if let Some(i) = self.replicas.leader() {
                    self.replicas.kill(i);
                    self.report.kills.leader_sigkill += 1;
                    d.took_effect.push("leader SIGKILL".into());
                    // Half the time it comes back parked at a failpoint, to be killed there.
                    let failpoint = self.rng.chance(50).then(|| FAILPOINTS[self.rng.below(3)]);
                    self.replicas.start(i, failpoint);
                }
            }
            3 | 4 => {
                // The follower takes the next failpoint when it leads; it counts once it
                // is killed parked there.
                let i = self.replicas.leader().map_or(0, |l| 1 - l);
                let failpoint = FAILPOINTS[self.rng.below(3)];
                d.drawn.push(format!("follower to park at {failpoint}"));
                self.replicas.kill(i);
                self.replicas.start(i, Some(failpoint));
            }
            5 => {
                d.drawn.push("kube-apiserver restart".into());
                let took = inject::restart_apiserver().await?;
                self.report.apiserver_restarts += 1;
                self.report
                    .apiserver_restart_seconds
                    .push(took.as_secs_f64());
                d.took_effect.push("kube-apiserver restart".into());
            }
            6 | 7 => {
                d.drawn.push("finalizer strip".into());
                // Any grant that may hold access or a pause: Pending ones included.
                let live: Vec<String> = workload::grants(&self.w)
                    .await?
                    .into_iter()
                    .filter(|g| g["status"]["phase"] != "Ended")
                    .filter_map(|g| g["metadata"]["name"].as_str().map(str::to_owned))
                    .collect();
                if let Some(name) = self.rng.pick(&live) {
                    inject::strip_finalizer(&self.w.s.client, &self.w.s.ns, name).await?;
                    self.report.finalizers_stripped += 1;
                    d.took_effect.push("finalizer stripped".into());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets the round's AWS fault rules, counting them by answer.
    fn set_rules(&mut self, rules: Value, d: &mut Draw) {
        for rule in rules.as_array().into_iter().flatten() {
            d.drawn.push(inject::describe(rule));
            let answer = rule["answer"].as_str().unwrap_or("pass").to_owned();
            *self.report.aws_faults_set.entry(answer).or_insert(0) += 1;
        }
        self.proxy.set(rules);
    }
}

async fn sleep_ms(ms: usize) {
    tokio::time::sleep(Duration::from_millis(ms as u64)).await;
}
