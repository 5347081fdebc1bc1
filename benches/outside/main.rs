//! `make bench`: the operator measured from outside, as its users see it. A release
//! controller runs against the local environment (`make env-up`); the bench sends requests
//! (kubectl-like writes, Alertmanager POSTs) and times them to the watch events that show
//! their effect. Run by `cargo bench` (full, `BENCH_N`, default 1000) and smoke-run by
//! `cargo test` at a tiny N to prove it still works; it asserts no timings.

mod accounts;
mod arrivals;
mod budgets;
mod cleanup;
#[path = "../../tests/common/mod.rs"]
mod common;
mod controller;
mod phases;
mod pictures;
mod plots;
mod probe;
mod report;
mod series;
mod stats;
mod steps;
mod table;
mod timeline;
mod watch;
mod world;

use std::{path::PathBuf, process::ExitCode, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{phase}: {} grant(s) did not reach {want} within {within:?}, e.g. {:?}",
        missing.len(), missing.iter().take(5).collect::<Vec<_>>())]
    Timeout {
        phase: &'static str,
        want: &'static str,
        within: Duration,
        missing: Vec<String>,
    },
    #[error("{phase}: {source}")]
    Kube {
        phase: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Probe(#[from] probe::Error),
    #[error(transparent)]
    Plot(#[from] plots::Error),
    #[error("{phase}: {what}")]
    Unexpected { phase: &'static str, what: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to run. The full run measures; the smoke run only proves every phase works.
pub struct Config {
    pub full: bool,
    pub n: usize,
    /// Window for steady-state AWS calls: longer than every periodic re-check.
    pub steady: Duration,
    /// Window after a restart in which AWS calls are counted.
    pub restart_window: Duration,
    pub expiring: usize,
    pub expiry_duration: &'static str,
    pub alert_posts: usize,
    pub payload: usize,
    pub alert_users: usize,
    pub concurrency: usize,
    /// Account-assignment grants (two accounts each), through the fault proxy.
    pub account_grants: usize,
    /// The burst at the default flags (`budgets`), on one Identity Store.
    pub budget_grants: usize,
    /// Grants arriving one by one while N are Active, and how many a second.
    pub arrival_grants: usize,
    pub arrivals_per_s: f64,
}

fn env_number(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok())
}

impl Config {
    fn from_env(full: bool) -> Self {
        let n = if full {
            env_number("BENCH_N").unwrap_or(1000) as usize
        } else {
            20
        }
        .max(1);
        let secs = |key, full_default, smoke| {
            Duration::from_secs(env_number(key).unwrap_or(if full { full_default } else { smoke }))
        };
        let alert_posts = n.min(50);
        Self {
            full,
            n,
            // The controller re-checks every Active grant every 5 minutes: 6 minutes see it.
            steady: secs("BENCH_STEADY_SECONDS", 360, 3),
            restart_window: secs("BENCH_RESTART_SECONDS", 60, 3),
            expiring: n.min(100),
            expiry_duration: if full { "15s" } else { "8s" },
            alert_posts,
            payload: n.min(1000),
            alert_users: n.min(256).max(alert_posts),
            concurrency: 64,
            account_grants: (n / 10).clamp(5, 100).min(n),
            budget_grants: n.min(300),
            // A minute at 5/s: under the Identity Store budget (18/s) with room for revokes.
            arrival_grants: env_number("BENCH_ARRIVAL_SECONDS").unwrap_or(if full { 60 } else { 2 })
                as usize
                * 5,
            arrivals_per_s: 5.0,
        }
    }
}

fn main() -> ExitCode {
    // `BENCH_REDRAW=target/bench/latest.json`: draw a finished run's pictures again, beside it.
    if let Ok(path) = std::env::var("BENCH_REDRAW") {
        return match redraw(std::path::Path::new(&path)) {
            Ok(n) => {
                println!("  {n} pictures redrawn beside {path}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("[bench] redrawing {path}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo bench` passes --bench; `cargo test` runs this target without it.
    let full = std::env::args().any(|a| a == "--bench");
    let config = Config::from_env(full);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[bench] starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(phases::run(&config)) {
        Ok(report) => {
            print!("{}", report.table());
            let dir = common::repo_path("target/bench");
            let name = if full { "latest.json" } else { "smoke.json" };
            // The smoke run's pictures apart: they must not replace a full run's.
            let pictures = if full { dir.clone() } else { dir.join("smoke") };
            let written = write(&dir, name, &report).and_then(|path| {
                Ok((path, pictures::write(&pictures, report.n, &report.samples)?))
            });
            match written {
                Ok((path, svgs)) => {
                    println!("  written to {}", path.display());
                    println!("  {} pictures in {}", svgs.len(), pictures.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("[bench] {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("[bench] failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(dir: &std::path::Path, name: &str, report: &report::Report) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    let err = |source| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let text = serde_json::to_string_pretty(report).map_err(|e| err(std::io::Error::other(e)))?;
    std::fs::write(&path, text + "\n").map_err(err)?;
    Ok(path)
}

/// What a report must hold to be drawn again.
#[derive(serde::Deserialize)]
struct Drawn {
    n: usize,
    samples: report::Samples,
}

fn redraw(path: &std::path::Path) -> Result<usize, Error> {
    let err = |e: String| Error::Unexpected {
        phase: "redraw",
        what: e,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let run: Drawn = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    Ok(pictures::write(dir, run.n, &run.samples)?.len())
}
