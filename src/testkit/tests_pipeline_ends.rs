//! Edges of a grant's lifecycle, in process: a member there before the grant (standing
//! access, kept at the end), the policy deleted under an Active grant, refusals decided without
//! AWS (no requester, an account outside the policy), and a failed removal retried.

use serde_json::json;

use super::pipeline::{Pipeline, STORE, condition, phase, policy_path};
use crate::{
    api::{EndReason, GrantPhase},
    aws::memory::{Fault, Op},
};

/// Standing access: a member the operator did not add (nothing in its ledger) is recorded
/// as such, stays out of the ledger, and keeps the membership when the grant ends.
#[tokio::test]
async fn a_member_there_before_the_grant_is_standing_access_and_kept_at_the_end() {
    let p = Pipeline::new();
    p.aws.add_member(STORE, &p.group, &p.alice);
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    let m = p
        .held("inc-1")
        .status
        .and_then(|s| s.access?.group_membership)
        .expect("the membership recorded");
    assert!(m.membership_id.is_some(), "the existing id recorded");
    assert!(m.standing, "recorded as standing access");
    assert!(
        p.ledger_entries().is_empty(),
        "not the operator's: not in its ledger"
    );
    assert_eq!(p.aws.count(Op::CreateGroupMembership), 0);

    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    assert!(p.alice_in_group(), "standing access kept at the end");
    assert_eq!(p.aws.count(Op::DeleteGroupMembership), 0);
    let said = p
        .held("inc-1")
        .status
        .map(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message)
        .unwrap_or_default();
    assert!(said.contains("standing access kept"), "{said}");
}

#[tokio::test]
async fn deleting_the_policy_ends_an_active_grant_as_its_recorded_role() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    p.api.remove(&policy_path("prod-admin"));
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        g.status.and_then(|s| s.end_reason),
        Some(EndReason::PolicyDeleted)
    );
    assert!(!p.alice_in_group(), "removed without the policy");
}

#[tokio::test]
async fn a_grant_without_a_requester_is_denied_without_any_aws_call() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({"requestedBy": null}));
    p.until("inc-1", Some(GrantPhase::Denied), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("True".into(), "RequesterUnknown".into()))
    );
    assert!(p.aws.calls().is_empty());
}

#[tokio::test]
async fn an_account_outside_the_policy_is_denied_without_any_aws_call() {
    let p = Pipeline::new();
    p.policy("prod-accounts", p.account_policy());
    p.grant(
        "inc-1",
        "prod-accounts",
        json!({"accountIds": ["333333333333"]}),
    );
    p.until("inc-1", Some(GrantPhase::Denied), 3).await;
    assert_eq!(phase(&p.held("inc-1")), Some(GrantPhase::Denied));
    assert!(p.aws.calls().is_empty());
    assert!(p.ledger_entries().is_empty());
}

#[tokio::test]
async fn a_throttled_removal_keeps_the_grant_until_a_retry_removes_access() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    p.aws.inject(Op::DeleteGroupMembership, Fault::Throttle, 1);
    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    assert!(p.pass("inc-1").await.is_err(), "the removal failed");
    let g = p.held("inc-1");
    assert_ne!(
        phase(&g),
        Some(GrantPhase::Ended),
        "not Ended while access remains"
    );
    assert_eq!(condition(&g, "Stalled").map(|c| c.0), Some("True".into()));
    assert!(p.alice_in_group());
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    assert!(!p.alice_in_group());
}

#[tokio::test]
async fn a_throttled_session_fails_the_pass_before_any_change() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.aws.inject(Op::AssumeRole, Fault::Throttle, 1);
    let err = p.pass("inc-1").await.expect_err("throttled");
    assert!(err.to_string().contains("assuming role"), "{err}");
    assert!(p.timeline.changes().is_empty());
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
}
