//! Which guard statements should be in the policy, from the ones there and the users'
//! grants.

use std::collections::{BTreeMap, HashSet};

use jiff::{SignedDuration, Timestamp};

use super::{Denial, GuardStatement};

/// What the operator knows of one user on one permission set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGuard {
    pub user_id: String,
    /// The latest `expiresAt` of the user's Active grants, if any.
    pub active_until: Option<Timestamp>,
    /// When the user's access ended, if it just did (and no other grant still holds it,
    /// see [`still_held`]).
    pub cut_at: Option<Timestamp>,
}

/// What one user's statements should say.
#[derive(Default)]
struct Wanted {
    active_until: Option<Timestamp>,
    expiry: Option<Timestamp>,
    cut: Option<Timestamp>,
    /// The end the operator saw (an Ended grant's), if any.
    ended: Option<Timestamp>,
}

/// The guard statements the policy should hold, sorted by Sid.
///
/// A user active until `t` gets `After(t)`. A user's cut is at the latest of the cut
/// already written and `cut_at`; a written expiry with neither an active grant nor a known
/// end behind it (the grant vanished without the operator seeing it end) is a cut at the
/// expiry, or now if that is sooner. A cut stays until every session issued before it has run out
/// (`session_duration` after it), then goes.
pub fn desired(
    current: &[GuardStatement],
    users: &[UserGuard],
    now: Timestamp,
    session_duration: SignedDuration,
) -> Vec<GuardStatement> {
    let mut wanted: BTreeMap<&str, Wanted> = BTreeMap::new();
    for s in current {
        let w = wanted.entry(&s.user_id).or_default();
        match s.denial {
            Denial::After(t) => w.expiry = w.expiry.max(Some(t)),
            Denial::IssuedBefore(t) => w.cut = w.cut.max(Some(t)),
        }
    }
    for u in users {
        let w = wanted.entry(&u.user_id).or_default();
        w.active_until = w.active_until.max(u.active_until);
        w.cut = w.cut.max(u.cut_at);
        w.ended = w.ended.max(u.cut_at);
    }
    let mut out = vec![];
    for (user, w) in wanted {
        // A known end is the cut's moment; only an expiry nobody accounts for is an orphan.
        let orphan = match (w.active_until, w.expiry, w.ended) {
            (None, Some(t), None) => Some(t.min(now)),
            _ => None,
        };
        if let Some(t) = w.active_until {
            out.push(GuardStatement::new(user, Denial::After(t).normalized()));
        }
        let cut = w
            .cut
            .max(orphan)
            .map(|t| Denial::IssuedBefore(t).normalized());
        if let Some(cut) = cut.filter(|c| needed(c.at(), now, session_duration)) {
            out.push(GuardStatement::new(user, cut));
        }
    }
    out.sort_by_cached_key(|s| (s.sid_suffix(), s.user_id.clone()));
    out
}

/// Whether a session issued before `cut` may still be live.
fn needed(cut: Timestamp, now: Timestamp, session_duration: SignedDuration) -> bool {
    // Past the end of time, the cut is kept: there is no "after" to prune it at.
    match cut.checked_add(session_duration) {
        Ok(end) => end > now,
        Err(_) => true,
    }
}

/// Whether `desired` differs from `current` as sets (written times compared).
pub fn changed(current: &[GuardStatement], desired: &[GuardStatement]) -> bool {
    let set = |all: &[GuardStatement]| -> HashSet<GuardStatement> {
        all.iter()
            .map(|s| GuardStatement::new(s.user_id.clone(), s.denial.normalized()))
            .collect()
    };
    set(current) != set(desired)
}

/// When another grant of the user gave the same access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub from: Timestamp,
    /// `None` while it still does.
    pub until: Option<Timestamp>,
}

/// Whether another grant of the user still gave the same access at `ended_at`; a grant
/// whose end is still held cuts nothing.
pub fn still_held(ended_at: Timestamp, others: &[Span]) -> bool {
    others
        .iter()
        .any(|s| s.from <= ended_at && s.until.is_none_or(|u| u > ended_at))
}
