//! What a watch event on a paused kind means: which objects really changed (metadata
//! digests, so an echo or a resync of the same object costs nothing) and which grants that
//! concerns. Pure.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
};

use kube::{
    Resource, ResourceExt,
    api::{DynamicObject, ObjectMeta, PartialObjectMeta},
    core::{Selector, SelectorExt},
    runtime::{reflector::ObjectRef, watcher},
};

use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy, GrantPhase, TargetRef, label_selector_to_k8s},
    pause::{
        PAUSE_RECORD, PAUSED_BY, Selection, executor as pausing,
        plan::holders_of,
        watch::{WatchedKind, watched_kinds},
    },
};

type Key = (Option<String>, String);

/// An object of the watched kind that changed, was created or was deleted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Changed {
    pub namespace: Option<String>,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The grants its `paused-by` annotation names (`namespace/name`).
    pub paused_by: Vec<String>,
}

/// The last metadata digest of every object of one kind, and whether the watch is in sync.
#[derive(Default)]
pub(crate) struct Seen {
    digests: HashMap<Key, u64>,
    /// During a (re)list: what it has listed so far.
    relisting: Option<HashMap<Key, u64>>,
    /// Whether a whole list was seen: only then does a relist tell what changed.
    listed: bool,
}

/// What a paused field's change shows in metadata: the generation (spec, and status for
/// kinds without a status subresource such as Argo CD's Application), labels and
/// annotations (the annotation methods). Not `paused-by` and `pause-record`: they are
/// the holders' own bookkeeping, and counting them would wake every holder of an object
/// each time one more grant joins it (250 grants joining one Application: 31,000
/// reconciles). The holders read them when they next look, and at the end.
fn digest(meta: &ObjectMeta) -> u64 {
    let mut h = DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.labels.hash(&mut h);
    for (k, v) in meta.annotations.iter().flatten() {
        if k != PAUSED_BY && k != PAUSE_RECORD {
            (k, v).hash(&mut h);
        }
    }
    h.finish()
}

fn changed(meta: &ObjectMeta) -> Changed {
    Changed {
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        paused_by: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(PAUSED_BY))
            .map(|v| holders_of(v))
            .unwrap_or_default(),
    }
}

fn key(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl Seen {
    /// The objects an event shows changed. The first list after start tells nothing (the
    /// grants look at their targets when they are reconciled anyway); a relist after the
    /// watch was lost reports what differs from before, deletions included.
    pub fn observe(
        &mut self,
        event: watcher::Event<PartialObjectMeta<DynamicObject>>,
    ) -> Vec<Changed> {
        match event {
            watcher::Event::Init => {
                self.relisting = Some(HashMap::new());
                vec![]
            }
            watcher::Event::InitApply(o) => {
                let (k, d) = (key(o.meta()), digest(o.meta()));
                let listed = self.relisting.get_or_insert_with(HashMap::new);
                listed.insert(k.clone(), d);
                match self.digests.get(&k) {
                    Some(before) if *before == d => vec![],
                    // New since the last list: only a relist can tell.
                    None if !self.listed => vec![],
                    _ => vec![changed(o.meta())],
                }
            }
            watcher::Event::InitDone => {
                let listed = self.relisting.take().unwrap_or_default();
                let gone = self
                    .digests
                    .keys()
                    .filter(|k| !listed.contains_key(*k))
                    .map(|(namespace, name)| Changed {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        labels: BTreeMap::new(),
                        paused_by: vec![],
                    })
                    .collect();
                self.digests = listed;
                self.listed = true;
                gone
            }
            watcher::Event::Apply(o) => {
                let d = digest(o.meta());
                match self.digests.insert(key(o.meta()), d) {
                    Some(before) if before == d => vec![],
                    _ => vec![changed(o.meta())],
                }
            }
            watcher::Event::Delete(o) => {
                self.digests.remove(&key(o.meta()));
                vec![changed(o.meta())]
            }
        }
    }
}

/// Whether selection `sel` names or selects the object (its kind, namespace, and a name or
/// the label selector).
pub(crate) fn selects(
    sel: &Selection,
    target: &TargetRef,
    labels: &BTreeMap<String, String>,
) -> bool {
    sel.api_version == target.api_version
        && sel.kind == target.kind
        && (target.namespace.is_none() || sel.namespace == target.namespace)
        && (sel.names.contains(&target.name)
            || sel.selector.as_ref().is_some_and(|s| {
                Selector::try_from(label_selector_to_k8s(s)).is_ok_and(|s| s.matches(labels))
            }))
}

/// Whether a grant may still act on its targets: new, waiting, Active, or holding targets
/// for review.
fn open(grant: &BreakGlassGrant) -> bool {
    let status = grant.status.as_ref();
    matches!(
        status.and_then(|s| s.phase),
        None | Some(GrantPhase::Active | GrantPhase::Pending)
    ) || status.is_some_and(|s| pausing::held(&s.paused_targets))
}

/// The kinds to watch: those paused by the policies of the grants this controller handles
/// that may still act (policies are cluster-wide; another installation's kinds, which this
/// one may have no RBAC for, are not watched).
pub(crate) fn wanted(
    policies: &[Arc<BreakGlassPolicy>],
    grants: &[Arc<BreakGlassGrant>],
) -> BTreeSet<WatchedKind> {
    let used: BTreeSet<&str> = grants
        .iter()
        .filter(|g| open(g))
        .map(|g| g.spec.policy.as_str())
        .collect();
    watched_kinds(
        policies
            .iter()
            .filter(|p| used.contains(p.name_any().as_str()))
            .map(|p| &p.spec.0),
    )
}

/// The grants a change to `target` concerns: those its `paused-by` names, those whose
/// record lists it (its annotations may be gone) while they may act on it, and the
/// Active or waiting grants whose policy names or selects it (a new object to pause).
/// `selections` gives a policy's pause entries by name.
pub(crate) fn concerned(
    target: &TargetRef,
    change: &Changed,
    grants: &[Arc<BreakGlassGrant>],
    selections: impl Fn(&str) -> Vec<Selection>,
) -> Vec<ObjectRef<BreakGlassGrant>> {
    let mut by_policy: HashMap<&str, bool> = HashMap::new();
    grants
        .iter()
        .filter(|g| {
            let status = g.status.as_ref();
            let phase = status.and_then(|s| s.phase);
            let open = matches!(phase, Some(GrantPhase::Active | GrantPhase::Pending));
            let entries = status
                .map(|s| s.paused_targets.as_slice())
                .unwrap_or_default();
            let named = change.paused_by.contains(&g.key().to_string());
            let recorded =
                (open || pausing::held(entries)) && entries.iter().any(|e| e.target() == *target);
            let selected = open
                && *by_policy.entry(g.spec.policy.as_str()).or_insert_with(|| {
                    selections(&g.spec.policy)
                        .iter()
                        .any(|s| selects(s, target, &change.labels))
                });
            named || recorded || selected
        })
        .map(|g| ObjectRef::from_obj(&**g))
        .collect()
}

#[cfg(test)]
#[path = "tests_route.rs"]
mod tests;
