//! Pausing the automation that would undo a manual repair, and giving it back: the pure
//! decisions. The operator's `pause::cluster` (Kubernetes I/O) and `pause::executor` (one
//! grant's pauses end to end) carry them out.
//!
//! - [`select`]: which objects a policy names and how each kind is paused;
//! - [`plan`]: the exact JSON patches that pause, join, release and restore an object;
//! - [`drift`]: whether a paused object's automation reports drift, and what holds it;
//! - [`flux`]: a suspended Flux Kustomization's drift, read from the live objects;
//! - [`orphan`]: pauses whose holders are all gone or done, which the sweep gives back;
//! - [`owned`]: the fields each method owns, and whether a record read off an object stays
//!   inside them.
//!
//! Two records describe a pause, and restoring needs only one of them:
//! 1. the object's annotations ([`PAUSED_BY`]: which grants hold it; [`PAUSE_RECORD`]: what
//!    the first holder changed), written in the same patch as the field, so the object is
//!    self-describing whichever grant ends last;
//! 2. the grant's `status.pausedTargets[]` entry (`path`, `paused`, `original`), written
//!    before the object is touched.
//!
//! The annotations say who holds a pause; when they are gone (a `kubectl replace`, an
//! ApplicationSet rewriting its Applications, an annotation-pruning tool) the grants'
//! records do. What is written back comes from the grant's record; the object's record,
//! which anyone who may edit the object may have written, is used only without one, and
//! only on a field the method owns ([`owned::check`]).

pub mod drift;
pub mod flux;
pub mod orphan;
pub mod owned;
pub mod plan;
mod record;
pub mod select;
pub mod watch;

pub use plan::{
    PausePlan, Record, RestorePlan, SkipReason, Source, apply_ops, join_recorded, plan_pause,
    plan_restore,
};
pub use select::{Method, Selection, selections};

/// Grants holding the pause of an object: comma-separated `namespace/name`, sorted.
pub const PAUSED_BY: &str = "breakglass.dev/paused-by";
/// The [`Record`] of what the first holder changed, as JSON.
pub const PAUSE_RECORD: &str = "breakglass.dev/pause-record";
/// Annotation on a grant: `now` gives back every target it holds for review. The one
/// `breakglass.dev/` key people write (the admission policy limits who).
pub const RESTORE: &str = "breakglass.dev/restore";

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_owned;
#[cfg(test)]
mod tests_records;
