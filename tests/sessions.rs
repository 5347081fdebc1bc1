//! The session guard end to end: a real controller against the real kube-apiserver and
//! moto's IAM Identity Center, which keeps inline policies and provisioning but evaluates
//! no IAM policy. What AWS would decide is read from the statements written, with the
//! guard's own evaluator (`breakglass_core::sessions::evaluate`, whose meaning its unit
//! table pins). What moto cannot do (provisioning IN_PROGRESS or FAILED; it has no
//! DescribePermissionSetProvisioningStatus) is answered by the fault proxy.

mod common;

use std::time::Duration;

use aws_sdk_ssoadmin::types::PrincipalType;
use breakglass::api::{BreakGlassGrant, GrantPhase, GuardState};
use breakglass_core::sessions::{Access, evaluate};
use common::{faults::FaultProxy, people::BOB, *};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const ACCOUNT: &str = "222222222222";

/// A customer's own statement, kept exactly through every change.
fn customer_statement() -> Value {
    json!({"Sid": "CustomerDenyBilling", "Effect": "Deny", "Action": ["aws-portal:*"], "Resource": "*"})
}

/// A scenario whose policy `guarded` assigns a permission set on one account.
struct Guarded {
    s: Scenario,
    policy: String,
    permission_set: String,
}

impl Guarded {
    async fn new(test: &str, session_duration: &str) -> Self {
        Self::on(test, session_duration, AwsFixture::new().await).await
    }

    async fn on(test: &str, session_duration: &str, aws: AwsFixture) -> Self {
        let s = Scenario::with_aws(test, aws).await;
        let name = format!("BreakGlassGuard{}", &s.ns[s.ns.len().saturating_sub(6)..]);
        let permission_set = s
            .aws
            .create_permission_set_lasting(&name, session_duration)
            .await;
        let policy = unique_name("guarded", &s.ns);
        // By name: moto's permission set ARNs do not have AWS's shape the CRD checks.
        s.create_policy(&policy, |spec| {
            spec["access"] = json!({"accountAssignment": {
                "permissionSetName": name,
                "accountIds": [ACCOUNT],
            }});
        })
        .await;
        Self {
            s,
            policy,
            permission_set,
        }
    }

    async fn grant(&self, name: &str, duration: &str) {
        let policy = self.policy.clone();
        self.s
            .create_grant(name, |g| {
                g["policy"] = Value::String(policy);
                g["duration"] = Value::String(duration.into());
            })
            .await;
    }

    async fn statements(&self) -> Vec<Value> {
        statements(&self.s.aws.inline_policy(&self.permission_set).await)
    }

    async fn wait_guard(&self, name: &str, state: GuardState) -> BreakGlassGrant {
        wait_guard(&self.s, name, state).await
    }
}

fn statements(text: &str) -> Vec<Value> {
    if text.trim().is_empty() {
        return vec![];
    }
    let doc: Value = serde_json::from_str(text).expect("the inline policy is JSON");
    match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        one => vec![one.clone()],
    }
}

fn ours(statements: &[Value]) -> Vec<&Value> {
    statements
        .iter()
        .filter(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with("BreakGlass"))
        })
        .collect()
}

async fn wait_guard(s: &Scenario, name: &str, state: GuardState) -> BreakGlassGrant {
    let grants = s.grants();
    let found = eventually(SOON, || async {
        let g = grants.get(name).await.ok()?;
        (g.status.as_ref()?.sessions.as_ref()?.state == state).then_some(g)
    })
    .await;
    match found {
        Some(g) => g,
        None => {
            let now = grants.get(name).await.ok().and_then(|g| g.status);
            panic!("grant {name}: the guard did not reach {state:?}; status: {now:#?}")
        }
    }
}

