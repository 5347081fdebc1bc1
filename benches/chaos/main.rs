//! `make chaos`: a fault campaign against the operator as users run it. Two controller
//! replicas with `--leader-elect` serve a workload of grants (kubectl- and alert-opened,
//! overlapping users, short durations, resolves, deletes, policy edits) while the campaign
//! SIGKILLs the leader (at random moments and parked at every failpoint), injects AWS faults
//! through the fault proxy (error answers and stalled requests), restarts kube-apiserver and
//! strips finalizers by hand. Every round fires at least one fault (a draw that met nothing
//! is drawn again). After every round an independent checker (AWS read from moto directly,
//! Kubernetes through kubectl) must find nothing leaked and nothing stuck. Run by
//! `cargo bench --bench chaos` (`CHAOS_ROUNDS`, `CHAOS_SEED`); `cargo test` runs a small
//! round.

mod check;
#[path = "../../tests/common/mod.rs"]
mod common;
mod inject;
mod replicas;
mod report;
mod rng;
mod round;
mod run;
mod workload;
mod world;

use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what}: {why}")]
    Env { what: &'static str, why: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to run.
pub struct Config {
    pub full: bool,
    pub rounds: u32,
    pub seed: u64,
    /// How long a round waits for the checker to pass once its faults stop.
    pub converge: Duration,
}

fn env_number(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok())
}

fn main() -> ExitCode {
    if !cfg!(feature = "failpoints") {
        eprintln!(
            "chaos parks replicas at failpoints: build with `--features failpoints` (make chaos does)"
        );
        return ExitCode::FAILURE;
    }
    // `cargo bench` passes --bench; `cargo test` runs this target without it.
    let full = std::env::args().any(|a| a == "--bench");
    let seed = env_number("CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let config = Config {
        full,
        rounds: env_number("CHAOS_ROUNDS").unwrap_or(if full { 20 } else { 4 }) as u32,
        seed,
        converge: Duration::from_secs(env_number("CHAOS_CONVERGE_SECONDS").unwrap_or(120)),
    };
    println!(
        "[chaos] seed {} rounds {} (reproduce: make chaos SEED={} ROUNDS={})",
        config.seed, config.rounds, config.seed, config.rounds
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[chaos] starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(run::campaign(&config)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("[chaos] failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    let name = if full { "latest.json" } else { "smoke.json" };
    match report.write(&common::repo_path("target/chaos"), name) {
        Ok(path) => println!("  written to {}", path.display()),
        Err(e) => {
            eprintln!("[chaos] {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        eprintln!("[chaos] the checker found problems; see the violations above");
        ExitCode::FAILURE
    }
}
