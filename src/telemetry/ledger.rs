//! The ledger's metrics: entries the sweep will not act on, by why (`foreign`: not under
//! the name this installation computes; `unreachable`: no policy or grant gives a role to
//! act with). Set on every full sweep; never labelled by user or entry.

use prometheus_client::metrics::{family::Family, gauge::Gauge};

use super::{Labels, labels, names::Registered};

pub struct LedgerMetrics {
    ignored: Family<Labels, Gauge>,
}

impl LedgerMetrics {
    pub(super) fn new(registry: &mut Registered) -> Self {
        let m = Self {
            ignored: Family::default(),
        };
        registry.register(
            "ledger_entries_ignored",
            "Ledger entries the sweep does not act on, by reason (foreign, unreachable)",
            m.ignored.clone(),
        );
        m
    }

    pub fn ignored(&self, reason: &str, n: usize) {
        self.ignored
            .get_or_create(&labels(&[("reason", reason)]))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}
