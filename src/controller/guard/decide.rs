//! The guard's decisions, pure: which grants need it, what each guarded permission set must
//! deny (`sessions::desired` over the grants on it), and what a grant records once AWS has
//! answered. No I/O: the caller loads the grants, resolves their permission sets and reads
//! the inline policies.

use std::collections::{BTreeMap, BTreeSet};

use breakglass_core::sessions::{Span, UserGuard, still_held};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::{GrantKey, GuardState, GuardedPermissionSet, SessionsStatus, Time};

/// A guarded permission set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PsKey {
    pub instance_arn: String,
    pub permission_set_arn: String,
}

/// What the guard does for one grant, decided from its policy and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Nothing to guard (`reason`: GuardOff, StandingAccess, NoPermissionSets, …).
    Skip { reason: String, message: String },
    /// These permission sets deny the user.
    Guard(BTreeSet<PsKey>),
    /// Its permission sets could not be resolved (retried).
    Unresolved {
        reason: &'static str,
        message: String,
    },
}

/// One grant as the guard sees it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub key: GrantKey,
    pub user_id: String,
    /// Phase Active (else Ended).
    pub active: bool,
    pub granted_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub sessions: Option<SessionsStatus>,
    pub scope: Scope,
}

impl Seen {
    fn state(&self) -> Option<GuardState> {
        self.sessions.as_ref().map(|s| s.state)
    }

    /// Whether the guard still has work for this grant: an Active grant until its expiry
    /// statement is provisioned, an Ended one until its cut is (or is known to be needless).
    pub(crate) fn open(&self) -> bool {
        !matches!(
            (self.active, self.state()),
            (_, Some(GuardState::Skipped))
                | (true, Some(GuardState::Enforced))
                | (false, Some(GuardState::Revoked))
        )
    }

    /// The request id this grant recorded for `ps`, still to be awaited.
    fn recorded_request(&self, ps: &PsKey) -> Option<&str> {
        let s = self.sessions.as_ref()?;
        s.permission_sets
            .iter()
            .find(|e| {
                e.instance_arn == ps.instance_arn
                    && e.permission_set_arn == ps.permission_set_arn
                    && matches!(e.state, GuardState::Pending | GuardState::Revoking)
            })
            .and_then(|e| e.request_id.as_deref())
    }
}

/// What a grant wants from a permission set's provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Its expiry statement in force.
    Enforced,
    /// Its user's sessions issued before `ended_at` cut.
    Revoked { ended_at: Timestamp },
}

/// The work on one permission set.
#[derive(Debug, Clone, Default)]
pub(crate) struct PsWork {
    pub users: Vec<UserGuard>,
    /// Open grants waiting for this permission set's provisioning.
    pub waiting: Vec<(GrantKey, Want)>,
    /// A provisioning recorded by a waiting grant (before a restart): polled, not redone,
    /// unless the statements change.
    pub recorded_request: Option<String>,
}

/// Per permission set (all, or `only` these), what AWS must hold: the users of every grant
/// on it that the guard covers (an Active grant's expiry, an Ended one's cut) and which
/// open grants wait for it. Ended grants whose end another grant of the user still covered
/// are returned apart: they cut nothing.
pub(crate) fn plan(
    seen: &[Seen],
    only: Option<&BTreeSet<PsKey>>,
) -> (BTreeMap<PsKey, PsWork>, Vec<GrantKey>) {
    let mut work: BTreeMap<PsKey, PsWork> = BTreeMap::new();
    let mut held = vec![];
    for g in seen {
        let Scope::Guard(sets) = &g.scope else {
            continue;
        };
        for ps in sets {
            if only.is_some_and(|o| !o.contains(ps)) {
                continue;
            }
            let w = work.entry(ps.clone()).or_default();
            let user = user_entry(&mut w.users, &g.user_id);
            if g.active {
                user.active_until = max(user.active_until, g.expires_at);
                if g.open() {
                    w.waiting.push((g.key.clone(), Want::Enforced));
                }
            } else if g.open()
                && let Some(ended_at) = g.ended_at
            {
                if still_held(ended_at, &others(seen, g, ps)) {
                    held.push(g.key.clone());
                    continue;
                }
                user.cut_at = max(user.cut_at, Some(cut_moment(ended_at)));
                w.waiting.push((g.key.clone(), Want::Revoked { ended_at }));
            }
            if g.open()
                && let Some(id) = g.recorded_request(ps)
            {
                w.recorded_request = Some(id.to_owned());
            }
        }
    }
    held.sort();
    held.dedup();
    (work, held)
}

/// The moment an end cuts before: `endedAt` is recorded to the second, so the whole second
/// it names is cut (a session issued in it, before the end, must not survive; a new grant's
/// within that second is the rare price).
fn cut_moment(ended_at: Timestamp) -> Timestamp {
    ended_at
        .checked_add(SignedDuration::from_secs(1))
        .unwrap_or(ended_at)
}

fn user_entry<'a>(users: &'a mut Vec<UserGuard>, user_id: &str) -> &'a mut UserGuard {
    let at = match users.iter().position(|u| u.user_id == user_id) {
        Some(i) => i,
        None => {
            users.push(UserGuard {
                user_id: user_id.to_owned(),
                active_until: None,
                cut_at: None,
            });
            users.len() - 1
        }
    };
    &mut users[at]
}

