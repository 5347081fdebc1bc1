//! Structured logs (`RUST_LOG` filters, default `info`; `BREAKGLASS_LOG_FORMAT=json` for JSON)
//! and the Prometheus metrics served on the admin address.
//!
//! Labels are low-cardinality by construction: outcomes, sources, reasons, operation names,
//! policy names and target kinds — never users, grants or incidents.

use std::sync::{
    RwLock,
    atomic::{AtomicI64, AtomicU64},
};

use kube::runtime::reflector::Store;
use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

mod aws;
mod cached;
mod guard;
mod ledger;
mod names;
mod pause;
mod tally;
mod watchdog;
pub use aws::AwsMetrics;
pub use guard::GuardMetrics;
pub use ledger::LedgerMetrics;
pub use pause::PauseMetrics;
pub use tally::{OVERDUE_AFTER, Tally, overdue_by};
pub use watchdog::{Running, Stall, Watchdog, Work};

use self::names::Registered;
use crate::api::BreakGlassGrant;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("BREAKGLASS_LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt::layer().json()).init();
    } else {
        registry.with(fmt::layer()).init();
    }
}

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn latency_histogram() -> Histogram {
    // 50 ms … ~200 s: a grant normally lands in well under a second; AWS retries take longer.
    Histogram::new(exponential_buckets(0.05, 2.0, 13))
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    families: Vec<(String, prometheus_client::metrics::MetricType)>,
    webhook_requests: Family<Labels, Counter>,
    webhook_alerts: Family<Labels, Counter>,
    webhook_writes: Family<Labels, Counter>,
    grants_created: Family<Labels, Counter>,
    grants_resolved: Family<Labels, Counter>,
    reconciles: Counter,
    reconcile_errors: Family<Labels, Counter>,
    access_drift: Family<Labels, Counter>,
    sweeps: Family<Labels, Counter>,
    grant_latency: Histogram,
    revoke_latency: Family<Labels, Histogram, fn() -> Histogram>,
    active_grants: Family<Labels, Gauge>,
    paused_targets: Family<Labels, Gauge>,
    held_targets: Family<Labels, Gauge>,
    held_seconds: Histogram,
    leader: Gauge<i64, AtomicI64>,
    grants_overdue: Gauge,
    grants_by_phase: Family<Labels, Gauge>,
    sweep_last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    /// Whether the leader's reconciles and sweeps move (`/healthz`).
    pub watchdog: Watchdog,
    /// The session guard's.
    pub guard: GuardMetrics,
    /// The ledger's.
    pub ledger: LedgerMetrics,
    /// AWS calls, throttling and budgets.
    pub aws: AwsMetrics,
    /// Pausing's.
    pub pauses: PauseMetrics,
    /// The leader's grant cache; the gauges are computed from it at scrape time, so they
    /// cannot drift from what the cluster holds. Empty on a follower.
    grants: RwLock<Option<Store<BreakGlassGrant>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Every AWS call, throttled attempt and budget rate (`aws`).
impl crate::aws::CallObserver for Metrics {
    fn call(&self, service: &str, operation: &str, outcome: crate::aws::CallOutcome) {
        self.aws.call(service, operation, outcome.as_str());
    }

    fn throttled(&self, service: &str, operation: &str) {
        self.aws.throttled(service, operation);
    }

    fn budget(&self, service: &str, account: &str, per_second: f64) {
        self.aws.budget(service, account, per_second);
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registered::new();
        let reconcile_last_progress = Gauge::<f64, AtomicU64>::default();
        let m = Self {
            webhook_requests: Family::default(),
            webhook_alerts: Family::default(),
            webhook_writes: Family::default(),
            grants_created: Family::default(),
            grants_resolved: Family::default(),
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            access_drift: Family::default(),
            sweeps: Family::default(),
            grant_latency: latency_histogram(),
            revoke_latency: Family::new_with_constructor(latency_histogram),
            active_grants: Family::default(),
            paused_targets: Family::default(),
            held_targets: Family::default(),
            // 10 s … ~2 days: a review takes minutes to hours.
            held_seconds: Histogram::new(exponential_buckets(10.0, 3.0, 10)),
            leader: Gauge::default(),
            grants_overdue: Gauge::default(),
            grants_by_phase: Family::default(),
            sweep_last_success: Family::default(),
            watchdog: Watchdog::new(reconcile_last_progress.clone()),
            guard: GuardMetrics::new(&mut registry),
            ledger: LedgerMetrics::new(&mut registry),
            aws: AwsMetrics::new(&mut registry),
            pauses: PauseMetrics::new(&mut registry),
            grants: RwLock::new(None),
            registry: Registry::default(),
            families: vec![],
        };
        registry.register(
            "webhook_requests",
            "Alertmanager webhook requests by outcome",
            m.webhook_requests.clone(),
        );
        registry.register(
            "webhook_alerts",
            "Alerts received by the webhook, by what became of them",
            m.webhook_alerts.clone(),
        );
        registry.register(
            "webhook_writes",
            "Kubernetes API calls the webhook made, by kind (repeats are answered from its cache)",
            m.webhook_writes.clone(),
        );
        registry.register(
            "grants_created",
            "Grants created by the operator, by source",
            m.grants_created.clone(),
        );
        registry.register(
            "grants_resolved",
            "Grants marked resolved by the operator, by source",
            m.grants_resolved.clone(),
        );
        registry.register(
            "reconciles",
            "Grant reconciles run by this replica",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed grant reconciles by reason",
            m.reconcile_errors.clone(),
        );
        registry.register(
            "access_drift",
            "Differences the sweep found between grants and AWS, by kind: orphan (added by the operator, no grant; removed), unmanaged (never added by it, no grant; removed from exclusive groups, else reported), removed (an Active grant's access removed on AWS; the grant ends)",
            m.access_drift.clone(),
        );
        // Each kind is present from the start: an absent series is an error, never a 0.
        for kind in ["orphan", "unmanaged", "removed"] {
            drop(m.access_drift.get_or_create(&labels(&[("kind", kind)])));
        }
        registry.register(
            "sweeps",
            "Sweeps of the AWS targets by outcome",
            m.sweeps.clone(),
        );
        for outcome in ["ok", "error"] {
            drop(m.sweeps.get_or_create(&labels(&[("outcome", outcome)])));
        }
        registry.register(
            "grant_latency_seconds",
            "From a grant's creation to its access being confirmed on AWS",
            m.grant_latency.clone(),
        );
        registry.register(
            "revoke_latency_seconds",
            "From when a grant's end was due to its access being removed and automation restored, by end reason",
            m.revoke_latency.clone(),
        );
        registry.register(
            "active_grants",
            "Active grants by policy (reported by the leader)",
            m.active_grants.clone(),
        );
        registry.register(
            "paused_targets",
            "Automation objects held paused by grants, by kind (reported by the leader)",
            m.paused_targets.clone(),
        );
        registry.register(
            "held_targets",
            "Automation objects kept paused for review after their grant ended (restore WhenInSync or Manual), by kind (reported by the leader)",
            m.held_targets.clone(),
        );
        registry.register(
            "held_seconds",
            "How long targets were kept paused for review after their grant ended, observed when the last is given back",
            m.held_seconds.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease (or runs without leader election)",
            m.leader.clone(),
        );
        registry.register(
            "grants_overdue",
            "Grants not Ended more than 5 s past their expiresAt, counted from the watch cache apart from the reconciler (reported by the leader)",
            m.grants_overdue.clone(),
        );
        registry.register(
            "grants",
            "Grants by policy and phase (reported by the leader)",
            m.grants_by_phase.clone(),
        );
        registry.register(
            "sweep_last_success_timestamp_seconds",
            "When a full sweep last compared every target of a kind (group, account; pause: the paused objects) without an error, in Unix seconds",
            m.sweep_last_success.clone(),
        );
        registry.register(
            "reconcile_last_progress_timestamp_seconds",
            "When a grant reconcile last ended (done, or failed and retried), in Unix seconds",
            reconcile_last_progress,
        );
        Self {
            registry: registry.registry,
            families: registry.families,
            ..m
        }
    }

    /// Every series name this operator can export (whether or not it has a value yet):
    /// what dashboards and alert rules may query.
    pub fn exported_names(&self) -> Vec<String> {
        names::exposed(&self.families)
    }

    /// Tracks one grant's reconcile while the guard lives; its end (however it ends) is
    /// progress, for `/healthz` and the last-progress gauge.
    pub fn reconciling(&self, grant: String) -> Running<'_> {
        self.watchdog.start(Work::Reconcile { grant })
    }

    /// A full sweep compared every target of `kind` without an error.
    pub fn sweep_succeeded(&self, kind: &str) {
        self.sweep_last_success
            .get_or_create(&labels(&[("kind", kind)]))
            .set(unix_now());
    }

    pub fn webhook_request(&self, outcome: &str) {
        self.webhook_requests
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
    }

    /// `n` alerts of one notification ended as `result`.
    pub fn webhook_alerts(&self, result: &str, n: u64) {
        self.webhook_alerts
            .get_or_create(&labels(&[("result", result)]))
            .inc_by(n);
    }

    pub fn webhook_write(&self, kind: &str) {
        self.webhook_writes
            .get_or_create(&labels(&[("kind", kind)]))
            .inc();
    }

    pub fn grant_created(&self, source: &str) {
        self.grants_created
            .get_or_create(&labels(&[("source", source)]))
            .inc();
    }

    pub fn grant_resolved(&self, source: &str) {
        self.grants_resolved
            .get_or_create(&labels(&[("source", source)]))
            .inc();
    }

    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    pub fn reconcile_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    pub fn drift(&self, kind: &str, n: usize) {
        self.access_drift
            .get_or_create(&labels(&[("kind", kind)]))
            .inc_by(n as u64);
    }

    pub fn swept(&self, outcome: &str) {
        self.sweeps
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
    }

    pub fn granted_after(&self, seconds: f64) {
        self.grant_latency.observe(seconds.max(0.0));
    }

    pub fn revoked_after(&self, reason: &str, seconds: f64) {
        self.revoke_latency
            .get_or_create(&labels(&[("reason", reason)]))
            .observe(seconds.max(0.0));
    }

    pub fn held_for(&self, seconds: f64) {
        self.held_seconds.observe(seconds.max(0.0));
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        self.refresh_gauges();
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_family() {
        let m = Metrics::new();
        m.aws.call("identitystore", "GetUserId", "ok");
        m.reconcile_error("aws");
        m.revoked_after("Expired", 0.2);
        m.granted_after(0.1);
        let text = m.encode();
        for name in [
            "breakglass_aws_calls_total{service=\"identitystore\",operation=\"GetUserId\",outcome=\"ok\"} 1",
            "breakglass_reconcile_errors_total{reason=\"aws\"} 1",
            "breakglass_revoke_latency_seconds_count{reason=\"Expired\"} 1",
            "breakglass_grant_latency_seconds_count 1",
            "breakglass_leader 0",
            "breakglass_grants_overdue 0",
            "# TYPE breakglass_reconcile_last_progress_timestamp_seconds gauge",
        ] {
            assert!(text.contains(name), "missing {name} in:\n{text}");
        }
        let names = m.exported_names();
        for name in [
            "breakglass_aws_calls_total",
            "breakglass_grants",
            "breakglass_grants_overdue",
            "breakglass_sweep_last_success_timestamp_seconds",
            "breakglass_grant_latency_seconds_bucket",
            "breakglass_webhook_requests_total",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
    }
}
