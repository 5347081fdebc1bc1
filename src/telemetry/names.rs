//! The metric families as registered, so their exposed names can be listed even before a
//! family has a series (an empty family is not in the exposition text): dashboards and
//! alert rules are checked against this list.

use prometheus_client::{
    metrics::{MetricType, TypedMetric},
    registry::{Metric, Registry},
};

/// Every family's name carries this prefix.
pub const PREFIX: &str = "breakglass";

/// A registry that remembers what was registered.
pub(super) struct Registered {
    pub registry: Registry,
    pub families: Vec<(String, MetricType)>,
}

impl Registered {
    pub fn new() -> Self {
        Self {
            registry: Registry::with_prefix(PREFIX),
            families: vec![],
        }
    }

    pub fn register<M: Metric + TypedMetric>(&mut self, name: &str, help: &str, metric: M) {
        self.families.push((name.to_owned(), M::TYPE));
        self.registry.register(name, help, metric);
    }
}

/// The series names a family shows in the exposition: counters end in `_total`, histograms
/// are `_bucket`, `_sum` and `_count`.
pub(super) fn exposed(families: &[(String, MetricType)]) -> Vec<String> {
    families
        .iter()
        .flat_map(|(name, kind)| {
            let base = format!("{PREFIX}_{name}");
            match kind {
                MetricType::Counter => vec![format!("{base}_total")],
                MetricType::Histogram => ["_bucket", "_sum", "_count"]
                    .iter()
                    .map(|s| format!("{base}{s}"))
                    .collect(),
                _ => vec![base],
            }
        })
        .collect()
}
