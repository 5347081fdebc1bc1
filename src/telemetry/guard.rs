//! The session guard's metrics: statements per permission set, provisioning latency,
//! failures by reason. Labelled by permission set ARN (a handful per installation) and
//! reason, never by user or grant.

use prometheus_client::metrics::{
    counter::Counter,
    family::Family,
    gauge::Gauge,
    histogram::{Histogram, exponential_buckets},
};

use super::{Labels, labels, names::Registered};

pub struct GuardMetrics {
    statements: Family<Labels, Gauge>,
    provisioning: Histogram,
    failures: Family<Labels, Counter>,
}

impl GuardMetrics {
    pub(super) fn new(registry: &mut Registered) -> Self {
        let m = Self {
            statements: Family::default(),
            // 0.1 s … ~7 min: AWS provisions a permission set in seconds to minutes.
            provisioning: Histogram::new(exponential_buckets(0.1, 2.0, 13)),
            failures: Family::default(),
        };
        registry.register(
            "session_guard_statements",
            "The operator's Deny statements in a guarded permission set's inline policy, by permission set",
            m.statements.clone(),
        );
        registry.register(
            "session_guard_provisioning_seconds",
            "From asking AWS to provision a guarded permission set to AWS confirming it",
            m.provisioning.clone(),
        );
        registry.register(
            "session_guard_failures",
            "Session guard writes or provisionings that failed, by reason",
            m.failures.clone(),
        );
        m
    }

    pub fn statements(&self, permission_set_arn: &str, n: usize) {
        self.statements
            .get_or_create(&labels(&[("permission_set", permission_set_arn)]))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn provisioned_after(&self, seconds: f64) {
        self.provisioning.observe(seconds.max(0.0));
    }

    pub fn failed(&self, reason: &str) {
        self.failures
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }
}
