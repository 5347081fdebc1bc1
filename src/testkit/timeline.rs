//! One sequence for everything a pass does outside itself: the Kubernetes requests the
//! [`super::Cluster`] answered and the AWS calls the in-memory Identity Center logged, each
//! at its place. Tests assert order relations on it ("the window was written before the
//! first change"), not the exact requests.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::aws::memory::{Logged, Memory, Op};

use serde_json::Value;

/// One request as the responder saw it and answered it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
    pub code: u16,
}

impl Seen {
    /// A write (not a read).
    pub(crate) fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// One thing that happened, at its place in the sequence.
#[derive(Debug, Clone)]
pub(crate) enum Happened {
    Kube(Seen),
    Aws(Logged),
}

#[derive(Clone, Default)]
pub(crate) struct Timeline(Arc<Mutex<Vec<Happened>>>);

impl Timeline {
    fn entries(&self) -> MutexGuard<'_, Vec<Happened>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `memory`'s calls from now on, in the order it logs them.
    pub(crate) fn observe(&self, memory: &Memory) {
        let timeline = self.clone();
        memory.observe(Arc::new(move |call: &Logged| {
            timeline.entries().push(Happened::Aws(call.clone()));
        }));
    }

    pub(crate) fn kube(&self, seen: Seen) {
        self.entries().push(Happened::Kube(seen));
    }

    /// The place of the first entry `f` picks.
    pub(crate) fn first(&self, f: impl Fn(&Happened) -> bool) -> Option<usize> {
        self.entries().iter().position(f)
    }

    /// The place of the last entry `f` picks.
    pub(crate) fn last(&self, f: impl Fn(&Happened) -> bool) -> Option<usize> {
        self.entries().iter().rposition(f)
    }

    /// The place of the first call of `op`.
    pub(crate) fn first_call(&self, op: Op) -> Option<usize> {
        self.first(|h| matches!(h, Happened::Aws(l) if l.op == op))
    }

    /// The AWS calls that change something (not look-ups, not sessions).
    pub(crate) fn changes(&self) -> Vec<Op> {
        self.entries()
            .iter()
            .filter_map(|h| match h {
                Happened::Aws(l) if is_change(l.op) => Some(l.op),
                _ => None,
            })
            .collect()
    }

    /// Every AWS call, in order.
    pub(crate) fn calls(&self) -> Vec<Op> {
        self.entries()
            .iter()
            .filter_map(|h| match h {
                Happened::Aws(l) => Some(l.op),
                Happened::Kube(_) => None,
            })
            .collect()
    }
}

/// Whether `op` changes AWS.
pub(crate) fn is_change(op: Op) -> bool {
    matches!(
        op,
        Op::CreateGroupMembership
            | Op::DeleteGroupMembership
            | Op::CreateAccountAssignment
            | Op::DeleteAccountAssignment
    )
}

impl Happened {
    /// A successful Kubernetes write whose path ends with `suffix` (e.g. `/status`).
    pub(crate) fn is_write_to(&self, suffix: &str) -> bool {
        matches!(self, Happened::Kube(s) if s.is_write() && s.code < 300 && s.path.ends_with(suffix))
    }

    /// A successful create in a collection whose path ends with `suffix`.
    pub(crate) fn is_create_in(&self, suffix: &str) -> bool {
        matches!(self, Happened::Kube(s) if s.method == "POST" && s.code < 300 && s.path.ends_with(suffix))
    }
}
