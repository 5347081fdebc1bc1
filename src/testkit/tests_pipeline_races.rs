//! Crash points and races of a grant's reconcile, in process: a pass cut after the AWS
//! change and replayed from its last checkpoint converges; no change is made unless the
//! window and the ledger entry are written; grants of one user reconciled at once share one membership.

use serde_json::json;

use super::pipeline::{Pipeline, grant_path, ledger_collection};
use crate::{api::GrantPhase, aws::memory::Op};

#[tokio::test]
async fn a_pass_cut_after_the_membership_is_replayed_and_converges() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    // The process dies right after AWS added the member: no status write gets through.
    let aws = p.aws.clone();
    p.api.fail_when(move |s| {
        (s.path.ends_with("/status") && aws.count(Op::CreateGroupMembership) > 0).then_some(500)
    });
    let _ = p.pass("inc-1").await;
    assert!(p.alice_in_group(), "the change happened");
    let s = p.held("inc-1").status.expect("the checkpoint");
    assert_eq!(s.phase, Some(GrantPhase::Pending));
    assert!(s.expires_at.is_some(), "the window survived the crash");
    let window = s.expires_at.clone();

    // The next leader replays from the checkpoint.
    p.api.clear_rules();
    let ctx = p.restarted();
    p.pass_with(&ctx, "inc-1").await.expect("the replay");
    let s = p.held("inc-1").status.expect("a status");
    assert_eq!(s.phase, Some(GrantPhase::Active));
    assert_eq!(s.expires_at, window, "the window is kept, not restarted");
    assert!(
        s.access
            .and_then(|a| a.group_membership)
            .and_then(|m| m.membership_id)
            .is_some()
    );
    assert_eq!(
        p.aws.group_members(super::pipeline::STORE, &p.group).len(),
        1
    );
    assert_eq!(p.ledger_entries().len(), 1);
}

#[tokio::test]
async fn no_membership_is_added_while_the_window_cannot_be_written() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.api
        .fail_when(|s| s.path.ends_with("/status").then_some(503));
    assert!(p.pass("inc-1").await.is_err());
    assert!(p.timeline.changes().is_empty(), "no AWS change");
    assert!(!p.alice_in_group());
}

#[tokio::test]
async fn no_membership_is_added_while_the_ledger_cannot_be_written() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    let ledger = ledger_collection();
    p.api
        .fail_when(move |s| (s.method == "POST" && s.path == ledger).then_some(500));
    assert!(p.pass("inc-1").await.is_err());
    assert!(p.timeline.changes().is_empty(), "no AWS change");
    assert!(!p.alice_in_group());
    p.api.clear_rules();
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
}

#[tokio::test]
async fn two_grants_of_one_user_reconciled_at_once_share_one_membership() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant("inc-1", "prod-admin", json!({}));
    p.grant("inc-2", "prod-admin", json!({}));
    for _ in 0..3 {
        let (a, b) = tokio::join!(p.pass("inc-1"), p.pass("inc-2"));
        let _ = (a, b);
    }
    for name in ["inc-1", "inc-2"] {
        let g = p.held(name);
        assert_eq!(
            g.status.and_then(|s| s.phase),
            Some(GrantPhase::Active),
            "{name}"
        );
    }
    assert_eq!(
        p.aws.group_members(super::pipeline::STORE, &p.group).len(),
        1
    );
    assert_eq!(
        p.ledger_entries().len(),
        1,
        "one entry, touched by the second"
    );

    // Both end at once: the membership goes, neither fails on the other's removal.
    for name in ["inc-1", "inc-2"] {
        p.edit(
            name,
            json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
        );
    }
    for _ in 0..3 {
        let _ = tokio::join!(p.pass("inc-1"), p.pass("inc-2"));
    }
    for name in ["inc-1", "inc-2"] {
        let g = p.held(name);
        assert_eq!(
            g.status.and_then(|s| s.phase),
            Some(GrantPhase::Ended),
            "{name}"
        );
    }
    assert!(!p.alice_in_group());
}

#[tokio::test]
async fn a_grant_deleted_without_ever_being_granted_goes_without_aws_calls() {
    let p = Pipeline::new();
    p.policy("prod-admin", Pipeline::group_policy());
    p.grant(
        "inc-1",
        "prod-admin",
        json!({"user": "mallory@example.com"}),
    );
    p.until("inc-1", Some(GrantPhase::Denied), 3).await;
    p.delete("inc-1");
    p.until("inc-1", None, 3).await;
    assert!(p.timeline.calls().is_empty());
    assert!(p.api.get(&grant_path("inc-1")).is_none());
}
