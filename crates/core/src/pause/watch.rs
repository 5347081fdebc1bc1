//! Pause targets are watched, not polled: one metadata watch per kind that policies name,
//! and a grant polls its targets only while a watch cannot tell it what changed. Pure.

use std::collections::BTreeSet;

use crate::{BreakGlassPolicySpec, PauseProblem, PauseState, PausedTarget};

use super::selections;

/// A kind the operator watches: `(apiVersion, kind)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchedKind {
    pub api_version: String,
    pub kind: String,
}

impl WatchedKind {
    pub fn new(api_version: &str, kind: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    fn of(entry: &PausedTarget) -> Self {
        Self::new(&entry.api_version, &entry.kind)
    }
}

impl std::fmt::Display for WatchedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.api_version)
    }
}

/// Every kind the policies pause (an app-of-apps parent is an `Application` too).
pub fn watched_kinds<'a>(
    policies: impl IntoIterator<Item = &'a BreakGlassPolicySpec>,
) -> BTreeSet<WatchedKind> {
    policies
        .into_iter()
        .flat_map(selections)
        .map(|s| WatchedKind::new(&s.api_version, &s.kind))
        .collect()
}

/// Which watches to start and which to stop so that `running` becomes `wanted`.
pub fn changes<K: Ord + Clone>(running: &BTreeSet<K>, wanted: &BTreeSet<K>) -> (Vec<K>, Vec<K>) {
    (
        wanted.difference(running).cloned().collect(),
        running.difference(wanted).cloned().collect(),
    )
}

/// Whether a grant's pauses still need the short re-check: an entry the watches cannot
/// settle (a patch in flight, a failure to try again, a kind not installed) or one whose
/// kind is not watched right now (watch not synced yet, or failing: no `watch` RBAC, say).
/// Every other change — a person's edit, lost annotations, a new object a selector
/// matches, a deletion — arrives as a watch event.
pub fn needs_poll(entries: &[PausedTarget], watched: impl Fn(&WatchedKind) -> bool) -> bool {
    entries.iter().any(|e| {
        matches!(e.state, PauseState::Pausing | PauseState::Failed)
            || e.reason == Some(PauseProblem::KindNotInstalled)
            || !watched(&WatchedKind::of(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PauseMethod;

    fn entry(kind: &str, state: PauseState, reason: Option<PauseProblem>) -> PausedTarget {
        PausedTarget {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: kind.into(),
            namespace: Some("argocd".into()),
            name: "payments".into(),
            method: PauseMethod::DisableAutoSync,
            path: None,
            original: None,
            paused: None,
            state,
            restore: None,
            drift: None,
            reason,
            message: None,
        }
    }

    #[test]
    fn changes_start_the_new_kinds_and_stop_the_gone_ones() {
        let running: BTreeSet<u8> = [1, 2].into();
        let wanted: BTreeSet<u8> = [2, 3].into();
        assert_eq!(changes(&running, &wanted), (vec![3], vec![1]));
        assert_eq!(changes(&wanted, &wanted), (vec![], vec![]));
    }

    #[test]
    fn settled_entries_of_watched_kinds_need_no_poll() {
        let all = |_: &WatchedKind| true;
        let none = |_: &WatchedKind| false;
        let settled = [
            entry("Application", PauseState::Paused, None),
            entry("Application", PauseState::ChangedByOthers, None),
            entry(
                "Application",
                PauseState::NotFound,
                Some(PauseProblem::NotFound),
            ),
        ];
        assert!(!needs_poll(&settled, all));
        assert!(needs_poll(&settled, none), "a kind not watched is polled");
        for unsettled in [
            entry(
                "Application",
                PauseState::Failed,
                Some(PauseProblem::Forbidden),
            ),
            entry("Application", PauseState::Pausing, None),
            entry(
                "Terraform",
                PauseState::NotFound,
                Some(PauseProblem::KindNotInstalled),
            ),
        ] {
            assert!(
                needs_poll(std::slice::from_ref(&unsettled), all),
                "{unsettled:?}"
            );
        }
        assert!(!needs_poll(&[], none), "nothing paused, nothing to poll");
    }
}
