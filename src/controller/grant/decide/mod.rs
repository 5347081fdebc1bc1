//! Giving access, decided: pure functions from what the pass loaded (the grant's record,
//! the policy, what this process remembers, AWS's answers to the look-ups) to a `Plan` of
//! effects. No I/O here: where a decision needs an answer from AWS or the cluster, the
//! caller loads it first and passes it in.

use std::time::Duration;

use crate::api::{GrantKey, Time};
use k8s_openapi::jiff::Timestamp;

use super::effect::{AddMember, After, Announcement, Effect, Plan, Settle};
use crate::{
    api::{
        AccountAssignmentAccess, AwsSession, BreakGlassGrantStatus, GrantPhase, GrantedAccess,
        GrantedMembership, GroupMembershipAccess,
    },
    assignments::{self, Overall},
    aws::ActAs,
    controller::ledger,
    pause::{Selection, executor as pausing},
    policy::Eligibility,
    targets::{self, GroupTarget},
};

/// How long a grant waiting for a `required` pause target waits before looking again.
pub(crate) const REQUIRED_RECHECK: Duration = Duration::from_secs(5);

/// What the route of a giving pass rests on.
pub(crate) struct Facts<'a> {
    pub status: &'a BreakGlassGrantStatus,
    pub group: Option<&'a GroupMembershipAccess>,
    pub accounts: Option<&'a AccountAssignmentAccess>,
    /// The Identity Store the access is in.
    pub identity_store_id: &'a str,
    /// This grant version is the echo of this process's own work for this window.
    pub echo: bool,
    /// `required` pause targets still to be checked before any AWS call.
    pub required: bool,
}

/// Which way a giving pass goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Access needs no look: the echo of our own work, or already held (AWS is the sweep's
    /// to compare). Only pauses are looked at, and the grant again at expiry.
    Keep,
    /// The first pass with `required` pause targets: survey them before any AWS call.
    SurveyRequired,
    /// Add the user to the group.
    Group,
    /// Assign the permission set on the grant's accounts.
    Accounts,
    /// The policy names no access.
    Nothing,
}

/// The first pass: no window recorded yet.
pub(crate) fn first(status: &BreakGlassGrantStatus) -> bool {
    status.expires_at.is_none()
}

pub(crate) fn route(f: &Facts<'_>) -> Route {
    if f.echo {
        return Route::Keep;
    }
    if f.required && first(f.status) {
        return Route::SurveyRequired;
    }
    match (f.group, f.accounts) {
        (Some(_), _) if held_group(f.status, f.identity_store_id) => Route::Keep,
        (Some(_), _) => Route::Group,
        (None, Some(_)) if held_accounts(f.status) => Route::Keep,
        (None, Some(_)) => Route::Accounts,
        (None, None) => Route::Nothing,
    }
}

/// Already Active with its membership recorded (in this Identity Store).
pub(crate) fn held_group(status: &BreakGlassGrantStatus, identity_store_id: &str) -> bool {
    status.phase == Some(GrantPhase::Active)
        && status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .is_some_and(|m| m.membership_id.is_some() && m.identity_store_id == identity_store_id)
}

/// Already Active with every account assigned.
pub(crate) fn held_accounts(status: &BreakGlassGrantStatus) -> bool {
    let recorded = status
        .access
        .as_ref()
        .map(|a| a.account_assignments.as_slice())
        .unwrap_or_default();
    status.phase == Some(GrantPhase::Active)
        && !recorded.is_empty()
        && assignments::giving(recorded) == Overall::Assigned
}

/// Access in place: pause what the policy names, record, and look again at expiry.
pub(crate) fn keep(selections: &[Selection], pauses: bool, expires_at: Timestamp) -> Plan {
    let mut effects = vec![];
    if pauses {
        effects.push(Effect::Pause(selections.to_vec()));
    }
    effects.extend([Effect::Commit, Effect::Confirm(expires_at)]);
    Plan {
        effects,
        after: After::Expiry { expires_at, pauses },
    }
}

/// The echo of our own work: pauses are checked on every pass (a person re-enabling
/// automation shows within the re-check), access needs no look at all.
pub(crate) fn echo(selections: &[Selection], pauses: bool, expires_at: Timestamp) -> Plan {
    if pauses {
        return keep(selections, pauses, expires_at);
    }
    Plan {
        effects: vec![],
        after: After::Expiry {
            expires_at,
            pauses: false,
        },
    }
}

/// A `required` target missing: the grant waits (Pending, no access) with the missing
/// targets recorded, and looks again shortly. `None`: nothing missing, go on.
pub(crate) fn wait_for_required(
    status: &mut BreakGlassGrantStatus,
    work: Vec<pausing::Work>,
) -> Option<Plan> {
    let msg = pausing::missing_required(&work)?;
    let missing: Vec<pausing::Work> = work
        .into_iter()
        .filter(|w| w.found.object.as_ref().is_err_and(|p| p.is_missing()))
        .collect();
    pausing::record_intent(&mut status.paused_targets, &missing);
    Some(Plan {
        effects: vec![
            Effect::Phase(GrantPhase::Pending),
            Effect::Settle(Settle::WaitingForRequiredTarget(msg.clone())),
            Effect::CommitNoting(Announcement::warning("Waiting", "Pause", msg)),
        ],
        after: After::In(REQUIRED_RECHECK),
    })
}

