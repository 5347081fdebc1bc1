//! AWS's metrics: every call by service, operation and outcome; the attempts AWS throttled;
//! each budget's rate now. Fed by the AWS layer through `CallObserver`.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};

use super::{Labels, labels, names::Registered};

pub struct AwsMetrics {
    calls: Family<Labels, Counter>,
    throttled: Family<Labels, Counter>,
    budget_rate: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl AwsMetrics {
    pub(super) fn new(registry: &mut Registered) -> Self {
        let m = Self {
            calls: Family::default(),
            throttled: Family::default(),
            budget_rate: Family::default(),
        };
        registry.register(
            "aws_calls",
            "AWS API calls by service, operation and outcome",
            m.calls.clone(),
        );
        registry.register(
            "aws_throttled",
            "AWS answers that throttled an attempt (retried by the SDK with backoff), by service and operation",
            m.throttled.clone(),
        );
        registry.register(
            "aws_budget_rate",
            "Calls per second an AWS budget lets through now, by service and account (Identity Store id, account, or caller for STS): the configured rate, lower after throttling until it recovers",
            m.budget_rate.clone(),
        );
        m
    }

    pub fn call(&self, service: &str, operation: &str, outcome: &str) {
        self.calls
            .get_or_create(&labels(&[
                ("service", service),
                ("operation", operation),
                ("outcome", outcome),
            ]))
            .inc();
    }

    pub fn throttled(&self, service: &str, operation: &str) {
        self.throttled
            .get_or_create(&labels(&[("service", service), ("operation", operation)]))
            .inc();
    }

    pub fn budget(&self, service: &str, account: &str, per_second: f64) {
        self.budget_rate
            .get_or_create(&labels(&[("service", service), ("account", account)]))
            .set(per_second);
    }
}
