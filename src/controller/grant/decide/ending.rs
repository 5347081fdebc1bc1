//! Ending and denying, decided: pure functions from what the pass loaded (the record, the
//! other grants that hold the same access) to the effects that take access and pauses back
//! and record the end.

use k8s_openapi::jiff::Timestamp;

use super::{
    super::effect::{After, Announcement, Effect, Plan, RemoveMember, RestoreFailure, Settle},
    holders::names,
};
use crate::{
    api::{BreakGlassGrantStatus, EndReason, GrantKey, GrantPhase, GrantedMembership},
    aws::ActAs,
    policy::Denial,
};

/// When the end became due, as far as the record tells (expiry, deletion); otherwise when
/// the pass noticed it (`now`).
pub(crate) fn due(
    reason: EndReason,
    status: &BreakGlassGrantStatus,
    deleted_at: Option<Timestamp>,
    now: Timestamp,
) -> Timestamp {
    match reason {
        EndReason::Expired => status.expires_at.as_ref().map(|t| t.0),
        EndReason::Deleted => deleted_at,
        EndReason::Resolved
        | EndReason::PolicyDeleted
        | EndReason::PolicyChanged
        | EndReason::RevokedOnAws => None,
    }
    .unwrap_or(now)
}

/// The end's note; `why` says what about the policy changed.
pub(crate) fn note(reason: EndReason, why: Option<String>) -> String {
    let why = why.map(|w| format!(": {w}")).unwrap_or_default();
    format!("grant ended ({reason:?}{why})")
}

/// The account assignments (as well as the membership) are what the grant gives.
pub(crate) fn has_accounts(status: &BreakGlassGrantStatus) -> bool {
    status
        .access
        .as_ref()
        .is_some_and(|a| !a.account_assignments.is_empty())
}

/// The membership, taken back unless it was there before the grant (standing) or another
/// grant (`holders`) still gives it; either way the session named after this grant is
/// dropped. Also what the note says about it.
pub(crate) fn take_member(
    user: &str,
    target: ActAs,
    user_id: String,
    membership: GrantedMembership,
    holders: &[GrantKey],
) -> (Vec<Effect>, String) {
    let mut effects = vec![];
    let said = if membership.standing {
        format!(
            "standing access kept: {user} was a member of group {} before the grant",
            membership.group_id
        )
    } else if holders.is_empty() {
        let said = format!("removed {user} from group {}", membership.group_id);
        effects.push(Effect::RemoveMember(Box::new(RemoveMember {
            target: target.clone(),
            user_id,
            membership,
        })));
        said
    } else {
        format!("access kept: still granted by {}", names(holders))
    };
    effects.push(Effect::Forget(Box::new(target)));
    (effects, said)
}

/// Once access is gone: give the pauses back (a failure fails the pass before the end is
/// recorded), record the end, count the time from `due`, and tell.
pub(crate) fn ended(reason: EndReason, note: String, due: Timestamp, release_held: bool) -> Plan {
    let reason_name = format!("{reason:?}");
    Plan {
        effects: vec![
            Effect::Restore {
                release_held,
                on_failure: RestoreFailure::FailNow,
            },
            Effect::End(reason),
            Effect::Settle(Settle::Ended {
                reason: reason_name.clone(),
                message: note.clone(),
            }),
            Effect::Commit,
            Effect::MeasureRevoked {
                reason: reason_name,
                due,
            },
            Effect::Announce(Announcement::normal("Ended", "Revoke", note)),
        ],
        after: After::Review,
    }
}

/// An Ended grant holding targets for review: give back those now in sync (all of them when
/// `release_held`), record what was given back even when some failed, and count how long
/// they were held once none is.
pub(crate) fn review(release_held: bool) -> Plan {
    Plan {
        effects: vec![
            Effect::Restore {
                release_held,
                on_failure: RestoreFailure::Last,
            },
            Effect::Commit,
            Effect::MeasureHeld,
        ],
        after: After::Review,
    }
}

/// The policy refuses the grant: recorded and told; nothing else is touched.
pub(crate) fn deny(denial: &Denial) -> Plan {
    let message = denial.to_string();
    Plan {
        effects: vec![
            Effect::Phase(GrantPhase::Denied),
            Effect::Settle(Settle::Denied {
                reason: denial.reason(),
                message: message.clone(),
            }),
            Effect::Commit,
            Effect::Announce(Announcement::warning("Denied", "Evaluate", message)),
        ],
        after: After::Change,
    }
}
