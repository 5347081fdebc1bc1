//! Deciding what one notification changes, against the grants the webhook already made.
//! Pure: the cache supplies the grants, `write` carries the decision out.
//!
//! Firing alerts that name the same user under the same rule share one grant (a storm of
//! alerts about ten people opens ten grants). An alert already recorded on a grant is a
//! repeat and changes nothing. A resolved alert marks its entry resolved wherever it is
//! recorded; one never seen firing is recorded as resolved (on the group's open grant, or
//! on a new grant created already resolved), so its late firing opens nothing.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::{
    api::{AlertRule, AlertState, BreakGlassGrant, GrantAlert, GrantPhase},
    webhook::alertmanager::{
        Alert, AlertStatus, FINGERPRINT_ANNOTATION, GROUP_LABEL, GroupKey, STARTS_AT_ANNOTATION,
        Target,
    },
};

/// What the webhook knows of one of its grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub namespace: String,
    pub name: String,
    pub group: Option<String>,
    /// Neither resolved, ended, denied nor being deleted: new alerts of its group join it.
    pub open: bool,
    pub alerts: Vec<GrantAlert>,
    pub created: Option<Time>,
}

impl Known {
    pub fn of(grant: &BreakGlassGrant) -> Self {
        let status = grant.status.as_ref();
        let closed = grant.spec.resolved
            || grant.metadata.deletion_timestamp.is_some()
            || matches!(
                status.and_then(|s| s.phase),
                Some(GrantPhase::Ended | GrantPhase::Denied)
            );
        let mut alerts = status.map(|s| s.alerts.clone()).unwrap_or_default();
        // The opening alert is on the grant from its creation, before `status.alerts` is
        // written (and on grants made before that field existed).
        let ann = grant.annotations();
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
            namespace: grant.namespace().unwrap_or_default(),
            name: grant.name_any(),
            group: grant.labels().get(GROUP_LABEL).cloned(),
            open: !closed,
            alerts,
            created: grant.metadata.creation_timestamp.clone(),
        }
    }

    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
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
    pub existing: Vec<String>,
    /// Firing alerts whose resolution was already recorded: they open nothing.
    pub already_resolved: Vec<String>,
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

/// Decides the writes for `alerts` (with their `targets`) given the `known` grants.
pub fn decide<'a>(alerts: &'a [Alert], targets: &[Target<'a>], known: &[Known]) -> Decision<'a> {
    let mut index: HashMap<(&str, &str), Vec<(usize, AlertState)>> = HashMap::new();
    let mut open: HashMap<&str, usize> = HashMap::new();
    for (k, grant) in known.iter().enumerate() {
        for a in &grant.alerts {
            index
                .entry((&a.fingerprint, &a.starts_at))
                .or_default()
                .push((k, a.state));
        }
        if grant.open
            && let Some(group) = &grant.group
        {
            // Several open grants of one group (made before grouping, or by a race between
            // replicas): new alerts join the newest.
            let newer = open.get(group.as_str()).is_none_or(|&other| {
                (&known[other].created, &known[other].name) < (&grant.created, &grant.name)
            });
            if newer {
                open.insert(group, k);
            }
        }
    }
    let mut by_alert: BTreeMap<usize, Vec<&Target<'a>>> = BTreeMap::new();
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
        let found = index
            .get(&(alert.fingerprint.as_str(), alert.starts_at.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !found.is_empty() {
            let firing: Vec<usize> = found
                .iter()
                .filter(|(_, s)| *s == AlertState::Firing)
                .map(|(k, _)| *k)
                .collect();
            match state {
                AlertState::Resolved if !firing.is_empty() => {
                    for k in firing {
                        updates.entry(k).or_default().push(entry(alert, state));
                    }
                    continue;
                }
                _ if firing.len() < found.len() && state == AlertState::Firing => {
                    decision
                        .already_resolved
                        .extend(found.iter().map(|(k, _)| known[*k].id()));
                    decision.late += 1;
                }
                _ => {
                    decision
                        .existing
                        .extend(found.iter().map(|(k, _)| known[*k].id()));
                    decision.repeats += 1;
                }
            }
            continue;
        }
        let Some(matched) = by_alert.get(&i) else {
            decision.unmatched += 1;
            continue;
        };
        for t in matched {
            let e = entry(alert, state);
            if let Some(&k) = open.get(t.group.id().as_str()) {
                updates.entry(k).or_default().push(e);
                continue;
            }
            let create = creates.entry(t.group.clone()).or_insert_with(|| Create {
                group: t.group.clone(),
                rule: t.rule,
                opener: alert,
                alerts: vec![],
            });
            create.alerts = merge(&create.alerts, &[e]);
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
    decision.existing.sort();
    decision.existing.dedup();
    decision.already_resolved.sort();
    decision.already_resolved.dedup();
    decision
}

#[cfg(test)]
mod tests;
