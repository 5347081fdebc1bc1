//! The session guard in process, on grants the real pipeline made Active or Ended: what it
//! writes into the inline policy (read back and evaluated as AWS would), what it provisions,
//! and what it records on the grants. Each pass reads the grants from a watch cache rebuilt
//! from the Cluster, as the guard's own watch would hand them over.

use std::time::Duration;

use breakglass_core::sessions::{Access, Denial, GuardStatement, InlinePolicy, evaluate};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};

use super::pipeline::{ALICE, NS, Pipeline, STORE, condition, phase};
use crate::{
    api::{BreakGlassGrant, GrantPhase, GuardState, SessionsStatus},
    aws::memory::Op,
    controller::guard::{Guard, Settings},
};

pub(super) const BOB: &str = "bob@example.com";

/// A customer's own statement, compact with its keys in order: kept byte for byte.
pub(super) const CUSTOMER: &str = r#"{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:aws:s3:::logs/*","Sid":"ReadLogs"}"#;

pub(super) use super::installation;

/// An inline policy holding only the customer's statement.
pub(super) fn customer_policy() -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{CUSTOMER}]}}"#)
}

/// The Cluster's grants, in a watch cache as the guard's watch fills it.
fn store(p: &Pipeline) -> reflector::Store<BreakGlassGrant> {
    let (store, mut w) = reflector::store();
    let grants = p.api.list(&format!(
        "/apis/breakglass.dev/v1alpha1/namespaces/{NS}/breakglassgrants"
    ));
    for g in grants {
        let g: BreakGlassGrant = serde_json::from_value(g).expect("a grant");
        w.apply_watcher_event(&watcher::Event::Apply(g));
    }
    store
}

/// One guard pass over the Cluster's grants now; whether some grant still waits on it.
pub(super) async fn guard_pass(p: &Pipeline, full: bool) -> bool {
    let settings = Settings {
        installation: installation(),
        interval: Duration::from_secs(300),
    };
    let guard = Guard::new(p.ctx.clone(), store(p), settings);
    tokio::time::timeout(Duration::from_secs(120), guard.pass(full))
        .await
        .expect("the guard pass finished")
}

/// The grant's `status.sessions`, which must be recorded.
pub(super) fn sessions(p: &Pipeline, name: &str) -> SessionsStatus {
    let g = p.held(name);
    g.status
        .and_then(|s| s.sessions)
        .unwrap_or_else(|| panic!("{name} has no status.sessions"))
}

/// (grantedAt, expiresAt, endedAt) of the grant.
pub(super) fn times(p: &Pipeline, name: &str) -> (Timestamp, Timestamp, Option<Timestamp>) {
    let s = p.held(name).status.expect("a status");
    (
        s.granted_at.expect("grantedAt").0,
        s.expires_at.expect("expiresAt").0,
        s.ended_at.map(|t| t.0),
    )
}

/// This installation's statements in the policy text.
pub(super) fn ours(text: &str) -> Vec<GuardStatement> {
    InlinePolicy::parse(text, &installation())
        .expect("a readable inline policy")
        .ours()
        .to_vec()
}

/// Whether AWS lets `user`'s session issued at `issued` act at `at` under the policy text.
pub(super) fn access(text: &str, user: &str, issued: Timestamp, at: Timestamp) -> Access {
    let statements: Vec<Value> = InlinePolicy::parse(text, &installation())
        .expect("a readable inline policy")
        .statements();
    evaluate(&statements, user, issued, at)
}

pub(super) fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// An account policy for these users (set up in the Identity Store): the permission set's ARN.
pub(super) fn account_policy_for(p: &Pipeline, users: &[&str]) -> String {
    let mut spec = p.account_policy();
    spec["eligibleUsers"] = json!(users);
    for u in users {
        p.aws.user(STORE, u);
    }
    p.policy("prod-accounts", spec);
    p.assignment().permission_set_arn
}

/// A grant of the account policy (`spec` merged), through the pipeline until Active.
pub(super) async fn active(p: &Pipeline, name: &str, spec: Value) {
    p.grant(name, "prod-accounts", spec);
    p.until(name, Some(GrantPhase::Active), 5).await;
}

