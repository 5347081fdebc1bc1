//! The raw samples behind the plots, kept in the report: what the sampler saw every tick, and
//! the pure arithmetic that turns counters into rates. No I/O here (unit-tested by
//! tests/bench_plots.rs).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Samples taken from outside the controller at a fixed interval over the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    pub interval_s: f64,
    pub ticks: Vec<Tick>,
    /// When each phase began (seconds since the run started).
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    /// Seconds since the run started, when the sample was taken.
    pub t_s: f64,
    /// The controller process sampled (0: none was running).
    pub pid: u32,
    /// `VmRSS` of that process; `None` when it could not be read.
    pub rss_mib: Option<f64>,
    /// `breakglass_aws_calls_total` so far, summed by service; `None` when the scrape failed.
    pub aws_calls: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mark {
    pub t_s: f64,
    pub phase: String,
}

/// A named line: (x, y) points in order of x.
pub type Series = Vec<(f64, f64)>;

/// Calls per second by service between consecutive scraped ticks, at the later tick's time.
/// A new pid means a restarted process whose counters began at zero within the interval:
/// its whole count belongs to that interval (a counter never goes down otherwise).
pub fn rates(ticks: &[Tick]) -> BTreeMap<String, Series> {
    // Every service the run ever called: one before its first call is at zero.
    let services: BTreeSet<&String> = ticks
        .iter()
        .filter_map(|t| t.aws_calls.as_ref())
        .flat_map(|c| c.keys())
        .collect();
    let mut out: BTreeMap<String, Series> = BTreeMap::new();
    let scraped = ticks
        .iter()
        .filter_map(|t| t.aws_calls.as_ref().map(|c| (t, c)));
    let mut prev: Option<(&Tick, &BTreeMap<String, f64>)> = None;
    for (tick, calls) in scraped {
        if let Some((p, before)) = prev {
            let dt = tick.t_s - p.t_s;
            if dt > 0.0 {
                let restarted = tick.pid != p.pid;
                for &service in &services {
                    let now = calls.get(service).copied().unwrap_or(0.0);
                    let then = before.get(service).copied().unwrap_or(0.0);
                    let delta = if restarted || now < then {
                        now
                    } else {
                        now - then
                    };
                    out.entry(service.clone())
                        .or_default()
                        .push((tick.t_s, delta / dt));
                }
            }
        }
        prev = Some((tick, calls));
    }
    out
}

/// RSS over time, the ticks where it was read.
pub fn rss(ticks: &[Tick]) -> Series {
    ticks
        .iter()
        .filter_map(|t| t.rss_mib.map(|m| (t.t_s, m)))
        .collect()
}

/// Latency samples as kept in the report: milliseconds resolution, sorted.
pub fn kept(samples: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = samples
        .iter()
        .map(|s| (s * 1000.0).round() / 1000.0)
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Empirical CDF of sorted samples: the fraction at or below each value.
pub fn cdf(sorted: &[f64]) -> Series {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, (i + 1) as f64 / n))
        .collect()
}

/// The highest calls/s by service over the samples taken in `(from_s, to_s]`.
pub fn peaks(ticks: &[Tick], from_s: f64, to_s: f64) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (service, series) in rates(ticks) {
        let peak = series
            .iter()
            .filter(|(t, _)| *t > from_s && *t <= to_s)
            .map(|(_, r)| (r * 10.0).round() / 10.0)
            .fold(0.0, f64::max);
        out.insert(service, peak);
    }
    out
}

/// When phase `phase` began and when the next phase did (the run's end when none did).
pub fn span(timeline: &Timeline, phase: &str) -> Option<(f64, f64)> {
    let i = timeline.marks.iter().position(|m| m.phase == phase)?;
    let end = timeline
        .marks
        .get(i + 1)
        .map(|m| m.t_s)
        .or_else(|| timeline.ticks.last().map(|t| t.t_s))?;
    Some((timeline.marks[i].t_s, end))
}
