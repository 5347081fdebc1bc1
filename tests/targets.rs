//! AWS is the truth: the sweep compares each group with the grants and the ledger, against
//! the real kube-apiserver and moto. Controllers here sweep every 2 s (the test default).

mod common;

use std::time::Duration;

use breakglass::api::{BreakGlassPolicy, EndReason, GrantPhase};
use common::*;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

async fn members_become(s: &Scenario, want: &[String], why: &str) {
    let reached = eventually(SOON, || async {
        let mut now = s.members().await;
        now.sort();
        (now == want).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{why}: members {:?}, want {want:?}",
        s.members().await
    );
}

/// Grant `g` for alice is Active; then its finalizer is stripped and it is deleted, as
/// anyone who may patch grants could do.
async fn strip_and_delete(s: &Scenario) {
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    s.strip_finalizer_and_delete("g").await;
    let grants = s.grants();
    let gone = eventually(SOON, || async {
        grants.get_opt("g").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the grant is gone at once, without revocation"
    );
}

#[tokio::test]
async fn a_grant_deleted_without_its_finalizer_loses_its_access_within_a_sweep() {
    for exclusive in [false, true] {
        let s = Scenario::new(if exclusive { "orphan-excl" } else { "orphan" }).await;
        policies_raw(&s.client)
            .patch(
                &s.policy,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"access": {"groupMembership": {"exclusive": exclusive}}}}),
                ),
            )
            .await
            .expect("policy mode");
        let (_controller, metrics) = metered_controller(&s.ns, &[]);
        strip_and_delete(&s).await;
        members_become(
            &s,
            &[],
            "the ledger says the operator added alice: taken back",
        )
        .await;
        let orphans = scrape_reaching(
            &metrics,
            "breakglass_access_drift_total{kind=\"orphan\"}",
            1.0,
        )
        .await;
        assert!(orphans >= 1.0, "orphan counted: {orphans}");
    }
}

#[tokio::test]
async fn deleting_a_grant_that_holds_access_sweeps_its_group_at_once() {
    let s = Scenario::new("orphan-now").await;
    // No periodic sweep within the test: only the deletion can trigger one.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _controller = ControllerProcess::start_with_args(
        &s.ns,
        &[],
        &["--admin-addr", &addr, "--sweep-interval", "1h"],
    );
    let metrics = format!("http://{addr}/metrics");
    let sweeps = "breakglass_sweeps_total{outcome=\"ok\"}";
    let first = eventually(SOON, || async {
        (scrape(&metrics, sweeps).await >= 1.0).then_some(())
    })
    .await;
    assert!(
        first.is_some(),
        "the first sweep ran before the grant exists"
    );
    strip_and_delete(&s).await;
    members_become(&s, &[], "the deletion swept the group").await;
    let orphans = scrape_reaching(
        &metrics,
        "breakglass_access_drift_total{kind=\"orphan\"}",
        1.0,
    )
    .await;
    assert_eq!(orphans, 1.0, "orphan counted once");
    let triggered = eventually(SOON, || async {
        (scrape(&metrics, sweeps).await == 2.0).then_some(())
    })
    .await;
    assert!(
        triggered.is_some(),
        "the first sweep and the triggered one, no other"
    );
}

#[tokio::test]
async fn hand_added_members_are_reported_by_default() {
    let s = Scenario::new("unmanaged").await;
    let bob = s.aws.create_user("bob@example.com").await;
    s.aws.add_member(&s.group_id, &bob).await;
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    let policies: Api<BreakGlassPolicy> = Api::all(s.client.clone());
    let reported = eventually(SOON, || async {
        let p = policies.get(&s.policy).await.ok()?;
        let ready = p
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (ready.reason == "UnmanagedMembers").then_some(ready)
    })
    .await
    .expect("the policy reports the unmanaged member");
    assert_eq!(reported.status, "False");
    assert!(reported.message.contains(&bob), "{}", reported.message);
    let unmanaged = scrape(
        &metrics,
        "breakglass_access_drift_total{kind=\"unmanaged\"}",
    )
    .await;
    assert_eq!(unmanaged, 1.0, "counted once, not once per sweep");
    let mut want = vec![s.alice.clone(), bob.clone()];
    want.sort();
    let mut now = s.members().await;
    now.sort();
    assert_eq!(
        now, want,
        "never removed from a group that is not exclusive"
    );
}

