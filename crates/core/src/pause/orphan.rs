//! Pauses no grant holds any more. A grant deleted without its finalizer (stripped by
//! hand, or forced) never runs its restore, and grants that ended together on stale views
//! can each leave it to another; the object then stays paused with `paused-by` naming only
//! grants that are gone or done. The sweep finds such objects and restores them from their
//! annotation record, as the last holder would have — but only on a field the method the
//! operator recorded for that object owns (the record is anyone's to edit). Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    Method, RestorePlan,
    plan::{Error, plan_restore},
};
use crate::{BreakGlassGrantStatus, GrantPhase, PausedTarget, TargetRef};

/// The paused targets the sweep looks at, each with the methods the operator's own grant
/// entries recorded for it: an orphan's record is written back only on a field one of them
/// owns (no policy need still name it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known(BTreeMap<TargetRef, Vec<Method>>);

impl Known {
    /// Remembers the target of a grant's entry and the method it records.
    pub fn remember(&mut self, entry: &PausedTarget) {
        let methods = self.0.entry(entry.target()).or_default();
        if let Some(m) = Method::recorded(entry)
            && !methods.contains(&m)
        {
            methods.push(m);
        }
    }

    pub fn merge(&mut self, other: Known) {
        for (t, methods) in other.0 {
            let mine = self.0.entry(t).or_default();
            for m in methods {
                if !mine.contains(&m) {
                    mine.push(m);
                }
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TargetRef, &[Method])> {
        self.0.iter().map(|(t, m)| (t, m.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets the targets seen `settled` (no holder named on them, or gone) that no grant
    /// in the cache references any more: otherwise the set only grows, and every sweep
    /// reads every object ever paused. One paused again is remembered again from its
    /// grant's entry.
    pub fn prune(&mut self, settled: &BTreeSet<TargetRef>, referenced: &BTreeSet<TargetRef>) {
        self.0
            .retain(|t, _| !settled.contains(t) || referenced.contains(t));
    }
}

/// What became of a grant an object's `paused-by` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// It does not exist (deleted; its finalizer never ran).
    Gone,
    /// Not ended, or being deleted with its finalizer: its own pipeline gives it back.
    Live,
    /// Ended; `holds` when its entry still holds the target (held for review, or a
    /// restore it is still retrying).
    Ended { holds: bool },
}

/// What [`Holder::of`] reads of a grant that exists; the operator fills it from the object.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub status: Option<&'a BreakGlassGrantStatus>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl Holder {
    /// `grant`'s standing towards `target` (`None`: the grant does not exist).
    pub fn of(grant: Option<Standing<'_>>, target: &TargetRef) -> Self {
        let Some(g) = grant else {
            return Holder::Gone;
        };
        let status = g.status;
        let ended = status.and_then(|s| s.phase) == Some(GrantPhase::Ended);
        if !ended || g.deleting {
            return Holder::Live;
        }
        let holds = status
            .into_iter()
            .flat_map(|s| &s.paused_targets)
            .any(|e| e.target() == *target && e.state.may_hold());
        Holder::Ended { holds }
    }
}

/// The restore of `obj` when none of its `holders` holds it any more; `None` while one
/// does (or none is named: then it is not the operator's pause, or the grants' own records
/// say who holds it). `recorded`: the methods grant entries recorded for it ([`Known`]);
/// a record outside their fields is [`Error::Refused`].
pub fn plan_orphan(
    obj: &Value,
    holders: &[(String, Holder)],
    now: &str,
    recorded: &[Method],
) -> Option<Result<RestorePlan, Error>> {
    let (first, _) = holders.first()?;
    let held = holders
        .iter()
        .any(|(_, h)| matches!(h, Holder::Live | Holder::Ended { holds: true }));
    (!held).then(|| plan_restore(obj, first, &[], now, None, recorded))
}
