//! AWS faults met by a grant's reconcile, in process: throttling, a refused role and a
//! stalled call (ended by the call deadline, in paused time) each fail the pass with the
//! right condition reason and no access half-given, and the retry converges to Active.
//! Eligibility by group membership is decided by a look-up before any change.

use std::time::Duration;

use serde_json::json;

use super::pipeline::{Pipeline, ROLE, STORE, condition, phase};
use crate::{
    api::GrantPhase,
    aws::memory::{Fault, Op},
};

/// One failing pass, then the retry: the grant ends Active with `Stalled` cleared.
async fn fails_with_then_recovers(p: &Pipeline, reason: &str) {
    let err = p.pass("inc-1").await.expect_err("the pass fails");
    assert_eq!(err.reason(), reason, "{err}");
    let g = p.held("inc-1");
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("True".into(), reason.into())),
        "{:?}",
        g.status
    );
    assert_ne!(phase(&g), Some(GrantPhase::Active));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("False".into(), "Active".into()))
    );
    assert!(p.alice_in_group());
}

#[tokio::test]
async fn a_throttled_look_up_is_shown_and_retried() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.aws.inject(Op::GetUserId, Fault::Throttle, 1);
    fails_with_then_recovers(&p, "AwsError").await;
    assert_eq!(p.aws.count(Op::GetUserId), 2);
}

#[tokio::test]
async fn a_throttled_membership_create_leaves_the_window_recorded_and_is_retried() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.aws.inject(Op::CreateGroupMembership, Fault::Throttle, 1);
    let err = p.pass("inc-1").await.expect_err("throttled");
    assert!(err.to_string().contains("CreateGroupMembership"), "{err}");
    let s = p.held("inc-1").status.expect("a status");
    assert_eq!(s.phase, Some(GrantPhase::Pending));
    assert!(
        s.expires_at.is_some() && s.user_id.is_some(),
        "the checkpoint stays"
    );
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    assert!(p.alice_in_group());
}

#[tokio::test]
async fn a_refused_role_is_shown_as_assume_role_failed_and_nothing_changes() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.aws.deny_role(ROLE, true);
    let err = p.pass("inc-1").await.expect_err("refused");
    assert_eq!(err.reason(), "AssumeRoleFailed", "{err}");
    let g = p.held("inc-1");
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("True".into(), "AssumeRoleFailed".into()))
    );
    assert!(p.timeline.changes().is_empty(), "no change on AWS");
    p.aws.deny_role(ROLE, false);
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    assert!(p.alice_in_group());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_call_ends_at_its_deadline_as_aws_timeout_and_is_retried() {
    let p = Pipeline::new();
    p.aws.deadline(Some(Duration::from_secs(10)));
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.aws.inject(Op::GetUserId, Fault::Stall, 1);
    let started = tokio::time::Instant::now();
    fails_with_then_recovers(&p, "AwsTimeout").await;
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "waited for the deadline"
    );
    assert_eq!(p.aws.stalled(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_membership_create_holds_no_lock_past_its_deadline() {
    let p = Pipeline::new();
    p.aws.deadline(Some(Duration::from_secs(10)));
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.aws.inject(Op::CreateGroupMembership, Fault::Stall, 1);
    let err = p.pass("inc-1").await.expect_err("timed out");
    assert_eq!(err.reason(), "AwsTimeout");
    // The user's lock was let go: the retry (same process) gets through.
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    assert!(p.alice_in_group());
}

#[tokio::test]
async fn a_user_in_an_eligible_group_is_granted() {
    let p = Pipeline::new();
    let mut policy = Pipeline::group_policy();
    policy["eligibleUsers"] = json!([]);
    policy["eligibleGroups"] = json!(["oncall-sre"]);
    p.policy("prod-admin", policy);
    let oncall = p.aws.group(STORE, "oncall-sre");
    p.aws.add_member(STORE, &oncall, &p.alice);
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    assert!(p.alice_in_group());
    let looked = p
        .timeline
        .first_call(Op::GetGroupMembershipId)
        .expect("looked");
    let changed = p
        .timeline
        .first_call(Op::CreateGroupMembership)
        .expect("added");
    assert!(looked < changed, "eligibility decided before the change");
}

#[tokio::test]
async fn a_user_outside_the_eligible_groups_is_denied_after_the_look_up_only() {
    let p = Pipeline::new();
    let mut policy = Pipeline::group_policy();
    policy["eligibleUsers"] = json!([]);
    policy["eligibleGroups"] = json!(["oncall-sre"]);
    p.policy("prod-admin", policy);
    p.aws.group(STORE, "oncall-sre");
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Denied), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("True".into(), "UserNotEligible".into()))
    );
    assert!(p.timeline.changes().is_empty(), "no change on AWS");
    assert!(
        p.ledger_entries().is_empty(),
        "nothing recorded to take back"
    );
    assert!(!p.alice_in_group());
}
