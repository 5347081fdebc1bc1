//! The session guard against AWS's answers and what it finds in the inline policy: a
//! provisioning in progress (recorded before it is awaited) or failed, a conflicting write
//! retried, a policy too large or refused, a statement removed or edited by hand, old cuts
//! pruned, an expiry nobody accounts for any more turned into a cut.

use std::time::Duration;

use breakglass_core::sessions::{Access, Denial, GuardStatement};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::{
    pipeline::{ALICE, Pipeline, condition, grant_path, phase},
    tests_guard::{
        BOB, CUSTOMER, access, account_policy_for, active, customer_policy, guard_pass,
        installation, ours, resolve, secs, sessions, times,
    },
    timeline::Happened,
};
use crate::{
    api::{GrantPhase, GuardState},
    aws::memory::{Fault, Op},
};

#[tokio::test]
async fn a_provisioning_in_progress_is_recorded_before_it_is_polled_then_enforced() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    // IN_PROGRESS to the request and to the first status call; the third completes it.
    p.aws.complete_provisioning_on_poll(3);

    assert!(!guard_pass(&p, false).await);

    let t = &p.timeline;
    let recorded = t
        .first(|h| match h {
            Happened::Kube(s) => {
                s.is_write()
                    && s.code < 300
                    && s.path.ends_with("/inc-1/status")
                    && s.body.pointer("/status/sessions/state") == Some(&json!("Pending"))
                    && s.body.pointer("/status/sessions/permissionSets/0/state")
                        == Some(&json!("Pending"))
                    && s.body
                        .pointer("/status/sessions/permissionSets/0/requestId")
                        .is_some()
            }
            Happened::Aws(_) => false,
        })
        .expect("the request id was recorded");
    let polled = t
        .first_call(Op::DescribePermissionSetProvisioningStatus)
        .expect("the provisioning was polled");
    let asked = t
        .first_call(Op::ProvisionPermissionSet)
        .expect("provisioned");
    assert!(
        asked < recorded && recorded < polled,
        "asked {asked}, recorded {recorded}, polled {polled}"
    );
    assert_eq!(p.aws.count(Op::DescribePermissionSetProvisioningStatus), 3);
    assert_eq!(p.aws.provisionings(&ps).len(), 1, "asked once");

    let s = sessions(&p, "inc-1");
    assert_eq!(s.state, GuardState::Enforced, "{s:?}");
    assert_eq!(s.permission_sets[0].state, GuardState::Enforced);
    assert_eq!(
        p.aws.provisioned_policy(&ps),
        Some(p.aws.inline_policy_of(&ps))
    );
}

#[tokio::test]
async fn a_failed_provisioning_is_recorded_with_aws_reason_and_retried() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    p.aws
        .fail_provisioning(Some("The account 222222222222 is being deleted"));

    assert!(guard_pass(&p, false).await, "the grant still waits");

    let s = sessions(&p, "inc-1");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (GuardState::Failed, Some("ProvisioningFailed")),
        "{s:?}"
    );
    let message = s.message.unwrap_or_default();
    assert!(message.contains("is being deleted"), "{message}");
    assert_eq!(s.permission_sets[0].state, GuardState::Failed);
    assert_eq!(p.aws.provisioned_policy(&ps), None, "never provisioned");
    let g = p.held("inc-1");
    assert_eq!(phase(&g), Some(GrantPhase::Active), "the grant proceeds");
    assert_eq!(
        condition(&g, "SessionsRevoked"),
        Some(("False".into(), "ProvisioningFailed".into()))
    );

    // AWS recovers: the next pass provisions the same document again.
    p.aws.fail_provisioning(None);
    assert!(!guard_pass(&p, false).await);
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);
    assert_eq!(p.aws.policy_puts(&ps).len(), 1, "written once");
    assert_eq!(p.aws.provisionings(&ps).len(), 2);
}

#[tokio::test]
async fn a_conflicting_write_is_read_again_and_written_once() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    p.aws
        .inject(Op::PutInlinePolicyToPermissionSet, Fault::Conflict, 1);

    assert!(!guard_pass(&p, false).await);

    assert_eq!(
        p.aws.count(Op::PutInlinePolicyToPermissionSet),
        2,
        "retried"
    );
    assert_eq!(
        p.aws.count(Op::GetInlinePolicyForPermissionSet),
        2,
        "read again before the retry"
    );
    assert_eq!(p.aws.policy_puts(&ps).len(), 1, "written once");
    assert_eq!(ours(&p.aws.inline_policy_of(&ps)).len(), 1);
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);
}

