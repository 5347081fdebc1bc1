//! No call stalls revocation unnoticed: AWS requests held without an answer by the real
//! fault proxy (`stall`) hold up only their own grant, which shows `AwsTimeout` and recovers
//! once AWS answers; a reconcile parked forever makes the leader's `/healthz` fail, and the
//! standby then ends the grant.

mod common;

use std::time::Duration;

use breakglass::api::{EndReason, GrantPhase};
use common::{
    faults::FaultProxy,
    people::{BOB, CAROL},
    *,
};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// Short deadlines, so a stall shows within seconds: 2 s per attempt, 9 s per call.
const AWS_TIMEOUT: &str = "2s";

/// Bob and Carol exist and are eligible too.
async fn three_people(s: &Scenario) {
    s.aws.create_user(BOB).await;
    s.aws.create_user(CAROL).await;
    eligible(s, &s.policy).await;
}

async fn eligible(s: &Scenario, policy: &str) {
    policies_raw(&s.client)
        .patch(
            policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"eligibleUsers": [ALICE, BOB, CAROL]}})),
        )
        .await
        .expect("eligible users");
}

fn for_user(user: &'static str) -> impl FnOnce(&mut Value) {
    move |spec| spec["user"] = json!(user)
}

/// The grant's Ready condition once it says `AwsTimeout`: its message.
async fn timed_out(s: &Scenario, name: &str) -> String {
    let grants = s.grants();
    eventually(SOON, || async {
        let g = grants.get(name).await.ok()?;
        let ready = condition(&g, "Ready")?;
        (ready.status == "False" && ready.reason == "AwsTimeout").then_some(ready.message.clone())
    })
    .await
    .unwrap_or_else(|| panic!("grant {name} shows no AwsTimeout"))
}

fn controller_through(s: &Scenario, proxy: &FaultProxy) -> (ControllerProcess, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let p = ControllerProcess::start_with_args(
        &s.ns,
        &[("AWS_ENDPOINT_URL", &proxy.url)],
        &["--admin-addr", &addr, "--aws-timeout", AWS_TIMEOUT],
    );
    (p, format!("http://{addr}/metrics"))
}

#[tokio::test]
async fn a_stalled_identity_store_call_holds_up_only_its_own_grant() {
    let s = Scenario::new("stall-user").await;
    three_people(&s).await;
    let proxy = FaultProxy::start("stall-user", json!([])).await;
    let (_controller, metrics) = controller_through(&s, &proxy);
    s.create_grant("carol", for_user(CAROL)).await;
    s.wait_phase("carol", GrantPhase::Active, SOON).await;

    // Alice's look-up is never answered.
    proxy.set(json!([{
        "name": "alice-stalled",
        "operation": "GetUserId",
        "contains": ALICE,
        "answer": "stall",
    }]));
    s.create_grant("alice", |_| {}).await;
    proxy.wait_fired("alice-stalled").await;

    // Meanwhile Bob is granted and Carol's access is taken back.
    s.create_grant("bob", for_user(BOB)).await;
    s.resolve("carol").await;
    s.wait_phase("bob", GrantPhase::Active, SOON).await;
    let carol = s.wait_phase("carol", GrantPhase::Ended, SOON).await;
    assert_eq!(
        carol.status.and_then(|st| st.end_reason),
        Some(EndReason::Resolved)
    );
    let alice_id = s.alice.clone();
    let members = s.members().await;
    assert!(
        !members.contains(&alice_id) && members.len() == 1,
        "bob only: {members:?}"
    );

    // Alice's grant says which call timed out, and so do a Warning Event and the metrics.
    let message = timed_out(&s, "alice").await;
    assert!(message.contains("GetUserId"), "{message}");
    assert_ne!(
        s.grants()
            .get("alice")
            .await
            .expect("grant")
            .status
            .and_then(|st| st.phase),
        Some(GrantPhase::Active)
    );
    assert!(
        event_reasons(&s.client, &s.ns, "alice", &["AwsTimeout"])
            .await
            .is_some(),
        "a Warning Event tells why"
    );
    let timeouts = scrape_reaching(
        &metrics,
        "breakglass_aws_calls_total{service=\"identitystore\",operation=\"GetUserId\",outcome=\"timeout\"}",
        1.0,
    )
    .await;
    assert!(timeouts >= 1.0, "counted as timeouts: {timeouts}");

    // Once AWS answers again, the retry grants it.
    proxy.set(json!([]));
    s.wait_phase("alice", GrantPhase::Active, Duration::from_secs(90))
        .await;
    assert!(s.members().await.contains(&alice_id));
}

