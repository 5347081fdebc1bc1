//! The sweep's compare (`targets::compare`): combinations beyond the cases next to it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Member, Observed, compare};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn grants(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(u, g)| ((*u).to_owned(), vec![(*g).to_owned()]))
        .collect()
}

fn set(users: &[&str]) -> BTreeSet<String> {
    users.iter().map(|u| (*u).to_owned()).collect()
}

fn member(user: &str, id: &str) -> Member {
    Member {
        user_id: user.into(),
        membership_id: id.into(),
    }
}

#[test]
fn an_empty_look_has_no_drift_but_keeps_the_mode() {
    let d = compare(&Observed {
        exclusive: true,
        ..Observed::default()
    });
    assert!(d.orphans.is_empty() && d.unmanaged.is_empty() && d.settled.is_empty());
    assert!(d.remove_unmanaged);
    assert!(
        !d.is_empty(),
        "the mode alone is a difference from the default"
    );
}

#[test]
fn a_holder_read_after_the_list_protects_a_recorded_member() {
    let d = compare(&Observed {
        members: map(&[("u1", "m1")]),
        holders_after: grants(&[("u1", "ns/g1")]),
        recorded: set(&["u1"]),
        ..Observed::default()
    });
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn a_holder_protects_a_member_the_operator_never_recorded_too() {
    let d = compare(&Observed {
        members: map(&[("u1", "m1")]),
        holders_after: grants(&[("u1", "ns/g1")]),
        exclusive: true,
        ..Observed::default()
    });
    assert!(d.unmanaged.is_empty(), "{d:?}");
}

#[test]
fn orphans_and_unmanaged_members_are_told_apart_in_one_list() {
    let d = compare(&Observed {
        members: map(&[("u1", "m1"), ("u2", "m2"), ("u3", "m3")]),
        holders_after: grants(&[("u3", "ns/g3")]),
        recorded: set(&["u1"]),
        ..Observed::default()
    });
    assert_eq!(d.orphans, [member("u1", "m1")]);
    assert_eq!(d.unmanaged, [member("u2", "m2")]);
    assert!(!d.remove_unmanaged);
}

#[test]
fn a_member_removed_on_aws_is_reported_with_every_grant_of_its_user() {
    let mut active = BTreeMap::new();
    active.insert("u1".to_owned(), vec!["ns/a".to_owned(), "ns/b".to_owned()]);
    let d = compare(&Observed {
        active_before: active,
        holders_after: grants(&[("u1", "ns/a")]),
        recorded: set(&["u1"]),
        ..Observed::default()
    });
    assert_eq!(
        d.removed_on_aws,
        [("u1".to_owned(), vec!["ns/a".to_owned(), "ns/b".to_owned()])]
    );
    assert!(d.settled.is_empty(), "its grants still hold it");
}

#[test]
fn a_recorded_member_still_listed_is_never_settled() {
    let d = compare(&Observed {
        members: map(&[("u1", "m1")]),
        recorded: set(&["u1", "u2"]),
        ..Observed::default()
    });
    assert_eq!(d.settled, ["u2"]);
    assert_eq!(d.orphans, [member("u1", "m1")]);
}

#[test]
fn user_assignments_without_a_membership_id_are_compared_the_same() {
    let d = compare(&Observed {
        members: map(&[("u1", "")]),
        recorded: set(&["u1"]),
        ..Observed::default()
    });
    assert_eq!(d.orphans, [member("u1", "")]);
}

/// Two installations (namespace-scoped, or two clusters' operators sharing one cluster's
/// ledger kind) on one group: a member the other recorded is neither an orphan nor
/// unmanaged here, even when the group is exclusive.
#[test]
fn a_member_another_installation_recorded_is_left_to_it() {
    let d = compare(&Observed {
        members: map(&[("u1", "m1"), ("u2", "m2")]),
        others: set(&["u2"]),
        exclusive: true,
        ..Observed::default()
    });
    assert_eq!(d.unmanaged, [member("u1", "m1")], "the hand-added one only");
    assert!(d.orphans.is_empty() && d.settled.is_empty(), "{d:?}");
}
