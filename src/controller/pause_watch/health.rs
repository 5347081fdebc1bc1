//! Which paused kinds are watched and in sync: what the grant pipeline asks (through the
//! context) before it trusts the watch and skips its periodic read. Apart from the watches
//! themselves, so the context depends on this and not on them.

use std::{collections::BTreeSet, sync::Mutex};

use breakglass_core::pause::watch::WatchedKind;

/// Which kinds' watches are in sync right now, read by each grant's re-check decision: a
/// kind not in sync (not listed yet, failing, not installed) is polled as before.
#[derive(Default)]
pub(crate) struct Health(Mutex<BTreeSet<WatchedKind>>);

impl Health {
    pub(crate) fn in_sync(&self, kind: &WatchedKind) -> bool {
        self.0.lock().is_ok_and(|s| s.contains(kind))
    }

    pub(super) fn set(&self, kind: &WatchedKind, in_sync: bool) {
        if let Ok(mut s) = self.0.lock() {
            if in_sync {
                s.insert(kind.clone());
            } else {
                s.remove(kind);
            }
        }
    }
}
