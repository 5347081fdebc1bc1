//! The table `make bench` prints after a run: each figure beside its target.

use crate::{report::*, stats::Latency};

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

fn round(r: &BurstRound) -> String {
    format!(
        "{:.1}s, ×{:.2} the writes floor ({:.1}s), ×{:.2} the calls floor ({:.1}s)",
        r.grant_s,
        r.grant_ratio_to_writes_floor,
        r.grant_floor_writes_s,
        r.grant_ratio_to_calls_floor,
        r.grant_floor_calls_s
    )
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
                "budgets: burst, users new / known",
                format!(
                    "{} grants: {} / {}",
                    self.budgets.grants,
                    round(&self.budgets.cold),
                    round(&self.budgets.warm)
                ),
                "≤ 1.1 × floor",
            ),
            (
                "budgets: revoke, new / known",
                format!(
                    "{:.1}s ×{:.2} / {:.1}s ×{:.2} the floor",
                    self.budgets.cold.revoke_s,
                    self.budgets.cold.revoke_ratio_to_writes_floor,
                    self.budgets.warm.revoke_s,
                    self.budgets.warm.revoke_ratio_to_writes_floor
                ),
                "",
            ),
            (
                "Identity Store calls per lifecycle",
                format!(
                    "{:.2} users new, {:.2} users known",
                    self.budgets.cold.identity_store_per_lifecycle,
                    self.budgets.warm.identity_store_per_lifecycle
                ),
                "2",
            ),
            (
                "budgets: peak calls/s by API",
                format!(
                    "{} (Identity Store budget {:.0}/s, {} throttled)",
                    calls(&self.budgets.peak_calls_per_s),
                    self.budgets.cold.identity_store_rate,
                    self.budgets.throttled
                ),
                "≤ budget",
            ),
            (
                "arrivals: apply → Active",
                format!(
                    "{}  ({}/s, {} Active)",
                    lat(&self.arrivals.apply_to_active.latency),
                    self.arrivals.per_s,
                    self.arrivals.active_before
                ),
                "p99 ≤ 0.5 s",
            ),
            (
                "API server requests/s, steady",
                format!(
                    "{:.2} over {:.0}s: {}",
                    self.api_server_steady.requests_per_s,
                    self.api_server_steady.window_s,
                    calls(&self.api_server_steady.by_resource_per_s)
                ),
                "≤ 1",
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
