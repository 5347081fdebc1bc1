//! `accountAssignment` access end to end: a real controller against the real kube-apiserver
//! and moto's IAM Identity Center; what moto cannot do (IN_PROGRESS, FAILED, throttling) is
//! made by the fault proxy in front of it (mitmproxy, `tests/env/faults.py`).

mod common;

use std::time::Duration;

use aws_sdk_ssoadmin::types::PrincipalType;
use breakglass::api::{AssignmentState, BreakGlassGrant, EndReason, GrantPhase};
use common::{faults::FaultProxy, *};

use serde_json::{Value, json};

const A1: &str = "111111111111";
const A2: &str = "222222222222";
const A3: &str = "333333333333";
const PERMISSION_SET: &str = "BreakGlassAdmin";

/// A scenario whose policy `accounts` assigns the permission set (by name; the instance is
/// discovered) on A1, A2 and A3.
struct Accounts {
    s: Scenario,
    policy: String,
    permission_set: String,
}

impl Accounts {
    async fn new(test: &str) -> Self {
        Self::with(test, false).await
    }

    /// `exclusive`: the policy's USER assignments belong to the operator.
    async fn with(test: &str, exclusive: bool) -> Self {
        let s = Scenario::new(test).await;
        let permission_set = s.aws.create_permission_set(PERMISSION_SET).await;
        let policy = unique_name("accounts", &s.ns);
        s.create_policy(&policy, |spec| {
            spec["access"] = json!({"accountAssignment": {
                "permissionSetName": PERMISSION_SET,
                "accountIds": [A1, A2, A3],
                "exclusive": exclusive,
            }});
        })
        .await;
        Self {
            s,
            policy,
            permission_set,
        }
    }

    async fn grant(&self, name: &str, accounts: Option<&[&str]>) {
        let policy = self.policy.clone();
        self.s
            .create_grant(name, |g| {
                g["policy"] = Value::String(policy);
                if let Some(a) = accounts {
                    g["accountIds"] = json!(a);
                }
            })
            .await;
    }

    async fn users_on(&self, account: &str) -> Vec<String> {
        self.s
            .aws
            .assigned_users(account, &self.permission_set)
            .await
    }

    /// Waits until AWS lists `want` users on `account`.
    async fn expect_on(&self, account: &str, want: &[&str], why: &str) {
        let reached = eventually(SOON, || async {
            let now = self.users_on(account).await;
            (now == want).then_some(())
        })
        .await;
        assert!(
            reached.is_some(),
            "{why}: {account} lists {:?}, want {want:?}",
            self.users_on(account).await
        );
    }
}

