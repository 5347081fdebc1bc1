//! AWS targets (pure): who should have access on each target (an Identity Store group, or a
//! permission set on an account), read from the grants, and how that compares with what AWS
//! lists and what the operator recorded adding. The operator's sweep does the reading and
//! acts on the `Findings` this returns; both kinds go through the same code.

use std::collections::{BTreeMap, BTreeSet};

use crate::{AssignmentState, BreakGlassGrantStatus, GrantKey, GrantPhase};

/// What the sweep reads of one grant; the operator fills it from the object.
#[derive(Debug, Clone)]
pub struct GrantAccess<'a> {
    pub key: GrantKey,
    pub status: Option<&'a BreakGlassGrantStatus>,
    /// The window is recorded (`plan::may_hold_access`): access may have
    /// been given.
    pub may_hold: bool,
    /// `spec.resolved`.
    pub resolved: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Marked revoked on AWS (the operator's `plan::revoked_on_aws`).
    pub revoked_on_aws: bool,
}

/// An Identity Store group: the unit access is reconciled by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupTarget {
    pub identity_store_id: String,
    pub group_id: String,
}

/// A permission set on an AWS account, in one Identity Center instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountTarget {
    pub instance_arn: String,
    pub account_id: String,
    pub permission_set_arn: String,
}

/// What access is reconciled by: a group's members, or an account's USER assignments of a
/// permission set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Group(GroupTarget),
    Account(AccountTarget),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Group(g) => write!(f, "group {}", g.group_id),
            Self::Account(a) => write!(
                f,
                "permission set {} on account {}",
                a.permission_set_arn, a.account_id
            ),
        }
    }
}

/// Per target, per Identity Store user id, the grants (`namespace/name`) behind it.
pub type Holders = BTreeMap<Target, BTreeMap<String, Vec<String>>>;

/// The targets a grant recorded, with its user id, once it has them; `true` where AWS
/// confirmed the access (a membership id, an `Assigned` account). Accounts given back
/// (`Removed`) are no longer held.
pub fn recorded_targets(status: Option<&BreakGlassGrantStatus>) -> Vec<(Target, String, bool)> {
    let Some(status) = status else {
        return vec![];
    };
    let (Some(access), Some(user)) = (status.access.as_ref(), status.user_id.as_ref()) else {
        return vec![];
    };
    let mut out = vec![];
    if let Some(m) = &access.group_membership {
        let target = Target::Group(GroupTarget {
            identity_store_id: m.identity_store_id.clone(),
            group_id: m.group_id.clone(),
        });
        out.push((target, user.clone(), m.membership_id.is_some()));
    }
    for e in &access.account_assignments {
        if e.state == AssignmentState::Removed {
            continue;
        }
        let target = Target::Account(AccountTarget {
            instance_arn: e.instance_arn.clone(),
            account_id: e.account_id.clone(),
            permission_set_arn: e.permission_set_arn.clone(),
        });
        out.push((target, user.clone(), e.state == AssignmentState::Assigned));
    }
    out
}

fn collect<'a>(grants: impl Iterator<Item = GrantAccess<'a>>, confirmed_only: bool) -> Holders {
    let mut out = Holders::new();
    for g in grants {
        for (target, user, confirmed) in recorded_targets(g.status) {
            if confirmed_only && !confirmed {
                continue;
            }
            let key = g.key.to_string();
            out.entry(target)
                .or_default()
                .entry(user)
                .or_default()
                .push(key);
        }
    }
    out
}

/// Grants that may hold access (the window is recorded before the first AWS change, so a
/// grant being given counts too): their members are backed.
pub fn holders<'a>(grants: impl IntoIterator<Item = GrantAccess<'a>>) -> Holders {
    collect(grants.into_iter().filter(|g| g.may_hold), false)
}

/// Grants that hold access for certain: `Active` (written only after AWS confirmed the
/// change), neither resolved nor being deleted. AWS must list their users.
pub fn active<'a>(grants: impl IntoIterator<Item = GrantAccess<'a>>) -> Holders {
    collect(
        grants.into_iter().filter(|g| {
            g.status
                .is_some_and(|s| s.phase == Some(GrantPhase::Active))
                && !g.resolved
                && !g.deleting
                && !g.revoked_on_aws
        }),
        true,
    )
}

/// One member as AWS lists it: a group membership (with its id), or a USER assignment
/// (no id of its own: `membership_id` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub membership_id: String,
}

/// What one look at a target saw.
#[derive(Debug, Default)]
pub struct Observed {
    /// AWS's list: user id → membership id.
    pub members: BTreeMap<String, String>,
    /// Users of `active` grants read *before* the list was asked for: AWS had confirmed
    /// their membership before it answered, so a missing one was removed by someone else.
    pub active_before: BTreeMap<String, Vec<String>>,
    /// Users of grants that may hold access, read *after* the list: anything the list shows
    /// that was added for a grant has its grant in here.
    pub holders_after: BTreeMap<String, Vec<String>>,
    /// Users the operator recorded adding (the ledger, written before every add).
    pub recorded: BTreeSet<String>,
    /// Users another installation of the operator recorded adding (its own ledger, in the
    /// same cluster): theirs to keep or take back, never this one's to remove or report.
    pub others: BTreeSet<String>,
    /// The group belongs to the operator: members without a grant go, whoever added them.
    pub exclusive: bool,
}

/// What to do about a target.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Added by the operator, no grant holds it (finalizer stripped, grant force-deleted,
    /// re-added by hand after revocation): always removed.
    pub orphans: Vec<Member>,
    /// Never added by the operator and held by no grant: removed when `exclusive`,
    /// otherwise only reported.
    pub unmanaged: Vec<Member>,
    /// Whether `unmanaged` are to be removed.
    pub remove_unmanaged: bool,
    /// Active grants whose member AWS no longer lists: removed by someone else; the grants
    /// end (`RevokedOnAws`) rather than add it back.
    pub removed_on_aws: Vec<(String, Vec<String>)>,
    /// Ledger entries with neither a member nor a holder: nothing left to take back.
    pub settled: Vec<String>,
}

impl Findings {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

pub fn compare(o: &Observed) -> Findings {
    let mut drift = Findings {
        remove_unmanaged: o.exclusive,
        ..Findings::default()
    };
    for (user_id, membership_id) in &o.members {
        if o.holders_after.contains_key(user_id) {
            continue;
        }
        let member = Member {
            user_id: user_id.clone(),
            membership_id: membership_id.clone(),
        };
        if o.recorded.contains(user_id) {
            drift.orphans.push(member);
        } else if !o.others.contains(user_id) {
            drift.unmanaged.push(member);
        }
    }
    for (user_id, grants) in &o.active_before {
        if !o.members.contains_key(user_id) {
            drift.removed_on_aws.push((user_id.clone(), grants.clone()));
        }
    }
    drift.settled = o
        .recorded
        .iter()
        .filter(|u| !o.members.contains_key(*u) && !o.holders_after.contains_key(*u))
        .cloned()
        .collect();
    drift
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_compare;