fn max(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.into_iter().chain(b).max()
}

/// The spans of the user's other grants on `ps`.
fn others(seen: &[Seen], me: &Seen, ps: &PsKey) -> Vec<Span> {
    seen.iter()
        .filter(|o| o.key != me.key && o.user_id == me.user_id)
        .filter(|o| matches!(&o.scope, Scope::Guard(s) if s.contains(ps)))
        .map(|o| Span {
            from: o.granted_at,
            until: if o.active { None } else { o.ended_at },
        })
        .collect()
}

/// AWS's answer for one permission set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PsOutcome {
    /// Provisioned to its accounts at `at`.
    Provisioned { at: Timestamp },
    /// Provisioning accepted; still running (polled again later).
    InProgress { request_id: String },
    /// The guard could not be written or provisioned (retried).
    Failed {
        reason: &'static str,
        message: String,
    },
}

/// A grant's record after this pass: its entry for each permission set it waited on, and
/// its overall state. `None` when nothing changed.
pub(crate) fn record(
    g: &Seen,
    outcomes: &BTreeMap<PsKey, PsOutcome>,
    held: bool,
    now: Timestamp,
) -> Option<SessionsStatus> {
    let next = match &g.scope {
        _ if held => skipped(
            "StillHeld",
            "another grant of the user still gives this access: no session was cut".into(),
        ),
        Scope::Skip { reason, message } => skipped(reason, message.clone()),
        Scope::Unresolved { reason, message } => SessionsStatus {
            state: GuardState::Failed,
            reason: Some((*reason).into()),
            message: Some(message.clone()),
            revoked_at: None,
            permission_sets: g
                .sessions
                .as_ref()
                .map(|s| s.permission_sets.clone())
                .unwrap_or_default(),
        },
        Scope::Guard(sets) => guarded(g, sets, outcomes, now),
    };
    (g.sessions.as_ref() != Some(&next)).then_some(next)
}

fn skipped(reason: &str, message: String) -> SessionsStatus {
    SessionsStatus {
        state: GuardState::Skipped,
        reason: Some(reason.into()),
        message: Some(message),
        revoked_at: None,
        permission_sets: vec![],
    }
}

fn guarded(
    g: &Seen,
    sets: &BTreeSet<PsKey>,
    outcomes: &BTreeMap<PsKey, PsOutcome>,
    now: Timestamp,
) -> SessionsStatus {
    let (waiting, done) = if g.active {
        (GuardState::Pending, GuardState::Enforced)
    } else {
        (GuardState::Revoking, GuardState::Revoked)
    };
    let before = g.sessions.as_ref();
    let entries: Vec<GuardedPermissionSet> = sets
        .iter()
        .map(|ps| {
            let old = before.and_then(|s| {
                s.permission_sets.iter().find(|e| {
                    e.instance_arn == ps.instance_arn
                        && e.permission_set_arn == ps.permission_set_arn
                })
            });
            let mut e = GuardedPermissionSet {
                instance_arn: ps.instance_arn.clone(),
                permission_set_arn: ps.permission_set_arn.clone(),
                state: waiting,
                request_id: None,
                provisioned_at: None,
                message: None,
            };
            if let Some(old) = old.filter(|o| o.state == done || o.state == waiting) {
                e.state = old.state;
                e.request_id = old.request_id.clone();
                e.provisioned_at = old.provisioned_at.clone();
            }
            match outcomes.get(ps) {
                Some(PsOutcome::Provisioned { at }) => {
                    e.state = done;
                    e.provisioned_at = Some(Time(*at));
                }
                Some(PsOutcome::InProgress { request_id }) => {
                    e.state = waiting;
                    e.request_id = Some(request_id.clone());
                }
                Some(PsOutcome::Failed { message, .. }) => {
                    e.state = GuardState::Failed;
                    e.message = Some(message.clone());
                }
                None => {}
            }
            e
        })
        .collect();
    let failed = sets.iter().find_map(|ps| match outcomes.get(ps) {
        Some(PsOutcome::Failed { reason, message }) => Some((*reason, message.clone())),
        _ => None,
    });
    let all_done = !entries.is_empty() && entries.iter().all(|e| e.state == done);
    let state = match (&failed, all_done) {
        (Some(_), _) => GuardState::Failed,
        (None, true) => done,
        (None, false) => waiting,
    };
    let revoked_at = (state == GuardState::Revoked)
        .then(|| {
            entries
                .iter()
                .filter_map(|e| e.provisioned_at.clone())
                .max()
        })
        .flatten()
        .or_else(|| (state == GuardState::Revoked).then_some(Time(now)));
    let (reason, message) = match failed {
        Some((reason, message)) => (Some(reason.to_owned()), Some(message)),
        None => (None, None),
    };
    SessionsStatus {
        state,
        reason,
        message,
        revoked_at,
        permission_sets: entries,
    }
}

/// Whether an Ended grant's cut is needless: its end is older than the session duration,
/// so every session issued before it has expired already.
pub(crate) fn expired_cut(
    ended_at: Timestamp,
    session_duration: SignedDuration,
    now: Timestamp,
) -> bool {
    ended_at
        .checked_add(session_duration)
        .is_ok_and(|until| until <= now)
}