#[tokio::test]
async fn a_policy_too_large_for_the_guard_writes_nothing_and_the_grant_proceeds() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    // A customer statement that leaves no room for one more statement.
    let room = customer_policy().len();
    let big = customer_policy().replace("logs/*", &"x".repeat(32_700 - room));
    p.aws.set_inline_policy(&ps, &big);
    active(&p, "inc-1", json!({})).await;

    assert!(guard_pass(&p, false).await, "the grant still waits");

    let s = sessions(&p, "inc-1");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (GuardState::Failed, Some("PolicyTooLarge")),
        "{s:?}"
    );
    assert!(p.aws.policy_puts(&ps).is_empty(), "nothing written");
    assert!(p.aws.provisionings(&ps).is_empty(), "nothing provisioned");
    assert_eq!(
        p.aws.inline_policy_of(&ps),
        big,
        "the customer's policy untouched"
    );
    assert_eq!(phase(&p.held("inc-1")), Some(GrantPhase::Active));
}

/// AWS refusing the document (its limit lower than the guard's own check) fails the guard
/// the same way, with AWS's answer.
#[tokio::test]
async fn a_document_aws_refuses_writes_nothing_and_the_grant_proceeds() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    p.aws.inline_policy_limit(100);
    active(&p, "inc-1", json!({})).await;

    assert!(guard_pass(&p, false).await);

    let s = sessions(&p, "inc-1");
    assert_eq!(s.state, GuardState::Failed, "{s:?}");
    let message = s.message.unwrap_or_default();
    assert!(message.contains("ValidationException"), "{message}");
    assert!(p.aws.policy_puts(&ps).is_empty());
    assert!(p.aws.provisionings(&ps).is_empty());
    assert_eq!(phase(&p.held("inc-1")), Some(GrantPhase::Active));
}

#[tokio::test]
async fn access_denied_on_the_write_is_recorded_and_retried() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    p.aws
        .inject(Op::PutInlinePolicyToPermissionSet, Fault::AccessDenied, 1);

    assert!(guard_pass(&p, false).await);

    let s = sessions(&p, "inc-1");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (GuardState::Failed, Some("AccessDenied")),
        "{s:?}"
    );
    let message = s.message.unwrap_or_default();
    assert!(
        message.contains("writing the inline policy") && message.contains("AccessDenied"),
        "{message}"
    );
    assert_eq!(
        condition(&p.held("inc-1"), "SessionsRevoked"),
        Some(("False".into(), "AccessDenied".into()))
    );
    assert!(p.aws.policy_puts(&ps).is_empty());
    assert_eq!(phase(&p.held("inc-1")), Some(GrantPhase::Active));

    assert!(!guard_pass(&p, false).await, "the next pass writes it");
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);
    assert_eq!(p.aws.policy_puts(&ps).len(), 1);
}

#[tokio::test]
async fn a_statement_removed_by_hand_is_written_again_by_a_full_pass_only() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    guard_pass(&p, false).await;
    let written = p.aws.inline_policy_of(&ps);
    p.aws.set_inline_policy(&ps, &customer_policy());

    // Nothing waits: a quick pass does not look at AWS.
    p.aws.clear_calls();
    assert!(!guard_pass(&p, false).await);
    assert_eq!(p.aws.calls(), vec![], "no AWS call");
    assert_eq!(p.aws.inline_policy_of(&ps), customer_policy());

    assert!(!guard_pass(&p, true).await);
    let text = p.aws.inline_policy_of(&ps);
    assert_eq!(ours(&text), ours(&written), "the expiry statement is back");
    assert!(text.contains(CUSTOMER), "{text}");
    assert_eq!(p.aws.policy_puts(&ps).len(), 2);
    assert_eq!(p.aws.provisioned_policy(&ps), Some(text), "and provisioned");
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);

    // In place: a full pass finds nothing to do.
    p.aws.clear_calls();
    guard_pass(&p, true).await;
    assert_eq!(p.aws.count(Op::PutInlinePolicyToPermissionSet), 0);
    assert_eq!(p.aws.count(Op::ProvisionPermissionSet), 0);
}

