//! What a pass does, as data: planning (pure, `decide`) returns a `Plan` of effects, and one
//! executor (`execute`) applies them in order through the pass's journal.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::{
    api::{EndReason, GrantPhase, GrantedAssignment, GrantedMembership},
    aws::{ActAs, Assignment},
    conditions::Outcome,
    controller::ledger,
    pause::Selection,
};

/// An Event on the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Announcement {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

impl Announcement {
    pub(crate) fn normal(reason: &'static str, action: &'static str, note: String) -> Self {
        Self {
            warning: false,
            reason,
            action,
            note,
        }
    }

    pub(crate) fn warning(reason: &'static str, action: &'static str, note: String) -> Self {
        Self {
            warning: true,
            reason,
            action,
            note,
        }
    }
}

/// An outcome of the pass to record (its conditions come from `conditions::apply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settle {
    Granting(String),
    Active(String),
    WaitingForRequiredTarget(String),
    /// Access is gone (`reason` names why).
    Ended {
        reason: String,
        message: String,
    },
    /// The policy refuses the grant.
    Denied {
        reason: &'static str,
        message: String,
    },
}

impl Settle {
    pub(crate) fn outcome(&self) -> Outcome<'_> {
        match self {
            Self::Granting(message) => Outcome::Granting { message },
            Self::Active(message) => Outcome::Active { message },
            Self::WaitingForRequiredTarget(message) => {
                Outcome::WaitingForRequiredTarget { message }
            }
            Self::Ended { reason, message } => Outcome::Ended { reason, message },
            Self::Denied { reason, message } => Outcome::Denied { reason, message },
        }
    }
}

/// Adding the user to the group: the member recorded in the ledger first (so it can be
/// taken back even if the grant is deleted without its finalizer), then added on AWS, both
/// under the user's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddMember {
    /// The ledger's record of the member.
    pub entry: ledger::Entry,
    /// Where, and as whom (the grant's session).
    pub target: ActAs,
    pub group_id: String,
    pub user_id: String,
    /// The group's display name when the policy names it so: its cached id is dropped
    /// should the add fail (the group may have been replaced).
    pub group_name: Option<String>,
}

/// Taking the user out of the group (no other grant gives the membership).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoveMember {
    /// As the recorded role, else the policy's current one (rotated).
    pub target: ActAs,
    pub user_id: String,
    pub membership: GrantedMembership,
}

/// One account's call while giving: create the assignment (looking first: it may be there
/// already, from an earlier attempt, another grant, or as standing access), or ask how the
/// recorded create went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AssignStep {
    Create,
    Poll(String),
}

/// Giving the permission set on the account of `index` in the record: the ledger's entry
/// first (a create), then AWS; its answer is recorded on that entry, and a new request id
/// is written (checkpoint) before anything awaits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assign {
    pub index: usize,
    pub assignment: Assignment,
    pub step: AssignStep,
    pub target: ActAs,
    pub user_id: String,
    /// The ledger's record of the assignment (written before a create).
    pub entry: ledger::Entry,
}

/// One account's call while taking access back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnassignStep {
    Delete,
    Poll(String),
}

/// Taking the permission set back on the account of `index` (as the recorded role, else the
/// policy's current one); a new request id is written before it is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unassign {
    pub index: usize,
    pub assignment: Assignment,
    pub step: UnassignStep,
    pub target: ActAs,
    pub user_id: String,
}

/// What a failure to give a pause back does to the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestoreFailure {
    /// Record what was restored (best effort) and fail at once: the grant does not end.
    FailNow,
    /// Fail once the other effects are applied (an Ended grant's review: the commit records
    /// what was given back).
    Last,
}

/// One step of a pass, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Set the grant's phase in the record.
    Phase(GrantPhase),
    /// Record an outcome's conditions.
    Settle(Settle),
    /// Write the record as it stands, before the side effects that follow (write-ahead).
    Checkpoint,
    /// Record the member in the ledger, add the user to the group on AWS, and record the
    /// membership id.
    AddMember(Box<AddMember>),
    /// Remove the user from the group on AWS (a failure is recorded on the grant and retried).
    RemoveMember(Box<RemoveMember>),
    /// Record the grant's account assignments as planned (before the calls that change them).
    Accounts(Vec<GrantedAssignment>),
    /// One account's create, or its poll (a failure is recorded on the grant and retried).
    Assign(Box<Assign>),
    /// One account's delete, or its poll (a failure is recorded on the grant and retried).
    Unassign(Box<Unassign>),
    /// Show AWS's failures per account on the grant (`Stalled`), tell, and fail the pass
    /// (retried with backoff).
    AssignmentFailed,
    /// Stop polling AWS for this grant's requests: none is outstanding.
    PolledOut,
    /// Drop the cached AWS session named after this grant: nothing will use it again.
    Forget(Box<ActAs>),
    /// Give back the pauses this grant holds, or hold them for review unless
    /// `release_held` (a person asked, or the grant is being deleted).
    Restore {
        release_held: bool,
        on_failure: RestoreFailure,
    },
    /// Record the end: phase `Ended`, its reason, and the pass's `now` as `endedAt`.
    End(EndReason),
    /// Count the time from the grant's creation to its access (`granted_after`).
    MeasureGranted,
    /// Count the time from when the end became due to access gone (`revoked_after`).
    MeasureRevoked { reason: String, due: Timestamp },
    /// Count how long an ended grant held targets for review, once it holds none.
    MeasureHeld,
    /// Record an Event.
    Announce(Announcement),
    /// Pause what the policy names (each original recorded before its object is patched).
    /// A conflict fails the pass after the commit that records the rest.
    Pause(Vec<Selection>),
    /// The pass's final record, written when it changed.
    Commit,
    /// The pass's final record, and this Event only when the record changed.
    CommitNoting(Announcement),
    /// Remember that access and pauses of this grant version hold for this window: its
    /// echo needs no AWS call.
    Confirm(Timestamp),
}

/// When to look at the grant again, once the effects are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// At expiry (from the clock after the effects: AWS calls took time), and within
    /// `PAUSE_RECHECK` when the grant pauses something.
    Expiry { expires_at: Timestamp, pauses: bool },
    /// After this long.
    In(Duration),
    /// When the grant changes.
    Change,
    /// An ended grant: again within `REVIEW_RECHECK` while it holds targets for review
    /// (their status may turn in sync), else when it changes.
    Review,
}

/// What a pass does: effects in order, then when to look again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub effects: Vec<Effect>,
    pub after: After,
}