fn times(g: &BreakGlassGrant) -> (Timestamp, Timestamp) {
    let s = g.status.as_ref().expect("status");
    (
        s.expires_at.as_ref().expect("expiresAt").0,
        s.ended_at.as_ref().map_or_else(Timestamp::now, |t| t.0),
    )
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

#[tokio::test]
async fn aws_denies_after_expiry_and_resolving_cuts_the_sessions_issued_before() {
    let t = Guarded::new("sessions-cut", "PT1H").await;
    let before = json!({"Version": "2012-10-17", "Statement": [customer_statement()]});
    t.s.aws
        .put_inline_policy(&t.permission_set, &before.to_string())
        .await;
    let controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", "2h").await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    let g = t.wait_guard("g", GuardState::Enforced).await;
    let (expires_at, _) = times(&g);
    let all = t.statements().await;
    assert_eq!(
        all[0],
        customer_statement(),
        "the customer's statement kept: {all:#?}"
    );
    assert_eq!(ours(&all).len(), 1, "one statement for the user: {all:#?}");
    let alice = t.s.alice.as_str();
    let issued = Timestamp::now();
    assert_eq!(
        evaluate(&all, alice, issued, issued + secs(60)),
        Access::Allow
    );
    assert_eq!(
        evaluate(&all, alice, issued, expires_at + secs(1)),
        Access::Deny,
        "AWS itself ends the access after expiresAt"
    );
    assert_eq!(
        evaluate(&all, "someone-else", issued, expires_at + secs(1)),
        Access::Allow
    );
    let entry = &g
        .status
        .as_ref()
        .and_then(|s| s.sessions.clone())
        .expect("sessions")
        .permission_sets;
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].permission_set_arn, t.permission_set);

    // The operator gone: the expiry is on AWS already, nothing depends on the process.
    controller.kill();
    let all = t.statements().await;
    assert_eq!(
        evaluate(&all, alice, issued, expires_at + secs(1)),
        Access::Deny
    );

    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.s.resolve("g").await;
    let g = t.wait_guard("g", GuardState::Revoked).await;
    let (_, ended_at) = times(&g);
    let sessions = g
        .status
        .as_ref()
        .and_then(|s| s.sessions.clone())
        .expect("sessions");
    assert!(sessions.revoked_at.is_some_and(|at| at.0 >= ended_at));
    let cut = condition(&g, "SessionsRevoked").expect("SessionsRevoked");
    assert_eq!(cut.status, "True");
    let all = t.statements().await;
    assert_eq!(all[0], customer_statement(), "still kept: {all:#?}");
    let now = Timestamp::now();
    assert_eq!(
        evaluate(&all, alice, issued, now),
        Access::Deny,
        "a session issued during the grant is cut"
    );
    assert_eq!(
        evaluate(&all, alice, ended_at + secs(2), now),
        Access::Allow,
        "a session of a later grant is not"
    );
    assert!(
        event_reasons(
            &t.s.client,
            &t.s.ns,
            "g",
            &["SessionGuardWritten", "SessionsRevoked"]
        )
        .await
        .is_some()
    );
}