#[tokio::test]
async fn a_stalled_assume_role_for_one_policy_never_delays_another_policys_grants() {
    let s = Scenario::new("stall-role").await;
    three_people(&s).await;
    // A second policy acting as another role (same account and group).
    let other_role = format!("arn:aws:iam::{}:role/breakglass-other", s.aws.account);
    let other = unique_name("other", &s.ns);
    s.create_policy(&other, |spec| {
        spec["aws"]["roleArn"] = json!(other_role);
    })
    .await;
    eligible(&s, &other).await;
    let proxy = FaultProxy::start("stall-role", json!([])).await;
    let (_controller, _metrics) = controller_through(&s, &proxy);
    let under_other = |user: &'static str| {
        let other = other.clone();
        move |spec: &mut Value| {
            spec["user"] = json!(user);
            spec["policy"] = json!(other);
        }
    };
    s.create_grant("carol", under_other(CAROL)).await;
    s.wait_phase("carol", GrantPhase::Active, SOON).await;

    // The first policy's role is never answered by STS.
    proxy.set(json!([{
        "name": "role-stalled",
        "operation": "AssumeRole",
        "contains": format!("RoleArn={}", s.aws.role_arn),
        "answer": "stall",
    }]));
    s.create_grant("bob", for_user(BOB)).await;
    proxy.wait_fired("role-stalled").await;

    // The other policy's grants and revocations go on.
    s.create_grant("alice", under_other(ALICE)).await;
    s.resolve("carol").await;
    s.wait_phase("alice", GrantPhase::Active, SOON).await;
    s.wait_phase("carol", GrantPhase::Ended, SOON).await;
    let message = timed_out(&s, "bob").await;
    assert!(
        message.contains("assuming role") && message.contains(&s.aws.role_arn),
        "{message}"
    );

    proxy.set(json!([]));
    s.wait_phase("bob", GrantPhase::Active, Duration::from_secs(90))
        .await;
}

/// GET with curl: the status code and the body.
fn get_status(url: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn replica(
    s: &Scenario,
    lease: &str,
    identity: &str,
    env: &[(&str, &str)],
) -> (ControllerProcess, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let args = replica_args(lease, &s.ns, identity, (6, 2), &admin);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = ControllerProcess::start_logged(&s.ns, &format!("{}-{identity}", s.ns), env, &args);
    (p, format!("http://{admin}"))
}

#[tokio::test]
async fn a_parked_reconcile_fails_the_leaders_healthz_and_the_standby_ends_the_grant() {
    let s = Scenario::new("stall-parked").await;
    let lease = unique_name("lease", &s.ns);
    // The leader parks every revocation forever; the standby is healthy.
    let (leader, leader_admin) = replica(
        &s,
        &lease,
        "parking",
        &[("BREAKGLASS_FAILPOINT", "before-revoke")],
    );
    eventually(SOON, || async {
        (try_metric(
            &get_text(&format!("{leader_admin}/metrics")),
            "breakglass_leader",
        )? == 1.0)
            .then_some(())
    })
    .await
    .expect("the parking replica leads");
    let (_standby, standby_admin) = replica(&s, &lease, "standby", &[]);
    eventually(SOON, || async {
        get_text(&format!("{standby_admin}/readyz"))
            .contains("ok")
            .then_some(())
    })
    .await
    .expect("the standby is ready");

    s.create_grant("g", |spec| spec["duration"] = json!("8s"))
        .await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    assert_eq!(get_status(&format!("{leader_admin}/healthz")).0, 200);

    // Past its expiry the grant is overdue, counted from the cache while the reconcile is
    // parked; within five sweep intervals (2 s each here) the leader's /healthz fails.
    leader.wait_for_failpoint().await;
    let overdue = eventually(SOON, || async {
        let v = try_metric(
            &get_text(&format!("{leader_admin}/metrics")),
            "breakglass_grants_overdue",
        )?;
        (v >= 1.0).then_some(v)
    })
    .await;
    assert_eq!(overdue, Some(1.0), "the parked grant is overdue");
    let (code, body) = eventually(SOON, || async {
        let (code, body) = get_status(&format!("{leader_admin}/healthz"));
        (code == 503).then_some((code, body))
    })
    .await
    .expect("the leader's /healthz fails while its reconcile is parked");
    assert!(
        body.contains(&format!("{}/g", s.ns)),
        "names the stuck work: {code} {body}"
    );
    assert_eq!(
        get_status(&format!("{standby_admin}/healthz")).0,
        200,
        "the standby is healthy"
    );
    assert_eq!(
        s.members().await,
        std::slice::from_ref(&s.alice),
        "still a member: the leader never got to revoke"
    );

    // The kubelet's livenessProbe restarts the failing container; the Lease lapses and the
    // standby takes over and ends the grant.
    leader.kill();
    let g = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(
        g.status.and_then(|st| st.end_reason),
        Some(EndReason::Expired)
    );
    assert!(
        s.members().await.is_empty(),
        "access removed by the new leader"
    );
}
