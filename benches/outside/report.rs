//! `target/bench/latest.json` (one object, stable keys) and the table printed after a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{series::Timeline, stats::Latency};

pub type Calls = BTreeMap<String, f64>;
/// Every grant's latency in seconds (ms resolution, sorted), by the report's key for the phase.
pub type Latencies = BTreeMap<String, Vec<f64>>;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub n: usize,
    pub mode: &'static str,
    pub started_at: String,
    pub git_commit: String,
    pub machine: Machine,
    pub apply_to_active: Phase,
    pub resolve_to_ended: Phase,
    pub expiry_lag: Expiry,
    pub alert_to_active: Phase,
    pub webhook: Webhook,
    pub aws: Aws,
    pub restart: Restart,
    pub memory: Memory,
    pub correctness: Correctness,
    pub accounts: Accounts,
    /// The raw samples the pictures (target/bench/*.svg) are drawn from.
    pub samples: Samples,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Samples {
    pub latencies_s: Latencies,
    pub timeline: Timeline,
}

/// Account-assignment grants through the fault proxy (every SSO Admin call delayed).
#[derive(Debug, Serialize)]
pub struct Accounts {
    pub grants: usize,
    pub accounts_per_grant: usize,
    pub proxy_delay_ms: u64,
    pub apply_to_active: Phase,
    pub resolve_to_ended: Phase,
    /// Resolve sent → the session guard's cut provisioned (`sessions.state: Revoked`).
    pub resolve_to_sessions_cut: Phase,
    /// Grant and revoke, per grant (all its accounts), by operation.
    pub calls_per_grant: Calls,
    pub lifecycle_per_grant: f64,
    /// USER assignments AWS still lists once every grant has ended (must be 0).
    pub assignments_left: usize,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub latency: Option<Latency>,
    /// First send to last watch event.
    pub total_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Expiry {
    pub latency: Option<Latency>,
    pub grants: usize,
    pub duration: String,
    pub reference: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Webhook {
    pub payload_alerts: usize,
    /// Distinct users the payload's alerts name: one grant each is expected.
    pub payload_users: usize,
    pub payload_alerts_per_s: f64,
    pub payload_created: usize,
    pub repeat_alerts_per_s: f64,
    /// Grants that appeared because of the repeat (must be 0).
    pub repeat_created: usize,
    /// POST of the large payload → every grant it created Active.
    pub payload_to_all_active_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Aws {
    /// Per grant while granting a burst (controller's `breakglass_aws_calls_total`).
    pub grant_per_grant: Calls,
    /// Per grant while revoking after `resolved: true`.
    pub revoke_per_grant: Calls,
    pub lifecycle_per_grant: f64,
    pub steady_window_s: f64,
    pub steady_per_minute: f64,
    pub steady_per_minute_by_operation: Calls,
    pub restart_window_s: f64,
    pub restart_first_window: Calls,
    pub restart_first_window_total: f64,
    pub restart_per_active_grant: f64,
    /// The same windows counted by moto itself (its request recorder).
    pub moto_side: MotoSide,
}

#[derive(Debug, Serialize)]
pub struct MotoSide {
    pub grant_burst: Calls,
    pub steady: Calls,
    pub restart_first_window: Calls,
    pub revoke: Calls,
}

#[derive(Debug, Serialize)]
pub struct Restart {
    pub active_grants: usize,
    pub ready_s: f64,
    pub first_reconcile_s: f64,
    /// A grant created while the controller was down: restart → Active (outside view).
    pub pending_grant_active_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub rss_active_mib: f64,
    pub rss_after_restart_mib: f64,
    pub rss_after_end_mib: f64,
    pub rss_peak_mib: f64,
}

#[derive(Debug, Serialize)]
pub struct Correctness {
    /// Group memberships left on AWS once every grant has ended (must be 0).
    pub members_left_after_end: usize,
    /// Creates and patches the API server failed transiently (5xx, 429, dropped
    /// connection) and the bench sent again; their latency counts from the first send.
    pub api_requests_retried: usize,
}

fn lat(l: &Option<Latency>) -> String {
    match l {
        Some(l) => format!(
            "p50 {:.3}s  p90 {:.3}s  p99 {:.3}s  max {:.3}s  (n={})",
            l.p50_s, l.p90_s, l.p99_s, l.max_s, l.count
        ),
        None => "no samples".into(),
    }
}

fn calls(c: &Calls) -> String {
    if c.is_empty() {
        return "none".into();
    }
    c.iter()
        .map(|(op, n)| format!("{op} {}", (n * 100.0).round() / 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    pub fn table(&self) -> String {
        let a = &self.aws;
        let rows: Vec<(&str, String, &str)> = vec![
            (
                "apply → Active",
                lat(&self.apply_to_active.latency),
                "p99 ≤ 0.5 s",
            ),
            (
                "  burst total",
                format!("{:.2}s", self.apply_to_active.total_s),
                "",
            ),
            (
                "resolve → Ended",
                lat(&self.resolve_to_ended.latency),
                "p99 ≤ 0.5 s",
            ),
            (
                "expiresAt → Ended",
                lat(&self.expiry_lag.latency),
                "p99 ≤ 0.5 s",
            ),
            (
                "alert POST → Active",
                lat(&self.alert_to_active.latency),
                "p99 ≤ 1 s",
            ),
            (
                "webhook, large payload",
                format!(
                    "{:.0} alerts/s ({} alerts for {} users, {} grants created)",
                    self.webhook.payload_alerts_per_s,
                    self.webhook.payload_alerts,
                    self.webhook.payload_users,
                    self.webhook.payload_created
                ),
                "one grant per user",
            ),
            (
                "webhook, repeat",
                format!(
                    "{:.0} alerts/s ({} created)",
                    self.webhook.repeat_alerts_per_s, self.webhook.repeat_created
                ),
                "≥ 2000/s, 0 created",
            ),
            ("AWS calls per grant (grant)", calls(&a.grant_per_grant), ""),
            (
                "AWS calls per grant (revoke)",
                calls(&a.revoke_per_grant),
                "",
            ),
            (
                "AWS calls per lifecycle",
                format!("{:.2}", a.lifecycle_per_grant),
                "≤ 4",
            ),
            (
                "AWS calls/min, steady",
                format!(
                    "{:.1} over {:.0}s: {}",
                    a.steady_per_minute,
                    a.steady_window_s,
                    calls(&a.steady_per_minute_by_operation)
                ),
                "by targets, not grants",
            ),
            (
                "AWS calls, restart window",
                format!(
                    "{} in {:.0}s ({:.2} per Active grant): {}",
                    a.restart_first_window_total,
                    a.restart_window_s,
                    a.restart_per_active_grant,
                    calls(&a.restart_first_window)
                ),
                "none per grant",
            ),
            (
                "accounts: apply → Active",
                format!(
                    "{}  ({} accounts each, SSO calls +{} ms)",
                    lat(&self.accounts.apply_to_active.latency),
                    self.accounts.accounts_per_grant,
                    self.accounts.proxy_delay_ms
                ),
                "",
            ),
            (
                "accounts: resolve → Ended",
                lat(&self.accounts.resolve_to_ended.latency),
                "",
            ),
            (
                "accounts: resolve → sessions cut",
                format!(
                    "{}  (total {:.1}s)",
                    lat(&self.accounts.resolve_to_sessions_cut.latency),
                    self.accounts.resolve_to_sessions_cut.total_s
                ),
                "",
            ),
            (
                "accounts: AWS calls per lifecycle",
                format!(
                    "{:.2}: {}",
                    self.accounts.lifecycle_per_grant,
                    calls(&self.accounts.calls_per_grant)
                ),
                "",
            ),
            (
                "accounts: assignments left after end",
                self.accounts.assignments_left.to_string(),
                "0",
            ),
            (
                "restart → ready / first reconcile",
                format!(
                    "{:.2}s / {:.2}s ({} Active)",
                    self.restart.ready_s,
                    self.restart.first_reconcile_s,
                    self.restart.active_grants
                ),
                "",
            ),
            (
                "restart → waiting grant Active",
                format!("{:.2}s", self.restart.pending_grant_active_s),
                "",
            ),
            (
                "RSS active / restarted / ended / peak",
                format!(
                    "{:.0} / {:.0} / {:.0} / {:.0} MiB",
                    self.memory.rss_active_mib,
                    self.memory.rss_after_restart_mib,
                    self.memory.rss_after_end_mib,
                    self.memory.rss_peak_mib
                ),
                "≤ 64 MiB at 10,000",
            ),
            (
                "members left after end",
                self.correctness.members_left_after_end.to_string(),
                "0",
            ),
            (
                "API requests retried (transient)",
                self.correctness.api_requests_retried.to_string(),
                "",
            ),
        ];
        let mut out = format!("breakglass bench, N={} ({})\n", self.n, self.mode);
        for (k, v, t) in rows {
            out.push_str(&format!("  {k:<38} {v}"));
            if !t.is_empty() {
                out.push_str(&format!("   [target {t}]"));
            }
            out.push('\n');
        }
        out
    }
}
