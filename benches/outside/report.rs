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
    pub budgets: Budgets,
    pub arrivals: Arrivals,
    /// The API server's requests during the steady window (every burst grant Active and
    /// pausing its policy's Application, nothing changing).
    pub api_server_steady: ApiServerIdle,
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

/// A burst at the controller's default flags on one Identity Store, twice: users the
/// process never saw (`cold`), then the same users again (`warm`).
#[derive(Debug, Serialize)]
pub struct Budgets {
    pub grants: usize,
    pub cold: BurstRound,
    pub warm: BurstRound,
    pub cold_apply_to_active: Option<Latency>,
    pub warm_apply_to_active: Option<Latency>,
    /// Throttling answers the controller counted (moto never throttles: the peak below is
    /// what shows the budget held).
    pub throttled: f64,
    /// Highest calls/s over any one-second sample of the timeline while the phase ran, by
    /// API family (one Identity Store and one caller here: per family is per budget).
    pub peak_calls_per_s: Calls,
}

/// One burst of grants and its revocation, against the floor the budget sets.
#[derive(Debug, Serialize)]
pub struct BurstRound {
    /// The Identity Store budget's rate, from the controller's `breakglass_aws_budget_rate`.
    pub identity_store_rate: f64,
    /// First create sent → last grant Active.
    pub grant_s: f64,
    /// One CreateGroupMembership per grant ÷ the rate: what no design can beat.
    pub grant_floor_writes_s: f64,
    pub grant_ratio_to_writes_floor: f64,
    /// Every Identity Store call the burst made ÷ the rate (lookups of unknown users too).
    pub grant_floor_calls_s: f64,
    pub grant_ratio_to_calls_floor: f64,
    /// First resolve sent → last grant Ended.
    pub revoke_s: f64,
    pub revoke_floor_writes_s: f64,
    pub revoke_ratio_to_writes_floor: f64,
    pub identity_store_per_lifecycle: f64,
    pub identity_store_writes_per_lifecycle: f64,
    pub grant_per_grant: Calls,
    pub revoke_per_grant: Calls,
}

/// Grants arriving at a steady rate while N are Active.
#[derive(Debug, Serialize)]
pub struct Arrivals {
    pub per_s: f64,
    pub grants: usize,
    pub active_before: usize,
    pub apply_to_active: Phase,
}

#[derive(Debug, Serialize)]
pub struct ApiServerIdle {
    pub window_s: f64,
    /// Every request the API server answered in the window (watches excluded), per second.
    pub requests_per_s: f64,
    /// By `verb group/resource`, per second.
    pub by_resource_per_s: Calls,
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
