//! The running watches, one per kind, following the kinds the policies name.

use std::collections::{BTreeMap, BTreeSet};

use super::WatchedKind;
use crate::pause::watch::changes;

/// A spawned watch: stopped when dropped.
pub(crate) struct Task(pub tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One running `T` per kind.
pub(crate) struct WatchSet<T> {
    running: BTreeMap<WatchedKind, T>,
}

impl<T> Default for WatchSet<T> {
    fn default() -> Self {
        Self {
            running: BTreeMap::new(),
        }
    }
}

impl<T> WatchSet<T> {
    /// Starts a watch for each kind newly wanted and drops (stops) those no longer wanted;
    /// returns the kinds started and stopped.
    pub(crate) fn follow(
        &mut self,
        wanted: &BTreeSet<WatchedKind>,
        mut start: impl FnMut(&WatchedKind) -> T,
    ) -> (Vec<WatchedKind>, Vec<WatchedKind>) {
        let running = self.running.keys().cloned().collect();
        let (started, stopped) = changes(&running, wanted);
        for kind in &stopped {
            self.running.remove(kind);
        }
        for kind in &started {
            self.running.insert(kind.clone(), start(kind));
        }
        (started, stopped)
    }

    #[cfg(test)]
    pub(crate) fn kinds(&self) -> BTreeSet<WatchedKind> {
        self.running.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use super::*;
    use crate::{api::BreakGlassPolicySpec, pause::watch::watched_kinds};

    /// Counts how many of its watches are running.
    struct Running(Rc<Cell<usize>>);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }

    fn policy(pause: serde_json::Value) -> BreakGlassPolicySpec {
        let mut spec: serde_json::Value = serde_yaml::from_str::<serde_json::Value>(include_str!(
            "../../../tests/fixtures/policy.yaml"
        ))
        .expect("fixture")["spec"]
            .clone();
        spec["pause"] = pause;
        serde_json::from_value(spec).expect("policy spec")
    }

    #[test]
    fn the_watch_set_follows_the_policies() {
        let argo = policy(serde_json::json!([{"argoCD": {"namespace": "argocd", "names": ["a"]}}]));
        let both = policy(serde_json::json!([
            {"argoCD": {"namespace": "argocd", "names": ["b"], "pauseParent": true}},
            {"flux": {"kind": "Kustomization", "namespace": "flux", "names": ["k"]}},
        ]));
        let none = policy(serde_json::json!([]));
        let live = Rc::new(Cell::new(0));
        let mut set = WatchSet::default();
        let mut follow = |policies: &[&BreakGlassPolicySpec]| {
            let wanted = watched_kinds(policies.iter().copied());
            set.follow(&wanted, |_| {
                live.set(live.get() + 1);
                Running(live.clone())
            });
            set.kinds()
        };
        let application = WatchedKind::new("argoproj.io/v1alpha1", "Application");
        let kustomization = WatchedKind::new("kustomize.toolkit.fluxcd.io/v1", "Kustomization");

        assert_eq!(follow(&[&argo]), [application.clone()].into());
        assert_eq!(live.get(), 1);
        assert_eq!(
            follow(&[&argo, &both]),
            [application.clone(), kustomization.clone()].into(),
            "one watch per kind, however many policies name it"
        );
        assert_eq!(live.get(), 2);
        assert_eq!(
            follow(&[&both]),
            [application.clone(), kustomization].into()
        );
        assert_eq!(live.get(), 2, "still named by another policy: kept running");
        assert_eq!(follow(&[&argo, &none]), [application].into());
        assert_eq!(live.get(), 1, "the Kustomization watch is stopped");
        assert_eq!(follow(&[&none]), BTreeSet::new());
        assert_eq!(live.get(), 0, "no policy pauses anything: no watch");
    }
}