/// Resolves the grant, through the pipeline until Ended.
pub(super) async fn resolve(p: &Pipeline, name: &str) {
    p.edit(
        name,
        json!({"spec": {"resolved": true}, "metadata": {"generation": 2}}),
    );
    p.until(name, Some(GrantPhase::Ended), 8).await;
}

#[tokio::test]
async fn an_active_grant_gets_its_expiry_statement_provisioned_and_enforced() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    p.aws.set_inline_policy(&ps, &customer_policy());
    active(&p, "inc-1", json!({})).await;

    assert!(!guard_pass(&p, false).await, "nothing left waiting");

    let text = p.aws.inline_policy_of(&ps);
    assert!(
        text.contains(CUSTOMER),
        "the customer's statement kept: {text}"
    );
    let (granted, expires, _) = times(&p, "inc-1");
    let stmts = ours(&text);
    assert_eq!(stmts.len(), 1, "{text}");
    assert_eq!(stmts[0].user_id, p.alice);
    assert_eq!(stmts[0].denial, Denial::After(expires).normalized());
    assert_eq!(
        access(&text, &p.alice, granted, expires - secs(1)),
        Access::Allow
    );
    assert_eq!(
        access(&text, &p.alice, granted, expires + secs(1)),
        Access::Deny
    );
    assert_eq!(
        access(&text, "u-someone-else", granted, expires + secs(1)),
        Access::Allow
    );
    assert_eq!(
        p.aws.provisioned_policy(&ps).as_deref(),
        Some(text.as_str()),
        "the accounts have it"
    );

    let s = sessions(&p, "inc-1");
    assert_eq!(s.state, GuardState::Enforced, "{s:?}");
    assert_eq!(s.permission_sets.len(), 1);
    let e = &s.permission_sets[0];
    assert_eq!(
        (e.permission_set_arn.as_str(), e.state),
        (ps.as_str(), GuardState::Enforced)
    );
    assert!(e.provisioned_at.is_some(), "{e:?}");
    let g = p.held("inc-1");
    assert_eq!(
        phase(&g),
        Some(GrantPhase::Active),
        "the pipeline's record kept"
    );
    assert_eq!(
        condition(&g, "SessionsRevoked"),
        Some(("False".into(), "Enforced".into()))
    );
    assert_eq!(
        condition(&g, "Ready"),
        Some(("True".into(), "Active".into()))
    );
}