#[tokio::test]
async fn exclusive_groups_lose_hand_added_members() {
    let s = Scenario::new("exclusive").await;
    policies_raw(&s.client)
        .patch(
            &s.policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"access": {"groupMembership": {"exclusive": true}}}})),
        )
        .await
        .expect("exclusive");
    let bob = s.aws.create_user("bob@example.com").await;
    s.aws.add_member(&s.group_id, &bob).await;
    let _controller = ControllerProcess::start(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    s.wait_phase("g", GrantPhase::Active, SOON).await;
    members_become(
        &s,
        std::slice::from_ref(&s.alice),
        "bob removed, alice kept",
    )
    .await;
}

#[tokio::test]
async fn access_removed_on_aws_ends_the_grant_and_is_not_put_back() {
    let s = Scenario::new("removed-on-aws").await;
    let (_controller, metrics) = metered_controller(&s.ns, &[]);
    s.create_grant("g", |_| {}).await;
    let g = s.wait_phase("g", GrantPhase::Active, SOON).await;
    let membership = g
        .status
        .and_then(|st| st.access?.group_membership?.membership_id)
        .expect("membership recorded");
    s.aws
        .store
        .delete_group_membership()
        .identity_store_id(&s.aws.identity_store_id)
        .membership_id(&membership)
        .send()
        .await
        .expect("an AWS admin removes alice");
    let ended = s.wait_phase("g", GrantPhase::Ended, SOON).await;
    assert_eq!(
        ended.status.as_ref().and_then(|st| st.end_reason),
        Some(EndReason::RevokedOnAws)
    );
    // Two whole sweeps later, still not added back.
    let sweeps = "breakglass_sweeps_total{outcome=\"ok\"}";
    let ended_at = scrape(&metrics, sweeps).await;
    let later = scrape_reaching(&metrics, sweeps, ended_at + 2.0).await;
    assert!(later >= ended_at + 2.0, "two more sweeps ran: {later}");
    assert!(s.members().await.is_empty());
    let removed = scrape_reaching(
        &metrics,
        "breakglass_access_drift_total{kind=\"removed\"}",
        1.0,
    )
    .await;
    assert_eq!(removed, 1.0);
}

/// With 200 consistent Active grants, a restarted controller makes no AWS call per grant:
/// each sweep lists the one group (and assumes the read role once).
#[tokio::test]
async fn a_restart_with_200_active_grants_costs_per_group_not_per_grant() {
    let s = Scenario::new("restart-200").await;
    let users: Vec<String> = (0..200).map(|i| format!("user{i}@example.com")).collect();
    for u in &users {
        s.aws.create_user(u).await;
    }
    policies_raw(&s.client)
        .patch(
            &s.policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"eligibleUsers": users}})),
        )
        .await
        .expect("eligible users");
    let first = ControllerProcess::start(&s.ns, &[]);
    for (i, u) in users.iter().enumerate() {
        s.create_grant(&format!("g{i}"), |spec| spec["user"] = json!(u))
            .await;
    }
    for i in 0..users.len() {
        s.wait_phase(
            &format!("g{i}"),
            GrantPhase::Active,
            Duration::from_secs(120),
        )
        .await;
    }
    first.kill();

    let (_restarted, metrics) = metered_controller(&s.ns, &[]);
    let sweeps = eventually(Duration::from_secs(60), || async {
        let n = scrape(&metrics, "breakglass_sweeps_total{outcome=\"ok\"}").await;
        (n >= 3.0).then_some(n)
    })
    .await
    .expect("three sweeps");
    let text = get_text(&metrics);
    let calls: f64 = text
        .lines()
        .filter(|l| l.starts_with("breakglass_aws_calls_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // Per sweep: one list of one group (a few pages at most); once: AssumeRole of the
    // read session and GetGroupId. A sweep may have started after the scrape: one more.
    // Any per-grant call would add 200.
    let bound = (sweeps + 1.0) * 3.0 + 2.0;
    assert!(
        calls <= bound,
        "{calls} AWS calls after a restart with 200 Active grants and {sweeps} sweeps (bound {bound}):\n{}",
        text.lines()
            .filter(|l| l.starts_with("breakglass_aws_calls_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every page: moto, as AWS, lists 100 memberships per page.
    let mut members = 0;
    let mut next: Option<String> = None;
    loop {
        let page = s
            .aws
            .store
            .list_group_memberships()
            .identity_store_id(&s.aws.identity_store_id)
            .group_id(&s.group_id)
            .set_next_token(next.take())
            .send()
            .await
            .expect("list memberships");
        members += page.group_memberships.len();
        match page.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => break,
        }
    }
    assert_eq!(members, 200, "nothing removed, nothing added");
    let grants = s.grants().list(&Default::default()).await.expect("grants");
    assert!(
        grants
            .items
            .iter()
            .all(|g| g.status.as_ref().and_then(|st| st.phase) == Some(GrantPhase::Active)),
        "every grant still Active"
    );
}