#[tokio::test]
async fn a_cut_older_than_the_session_duration_is_pruned_by_a_full_pass() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    guard_pass(&p, false).await;
    resolve(&p, "inc-1").await;
    guard_pass(&p, false).await;
    assert_eq!(ours(&p.aws.inline_policy_of(&ps)).len(), 1, "the cut");
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Revoked);

    // Every session issued before the end has run out.
    p.aws.set_session_duration(&ps, Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    p.aws.clear_calls();
    assert!(!guard_pass(&p, false).await);
    assert_eq!(p.aws.calls(), vec![], "a quick pass does not look");

    assert!(!guard_pass(&p, true).await);
    assert_eq!(
        p.aws.inline_policy_of(&ps),
        "",
        "the cut is gone, nothing else was there"
    );
    assert_eq!(p.aws.count(Op::DeleteInlinePolicyFromPermissionSet), 1);
    assert_eq!(p.aws.provisioned_policy(&ps).as_deref(), Some(""));
    assert_eq!(
        sessions(&p, "inc-1").state,
        GuardState::Revoked,
        "kept as it was"
    );
}

/// A grant gone without the guard seeing it end (deleted while the guard could not run):
/// its expiry statement is nobody's, and the user's sessions are cut now.
#[tokio::test]
async fn an_expiry_nobody_accounts_for_becomes_a_cut() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE, BOB]);
    let bob = p.aws.user(super::pipeline::STORE, BOB);
    active(&p, "inc-1", json!({})).await;
    active(&p, "inc-bob", json!({"user": BOB})).await;
    guard_pass(&p, false).await;
    let (granted, _, _) = times(&p, "inc-1");
    let (_, bob_expires, _) = times(&p, "inc-bob");
    assert_eq!(ours(&p.aws.inline_policy_of(&ps)).len(), 2);

    // Gone from the cluster, so from the guard's cache.
    p.api.remove(&grant_path("inc-1"));
    let before = Timestamp::now();
    assert!(!guard_pass(&p, true).await);

    let text = p.aws.inline_policy_of(&ps);
    let stmts = ours(&text);
    assert!(
        stmts.contains(&GuardStatement::new(
            bob.clone(),
            Denial::After(bob_expires).normalized()
        )),
        "Bob's expiry stays: {text}"
    );
    let cut = stmts
        .iter()
        .find(|s| s.user_id == p.alice)
        .expect("a statement for Alice");
    let Denial::IssuedBefore(at) = cut.denial else {
        panic!("Alice's expiry became a cut: {cut:?}");
    };
    assert!(at >= before - secs(1), "cut now: {at}, pass at {before}");
    let now = Timestamp::now();
    assert_eq!(access(&text, &p.alice, granted, now), Access::Deny);
    assert_eq!(access(&text, &p.alice, at + secs(1), now), Access::Allow);
    assert_eq!(access(&text, &bob, granted, now), Access::Allow);
    assert_eq!(p.aws.provisioned_policy(&ps), Some(text));
}

/// A statement under this installation's Sid that is not what the guard writes (edited by
/// hand: here turned into an Allow) is replaced by a full pass, even when the guard's own
/// statements are all in place.
#[tokio::test]
async fn a_statement_of_ours_edited_by_hand_is_replaced_by_a_full_pass() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    guard_pass(&p, false).await;
    let written = p.aws.inline_policy_of(&ps);
    let sid = format!("{}Cutu99", installation().prefix());
    let edited = written.replace(
        r#""Statement":["#,
        &format!(
            r#""Statement":[{{"Action":"*","Condition":{{"StringEquals":{{"identitystore:userId":"u-99"}},"DateLessThan":{{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}},"Effect":"Allow","Resource":"*","Sid":"{sid}"}},"#
        ),
    );
    p.aws.set_inline_policy(&ps, &edited);

    assert!(!guard_pass(&p, true).await);

    let text = p.aws.inline_policy_of(&ps);
    assert!(!text.contains(&sid), "the edited statement is gone: {text}");
    assert_eq!(text, written);
}
