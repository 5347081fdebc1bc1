//! What moto cannot do, answered by a real fault-injecting proxy in front of it (mitmproxy
//! in reverse mode, `tests/env/faults.py`): roles refused after a rotation, throttling,
//! dropped connections. Each test has its own proxy, controller and AWS account.

mod common;

use std::time::Duration;

use breakglass::api::{EndReason, GrantPhase};
use common::{faults::FaultProxy, *};
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Points the scenario's policy at `role_arn` with `external_id`, as a rotation would.
async fn rotate_role(s: &Scenario, role_arn: &str, external_id: &str) {
    policies_raw(&s.client)
        .patch(
            &s.policy,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"aws": {"roleArn": role_arn, "externalId": external_id}}}),
            ),
        )
        .await
        .expect("rotating the policy's role");
}

/// An Active grant for alice, given through `proxy`; the controller is then stopped, so the
/// revocation starts without the session that granted it (as after a restart).
async fn active_grant_then_stop(s: &Scenario, proxy: &FaultProxy) {
    let controller = ControllerProcess::start(&s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    assert_eq!(s.members().await, std::slice::from_ref(&s.alice));
    controller.kill();
}

#[tokio::test]
async fn revocation_uses_the_policys_current_role_when_the_recorded_one_is_refused() {
    let s = Scenario::new("role-rotated").await;
    let proxy = FaultProxy::start("role-rotated", json!([])).await;
    active_grant_then_stop(&s, &proxy).await;

    // The role is rotated: AWS now refuses the role the grant recorded.
    let rotated = format!("arn:aws:iam::{}:role/breakglass-rotated", s.aws.account);
    rotate_role(&s, &rotated, "rotated-external-id").await;
    proxy.set(json!([{
        "name": "recorded-role-refused",
        "operation": "AssumeRole",
        "contains": format!("RoleArn={}", s.aws.role_arn),
        "answer": "access_denied",
    }]));
    let _controller = ControllerProcess::start(&s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    s.resolve("g").await;
    let g = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(
        g.status.and_then(|s| s.end_reason),
        Some(EndReason::Resolved)
    );
    assert!(
        s.members().await.is_empty(),
        "access removed as the current role"
    );
    assert!(
        proxy.fired("recorded-role-refused") >= 1,
        "the recorded role was tried and refused: {:?}",
        proxy.seen()
    );
}

#[tokio::test]
async fn revocation_refused_as_every_role_is_stalled_shown_and_retried() {
    let s = Scenario::new("role-refused").await;
    let proxy = FaultProxy::start("role-refused", json!([])).await;
    active_grant_then_stop(&s, &proxy).await;

    proxy.set(
        json!([{"name": "all-refused", "operation": "AssumeRole", "answer": "access_denied"}]),
    );
    let (_controller, metrics) = metered_controller(&s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    s.resolve("g").await;
    let grants = s.grants();
    let stalled = eventually(SOON, || async {
        let g = grants.get("g").await.ok()?;
        let c = condition(&g, "Stalled")?;
        (c.status == "True" && c.reason == "AssumeRoleFailed").then_some(c.message.clone())
    })
    .await
    .expect("Stalled=True AssumeRoleFailed while no role may revoke");
    assert!(stalled.contains("retrying"), "{stalled}");
    assert_eq!(
        s.members().await,
        std::slice::from_ref(&s.alice),
        "nothing removed: nobody could"
    );
    assert!(
        event_reasons(&s.client, &s.ns, "g", &["AssumeRoleFailed"])
            .await
            .is_some(),
        "a Warning Event tells why"
    );
    let errors = scrape(
        &metrics,
        "breakglass_reconcile_errors_total{reason=\"AssumeRoleFailed\"}",
    )
    .await;
    assert!(errors >= 1.0, "counted: {errors}");
    // Refused twice per attempt: the recorded role and the policy's (here the same role).
    let refused = eventually(Duration::from_secs(30), || async {
        let n = proxy.fired("all-refused");
        (n >= 4).then_some(n)
    })
    .await;
    assert!(
        refused.is_some(),
        "retried: {:?}",
        proxy.fired("all-refused")
    );

    // Once AWS accepts the role again, the retry removes the access; nothing was given up.
    proxy.set(json!([]));
    let g = s
        .wait_phase("g", GrantPhase::Ended, Duration::from_secs(90))
        .await;
    assert_eq!(
        g.status.and_then(|s| s.end_reason),
        Some(EndReason::Resolved)
    );
    assert!(s.members().await.is_empty());
}

#[tokio::test]
async fn throttled_calls_are_retried_and_the_grant_still_becomes_active() {
    let s = Scenario::new("throttled").await;
    let proxy = FaultProxy::start(
        "throttled",
        json!([{
            "name": "throttled",
            "operation": "CreateGroupMembership",
            "answer": "throttle",
            "times": 2,
        }]),
    )
    .await;
    let (_controller, metrics) = metered_controller(&s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    assert_eq!(s.members().await, std::slice::from_ref(&s.alice));
    assert_eq!(proxy.fired("throttled"), 2, "{:?}", proxy.seen());
    let creates = proxy
        .seen()
        .iter()
        .filter(|r| r.operation == "CreateGroupMembership")
        .count();
    assert_eq!(creates, 3, "two throttled answers, then one accepted");
    let throttled = scrape(
        &metrics,
        "breakglass_aws_throttled_total{service=\"identitystore\",operation=\"CreateGroupMembership\"}",
    )
    .await;
    assert_eq!(throttled, 2.0, "each throttled answer is counted");
}

#[tokio::test]
async fn changes_are_made_in_a_session_named_after_the_grant_and_reads_in_a_shared_one() {
    let s = Scenario::new("sessions").await;
    let proxy = FaultProxy::start("sessions", json!([])).await;
    let _controller = ControllerProcess::start(&s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    s.resolve("g").await;
    s.wait_phase("g", GrantPhase::Ended, SOON).await;

    let grant_session = format!("breakglass@{}.g", s.ns);
    let seen = proxy.seen();
    let by = |operation: &str| -> Vec<Option<String>> {
        seen.iter()
            .filter(|r| r.operation == operation)
            .map(|r| r.session.clone())
            .collect()
    };
    for change in ["CreateGroupMembership", "DeleteGroupMembership"] {
        assert_eq!(
            by(change),
            [Some(grant_session.clone())],
            "{change} is the grant's, in CloudTrail: {seen:?}"
        );
    }
    for read in ["GetUserId", "ListGroupMemberships"] {
        let sessions = by(read);
        assert!(!sessions.is_empty(), "{read} was called: {seen:?}");
        assert!(
            sessions
                .iter()
                .all(|s| s.as_deref() == Some("breakglass-read")),
            "{read} runs in the shared read session: {sessions:?}"
        );
    }
}

#[tokio::test]
async fn unreachable_aws_is_shown_and_recovers_by_itself() {
    let s = Scenario::new("unreachable").await;
    let proxy = FaultProxy::start("unreachable", json!([{"name": "down", "answer": "drop"}])).await;
    let _controller = ControllerProcess::start(&s.ns, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    s.create_grant("g", |_| {}).await;
    let grants = s.grants();
    let failing = eventually(SOON, || async {
        let g = grants.get("g").await.ok()?;
        let ready = condition(&g, "Ready")?;
        (ready.status == "False" && ready.reason == "AssumeRoleFailed")
            .then_some(ready.message.clone())
    })
    .await
    .expect("Ready=False with the AWS failure");
    assert!(failing.contains("retrying"), "{failing}");
    assert!(proxy.fired("down") >= 1);
    assert!(s.members().await.is_empty());

    proxy.set(json!([]));
    s.wait_phase("g", GrantPhase::Active, Duration::from_secs(90))
        .await;
    assert_eq!(s.members().await, std::slice::from_ref(&s.alice));
}
