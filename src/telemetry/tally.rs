//! The gauges' numbers, counted from the grant cache at scrape time. Pure.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::{BreakGlassGrant, GrantPhase, PauseState};

/// Past its `expiresAt` by more than this, a grant that has not ended is overdue: the
/// reconcile that ends it is late (a normal end takes well under a second).
pub const OVERDUE_AFTER: Duration = Duration::from_secs(5);

/// What the gauges show, from the grant cache.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// Active grants per policy.
    pub active: BTreeMap<String, i64>,
    /// Distinct objects paused by live grants, per kind (shared targets count once).
    pub paused: BTreeMap<String, i64>,
    /// Distinct objects kept paused for review by ended grants, per kind.
    pub held: BTreeMap<String, i64>,
    /// Grants per (policy, phase); a grant not yet processed counts as Pending.
    pub phases: BTreeMap<(String, String), i64>,
    /// Grants not Ended more than `OVERDUE_AFTER` past their `expiresAt`.
    pub overdue: i64,
}

/// How far past its `expiresAt` a grant that should have ended is at `now`, if it is.
pub fn overdue_by(grant: &BreakGlassGrant, now: Timestamp) -> Option<Duration> {
    let status = grant.status.as_ref()?;
    if matches!(status.phase, Some(GrantPhase::Ended | GrantPhase::Denied)) {
        return None;
    }
    let late = now.duration_since(status.expires_at.as_ref()?.0);
    (late > SignedDuration::ZERO).then(|| late.unsigned_abs())
}

/// Counts the cache. Every policy and kind a grant names is served, at 0 when nothing is
/// active, paused or held: a dashboard shows 0, not "no data", after an incident ends.
pub fn tally<'a>(grants: impl Iterator<Item = &'a BreakGlassGrant>, now: Timestamp) -> Tally {
    let mut t = Tally::default();
    let mut paused = BTreeSet::new();
    let mut held = BTreeSet::new();
    for grant in grants {
        let policy = &grant.spec.policy;
        for phase in ["Pending", "Active", "Ended", "Denied"] {
            t.phases.entry((policy.clone(), phase.into())).or_insert(0);
        }
        let phase = grant
            .status
            .as_ref()
            .and_then(|s| s.phase.as_ref())
            .map_or("Pending", phase_name);
        *t.phases.entry((policy.clone(), phase.into())).or_insert(0) += 1;
        if overdue_by(grant, now).is_some_and(|late| late > OVERDUE_AFTER) {
            t.overdue += 1;
        }
        let count = t.active.entry(policy.clone()).or_insert(0);
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

fn phase_name(phase: &GrantPhase) -> &'static str {
    match phase {
        GrantPhase::Pending => "Pending",
        GrantPhase::Active => "Active",
        GrantPhase::Ended => "Ended",
        GrantPhase::Denied => "Denied",
    }
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
        let Tally {
            active,
            paused,
            phases,
            ..
        } = tally([&a, &b, &ended].into_iter(), Timestamp::now());
        assert_eq!(
            active,
            BTreeMap::from([("dev".to_owned(), 0), ("prod".to_owned(), 2)]),
            "a policy whose grants all ended is served at 0"
        );
        assert_eq!(paused, BTreeMap::from([("Application".to_owned(), 1)]));
        let phase = |p: &str, ph: &str| phases[&(p.to_owned(), ph.to_owned())];
        assert_eq!(
            (
                phase("prod", "Active"),
                phase("dev", "Ended"),
                phase("prod", "Denied")
            ),
            (2, 1, 0)
        );
    }

    #[test]
    fn grants_not_ended_five_seconds_past_their_expiry_are_overdue() {
        let at = |status: &str, expires: &str| {
            grant(&format!(
                "apiVersion: breakglass.dev/v1alpha1\nkind: BreakGlassGrant\nmetadata: {{name: g, namespace: t}}\nspec: {{user: u, policy: p, reason: r}}\nstatus: {{phase: {status}, expiresAt: \"{expires}\"}}"
            ))
        };
        let now: Timestamp = "2026-12-02T10:00:00Z".parse().expect("time");
        let grants = [
            at("Active", "2026-12-02T09:59:54Z"),  // 6 s late: overdue
            at("Active", "2026-12-02T09:59:56Z"),  // 4 s: ending, not yet overdue
            at("Pending", "2026-12-02T09:00:00Z"), // an hour: overdue
            at("Ended", "2026-12-02T09:00:00Z"),   // ended: fine
            at("Active", "2026-12-02T11:00:00Z"),  // not due
        ];
        assert_eq!(tally(grants.iter(), now).overdue, 2);
        assert_eq!(
            overdue_by(&grants[1], now),
            Some(Duration::from_secs(4)),
            "measured from expiresAt"
        );
    }
}