fn states(g: &BreakGlassGrant) -> Vec<(String, AssignmentState)> {
    g.status
        .as_ref()
        .and_then(|s| s.access.as_ref())
        .map(|a| {
            a.account_assignments
                .iter()
                .map(|e| (e.account_id.clone(), e.state))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn two_accounts_are_assigned_then_removed() {
    let t = Accounts::new("accounts-two").await;
    let (_controller, metrics) = metered_controller(&t.s.ns, &[]);
    t.grant("g", Some(&[A1, A2])).await;
    let g = t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    let alice = t.s.alice.as_str();
    assert_eq!(t.users_on(A1).await, [alice]);
    assert_eq!(t.users_on(A2).await, [alice]);
    assert!(t.users_on(A3).await.is_empty(), "not asked for");
    assert_eq!(
        states(&g),
        [
            (A1.to_owned(), AssignmentState::Assigned),
            (A2.to_owned(), AssignmentState::Assigned)
        ]
    );
    let recorded = &g
        .status
        .as_ref()
        .and_then(|s| s.access.clone())
        .expect("access")
        .account_assignments;
    assert!(
        recorded
            .iter()
            .all(|e| e.permission_set_arn == t.permission_set
                && e.instance_arn.starts_with("arn:aws:sso:::instance/"))
    );

    t.s.resolve("g").await;
    let g = t.s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert!(t.users_on(A1).await.is_empty() && t.users_on(A2).await.is_empty());
    assert_eq!(
        g.status.as_ref().and_then(|s| s.end_reason),
        Some(EndReason::Resolved)
    );
    assert!(
        states(&g)
            .iter()
            .all(|(_, s)| *s == AssignmentState::Removed),
        "{:?}",
        states(&g)
    );

    // The example IAM policy for this mode allows every call the lifecycle made.
    let allowed = iam_actions(&[
        "examples/aws/breakglass-role-policy-account-assignment.json",
        "examples/aws/operator-role-policy.json",
        "examples/aws/breakglass-role-policy-session-guard.json",
    ]);
    let made = aws_operations(&get_text(&metrics));
    assert!(
        made.iter()
            .any(|(s, o)| s == "sso" && o == "CreateAccountAssignment"),
        "{made:?}"
    );
    for (service, operation) in &made {
        let action = format!("{service}:{operation}");
        assert!(
            allowed.contains(&action),
            "{action} is not in the example IAM policy"
        );
    }
}

#[tokio::test]
async fn overlapping_grants_share_an_account() {
    let t = Accounts::new("accounts-overlap").await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("wide", Some(&[A1, A2])).await;
    t.grant("narrow", Some(&[A2])).await;
    t.s.wait_phase("wide", GrantPhase::Active, SOON).await;
    t.s.wait_phase("narrow", GrantPhase::Active, SOON).await;

    t.s.resolve("wide").await;
    let wide = t.s.wait_phase("wide", GrantPhase::Ended, SOON).await;
    t.expect_on(A1, &[], "only the ended grant gave A1").await;
    assert_eq!(
        t.users_on(A2).await,
        [t.s.alice.as_str()],
        "the other grant still gives A2"
    );
    let kept = wide
        .status
        .and_then(|s| s.access)
        .map(|a| a.account_assignments)
        .unwrap_or_default();
    let a2 = kept
        .iter()
        .find(|e| e.account_id == A2)
        .expect("A2 recorded");
    assert!(
        a2.message.as_deref().is_some_and(|m| m.contains("narrow")),
        "says which grant keeps it: {a2:?}"
    );

    t.s.resolve("narrow").await;
    t.s.wait_phase("narrow", GrantPhase::Ended, SOON).await;
    t.expect_on(A2, &[], "the last grant on A2 ended").await;
}

#[tokio::test]
async fn accounts_outside_the_policy_are_denied_without_an_aws_call() {
    let t = Accounts::new("accounts-outside").await;
    let proxy = FaultProxy::start("accounts-outside", json!([])).await;
    let _controller = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.grant("g", Some(&[A1, "999999999999"])).await;
    let g = t.s.wait_phase("g", GrantPhase::Denied, SOON).await;
    let ready = condition(&g, "Stalled").expect("Stalled");
    assert_eq!(ready.reason, "AccountNotAllowed");
    assert!(ready.message.contains("999999999999"), "{}", ready.message);
    let grant_calls: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|r| r.session.as_deref() == Some(&format!("breakglass@{}.g", t.s.ns)))
        .map(|r| r.operation)
        .collect();
    assert!(
        grant_calls.is_empty(),
        "no call for the grant: {grant_calls:?}"
    );
    // Every other call is the sweep's (the shared `breakglass-read` session lists the
    // policy's accounts): no read for the grant either (its user id is never looked up).
    const SWEEP_READS: [&str; 5] = [
        "AssumeRole",
        "ListInstances",
        "ListPermissionSets",
        "DescribePermissionSet",
        "ListAccountAssignments",
    ];
    let other: Vec<(String, Option<String>)> = proxy
        .seen()
        .into_iter()
        .filter(|r| !SWEEP_READS.contains(&r.operation.as_str()))
        .map(|r| (r.operation, r.session))
        .collect();
    assert!(other.is_empty(), "only the sweep's reads: {other:?}");
    assert!(t.users_on(A1).await.is_empty());
}

#[tokio::test]
async fn in_progress_is_polled_until_aws_succeeds() {
    let t = Accounts::new("accounts-async").await;
    let proxy = FaultProxy::start(
        "accounts-async",
        json!([
            {"name": "accepted", "operation": "CreateAccountAssignment", "answer": "in_progress"},
            {"name": "working", "operation": "DescribeAccountAssignmentCreationStatus",
             "answer": "in_progress", "times": 3},
        ]),
    )
    .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.grant("g", Some(&[A1])).await;
    let grants = t.s.grants();
    let pending = eventually(SOON, || async {
        let g = grants.get("g").await.ok()?;
        let s = g.status.as_ref()?;
        let e = s.access.as_ref()?.account_assignments.first()?.clone();
        (s.phase == Some(GrantPhase::Pending) && e.request_id.is_some()).then_some(e)
    })
    .await
    .expect("Pending with the request id recorded while AWS works");
    assert_eq!(pending.state, AssignmentState::Pending);

    let g = t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    assert_eq!(states(&g), [(A1.to_owned(), AssignmentState::Assigned)]);
    assert_eq!(
        proxy.fired("working"),
        3,
        "polled through IN_PROGRESS: {:?}",
        proxy.seen()
    );
    let creates = proxy
        .seen()
        .iter()
        .filter(|r| r.operation == "CreateAccountAssignment")
        .count();
    assert_eq!(creates, 1, "asked once, then polled");
    assert_eq!(t.users_on(A1).await, [t.s.alice.as_str()]);
}

#[tokio::test]
async fn a_failed_assignment_is_shown_per_account_and_retried() {
    let t = Accounts::new("accounts-failed").await;
    let proxy = FaultProxy::start(
        "accounts-failed",
        json!([{
            "name": "failed", "operation": "CreateAccountAssignment", "contains": A2,
            "answer": "failed", "reason": "Received a 404 status error: No such account", "times": 2,
        }]),
    )
    .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.grant("g", Some(&[A1, A2])).await;
    let grants = t.s.grants();
    let shown = eventually(SOON, || async {
        let g = grants.get("g").await.ok()?;
        let ready = condition(&g, "Ready")?;
        let failed = g
            .status
            .as_ref()?
            .access
            .as_ref()?
            .account_assignments
            .iter()
            .find(|e| e.account_id == A2 && e.state == AssignmentState::Failed)?
            .clone();
        (ready.reason == "AssignmentFailed").then_some((ready.message.clone(), failed))
    })
    .await
    .expect("Ready=False AssignmentFailed with A2 Failed");
    assert!(
        shown.0.contains(A2) && shown.0.contains("No such account"),
        "{}",
        shown.0
    );
    assert_eq!(
        shown.1.message.as_deref(),
        Some("Received a 404 status error: No such account")
    );
    assert!(
        event_reasons(&t.s.client, &t.s.ns, "g", &["AssignmentFailed"])
            .await
            .is_some(),
        "a Warning Event"
    );

    // Retried with backoff; AWS accepts the third try.
    let g =
        t.s.wait_phase("g", GrantPhase::Active, Duration::from_secs(60))
            .await;
    assert_eq!(proxy.fired("failed"), 2);
    assert!(
        states(&g)
            .iter()
            .all(|(_, s)| *s == AssignmentState::Assigned)
    );
    assert_eq!(t.users_on(A1).await, [t.s.alice.as_str()]);
    assert_eq!(t.users_on(A2).await, [t.s.alice.as_str()], "assigned once");
}

#[tokio::test]
async fn a_throttled_storm_converges() {
    let t = Accounts::new("accounts-throttled").await;
    let proxy = FaultProxy::start(
        "accounts-throttled",
        json!([
            {"name": "storm", "operation": "CreateAccountAssignment", "answer": "throttle", "times": 8},
            {"name": "busy", "operation": "ListAccountAssignments", "answer": "throttle", "times": 2},
        ]),
    )
    .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.grant("g", None).await;
    let g =
        t.s.wait_phase("g", GrantPhase::Active, Duration::from_secs(90))
            .await;
    assert_eq!(proxy.fired("storm"), 8, "{:?}", proxy.seen());
    assert_eq!(states(&g).len(), 3);
    for account in [A1, A2, A3] {
        assert_eq!(
            t.users_on(account).await,
            [t.s.alice.as_str()],
            "{account} once"
        );
    }
}

#[tokio::test]
async fn killed_between_create_and_poll_resumes_without_a_second_create() {
    let t = Accounts::new("accounts-killed").await;
    let proxy = FaultProxy::start(
        "accounts-killed",
        json!([
            {"name": "accepted", "operation": "CreateAccountAssignment", "answer": "in_progress"},
            {"name": "working", "operation": "DescribeAccountAssignmentCreationStatus",
             "answer": "in_progress", "times": 1},
        ]),
    )
    .await;
    let env = [
        ("AWS_ENDPOINT_URL", proxy.url.as_str()),
        ("BREAKGLASS_FAILPOINT", "after-create-assignment"),
    ];
    let first = ControllerProcess::start(&t.s.ns, &env);
    t.grant("g", Some(&[A1])).await;
    first.wait_for_failpoint().await;
    let g = t.s.grants().get("g").await.expect("grant");
    let recorded = g
        .status
        .and_then(|s| s.access)
        .and_then(|a| a.account_assignments.first().cloned())
        .expect("recorded before the poll");
    assert!(recorded.request_id.is_some(), "{recorded:?}");
    first.kill();

    let _second = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    let creates = proxy
        .seen()
        .iter()
        .filter(|r| r.operation == "CreateAccountAssignment")
        .count();
    assert_eq!(
        creates,
        1,
        "the restart polled the recorded request: {:?}",
        proxy.seen()
    );
    assert_eq!(
        t.users_on(A1).await,
        [t.s.alice.as_str()],
        "assigned exactly once"
    );
}

#[tokio::test]
async fn group_assignments_are_never_touched() {
    let t = Accounts::new("accounts-groups").await;
    let team = t.s.aws.create_group("platform-team").await;
    t.s.aws
        .assign(A1, &t.permission_set, PrincipalType::Group, &team)
        .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", Some(&[A1])).await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    t.s.resolve("g").await;
    t.s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert!(t.users_on(A1).await.is_empty());
    assert_eq!(
        t.s.aws
            .assigned(A1, &t.permission_set, PrincipalType::Group)
            .await,
        [team],
        "the group's assignment stays"
    );
}

#[tokio::test]
async fn a_grant_deleted_without_its_finalizer_loses_every_account() {
    let t = Accounts::new("accounts-orphan").await;
    let (_controller, metrics) = metered_controller(&t.s.ns, &[]);
    t.grant("g", Some(&[A1, A2])).await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    t.s.strip_finalizer_and_delete("g").await;
    t.expect_on(
        A1,
        &[],
        "the ledger says the operator assigned A1: taken back",
    )
    .await;
    t.expect_on(A2, &[], "and A2").await;
    let orphans = scrape_reaching(
        &metrics,
        "breakglass_access_drift_total{kind=\"orphan\"}",
        2.0,
    )
    .await;
    assert!(orphans >= 2.0, "both counted: {orphans}");
}

#[tokio::test]
async fn exclusive_accounts_lose_hand_made_user_assignments_but_never_group_ones() {
    let t = Accounts::with("accounts-exclusive", true).await;
    let bob = t.s.aws.create_user("bob@example.com").await;
    let team = t.s.aws.create_group("platform-team").await;
    t.s.aws
        .assign(A1, &t.permission_set, PrincipalType::User, &bob)
        .await;
    t.s.aws
        .assign(A1, &t.permission_set, PrincipalType::Group, &team)
        .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    // A controller limited to a namespace sweeps the policies its grants use.
    t.grant("g", Some(&[A3])).await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    t.expect_on(A1, &[], "the hand-made USER assignment is removed")
        .await;
    assert_eq!(
        t.users_on(A3).await,
        [t.s.alice.as_str()],
        "the grant's stays"
    );
    assert_eq!(
        t.s.aws
            .assigned(A1, &t.permission_set, PrincipalType::Group)
            .await,
        [team],
        "the GROUP assignment stays"
    );
}

#[tokio::test]
async fn hand_made_user_assignments_are_reported_by_default() {
    let t = Accounts::new("accounts-unmanaged").await;
    let bob = t.s.aws.create_user("bob@example.com").await;
    t.s.aws
        .assign(A2, &t.permission_set, PrincipalType::User, &bob)
        .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", Some(&[A3])).await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    let policies: kube::Api<breakglass::api::BreakGlassPolicy> = kube::Api::all(t.s.client.clone());
    let reported = eventually(SOON, || async {
        let p = policies.get(&t.policy).await.ok()?;
        let ready = p
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (ready.reason == "UnmanagedMembers").then_some(ready.message)
    })
    .await
    .expect("Ready=False UnmanagedMembers on the policy");
    assert!(reported.contains(&bob), "{reported}");
    assert_eq!(t.users_on(A2).await, [bob], "left alone");
}

#[tokio::test]
async fn an_assignment_removed_on_aws_ends_the_grant_and_its_other_accounts_go_too() {
    let t = Accounts::new("accounts-revoked").await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", Some(&[A1, A2])).await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    t.s.aws
        .unassign(A1, &t.permission_set, PrincipalType::User, &t.s.alice)
        .await;
    let g = t.s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(
        g.status.as_ref().and_then(|s| s.end_reason),
        Some(EndReason::RevokedOnAws)
    );
    t.expect_on(A2, &[], "the grant's other account is taken back too")
        .await;
    t.expect_on(A1, &[], "and A1 is not put back").await;
}
