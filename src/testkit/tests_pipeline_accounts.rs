//! An account-assignment grant through the controller's reconcile, in process: AWS's
//! asynchronous create (IN_PROGRESS, then SUCCEEDED on a later status call), the ledger
//! entry before the change, a FAILED request shown and retried, and ending it.

use serde_json::json;

use super::pipeline::{ACCOUNT, Pipeline, condition, phase};
use crate::{
    api::{AssignmentState, GrantPhase},
    aws::memory::Op,
};

#[tokio::test]
async fn an_account_grant_becomes_active_once_aws_finishes_the_assignment() {
    let p = Pipeline::new();
    p.policy("prod-accounts", p.account_policy());
    // AWS answers IN_PROGRESS to the create and to the first two status calls.
    p.aws.complete_on_poll(3);
    p.grant("inc-1", "prod-accounts", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 8).await;

    assert!(p.aws.assigned(&p.assignment(), &p.alice));
    assert_eq!(p.aws.count(Op::CreateAccountAssignment), 1, "created once");
    assert!(p.aws.count(Op::DescribeAccountAssignmentCreationStatus) >= 3);
    let g = p.held("inc-1");
    let s = g.status.clone().expect("a status");
    let assignments = s.access.expect("access recorded").account_assignments;
    assert_eq!(assignments.len(), 1);
    assert_eq!(assignments[0].account_id, ACCOUNT);
    assert_eq!(assignments[0].state, AssignmentState::Assigned);
    assert!(s.expires_at.is_some());
    assert_eq!(
        condition(&g, "Ready"),
        Some(("True".into(), "Active".into()))
    );
}

#[tokio::test]
async fn the_assignment_is_in_the_ledger_and_the_window_recorded_before_it_is_created() {
    let p = Pipeline::new();
    p.policy("prod-accounts", p.account_policy());
    p.grant("inc-1", "prod-accounts", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    let t = &p.timeline;
    let change = t
        .first_call(Op::CreateAccountAssignment)
        .expect("the assignment was created");
    let ledger = t
        .first(|h| h.is_create_in("/breakglassledgerentries"))
        .expect("the ledger entry");
    let window = t
        .first(|h| match h {
            super::timeline::Happened::Kube(s) => {
                s.is_write() && s.code < 300 && s.body.pointer("/status/expiresAt").is_some()
            }
            _ => false,
        })
        .expect("the window");
    assert!(ledger < change, "ledger at {ledger}, change at {change}");
    assert!(window < change, "window at {window}, change at {change}");
    let entries = p.ledger_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["spec"]["target"]["account"]["accountId"],
        ACCOUNT
    );
}

#[tokio::test]
async fn a_failed_assignment_is_shown_and_retried_until_it_succeeds() {
    let p = Pipeline::new();
    p.policy("prod-accounts", p.account_policy());
    p.aws
        .fail_assignments(Some("the permission set is being provisioned"));
    p.grant("inc-1", "prod-accounts", json!({}));
    for _ in 0..3 {
        let _ = p.pass("inc-1").await;
    }
    let g = p.held("inc-1");
    assert_ne!(phase(&g), Some(GrantPhase::Active));
    assert!(!p.aws.assigned(&p.assignment(), &p.alice));
    let (stalled, _) = condition(&g, "Stalled").expect("a Stalled condition");
    assert_eq!(stalled, "True", "{:?}", g.status);

    p.aws.fail_assignments(None);
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    assert!(p.aws.assigned(&p.assignment(), &p.alice));
    let g = p.held("inc-1");
    assert_eq!(condition(&g, "Stalled").map(|c| c.0), Some("False".into()));
}

#[tokio::test]
async fn resolving_an_account_grant_deletes_the_assignment_across_in_progress() {
    let p = Pipeline::new();
    p.policy("prod-accounts", p.account_policy());
    p.grant("inc-1", "prod-accounts", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    p.aws.complete_on_poll(2);
    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 8).await;
    assert!(!p.aws.assigned(&p.assignment(), &p.alice), "access removed");
    assert_eq!(p.aws.count(Op::DeleteAccountAssignment), 1, "deleted once");
    assert!(p.aws.count(Op::DescribeAccountAssignmentDeletionStatus) >= 2);
}

#[tokio::test]
async fn an_assignment_another_live_grant_holds_is_kept() {
    let p = Pipeline::new();
    p.policy("prod-accounts", p.account_policy());
    p.grant("inc-1", "prod-accounts", json!({}));
    p.grant("inc-2", "prod-accounts", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    p.until("inc-2", Some(GrantPhase::Active), 5).await;
    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 5).await;
    assert!(
        p.aws.assigned(&p.assignment(), &p.alice),
        "inc-2 still holds it"
    );
    assert_eq!(p.aws.count(Op::DeleteAccountAssignment), 0);
    p.edit(
        "inc-2",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-2", Some(GrantPhase::Ended), 8).await;
    assert!(!p.aws.assigned(&p.assignment(), &p.alice));
}

/// Standing access: an assignment the user had before the grant (AWS lists it, the ledger
/// has no record of it) is recorded as such, stays out of the ledger, and is kept at the
/// end.
#[tokio::test]
async fn an_assignment_there_before_the_grant_is_standing_access_and_kept_at_the_end() {
    let p = Pipeline::new();
    p.aws.set_assigned(&p.assignment(), &p.alice, true);
    p.policy("prod-accounts", p.account_policy());
    p.grant("inc-1", "prod-accounts", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 5).await;
    assert_eq!(
        p.aws.count(Op::CreateAccountAssignment),
        0,
        "nothing created"
    );
    assert!(p.ledger_entries().is_empty(), "not the operator's");
    let entries = p
        .held("inc-1")
        .status
        .and_then(|s| s.access)
        .map(|a| a.account_assignments)
        .unwrap_or_default();
    assert!(entries.iter().all(|e| e.standing), "{entries:?}");

    p.edit(
        "inc-1",
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until("inc-1", Some(GrantPhase::Ended), 5).await;
    assert!(p.aws.assigned(&p.assignment(), &p.alice), "kept at the end");
    assert_eq!(p.aws.count(Op::DeleteAccountAssignment), 0);
}