#[tokio::test]
async fn five_grants_active_together_make_one_write_and_one_provisioning() {
    let p = Pipeline::new();
    let users: Vec<String> = (1..=5).map(|i| format!("user{i}@example.com")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let ps = account_policy_for(&p, &names);
    for (i, u) in names.iter().enumerate() {
        active(&p, &format!("inc-{i}"), json!({"user": u})).await;
    }
    p.aws.clear_calls();

    assert!(!guard_pass(&p, false).await);

    assert_eq!(p.aws.policy_puts(&ps).len(), 1, "one write for five users");
    assert_eq!(p.aws.provisionings(&ps).len(), 1, "one provisioning");
    assert_eq!(p.aws.count(Op::PutInlinePolicyToPermissionSet), 1);
    let text = p.aws.inline_policy_of(&ps);
    let mut who: Vec<String> = ours(&text).into_iter().map(|s| s.user_id).collect();
    who.sort();
    let mut want: Vec<String> = names.iter().map(|u| p.aws.user(STORE, u)).collect();
    want.sort();
    assert_eq!(who, want, "one expiry statement per user");
    for i in 0..names.len() {
        assert_eq!(
            sessions(&p, &format!("inc-{i}")).state,
            GuardState::Enforced
        );
    }
}

#[tokio::test]
async fn a_resolved_grant_has_the_sessions_issued_before_its_end_cut() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({})).await;
    guard_pass(&p, false).await;
    resolve(&p, "inc-1").await;

    assert!(!guard_pass(&p, false).await, "nothing left waiting");

    let (granted, expires, ended) = times(&p, "inc-1");
    let ended = ended.expect("endedAt");
    let text = p.aws.inline_policy_of(&ps);
    let stmts = ours(&text);
    assert_eq!(stmts.len(), 1, "the cut only, the expiry gone: {text}");
    assert!(matches!(stmts[0].denial, Denial::IssuedBefore(_)), "{text}");
    let now = Timestamp::now();
    assert_eq!(access(&text, &p.alice, granted, now), Access::Deny);
    assert_eq!(
        access(&text, &p.alice, ended - secs(1), now),
        Access::Deny,
        "a session issued just before the end is cut"
    );
    // endedAt is recorded in whole seconds: the end came within that second.
    assert_eq!(
        access(
            &text,
            &p.alice,
            ended + SignedDuration::from_millis(500),
            now
        ),
        Access::Deny,
        "a session issued in the second of the end is cut"
    );
    assert_eq!(
        access(&text, &p.alice, ended + secs(1), now),
        Access::Allow,
        "a session issued after the end (new access) is not"
    );
    assert_eq!(
        access(&text, &p.alice, ended + secs(1), expires + secs(60)),
        Access::Allow,
        "no expiry statement left to deny later access"
    );
    assert_eq!(
        p.aws.provisioned_policy(&ps).as_deref(),
        Some(text.as_str())
    );

    let s = sessions(&p, "inc-1");
    assert_eq!(s.state, GuardState::Revoked, "{s:?}");
    assert!(s.revoked_at.is_some(), "{s:?}");
    assert_eq!(s.permission_sets[0].state, GuardState::Revoked);
    let g = p.held("inc-1");
    assert_eq!(phase(&g), Some(GrantPhase::Ended));
    assert_eq!(
        condition(&g, "SessionsRevoked"),
        Some(("True".into(), "Revoked".into()))
    );
}

#[tokio::test]
async fn overlapping_grants_deny_at_the_later_expiry_and_the_first_end_cuts_nothing() {
    let p = Pipeline::new();
    let ps = account_policy_for(&p, &[ALICE]);
    active(&p, "inc-1", json!({"duration": "1h"})).await;
    active(&p, "inc-2", json!({"duration": "2h"})).await;
    guard_pass(&p, false).await;

    let (_, later, _) = times(&p, "inc-2");
    let text = p.aws.inline_policy_of(&ps);
    assert_eq!(
        ours(&text),
        [GuardStatement::new(
            p.alice.clone(),
            Denial::After(later).normalized()
        )],
        "one statement, at the later expiry"
    );
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Enforced);
    assert_eq!(sessions(&p, "inc-2").state, GuardState::Enforced);

    resolve(&p, "inc-1").await;
    assert!(!guard_pass(&p, false).await);

    let s = sessions(&p, "inc-1");
    assert_eq!(
        (s.state, s.reason.as_deref()),
        (GuardState::Skipped, Some("StillHeld")),
        "{s:?}"
    );
    assert_eq!(
        p.aws.inline_policy_of(&ps),
        text,
        "no cut; inc-2's expiry stays"
    );
    assert_eq!(p.aws.policy_puts(&ps).len(), 1);
    assert_eq!(sessions(&p, "inc-2").state, GuardState::Enforced);

    // The last grant ending cuts.
    resolve(&p, "inc-2").await;
    guard_pass(&p, false).await;
    let (granted, _, ended) = times(&p, "inc-2");
    let text = p.aws.inline_policy_of(&ps);
    let stmts = ours(&text);
    assert_eq!(stmts.len(), 1, "{text}");
    assert!(matches!(stmts[0].denial, Denial::IssuedBefore(_)), "{text}");
    let now = Timestamp::now();
    assert_eq!(access(&text, &p.alice, granted, now), Access::Deny);
    let after = ended.expect("ended") + secs(1);
    assert_eq!(access(&text, &p.alice, after, now), Access::Allow);
    assert_eq!(sessions(&p, "inc-2").state, GuardState::Revoked);
    assert_eq!(sessions(&p, "inc-1").state, GuardState::Skipped);
}
