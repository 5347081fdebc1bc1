//! Structured logs (`RUST_LOG` filters, default `info`; `BREAKGLASS_LOG_FORMAT=json` for JSON)
//! and the Prometheus metrics served on the admin address.

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

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

/// The operator's metrics. Labels are low-cardinality by construction (outcomes, sources).
pub struct Metrics {
    registry: Registry,
    webhook_requests: Family<Labels, Counter>,
    grants_created: Family<Labels, Counter>,
    grants_resolved: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("breakglass");
        let webhook_requests = Family::<Labels, Counter>::default();
        let grants_created = Family::<Labels, Counter>::default();
        let grants_resolved = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_requests",
            "Alertmanager webhook requests by outcome",
            webhook_requests.clone(),
        );
        registry.register(
            "grants_created",
            "Grants created by the operator, by source",
            grants_created.clone(),
        );
        registry.register(
            "grants_resolved",
            "Grants marked resolved by the operator, by source",
            grants_resolved.clone(),
        );
        Self {
            registry,
            webhook_requests,
            grants_created,
            grants_resolved,
        }
    }

    pub fn webhook_request(&self, outcome: &str) {
        self.webhook_requests
            .get_or_create(&vec![("outcome".into(), outcome.into())])
            .inc();
    }

    pub fn grant_created(&self, source: &str) {
        self.grants_created
            .get_or_create(&vec![("source".into(), source.into())])
            .inc();
    }

    pub fn grant_resolved(&self, source: &str) {
        self.grants_resolved
            .get_or_create(&vec![("source".into(), source.into())])
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
