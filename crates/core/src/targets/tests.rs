use serde::Deserialize;

use super::*;
use crate::BreakGlassGrantSpec;

/// A grant of the fixture as the operator reads it.
struct Grant {
    key: GrantKey,
    spec: BreakGlassGrantSpec,
    status: Option<BreakGlassGrantStatus>,
    deleting: bool,
    revoked_on_aws: bool,
}

impl Grant {
    fn access(&self) -> GrantAccess<'_> {
        GrantAccess {
            key: self.key.clone(),
            status: self.status.as_ref(),
            may_hold: crate::plan::may_hold_access(self.status.as_ref()),
            resolved: self.spec.resolved,
            deleting: self.deleting,
            revoked_on_aws: self.revoked_on_aws,
        }
    }
}

fn grants() -> Vec<Grant> {
    let path = format!(
        "{}/../../tests/fixtures/targets/grants.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let doc = serde_yaml::Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}"));
            let meta = &doc["metadata"];
            let text = |v: &serde_yaml::Value| v.as_str().unwrap_or_default().to_owned();
            Grant {
                key: GrantKey::new(text(&meta["namespace"]), text(&meta["name"])),
                spec: serde_yaml::from_value(doc["spec"].clone()).expect("spec"),
                status: serde_yaml::from_value(doc["status"].clone()).expect("status"),
                deleting: !meta["deletionTimestamp"].is_null(),
                revoked_on_aws: !meta["annotations"]["breakglass.dev/revoked-on-aws"].is_null(),
            }
        })
        .collect()
}

fn holders(all: &[Grant]) -> Holders {
    super::holders(all.iter().map(Grant::access))
}

fn active(all: &[Grant]) -> Holders {
    super::active(all.iter().map(Grant::access))
}

fn g1() -> Target {
    Target::Group(GroupTarget {
        identity_store_id: "d-1".into(),
        group_id: "g-1".into(),
    })
}

fn users(h: &Holders, t: &Target) -> Vec<String> {
    h.get(t)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn members(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(u, m)| (u.to_string(), m.to_string()))
        .collect()
}

#[test]
fn holders_are_grants_that_may_hold_access_and_active_ones_are_certain() {
    let all = grants();
    let holders = holders(&all);
    assert_eq!(users(&holders, &g1()), ["u-alice", "u-bob", "u-erin"]);
    assert_eq!(
        holders[&g1()]["u-alice"],
        ["incidents/alice", "incidents/alice-2"],
        "overlapping grants share one member"
    );
    let active = active(&all);
    assert_eq!(
        users(&active, &g1()),
        ["u-alice"],
        "a grant being given, a resolved one and an ended one are not certain"
    );
    let g2 = Target::Group(GroupTarget {
        identity_store_id: "d-1".into(),
        group_id: "g-2".into(),
    });
    assert_eq!(users(&active, &g2), ["u-dave"]);
}

fn observed(list: &[(&str, &str)], recorded: &[&str], exclusive: bool) -> Observed {
    let all = grants();
    Observed {
        members: members(list),
        active_before: active(&all).remove(&g1()).unwrap_or_default(),
        holders_after: holders(&all).remove(&g1()).unwrap_or_default(),
        recorded: recorded.iter().map(|s| s.to_string()).collect(),
        exclusive,
        others: BTreeSet::new(),
    }
}

#[test]
fn consistent_targets_have_no_drift() {
    let o = observed(
        &[("u-alice", "m-alice"), ("u-erin", "m-erin")],
        &["u-alice", "u-bob", "u-erin"],
        true,
    );
    let drift = compare(&o);
    assert!(
        drift.orphans.is_empty() && drift.unmanaged.is_empty(),
        "{drift:?}"
    );
    assert!(
        drift.removed_on_aws.is_empty() && drift.settled.is_empty(),
        "{drift:?}"
    );
}

#[test]
fn a_member_the_operator_added_without_a_grant_is_an_orphan_in_every_mode() {
    for exclusive in [false, true] {
        let o = observed(
            &[("u-alice", "m-alice"), ("u-carol", "m-carol")],
            &["u-alice", "u-carol"],
            exclusive,
        );
        let drift = compare(&o);
        assert_eq!(
            drift.orphans,
            [Member {
                user_id: "u-carol".into(),
                membership_id: "m-carol".into()
            }]
        );
        assert!(drift.unmanaged.is_empty());
    }
}

#[test]
fn hand_added_members_are_removed_only_from_exclusive_groups() {
    let shared = compare(&observed(
        &[("u-alice", "m-alice"), ("u-zed", "m-zed")],
        &["u-alice"],
        false,
    ));
    assert_eq!(shared.unmanaged.len(), 1);
    assert_eq!(shared.unmanaged[0].user_id, "u-zed");
    assert!(
        !shared.remove_unmanaged,
        "reported, never removed by default"
    );
    let owned = compare(&observed(
        &[("u-alice", "m-alice"), ("u-zed", "m-zed")],
        &["u-alice"],
        true,
    ));
    assert!(owned.remove_unmanaged);
    assert!(owned.orphans.is_empty());
}

#[test]
fn an_active_member_missing_on_aws_was_removed_there_and_is_not_added_back() {
    let drift = compare(&observed(&[("u-erin", "m-erin")], &["u-alice"], false));
    assert_eq!(
        drift.removed_on_aws,
        [(
            "u-alice".to_string(),
            vec![
                "incidents/alice".to_string(),
                "incidents/alice-2".to_string()
            ]
        )]
    );
    assert!(
        drift.settled.is_empty(),
        "alice's grants still hold the record until they end"
    );
}

#[test]
fn a_grant_being_given_is_neither_missing_nor_settled() {
    // bob's membership is not there yet: the add is in flight, the ledger already has it.
    let drift = compare(&observed(
        &[("u-alice", "m-alice")],
        &["u-alice", "u-bob"],
        false,
    ));
    assert!(drift.removed_on_aws.is_empty());
    assert!(drift.settled.is_empty());
}

#[test]
fn a_recorded_member_gone_with_its_grants_is_settled() {
    let drift = compare(&observed(
        &[("u-alice", "m-alice")],
        &["u-alice", "u-carol"],
        false,
    ));
    assert_eq!(drift.settled, ["u-carol"]);
    assert!(drift.orphans.is_empty());
}

fn account(id: &str) -> Target {
    Target::Account(AccountTarget {
        instance_arn: "arn:aws:sso:::instance/ssoins-0000000000000001".into(),
        account_id: id.into(),
        permission_set_arn:
            "arn:aws:sso:::permissionSet/ssoins-0000000000000001/ps-0000000000000001".into(),
    })
}

#[test]
fn account_targets_are_held_per_account_and_certain_only_once_assigned() {
    let all = grants();
    let holders = holders(&all);
    assert_eq!(users(&holders, &account("111111111111")), ["u-frank"]);
    assert_eq!(
        users(&holders, &account("222222222222")),
        ["u-frank"],
        "being created: backed"
    );
    assert!(
        users(&holders, &account("333333333333")).is_empty(),
        "given back: no longer held"
    );
    let active = active(&all);
    assert_eq!(users(&active, &account("444444444444")), ["u-frank"]);
    assert!(
        users(&active, &account("111111111111")).is_empty(),
        "a Pending grant is not certain, even with some accounts assigned"
    );
}
