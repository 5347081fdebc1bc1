//! Latency summaries: nearest-rank percentiles over seconds.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50_s: f64,
    pub p90_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

/// Nearest-rank percentile (`q` in 0..=1) of sorted values.
fn rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    sorted[i]
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// `None` for no samples: an empty phase is reported as missing, never as zero.
pub fn latency(samples: &[f64]) -> Option<Latency> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Latency {
        count: sorted.len(),
        p50_s: round_ms(rank(&sorted, 0.50)),
        p90_s: round_ms(rank(&sorted, 0.90)),
        p99_s: round_ms(rank(&sorted, 0.99)),
        max_s: round_ms(rank(&sorted, 1.0)),
    })
}