/// Ids recorded by an earlier pass (stable): no look-up needed.
pub(crate) fn recorded_ids(
    status: &BreakGlassGrantStatus,
    identity_store_id: &str,
) -> Option<(String, String)> {
    status.user_id.clone().zip(
        status
            .access
            .as_ref()
            .and_then(|a| a.group_membership.as_ref())
            .filter(|m| m.identity_store_id == identity_store_id)
            .map(|m| m.group_id.clone()),
    )
}

/// Whether the user may be given access: `member_of_any` is AWS's answer to whether the user
/// is in one of the policy's eligible groups, asked only for `Eligibility::ByGroup`.
pub(crate) fn eligible(eligibility: Option<&Eligibility>, member_of_any: Option<bool>) -> bool {
    match eligibility {
        Some(Eligibility::ByGroup(_)) => member_of_any == Some(true),
        _ => true,
    }
}

/// Whether the pass asks AWS about eligibility at all.
pub(crate) fn eligibility_groups(eligibility: Option<&Eligibility>) -> Option<&[String]> {
    match eligibility {
        Some(Eligibility::ByGroup(groups)) => Some(groups),
        _ => None,
    }
}

/// What a group membership pass rests on, once the ids are known and the user eligible.
pub(crate) struct Membership<'a> {
    pub user: &'a str,
    pub grant_key: &'a GrantKey,
    /// The grant's policy: the ledger names it (its role takes the member back).
    pub policy: &'a str,
    pub target: &'a ActAs,
    pub group: &'a GroupMembershipAccess,
    pub user_id: String,
    pub group_id: String,
    pub window: (Timestamp, Timestamp),
    pub selections: &'a [Selection],
    pub pauses: bool,
}

/// The session changes are made in, as the grant records it.
pub(crate) fn session(target: &ActAs) -> AwsSession {
    AwsSession {
        role_arn: target.role_arn.clone(),
        session_name: target.session_name.clone(),
        region: target.region.clone(),
        external_id: target.external_id.clone(),
    }
}

/// Records the window, the session and what will be granted (on `status`), and plans the
/// change: on the first pass the record is written before the first AWS change (a crash
/// after it still leaves the expiry, and what to revoke, on the grant), then the ledger and
/// the membership; `Active`, and pauses after access.
pub(crate) fn membership(m: Membership<'_>, status: &mut BreakGlassGrantStatus) -> Plan {
    let first = first(status);
    let was_active = status.phase == Some(GrantPhase::Active);
    let (started_at, expires_at) = m.window;
    status.user_id = Some(m.user_id.clone());
    status.aws = Some(session(m.target));
    // Named by id, the group is the id; named by name, the name is what a policy edit changes.
    let group_name = m
        .group
        .group_id
        .is_none()
        .then(|| m.group.group_name.clone())
        .flatten();
    let access = status.access.get_or_insert(GrantedAccess {
        group_membership: None,
        account_assignments: vec![],
    });
    let (membership_id, standing) = access
        .group_membership
        .as_ref()
        .map_or((None, false), |g| (g.membership_id.clone(), g.standing));
    access.group_membership = Some(GrantedMembership {
        identity_store_id: m.target.identity_store_id.clone(),
        group_id: m.group_id.clone(),
        group_name,
        membership_id,
        standing,
    });
    status.granted_at = Some(Time(started_at));
    status.expires_at = Some(Time(expires_at));

    let mut effects = vec![];
    if first {
        effects.extend([
            Effect::Phase(GrantPhase::Pending),
            Effect::Settle(Settle::Granting("adding the user to the group".into())),
            Effect::Checkpoint,
        ]);
    }
    let member_of = targets::Target::Group(GroupTarget {
        identity_store_id: m.target.identity_store_id.clone(),
        group_id: m.group_id.clone(),
    });
    let entry = ledger::Entry::new(member_of, &m.user_id, m.user, m.grant_key, m.policy);
    let msg = format!(
        "{} is a member of group {} until {expires_at}",
        m.user, m.group_id
    );
    effects.extend([
        Effect::AddMember(Box::new(AddMember {
            entry,
            target: m.target.clone(),
            group_id: m.group_id,
            user_id: m.user_id,
            group_name: m.group.group_name.clone(),
        })),
        Effect::Phase(GrantPhase::Active),
        Effect::Settle(Settle::Active(msg.clone())),
    ]);
    if !was_active {
        effects.extend([
            Effect::MeasureGranted,
            Effect::Announce(Announcement::normal("Granted", "Grant", msg)),
        ]);
    }
    let mut plan = keep(m.selections, m.pauses, expires_at);
    effects.append(&mut plan.effects);
    plan.effects = effects;
    plan
}

/// AWS's answer to the add, on the record; `standing`: the user was a member before the
/// grant, and the operator did not add it.
pub(crate) fn record_membership(
    status: &mut BreakGlassGrantStatus,
    membership_id: String,
    standing: bool,
) {
    if let Some(m) = status
        .access
        .as_mut()
        .and_then(|a| a.group_membership.as_mut())
    {
        m.membership_id = Some(membership_id);
        m.standing = standing;
    }
}

pub(crate) mod accounts;
pub(crate) mod ending;
pub(crate) mod holders;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_accounts;
#[cfg(test)]
mod tests_ending;
