//! Deciding what one notification changes, against the grants the webhook already made.
//! Pure: the operator's webhook cache supplies the grants, its `storm::write` carries the
//! decision out.
//!
//! Firing alerts that name the same user under the same rule share one grant (a storm of
//! alerts about ten people opens ten grants). An alert already recorded on a grant is a
//! repeat and changes nothing. A resolved alert marks its entry resolved wherever it is
//! recorded; one never seen firing is recorded as resolved (on the group's open grant, or
//! on a new grant created already resolved), so its late firing opens nothing.
//!
//! Only the webhook's own grants count: one whose `spec.requestedBy` is the webhook's
//! username (the admission policy makes that the creating user). A grant anyone else made
//! with the same labels and annotations is neither joined, nor taken as a record of an
//! alert, nor written to: its alerts open a grant of their own.

use std::collections::{BTreeMap, HashMap};

use super::{
    Alert, AlertStatus, FINGERPRINT_ANNOTATION, GROUP_LABEL, GroupKey, Matched,
    STARTS_AT_ANNOTATION,
};
use crate::{
    AlertRule, AlertState, BreakGlassGrantSpec, BreakGlassGrantStatus, GrantAlert, GrantKey,
    GrantPhase, Time,
};

/// What [`Known::of`] reads of one grant object; the operator fills it from the object.
#[derive(Debug, Clone, Copy)]
pub struct GrantView<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub created: Option<&'a Time>,
    pub spec: &'a BreakGlassGrantSpec,
    pub status: Option<&'a BreakGlassGrantStatus>,
}

/// What the webhook knows of one of its grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub namespace: String,
    pub name: String,
    /// The `breakglass.dev/alert-group` label; absent on grants opened before grouping.
    pub group: Option<String>,
    pub policy: String,
    pub user: String,
    /// `spec.requestedBy`: only grants the webhook itself requested are its own.
    pub requested_by: Option<String>,
    /// Neither resolved, ended, denied nor being deleted: new alerts of its group join it.
    pub open: bool,
    pub alerts: Vec<GrantAlert>,
    pub created: Option<Time>,
}

impl Known {
    pub fn of(grant: GrantView<'_>) -> Self {
        let status = grant.status;
        let closed = grant.spec.resolved
            || grant.deleting
            || matches!(
                status.and_then(|s| s.phase),
                Some(GrantPhase::Ended | GrantPhase::Denied)
            );
        let mut alerts = status.map(|s| s.alerts.clone()).unwrap_or_default();
        // The opening alert is on the grant from its creation, before `status.alerts` is
        // written (and on grants made before that field existed).
        let ann = grant.annotations;
        if let (Some(fp), Some(at)) = (
            ann.get(FINGERPRINT_ANNOTATION),
            ann.get(STARTS_AT_ANNOTATION),
        ) && !alerts
            .iter()
            .any(|a| &a.fingerprint == fp && &a.starts_at == at)
        {
            alerts.push(GrantAlert {
                fingerprint: fp.clone(),
                starts_at: at.clone(),
                state: if grant.spec.resolved {
                    AlertState::Resolved
                } else {
                    AlertState::Firing
                },
            });
        }
        Self {
            namespace: grant.namespace.to_owned(),
            name: grant.name.to_owned(),
            group: grant.labels.get(GROUP_LABEL).cloned(),
            policy: grant.spec.policy.clone(),
            user: grant.spec.user.clone(),
            requested_by: grant.spec.requested_by.clone(),
            open: !closed,
            alerts,
            created: grant.created.cloned(),
        }
    }

    pub fn id(&self) -> GrantKey {
        GrantKey::new(&self.namespace, &self.name)
    }

    /// Requested by `webhook` (the webhook's own username), so the webhook made it.
    pub fn requested_by(&self, webhook: &str) -> bool {
        self.requested_by.as_deref() == Some(webhook)
    }
}

/// `upserts` applied to `current`: new alerts appended, and an alert once resolved stays
/// resolved (a firing that arrives after its resolution must not reopen it).
pub fn merge(current: &[GrantAlert], upserts: &[GrantAlert]) -> Vec<GrantAlert> {
    let mut out = current.to_vec();
    for u in upserts {
        match out
            .iter_mut()
            .find(|a| a.fingerprint == u.fingerprint && a.starts_at == u.starts_at)
        {
            Some(a) if u.state == AlertState::Resolved => a.state = AlertState::Resolved,
            Some(_) => {}
            None => out.push(u.clone()),
        }
    }
    out
}

/// A grant to create for a group with no open grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Create<'a> {
    pub group: GroupKey,
    pub rule: &'a AlertRule,
    /// The first alert of the group in the notification; the grant is named after it.
    pub opener: &'a Alert,
    pub alerts: Vec<GrantAlert>,
}

impl Create<'_> {
    /// Every alert already resolved: the grant is created resolved and never grants.
    pub fn resolved(&self) -> bool {
        self.alerts.iter().all(|a| a.state == AlertState::Resolved)
    }
}

/// The decision for one notification.
#[derive(Debug, Default, PartialEq)]
pub struct Decision<'a> {
    pub creates: Vec<Create<'a>>,
    /// Existing grants (namespace, name) and the alerts to record on them.
    pub updates: Vec<(String, String, Vec<GrantAlert>)>,
    /// Repeats: firing alerts already recorded, and the grants they are on.
    pub existing: Vec<GrantKey>,
    /// Firing alerts whose resolution was already recorded: they open nothing.
    pub already_resolved: Vec<GrantKey>,
    /// Alerts that matched no rule and no grant.
    pub unmatched: usize,
    /// Alerts already recorded as they are (repeats): answered without a write.
    pub repeats: usize,
    /// Firing alerts already recorded as resolved: answered without a write.
    pub late: usize,
}

