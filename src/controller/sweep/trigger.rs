//! Sweeps on demand: a grant that disappears while it may hold access (its finalizer was
//! stripped, or it was deleted by force) marks its group, and the sweep lists just the
//! marked groups after a short pause that batches a burst into one list per group.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

use crate::{
    api::{BreakGlassGrant, GrantPhase},
    pause::orphan::Known,
    plan, targets,
};

/// How long a trigger waits for more: a burst of deletions on one group is one list.
pub const BATCH: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub struct Trigger {
    dirty: Arc<Mutex<BTreeSet<targets::Target>>>,
    /// Objects a vanished, unended grant had paused (its restore never ran), with the
    /// methods its entries recorded.
    pauses: Arc<Mutex<Known>>,
    notify: Arc<Notify>,
}

impl Trigger {
    /// Called with the last state of each deleted grant. A grant ended by the operator
    /// (its finalizer's normal path) is `Ended` and needs nothing.
    pub fn grant_gone(&self, grant: &BreakGlassGrant) {
        let status = grant.status.as_ref();
        let mut paused = Known::default();
        if status.and_then(|s| s.phase) != Some(GrantPhase::Ended) {
            status
                .into_iter()
                .flat_map(|s| &s.paused_targets)
                .filter(|e| e.state.may_hold())
                .for_each(|e| paused.remember(e));
        }
        let recorded = if plan::may_hold_access(grant.status.as_ref()) {
            targets::recorded_targets(grant.status.as_ref())
        } else {
            vec![]
        };
        if recorded.is_empty() && paused.is_empty() {
            return;
        }
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.extend(recorded.into_iter().map(|(t, _, _)| t));
        }
        if let Ok(mut pauses) = self.pauses.lock() {
            pauses.merge(paused);
        }
        self.notify.notify_one();
    }

    /// The paused objects of grants that vanished since the last call.
    pub fn take_pauses(&self) -> Known {
        self.pauses
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    /// Waits for a mark, then for the batch to fill, and takes the marked groups.
    pub async fn next(&self) -> BTreeSet<targets::Target> {
        self.notify.notified().await;
        tokio::time::sleep(BATCH).await;
        self.dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(name: &str, phase: &str, group: &str) -> BreakGlassGrant {
        let yaml = format!(
            "apiVersion: breakglass.dev/v1alpha1
kind: BreakGlassGrant
metadata: {{name: {name}, namespace: incidents}}
spec: {{policy: p, user: {name}@example.com, reason: outage}}
status:
  phase: {phase}
  userId: u-{name}
  expiresAt: \"2026-01-01T13:00:00Z\"
  access: {{groupMembership: {{identityStoreId: d-1, groupId: {group}, membershipId: m-{name}}}}}
"
        );
        serde_yaml::from_str(&yaml).expect("grant fixture")
    }

    #[tokio::test]
    async fn a_burst_of_deletions_is_one_sweep_of_the_groups_that_held_access() {
        let trigger = Trigger::default();
        trigger.grant_gone(&grant("alice", "Active", "g-1"));
        trigger.grant_gone(&grant("bob", "Pending", "g-1"));
        // Ended through the finalizer: its access is already gone.
        trigger.grant_gone(&grant("carol", "Ended", "g-2"));
        let dirty = trigger.next().await;
        let groups: Vec<String> = dirty.iter().map(|t| t.to_string()).collect();
        assert_eq!(groups, ["group g-1"]);
        assert!(trigger.dirty.lock().is_ok_and(|d| d.is_empty()));
    }
}
