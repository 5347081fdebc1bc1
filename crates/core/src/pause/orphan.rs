//! Pauses no grant holds any more. A grant deleted without its finalizer (stripped by
//! hand, or forced) never runs its restore, and grants that ended together on stale views
//! can each leave it to another; the object then stays paused with `paused-by` naming only
//! grants that are gone or done. The sweep finds such objects and restores them from their
//! annotation record, as the last holder would have. Pure.

use serde_json::Value;

use super::{
    RestorePlan,
    plan::{Error, plan_restore},
};
use crate::{BreakGlassGrantStatus, GrantPhase, TargetRef};

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
/// say who holds it).
pub fn plan_orphan(
    obj: &Value,
    holders: &[(String, Holder)],
    now: &str,
) -> Option<Result<RestorePlan, Error>> {
    let (first, _) = holders.first()?;
    let held = holders
        .iter()
        .any(|(_, h)| matches!(h, Holder::Live | Holder::Ended { holds: true }));
    (!held).then(|| plan_restore(obj, first, &[], now, None))
}
