//! A group-membership grant through the controller's reconcile, in process: Active with
//! everything recorded, the write-ahead order (window and ledger before the membership),
//! ending on expiry, resolve and delete, and a membership another live grant holds kept.

use serde_json::json;

use super::pipeline::{GROUP, Pipeline, STORE, condition, grant_path, phase};
use crate::{
    api::{EndReason, GrantPhase},
    aws::memory::Op,
};

#[tokio::test]
async fn a_group_grant_becomes_active_with_its_record_and_the_membership() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;

    let g = p.held("inc-1");
    let s = g.status.clone().expect("a status");
    assert_eq!(s.user_id.as_deref(), Some(p.alice.as_str()));
    let m = s
        .access
        .as_ref()
        .and_then(|a| a.group_membership.clone())
        .expect("the membership recorded");
    assert_eq!(m.identity_store_id, STORE);
    assert_eq!(m.group_id, p.group);
    assert_eq!(m.group_name.as_deref(), Some(GROUP));
    assert!(m.membership_id.is_some(), "{m:?}");
    let (granted, expires) = (s.granted_at.expect("start").0, s.expires_at.expect("end").0);
    assert_eq!(
        expires.duration_since(granted).as_secs(),
        3600,
        "the default 1h"
    );
    assert_eq!(
        condition(&g, "Ready"),
        Some(("True".into(), "Active".into()))
    );
    assert_eq!(
        condition(&g, "Granted"),
        Some(("True".into(), "Granted".into()))
    );
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("False".into(), "Active".into()))
    );
    assert_eq!(
        s.aws.expect("the session recorded").role_arn,
        super::pipeline::ROLE
    );
    assert!(p.alice_in_group());
    assert_eq!(
        p.ledger_entries().len(),
        1,
        "one ledger entry for the member"
    );
}

#[tokio::test]
async fn the_window_and_the_ledger_entry_are_recorded_before_the_first_aws_change() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;

    let t = &p.timeline;
    let change = t
        .first_call(Op::CreateGroupMembership)
        .expect("the membership was created");
    let window = t
        .first(|h| match h {
            super::timeline::Happened::Kube(s) => {
                s.is_write()
                    && s.code < 300
                    && s.path.ends_with("/status")
                    && s.body.pointer("/status/expiresAt").is_some()
                    && s.body.pointer("/status/userId").is_some()
            }
            _ => false,
        })
        .expect("the window was written");
    let ledger = t
        .first(|h| h.is_create_in("/breakglassledgerentries"))
        .expect("the ledger entry was written");
    assert!(window < change, "window at {window}, change at {change}");
    assert!(ledger < change, "ledger at {ledger}, change at {change}");
}

#[tokio::test]
async fn an_active_grant_costs_no_aws_call_on_its_next_look() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    p.aws.clear_calls();
    // A restarted controller (no memory of its own writes) looks at the Active grant.
    let ctx = p.restarted();
    p.pass_with(&ctx, "inc-1").await.expect("a quiet pass");
    assert_eq!(
        p.aws.calls(),
        vec![],
        "the sweep compares AWS, not each grant"
    );
    assert_eq!(phase(&p.held("inc-1")), Some(GrantPhase::Active));
}

#[tokio::test]
async fn expiry_removes_the_membership_and_ends_the_grant() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({"duration": "1s"}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    assert!(p.alice_in_group());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        g.status.as_ref().and_then(|s| s.end_reason),
        Some(EndReason::Expired)
    );
    assert_eq!(
        condition(&g, "Ready"),
        Some(("False".into(), "Ended".into()))
    );
    assert!(!p.alice_in_group(), "access removed");
    assert!(p.aws.count(Op::DeleteGroupMembership) == 1);
}

#[tokio::test]
async fn resolving_the_grant_removes_the_membership() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        g.status.as_ref().and_then(|s| s.end_reason),
        Some(EndReason::Resolved)
    );
    assert!(!p.alice_in_group());
}

#[tokio::test]
async fn deleting_an_active_grant_removes_access_then_lets_the_object_go() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    p.delete("inc-1");
    p.until("inc-1", None, 3).await;
    assert!(
        !p.alice_in_group(),
        "access removed before the finalizer went"
    );
    let removed = p
        .timeline
        .first_call(Op::DeleteGroupMembership)
        .expect("removed");
    let released = p
        .timeline
        .last(|h| h.is_write_to(&grant_path("inc-1")))
        .expect("the finalizer was removed");
    assert!(
        removed < released,
        "revoke at {removed}, finalizer off at {released}"
    );
}

#[tokio::test]
async fn a_membership_another_live_grant_holds_is_not_removed() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.grant("inc-2", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
    p.until("inc-2", Some(GrantPhase::Active), 3).await;
    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    assert!(p.alice_in_group(), "inc-2 still gives the membership");
    assert_eq!(p.aws.count(Op::DeleteGroupMembership), 0);
    // The last holder ending takes it away.
    p.edit(
        "inc-2",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-2", Some(GrantPhase::Ended), 3).await;
    assert!(!p.alice_in_group());
}

#[tokio::test]
async fn a_user_the_policy_does_not_name_is_denied_without_any_aws_call() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant(
        "inc-1",
        "prod-admin",
        json!({"user": "mallory@example.com"}),
    );
    p.until("inc-1", Some(GrantPhase::Denied), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        condition(&g, "Ready"),
        Some(("False".into(), "Denied".into()))
    );
    assert_eq!(
        condition(&g, "Stalled"),
        Some(("True".into(), "UserNotEligible".into()))
    );
    assert_eq!(p.aws.calls(), vec![], "nothing was touched");
    assert!(p.ledger_entries().is_empty());
}