fn entry(alert: &Alert, state: AlertState) -> GrantAlert {
    GrantAlert {
        fingerprint: alert.fingerprint.clone(),
        starts_at: alert.starts_at.clone(),
        state,
    }
}

/// Decides the writes for `alerts` (with their `targets`) given the `known` grants, of
/// which only those requested by `webhook` (its own username) are considered.
///
/// Per group, an alert recorded on one of the group's grants is a repeat (or, recorded as
/// resolved, a late firing that opens nothing). A resolution reaches every grant that
/// records the alert firing, whatever its group (the policy may have changed since).
pub fn decide<'a>(
    alerts: &'a [Alert],
    targets: &[Matched<'a>],
    known: &[Known],
    webhook: &str,
) -> Decision<'a> {
    type Entries = Vec<(usize, AlertState)>;
    let mut everywhere: HashMap<(&str, &str), Entries> = HashMap::new();
    let mut in_group: HashMap<(&str, &str, &str), Entries> = HashMap::new();
    let mut open: HashMap<&str, usize> = HashMap::new();
    // Anyone may label a grant as the webhook does; only the webhook can request as itself.
    let own = known
        .iter()
        .enumerate()
        .filter(|(_, g)| g.requested_by(webhook));
    for (k, grant) in own {
        for a in &grant.alerts {
            let id = (a.fingerprint.as_str(), a.starts_at.as_str());
            everywhere.entry(id).or_default().push((k, a.state));
            if let Some(group) = &grant.group {
                in_group
                    .entry((group, id.0, id.1))
                    .or_default()
                    .push((k, a.state));
            }
        }
        if grant.open
            && let Some(group) = &grant.group
        {
            // Several open grants of one group (a race between replicas): new alerts join
            // the newest.
            let newer = open.get(group.as_str()).is_none_or(|&other| {
                (&known[other].created, &known[other].name) < (&grant.created, &grant.name)
            });
            if newer {
                open.insert(group, k);
            }
        }
    }
    let mut by_alert: BTreeMap<usize, Vec<&Matched<'a>>> = BTreeMap::new();
    for t in targets {
        by_alert.entry(t.alert).or_default().push(t);
    }
    let mut decision = Decision::default();
    let mut updates: BTreeMap<usize, Vec<GrantAlert>> = BTreeMap::new();
    let mut creates: BTreeMap<GroupKey, Create<'a>> = BTreeMap::new();
    for (i, alert) in alerts.iter().enumerate() {
        let state = match alert.status {
            AlertStatus::Firing => AlertState::Firing,
            AlertStatus::Resolved => AlertState::Resolved,
        };
        let id = (alert.fingerprint.as_str(), alert.starts_at.as_str());
        let e = entry(alert, state);
        let mut wrote = false;
        let (mut seen, mut late) = (false, false);
        if state == AlertState::Resolved {
            for (k, s) in everywhere.get(&id).map(Vec::as_slice).unwrap_or_default() {
                seen = true;
                if *s == AlertState::Firing {
                    updates.entry(*k).or_default().push(e.clone());
                    wrote = true;
                }
            }
        }
        for t in by_alert.get(&i).map(Vec::as_slice).unwrap_or_default() {
            let group = t.group.id();
            // Grants opened before grouping have no group label: the same namespace,
            // policy and user stand for it.
            let legacy: Entries = everywhere
                .get(&id)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|(k, _)| {
                    let g = &known[*k];
                    g.group.is_none()
                        && g.namespace == t.group.namespace
                        && g.policy == t.group.policy
                        && g.user == t.group.user
                })
                .copied()
                .collect();
            let recorded = in_group
                .get(&(group.as_str(), id.0, id.1))
                .or((!legacy.is_empty()).then_some(&legacy));
            if let Some(recorded) = recorded {
                seen = true;
                let resolved = recorded.iter().any(|(_, s)| *s == AlertState::Resolved);
                let ids = recorded.iter().map(|(k, _)| known[*k].id());
                if state == AlertState::Firing && resolved {
                    late = true;
                    decision.already_resolved.extend(ids);
                } else if state == AlertState::Firing {
                    decision.existing.extend(ids);
                }
                continue;
            }
            wrote = true;
            if let Some(&k) = open.get(group.as_str()) {
                updates.entry(k).or_default().push(e.clone());
                continue;
            }
            let create = creates.entry(t.group.clone()).or_insert_with(|| Create {
                group: t.group.clone(),
                rule: t.rule,
                opener: alert,
                alerts: vec![],
            });
            create.alerts = merge(&create.alerts, std::slice::from_ref(&e));
        }
        if wrote {
            continue;
        }
        if late {
            decision.late += 1;
        } else if seen || everywhere.contains_key(&id) {
            decision.repeats += 1;
        } else {
            decision.unmatched += 1;
        }
    }
    decision.creates = creates.into_values().collect();
    decision.updates = updates
        .into_iter()
        .map(|(k, upserts)| {
            (
                known[k].namespace.clone(),
                known[k].name.clone(),
                merge(&[], &upserts),
            )
        })
        .collect();
    for ids in [&mut decision.existing, &mut decision.already_resolved] {
        ids.sort();
        ids.dedup();
    }
    decision
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_own;
