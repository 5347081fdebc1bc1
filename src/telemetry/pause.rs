//! Pausing's metrics: pauses the sweep gave back for grants that were gone, and pause
//! records on objects the operator refused to write back. Labelled by target kind.

use prometheus_client::metrics::{counter::Counter, family::Family};

use super::{Labels, labels, names::Registered};

pub struct PauseMetrics {
    orphaned: Family<Labels, Counter>,
    refused: Family<Labels, Counter>,
}

impl PauseMetrics {
    pub(super) fn new(registry: &mut Registered) -> Self {
        let m = Self {
            orphaned: Family::default(),
            refused: Family::default(),
        };
        registry.register(
            "pauses_orphaned",
            "Paused objects the sweep restored because every grant holding them was gone (deleted without its finalizer) or ended without holding them, by kind",
            m.orphaned.clone(),
        );
        registry.register(
            "pause_records_refused",
            "Pause records on objects not written back because they name a field or value their method does not own (edited by someone other than the operator), by kind; counted at each sweep or restore that finds one",
            m.refused.clone(),
        );
        m
    }

    pub fn orphaned(&self, kind: &str) {
        self.orphaned
            .get_or_create(&labels(&[("kind", kind)]))
            .inc();
    }

    pub fn refused(&self, kind: &str) {
        self.refused.get_or_create(&labels(&[("kind", kind)])).inc();
    }
}