#[tokio::test]
async fn deleting_a_grant_cuts_its_sessions_before_it_goes() {
    let t = Guarded::new("sessions-delete", "PT1H").await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", "1h").await;
    t.wait_guard("g", GuardState::Enforced).await;
    let issued = Timestamp::now();
    t.s.grants()
        .delete("g", &Default::default())
        .await
        .expect("delete");
    let gone = eventually(SOON, || async {
        t.s.grants()
            .get_opt("g")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the grant is deleted once its sessions are cut"
    );
    let all = t.statements().await;
    assert_eq!(
        evaluate(&all, &t.s.alice, issued, Timestamp::now()),
        Access::Deny,
        "cut before the finalizer went: {all:#?}"
    );
}

#[tokio::test]
async fn overlapping_grants_share_one_statement_and_the_first_end_cuts_nothing() {
    let t = Guarded::new("sessions-overlap", "PT1H").await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("short", "1h").await;
    t.grant("long", "3h").await;
    t.wait_guard("short", GuardState::Enforced).await;
    let long = t.wait_guard("long", GuardState::Enforced).await;
    let (long_expiry, _) = times(&long);
    let all = t.statements().await;
    assert_eq!(ours(&all).len(), 1, "one statement per user: {all:#?}");
    let issued = Timestamp::now();
    assert_eq!(
        evaluate(&all, &t.s.alice, issued, long_expiry - secs(60)),
        Access::Allow,
        "the later expiry counts"
    );

    t.s.resolve("short").await;
    let short = t.wait_guard("short", GuardState::Skipped).await;
    let sessions = short.status.and_then(|s| s.sessions).expect("sessions");
    assert_eq!(sessions.reason.as_deref(), Some("StillHeld"));
    let all = t.statements().await;
    assert_eq!(
        evaluate(&all, &t.s.alice, issued, Timestamp::now()),
        Access::Allow,
        "the second grant's sessions are not cut: {all:#?}"
    );
    assert_eq!(
        evaluate(&all, &t.s.alice, issued, long_expiry + secs(1)),
        Access::Deny
    );
}

#[tokio::test]
async fn a_statement_deleted_by_hand_comes_back_and_old_cuts_are_pruned() {
    // Sessions of this permission set last 5 s: a cut is pruned soon after.
    let t = Guarded::new("sessions-sweep", "PT5S").await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", "1h").await;
    t.wait_guard("g", GuardState::Enforced).await;
    let only_theirs = json!({"Version": "2012-10-17", "Statement": [customer_statement()]});
    t.s.aws
        .put_inline_policy(&t.permission_set, &only_theirs.to_string())
        .await;
    let back = eventually(SOON, || async {
        (ours(&t.statements().await).len() == 1).then_some(())
    })
    .await;
    assert!(back.is_some(), "written again within a sweep");

    t.s.resolve("g").await;
    t.wait_guard("g", GuardState::Revoked).await;
    let pruned = eventually(SOON, || async {
        let all = t.statements().await;
        (ours(&all).is_empty() && all.first() == Some(&customer_statement())).then_some(())
    })
    .await;
    assert!(
        pruned.is_some(),
        "the cut is pruned once the sessions it cut have expired: {:#?}",
        t.statements().await
    );
}

#[tokio::test]
async fn a_full_inline_policy_fails_the_guard_not_the_grant() {
    let t = Guarded::new("sessions-full", "PT1H").await;
    let mut big = customer_statement();
    big["Action"] = json!(
        (0..2200)
            .map(|i| format!("svc{i:04}:Action"))
            .collect::<Vec<_>>()
    );
    let doc = json!({"Version": "2012-10-17", "Statement": [big]});
    assert!(doc.to_string().len() > 32_000);
    t.s.aws
        .put_inline_policy(&t.permission_set, &doc.to_string())
        .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", "1h").await;
    t.s.wait_phase("g", GrantPhase::Active, SOON).await;
    let g = t.wait_guard("g", GuardState::Failed).await;
    let sessions = g
        .status
        .as_ref()
        .and_then(|s| s.sessions.clone())
        .expect("sessions");
    assert_eq!(sessions.reason.as_deref(), Some("PolicyTooLarge"));
    assert_eq!(g.status.and_then(|s| s.phase), Some(GrantPhase::Active));
    assert!(ours(&t.statements().await).is_empty(), "nothing written");
    assert!(
        event_reasons(&t.s.client, &t.s.ns, "g", &["SessionGuardFailed"])
            .await
            .is_some()
    );
}

#[tokio::test]
async fn provisioning_in_progress_is_recorded_then_awaited_and_a_failure_is_shown() {
    let proxy = FaultProxy::start(
        "sessions-provisioning",
        json!([
            {"name": "accepted", "operation": "ProvisionPermissionSet", "answer": "in_progress", "times": 1},
            {"name": "working", "operation": "DescribePermissionSetProvisioningStatus",
             "answer": "in_progress", "times": 3},
        ]),
    )
    .await;
    let t = Guarded::new("sessions-provisioning", "PT1H").await;
    let _controller = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.grant("g", "1h").await;
    let pending = wait_guard(&t.s, "g", GuardState::Pending).await;
    let entry = pending
        .status
        .and_then(|s| s.sessions)
        .map(|s| s.permission_sets)
        .unwrap_or_default();
    assert!(
        entry.first().and_then(|e| e.request_id.clone()).is_some(),
        "the provisioning's request id is recorded before it is awaited: {entry:?}"
    );
    t.wait_guard("g", GuardState::Enforced).await;
    proxy.wait_fired("working").await;

    proxy.set(json!([
        {"name": "refused", "operation": "ProvisionPermissionSet", "answer": "failed",
         "reason": "Received a 404 status error: account closed"},
    ]));
    t.s.resolve("g").await;
    let g = t.wait_guard("g", GuardState::Failed).await;
    let sessions = g
        .status
        .as_ref()
        .and_then(|s| s.sessions.clone())
        .expect("sessions");
    assert_eq!(sessions.reason.as_deref(), Some("ProvisioningFailed"));
    assert!(
        sessions
            .message
            .as_deref()
            .is_some_and(|m| m.contains("account closed")),
        "{sessions:?}"
    );
    assert_eq!(g.status.and_then(|s| s.phase), Some(GrantPhase::Ended));
}

#[tokio::test]
async fn killed_after_the_write_before_provisioning_no_duplicate_no_loss() {
    let proxy = FaultProxy::start("sessions-crash", json!([])).await;
    let t = Guarded::new("sessions-crash", "PT1H").await;
    let controller = ControllerProcess::start(
        &t.s.ns,
        &[
            ("AWS_ENDPOINT_URL", &proxy.url),
            ("BREAKGLASS_FAILPOINT", "after-guard-write"),
        ],
    );
    t.grant("g", "1h").await;
    controller.wait_for_failpoint().await;
    controller.kill();
    assert_eq!(
        ours(&t.statements().await).len(),
        1,
        "written before the kill"
    );
    let provisioned_before = provisionings(&proxy);
    assert_eq!(provisioned_before, 0, "not provisioned before the kill");

    let _controller = ControllerProcess::start(&t.s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    t.wait_guard("g", GuardState::Enforced).await;
    assert!(provisionings(&proxy) >= 1, "provisioned after the restart");
    assert_eq!(ours(&t.statements().await).len(), 1, "no duplicate");
}

fn provisionings(proxy: &FaultProxy) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.operation == "ProvisionPermissionSet")
        .count()
}

