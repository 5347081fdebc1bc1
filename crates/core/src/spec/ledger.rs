//! `BreakGlassLedgerEntry`: the operator's durable record of one AWS member it added (a
//! group membership or an account assignment), so it can always take it back. Cluster-
//! scoped and written only by the operator (no user role names it). An entry names where
//! and whom, never how: the role to act with comes from the policy it names (or a grant's
//! recorded session), so a forged entry cannot make the operator act as anyone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    Time,
    targets::{AccountTarget, GroupTarget, Target},
    validation::exactly_one_of,
};

/// `spec` of a ledger entry.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntrySpec {
    /// The installation that added the member: each reads and forgets only its own.
    #[schemars(length(min = 1, max = 16))]
    pub installation: String,
    pub target: LedgerTarget,
    /// The member's Identity Store user id.
    #[schemars(length(min = 1, max = 64))]
    pub user_id: String,
    /// For people: the grant's user, and the grant (`namespace/name`) that last recorded it.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub grant: String,
    /// The policy of that grant: its current role takes the member back.
    #[serde(default)]
    pub policy: String,
    /// When a grant last recorded it: its add may land up to one AWS call deadline later.
    pub recorded_at: Time,
}

/// Where the member is: exactly one of a group or an account assignment.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [exactly_one_of(
    "group",
    "account",
    "exactly one of group or account must be set"
)]))]
pub struct LedgerTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<LedgerGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<LedgerAccount>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerGroup {
    pub identity_store_id: String,
    pub group_id: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerAccount {
    pub instance_arn: String,
    pub account_id: String,
    pub permission_set_arn: String,
}

impl From<&Target> for LedgerTarget {
    fn from(t: &Target) -> Self {
        match t {
            Target::Group(g) => Self {
                group: Some(LedgerGroup {
                    identity_store_id: g.identity_store_id.clone(),
                    group_id: g.group_id.clone(),
                }),
                account: None,
            },
            Target::Account(a) => Self {
                group: None,
                account: Some(LedgerAccount {
                    instance_arn: a.instance_arn.clone(),
                    account_id: a.account_id.clone(),
                    permission_set_arn: a.permission_set_arn.clone(),
                }),
            },
        }
    }
}

impl LedgerTarget {
    /// The target, when exactly one kind is set (the CRD's rule; a stored object predating
    /// it, or a hand-edited one, yields `None`).
    pub fn target(&self) -> Option<Target> {
        match (&self.group, &self.account) {
            (Some(g), None) => Some(Target::Group(GroupTarget {
                identity_store_id: g.identity_store_id.clone(),
                group_id: g.group_id.clone(),
            })),
            (None, Some(a)) => Some(Target::Account(AccountTarget {
                instance_arn: a.instance_arn.clone(),
                account_id: a.account_id.clone(),
                permission_set_arn: a.permission_set_arn.clone(),
            })),
            _ => None,
        }
    }
}

/// FNV-1a: stable across releases, so a restarted operator finds the same names.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn key(target: &Target, user_id: &str) -> String {
    match target {
        Target::Group(g) => format!("{}/{}/{user_id}", g.identity_store_id, g.group_id),
        Target::Account(a) => format!(
            "{}/{}/{}/{user_id}",
            a.instance_arn, a.account_id, a.permission_set_arn
        ),
    }
}

fn kind(target: &Target) -> &'static str {
    match target {
        Target::Group(_) => "member",
        Target::Account(_) => "assignment",
    }
}

/// The one name an installation's entry for (`target`, `user_id`) has: one object per
/// member, so a burst of grants makes independent creates; an entry under any other name
/// was not written by this operator and is ignored.
pub fn ledger_entry_name(installation: &str, target: &Target, user_id: &str) -> String {
    let hash = fnv(&format!("{installation}\n{}", key(target, user_id)));
    format!("breakglass-{}-{hash:016x}", kind(target))
}

/// The name the ConfigMap ledger (before `BreakGlassLedgerEntry`) gave the same member:
/// migration reads only ConfigMaps under their computed names.
pub fn legacy_ledger_name(target: &Target, user_id: &str) -> String {
    format!(
        "breakglass-{}-{:016x}",
        kind(target),
        fnv(&key(target, user_id))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Target {
        Target::Group(GroupTarget {
            identity_store_id: "d-1".into(),
            group_id: "g-1".into(),
        })
    }

    #[test]
    fn names_are_stable_per_installation_and_member() {
        let a = ledger_entry_name("inst1", &group(), "u-1");
        assert_eq!(a, ledger_entry_name("inst1", &group(), "u-1"));
        assert!(a.starts_with("breakglass-member-"), "{a}");
        assert_ne!(a, ledger_entry_name("inst2", &group(), "u-1"));
        assert_ne!(a, ledger_entry_name("inst1", &group(), "u-2"));
        // The ConfigMap ledger's names, as that release computed them.
        assert_eq!(
            legacy_ledger_name(&group(), "u-1"),
            format!("breakglass-member-{:016x}", fnv("d-1/g-1/u-1"))
        );
    }

    #[test]
    fn targets_round_trip_and_a_half_written_target_is_none() {
        let account = Target::Account(AccountTarget {
            instance_arn: "arn:aws:sso:::instance/ssoins-1".into(),
            account_id: "111111111111".into(),
            permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1/ps-1".into(),
        });
        for t in [group(), account] {
            assert_eq!(LedgerTarget::from(&t).target(), Some(t.clone()));
            assert!(ledger_entry_name("i", &t, "u").len() <= 63);
        }
        let none = LedgerTarget {
            group: None,
            account: None,
        };
        assert_eq!(none.target(), None);
    }
}
