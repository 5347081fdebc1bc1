//! The campaign's figures: `target/chaos/latest.json` and the printed table.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde::Serialize;

use crate::{Config, Error, check::Findings, workload::Counts};

#[derive(Default, Serialize)]
pub struct Kills {
    /// The leader SIGKILLed at a random moment.
    pub leader_sigkill: u32,
    /// A replica SIGKILLed while parked at a failpoint (record written, action not yet).
    pub failpoint: u32,
}

/// One draw of a round (a round whose faults never fired is drawn again).
#[derive(Serialize)]
pub struct RoundFigure {
    pub round: u32,
    pub draw: u32,
    pub converge_seconds: f64,
    pub clean: bool,
    /// What took effect: AWS answers by kind and count, kills, restarts, strips.
    pub fired: Vec<String>,
}

#[derive(Serialize)]
pub struct Report {
    pub seed: u64,
    pub rounds: u32,
    pub seconds: f64,
    /// Grants still listed when the campaign ended (deleted ones are gone).
    pub grants_listed: u32,
    pub workload: Counts,
    pub kills: Kills,
    pub apiserver_restarts: u32,
    pub apiserver_restart_seconds: Vec<f64>,
    pub finalizers_stripped: u32,
    /// The controllers' deadline of one AWS call attempt (`--aws-timeout`); `None`: the
    /// binary has no such flag.
    pub aws_timeout: Option<String>,
    /// AWS fault rules set, by answer (each may answer a few requests, or none).
    pub aws_faults_set: BTreeMap<String, u32>,
    /// AWS requests the proxy answered with a fault, by answer (`stall`: held unanswered).
    pub faults: BTreeMap<String, u32>,
    /// Draws whose faults never fired, each followed by a draw again of its round.
    pub redraws: u32,
    /// Rounds whose faults never fired in any draw (each one also a violation).
    pub rounds_never_fired: Vec<u32>,
    pub leaks: usize,
    pub missing_access: usize,
    pub duplicates: usize,
    pub stuck_grants: usize,
    pub stuck_pauses: usize,
    pub converge_p50_seconds: f64,
    pub converge_p99_seconds: f64,
    pub converge_max_seconds: f64,
    pub drain_seconds: f64,
    pub per_round: Vec<RoundFigure>,
    /// Every finding that did not clear within the convergence deadline.
    pub violations: Vec<String>,
}

impl Report {
    pub fn new(config: &Config) -> Self {
        Self {
            seed: config.seed,
            rounds: config.rounds,
            seconds: 0.0,
            grants_listed: 0,
            workload: Counts::default(),
            kills: Kills::default(),
            apiserver_restarts: 0,
            apiserver_restart_seconds: vec![],
            finalizers_stripped: 0,
            aws_timeout: None,
            aws_faults_set: BTreeMap::new(),
            faults: BTreeMap::new(),
            redraws: 0,
            rounds_never_fired: vec![],
            leaks: 0,
            missing_access: 0,
            duplicates: 0,
            stuck_grants: 0,
            stuck_pauses: 0,
            converge_p50_seconds: 0.0,
            converge_p99_seconds: 0.0,
            converge_max_seconds: 0.0,
            drain_seconds: 0.0,
            per_round: vec![],
            violations: vec![],
        }
    }

    fn add(&mut self, when: &str, f: &Findings) {
        self.leaks += f.leaks.len();
        self.missing_access += f.missing.len();
        self.duplicates += f.duplicates.len();
        self.stuck_grants += f.stuck_grants.len();
        self.stuck_pauses += f.stuck_pauses.len();
        for v in f
            .leaks
            .iter()
            .chain(&f.missing)
            .chain(&f.duplicates)
            .chain(&f.stuck_grants)
            .chain(&f.stuck_pauses)
            .chain(&f.unreadable)
        {
            eprintln!("[chaos] {when}: {v}");
            self.violations.push(format!("{when}: {v}"));
        }
    }

    pub fn round(
        &mut self,
        round: u32,
        draw: u32,
        took: Duration,
        f: &Findings,
        fired: Vec<String>,
    ) {
        let when = if draw > 1 {
            format!("round {round} (draw {draw})")
        } else {
            format!("round {round}")
        };
        self.add(&when, f);
        self.per_round.push(RoundFigure {
            round,
            draw,
            converge_seconds: took.as_secs_f64(),
            clean: f.clean(),
            fired,
        });
        let mut times: Vec<f64> = self.per_round.iter().map(|r| r.converge_seconds).collect();
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        self.converge_p50_seconds = at(0.5);
        self.converge_p99_seconds = at(0.99);
        self.converge_max_seconds = at(1.0);
    }

    /// A round none of whose `draws` fired a fault: it tested nothing.
    pub fn never_fired(&mut self, round: u32, draws: u32) {
        let v = format!("round {round}: no fault fired in {draws} draws");
        eprintln!("[chaos] {v}");
        self.violations.push(v);
        self.rounds_never_fired.push(round);
    }

    pub fn drained(&mut self, took: Duration, f: &Findings) {
        self.add("drain", f);
        self.drain_seconds = took.as_secs_f64();
    }

    pub fn clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn table(&self) -> String {
        let list = |map: &BTreeMap<String, u32>| -> String {
            let items: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if items.is_empty() {
                "none".into()
            } else {
                items.join(", ")
            }
        };
        format!(
            "chaos campaign: seed {}, {} rounds, {:.0} s\n\
             \x20 workload           {} grants by kubectl, {} alerts fired ({} resolved), {} resolves, {} deletes, {} policy edits; {} grants listed at the end\n\
             \x20 kills              {} leader SIGKILL, {} at a failpoint\n\
             \x20 API server         {} restarts\n\
             \x20 finalizers         {} stripped\n\
             \x20 AWS deadline       {}\n\
             \x20 AWS faults set     {}\n\
             \x20 AWS faults fired   {} (stalled requests {})\n\
             \x20 drawn again        {} draws fired nothing; {} rounds never fired\n\
             \x20 leaks              {}\n\
             \x20 missing access     {}\n\
             \x20 duplicates         {}\n\
             \x20 stuck grants       {}\n\
             \x20 stuck pauses       {}\n\
             \x20 converge           p50 {:.1} s, p99 {:.1} s, max {:.1} s; drain {:.1} s\n",
            self.seed,
            self.rounds,
            self.seconds,
            self.workload.kubectl_grants,
            self.workload.alerts_firing,
            self.workload.alerts_resolved,
            self.workload.resolves,
            self.workload.deletes,
            self.workload.policy_edits,
            self.grants_listed,
            self.kills.leader_sigkill,
            self.kills.failpoint,
            self.apiserver_restarts,
            self.finalizers_stripped,
            match &self.aws_timeout {
                Some(t) => format!("--aws-timeout {t} per attempt"),
                None => "none (the controller has no --aws-timeout)".into(),
            },
            list(&self.aws_faults_set),
            list(&self.faults),
            self.faults.get("stall").copied().unwrap_or(0),
            self.redraws,
            self.rounds_never_fired.len(),
            self.leaks,
            self.missing_access,
            self.duplicates,
            self.stuck_grants,
            self.stuck_pauses,
            self.converge_p50_seconds,
            self.converge_p99_seconds,
            self.converge_max_seconds,
            self.drain_seconds,
        )
    }

    pub fn write(&self, dir: &std::path::Path, name: &str) -> Result<PathBuf, Error> {
        let path = dir.join(name);
        let err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        std::fs::write(&path, text + "\n").map_err(err)?;
        Ok(path)
    }
}