/// A group's access goes through the permission sets its account assignments use: named
/// in the policy, or discovered. A member there before the grant is standing access: not
/// guarded, not removed.
#[tokio::test]
async fn group_access_guards_named_and_discovered_permission_sets_and_leaves_standing_access() {
    let s = Scenario::new("sessions-group").await;
    let suffix = &s.ns[s.ns.len().saturating_sub(6)..];
    let discovered = s
        .aws
        .create_permission_set(&format!("GroupDiscovered{suffix}"))
        .await;
    let named_name = format!("GroupNamed{suffix}");
    let named = s.aws.create_permission_set(&named_name).await;
    s.aws
        .assign(ACCOUNT, &discovered, PrincipalType::Group, &s.group_id)
        .await;
    let named_policy = unique_name("named", &s.ns);
    s.create_policy(&named_policy, |spec| {
        spec["access"]["sessions"] = json!({"permissionSets": [named_name]});
    })
    .await;
    let _controller = ControllerProcess::start(&s.ns, &[]);

    // Discovered (the scenario's own policy names none).
    s.create_grant("found", |_| {}).await;
    wait_guard(&s, "found", GuardState::Enforced).await;
    assert_eq!(
        ours(&statements(&s.aws.inline_policy(&discovered).await)).len(),
        1
    );
    s.resolve("found").await;
    wait_guard(&s, "found", GuardState::Revoked).await;
    let cut = statements(&s.aws.inline_policy(&discovered).await);
    assert_eq!(
        evaluate(
            &cut,
            &s.alice,
            Timestamp::now() - secs(30),
            Timestamp::now()
        ),
        Access::Deny
    );

    // Named.
    let policy = named_policy.clone();
    s.create_grant("named", |g| g["policy"] = Value::String(policy))
        .await;
    let g = wait_guard(&s, "named", GuardState::Enforced).await;
    let sets = g
        .status
        .and_then(|s| s.sessions)
        .map(|s| s.permission_sets)
        .unwrap_or_default();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].permission_set_arn, named);
    assert_eq!(
        ours(&statements(&s.aws.inline_policy(&named).await)).len(),
        1
    );
    s.resolve("named").await;
    wait_guard(&s, "named", GuardState::Revoked).await;
    s.wait_phase("named", GrantPhase::Ended, SOON).await;

    // Standing: bob was a member before his grant.
    let bob = s.aws.create_user(BOB).await;
    s.aws.add_member(&s.group_id, &bob).await;
    let me = s.me.clone();
    let bobs_policy = unique_name("bobs", &s.ns);
    s.create_policy(&bobs_policy, |spec| {
        spec["eligibleUsers"] = json!([BOB]);
    })
    .await;
    s.create_grant("standing", |g| {
        g["policy"] = Value::String(bobs_policy.clone());
        g["user"] = Value::String(BOB.into());
        g["requestedBy"] = Value::String(me);
    })
    .await;
    let g = wait_guard(&s, "standing", GuardState::Skipped).await;
    let sessions = g
        .status
        .as_ref()
        .and_then(|s| s.sessions.clone())
        .expect("sessions");
    assert_eq!(sessions.reason.as_deref(), Some("StandingAccess"));
    let granted = g
        .status
        .as_ref()
        .and_then(|s| s.access.as_ref()?.group_membership.clone())
        .expect("membership");
    assert!(granted.standing);
    s.resolve("standing").await;
    s.wait_phase("standing", GrantPhase::Ended, SOON).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // a sweep
    assert!(s.members().await.contains(&bob), "standing access kept");
    let all = statements(&s.aws.inline_policy(&discovered).await);
    assert_eq!(
        evaluate(&all, &bob, Timestamp::now() - secs(30), Timestamp::now()),
        Access::Allow,
        "no statement for standing access"
    );
}

