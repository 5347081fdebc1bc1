//! The gauges' numbers, counted from the grant cache at scrape time. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{BreakGlassGrant, GrantPhase, PauseState};

/// What the gauges show, from the grant cache.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// Active grants per policy.
    pub active: BTreeMap<String, i64>,
    /// Distinct objects paused by live grants, per kind (shared targets count once).
    pub paused: BTreeMap<String, i64>,
    /// Distinct objects kept paused for review by ended grants, per kind.
    pub held: BTreeMap<String, i64>,
}

/// Counts the cache. Every policy and kind a grant names is served, at 0 when nothing is
/// active, paused or held: a dashboard shows 0, not "no data", after an incident ends.
pub fn tally<'a>(grants: impl Iterator<Item = &'a BreakGlassGrant>) -> Tally {
    let mut t = Tally::default();
    let mut paused = BTreeSet::new();
    let mut held = BTreeSet::new();
    for grant in grants {
        let count = t.active.entry(grant.spec.policy.clone()).or_insert(0);
        let Some(status) = &grant.status else {
            continue;
        };
        if status.phase == Some(GrantPhase::Active) {
            *count += 1;
        }
        let live = !matches!(status.phase, Some(GrantPhase::Ended | GrantPhase::Denied));
        for p in &status.paused_targets {
            t.paused.entry(p.kind.clone()).or_insert(0);
            t.held.entry(p.kind.clone()).or_insert(0);
            let id = (p.kind.clone(), p.namespace.clone(), p.name.clone());
            if live && p.state == PauseState::Paused {
                paused.insert(id);
            } else if p.state == PauseState::Held {
                held.insert(id);
            }
        }
    }
    for (kind, _, _) in paused {
        *t.paused.entry(kind).or_insert(0) += 1;
    }
    for (kind, _, _) in held {
        *t.held.entry(kind).or_insert(0) += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(yaml: &str) -> BreakGlassGrant {
        serde_yaml::from_str(yaml).expect("fixture parses")
    }

    #[test]
    fn tally_counts_active_grants_by_policy_and_shared_targets_once() {
        let target = r#"
    pausedTargets:
      - {apiVersion: argoproj.io/v1alpha1, kind: Application, namespace: argocd, name: payments, method: DisableAutoSync, state: Paused}"#;
        let a = grant(&format!(
            "apiVersion: breakglass.dev/v1alpha1\nkind: BreakGlassGrant\nmetadata: {{name: a, namespace: t}}\nspec: {{user: alice, policy: prod, reason: r}}\nstatus:\n    phase: Active{target}"
        ));
        let b = grant(&format!(
            "apiVersion: breakglass.dev/v1alpha1\nkind: BreakGlassGrant\nmetadata: {{name: b, namespace: t}}\nspec: {{user: bob, policy: prod, reason: r}}\nstatus:\n    phase: Active{target}"
        ));
        let ended = grant(&format!(
            "apiVersion: breakglass.dev/v1alpha1\nkind: BreakGlassGrant\nmetadata: {{name: c, namespace: t}}\nspec: {{user: carol, policy: dev, reason: r}}\nstatus:\n    phase: Ended{target}"
        ));
        let Tally { active, paused, .. } = tally([&a, &b, &ended].into_iter());
        assert_eq!(
            active,
            BTreeMap::from([("dev".to_owned(), 0), ("prod".to_owned(), 2)]),
            "a policy whose grants all ended is served at 0"
        );
        assert_eq!(paused, BTreeMap::from([("Application".to_owned(), 1)]));
    }
}
