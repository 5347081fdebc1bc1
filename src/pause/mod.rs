//! Pausing the automation that would undo a manual repair, and giving it back.
//!
//! The decisions are pure and live in `breakglass-core` (`breakglass_core::pause`, re-exported
//! here: `select`, `plan`, `drift`, `flux`, `orphan`, the annotation names and the record); this
//! module carries them out:
//! - [`cluster`]: the Kubernetes I/O — discovery, reads, dry runs, patches — with every
//!   failure kept per object;
//! - [`executor`]: one grant's pauses end to end: survey, record, patch, restore.

pub mod cluster;
pub mod executor;

pub use breakglass_core::pause::watch;
pub use breakglass_core::pause::{
    Method, PAUSE_RECORD, PAUSED_BY, PausePlan, RESTORE, Record, RestorePlan, Selection,
    SkipReason, Source, apply_ops, drift, flux, join_recorded, orphan, owned, plan, plan_pause,
    plan_restore, select, selections,
};