/// An assignment the user had before the grant (made by hand, not in the operator's
/// ledger) is standing access: no statement cuts its sessions, and it stays at the end.
#[tokio::test]
async fn a_standing_assignment_is_neither_guarded_nor_removed() {
    let t = Guarded::new("sessions-standing", "PT1H").await;
    t.s.aws
        .assign(ACCOUNT, &t.permission_set, PrincipalType::User, &t.s.alice)
        .await;
    let _controller = ControllerProcess::start(&t.s.ns, &[]);
    t.grant("g", "1h").await;
    let g = t.wait_guard("g", GuardState::Skipped).await;
    let sessions = g
        .status
        .as_ref()
        .and_then(|s| s.sessions.clone())
        .expect("sessions");
    assert_eq!(sessions.reason.as_deref(), Some("StandingAccess"));
    t.s.resolve("g").await;
    let g = t.s.wait_phase("g", GrantPhase::Ended, SOON).await;
    let entries = g
        .status
        .and_then(|s| s.access)
        .map(|a| a.account_assignments)
        .unwrap_or_default();
    assert!(entries.iter().all(|e| e.standing), "{entries:?}");
    tokio::time::sleep(Duration::from_secs(3)).await; // a sweep
    assert_eq!(
        t.s.aws.assigned_users(ACCOUNT, &t.permission_set).await,
        [t.s.alice.as_str()],
        "kept at the end"
    );
    assert!(ours(&t.statements().await).is_empty(), "no statement");
}
