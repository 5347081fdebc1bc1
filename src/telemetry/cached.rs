//! What the leader reports from its grant cache, apart from the reconciler: the gauges
//! (computed at scrape time, so they cannot drift from what the cluster holds) and whether
//! its work moves (`/healthz`).

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::Store;

use super::{Metrics, Stall, labels, overdue_by, tally::tally};
use crate::api::BreakGlassGrant;

impl Metrics {
    /// Called by the controller with its cache while it runs, and with `None` when it stops.
    pub fn observe_grants(&self, store: Option<Store<BreakGlassGrant>>) {
        if let Ok(mut slot) = self.grants.write() {
            *slot = store;
        }
    }

    pub(super) fn refresh_gauges(&self) {
        let grants = match self.grants.read() {
            Ok(slot) => slot.as_ref().map(|s| s.state()).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let t = tally(grants.iter().map(|g| g.as_ref()), Timestamp::now());
        self.grants_overdue.set(t.overdue);
        self.grants_by_phase.clear();
        for ((policy, phase), n) in t.phases {
            self.grants_by_phase
                .get_or_create(&labels(&[("policy", &policy), ("phase", &phase)]))
                .set(n);
        }
        for (family, values, label) in [
            (&self.active_grants, t.active, "policy"),
            (&self.paused_targets, t.paused, "kind"),
            (&self.held_targets, t.held, "kind"),
        ] {
            family.clear();
            for (value, n) in values {
                family.get_or_create(&labels(&[(label, &value)])).set(n);
            }
        }
    }

    /// `/healthz` of this replica: fails only on the leader, when its work stalls.
    pub fn health(&self) -> Result<(), Stall> {
        let now = Timestamp::now();
        self.watchdog.check(std::time::Instant::now(), |beyond| {
            self.overdue_beyond(now, beyond)
        })
    }

    /// The first few grants overdue by more than `beyond`, as `namespace/name`.
    fn overdue_beyond(&self, now: Timestamp, beyond: std::time::Duration) -> Vec<String> {
        let Ok(slot) = self.grants.read() else {
            return vec![];
        };
        slot.as_ref().map_or_else(Vec::new, |store| {
            store
                .state()
                .iter()
                .filter(|g| overdue_by(g, now).is_some_and(|late| late > beyond))
                .take(5)
                .map(|g| g.key().to_string())
                .collect()
        })
    }
}
