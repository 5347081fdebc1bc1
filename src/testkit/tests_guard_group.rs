//! The session guard on group-membership grants: the permission sets the policy names, or
//! those the group's account assignments use; standing access and a policy that turns the
//! guard off leave AWS alone.

use serde_json::{Value, json};

use super::{
    pipeline::{INSTANCE, PERMISSION_SET, Pipeline, STORE},
    tests_guard::{guard_pass, ours, sessions},
};
use crate::{
    api::{GrantPhase, GuardState},
    aws::memory::Op,
};

/// The group policy with `spec.access.sessions`, its instance on AWS.
fn group_policy(p: &Pipeline, sessions: Value) {
    p.aws.instance(INSTANCE, STORE);
    let mut spec = Pipeline::group_policy();
    spec["access"]["sessions"] = sessions;
    p.policy("prod-admin", spec);
}

async fn active(p: &Pipeline) {
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
}

/// The permission set ARNs the grant records as guarded, and their states.
fn guarded(p: &Pipeline) -> Vec<(String, GuardState)> {
    sessions(p, "inc-1")
        .permission_sets
        .into_iter()
        .map(|e| (e.permission_set_arn, e.state))
        .collect()
}

#[tokio::test]
async fn the_permission_sets_the_policy_names_are_guarded() {
    let p = Pipeline::new();
    let ps = p.aws.permission_set(INSTANCE, PERMISSION_SET);
    let other = p.aws.permission_set(INSTANCE, "ReadOnly");
    group_policy(&p, json!({"permissionSets": [PERMISSION_SET]}));
    active(&p).await;

    assert!(!guard_pass(&p, false).await);

    let stmts = ours(&p.aws.inline_policy_of(&ps));
    assert_eq!(stmts.len(), 1);
    assert_eq!(stmts[0].user_id, p.alice);
    assert_eq!(p.aws.provisionings(&ps).len(), 1);
    assert!(p.aws.inline_policy_of(&other).is_empty(), "not named");
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);
    assert_eq!(guarded(&p), [(ps, GuardState::Enforced)]);
    assert_eq!(
        p.aws.count(Op::ListAccountAssignmentsForPrincipal),
        0,
        "named: nothing to discover"
    );
}

#[tokio::test]
async fn without_names_the_groups_assigned_permission_sets_are_guarded() {
    let p = Pipeline::new();
    let admin = p.aws.permission_set(INSTANCE, PERMISSION_SET);
    let read = p.aws.permission_set(INSTANCE, "ReadOnly");
    p.aws
        .set_group_permission_sets(INSTANCE, &p.group, [admin.clone(), read.clone()]);
    group_policy(&p, json!({}));
    active(&p).await;

    assert!(!guard_pass(&p, false).await);

    for ps in [&admin, &read] {
        let stmts = ours(&p.aws.inline_policy_of(ps));
        assert_eq!(stmts.len(), 1, "{ps}");
        assert_eq!(stmts[0].user_id, p.alice);
        assert!(p.aws.provisioned_policy(ps).is_some(), "{ps}");
    }
    assert_eq!(p.aws.count(Op::ListAccountAssignmentsForPrincipal), 1);
    let mut want = vec![(admin, GuardState::Enforced), (read, GuardState::Enforced)];
    want.sort();
    assert_eq!(guarded(&p), want);
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);
}

#[tokio::test]
async fn standing_access_is_skipped_without_a_statement() {
    let p = Pipeline::new();
    let ps = p.aws.permission_set(INSTANCE, PERMISSION_SET);
    p.aws.add_member(STORE, &p.group, &p.alice);
    group_policy(&p, json!({"permissionSets": [PERMISSION_SET]}));
    active(&p).await;
    p.aws.clear_calls();

    assert!(!guard_pass(&p, true).await);

    let s = sessions(&p, "inc-1");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (GuardState::Skipped, Some("StandingAccess")),
        "{s:?}"
    );
    assert!(p.aws.inline_policy_of(&ps).is_empty(), "no statement");
    assert_eq!(p.aws.calls(), vec![], "no AWS call");
}

#[tokio::test]
async fn a_policy_turning_the_guard_off_is_skipped_without_an_aws_call() {
    let p = Pipeline::new();
    let ps = p.aws.permission_set(INSTANCE, PERMISSION_SET);
    group_policy(
        &p,
        json!({"guard": "Off", "permissionSets": [PERMISSION_SET]}),
    );
    active(&p).await;
    p.aws.clear_calls();

    assert!(!guard_pass(&p, true).await);

    let s = sessions(&p, "inc-1");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (GuardState::Skipped, Some("GuardOff")),
        "{s:?}"
    );
    assert!(p.aws.inline_policy_of(&ps).is_empty());
    assert_eq!(p.aws.calls(), vec![], "no AWS call");

    // Skipped stays skipped: the grant ending costs the guard nothing either.
    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    p.aws.clear_calls();
    assert!(!guard_pass(&p, true).await);
    assert_eq!(p.aws.calls(), vec![]);
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Skipped);
}
