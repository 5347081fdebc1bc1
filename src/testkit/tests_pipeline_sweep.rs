//! The sweep's decisions against the in-memory AWS, in process: a member whose grant is
//! gone (finalizer stripped) is removed and its ledger entry then forgotten, a held member
//! is left alone, a member nobody added is reported (or removed, exclusive), and a member
//! removed on AWS ends its grant rather than being added back.

use kube::runtime::{reflector, watcher};
use serde_json::json;

use super::pipeline::{NS, Pipeline, STORE, grant_path};
use crate::{
    api::{BreakGlassGrant, EndReason, GrantPhase},
    aws::memory::Op,
    controller::sweep::{self, Settings},
};

/// One full sweep, its grant cache filled from what the API server holds now; AWS calls
/// take no time (nothing recorded can still be on its way).
async fn sweep(p: &Pipeline) {
    sweep_with(p, std::time::Duration::ZERO).await;
}

/// One full sweep with AWS calls that may take up to `call_deadline`.
async fn sweep_with(p: &Pipeline, call_deadline: std::time::Duration) {
    let (store, mut writer) = reflector::store::<BreakGlassGrant>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for g in p.api.list(&format!(
        "/apis/breakglass.dev/v1alpha1/namespaces/{NS}/breakglassgrants"
    )) {
        let g: BreakGlassGrant = serde_json::from_value(g).expect("a grant");
        writer.apply_watcher_event(&watcher::Event::InitApply(g));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let settings = Settings {
        interval: std::time::Duration::from_secs(60),
        namespace: None,
        call_deadline,
    };
    sweep::full(&p.ctx, &store, &settings)
        .await
        .expect("the sweep");
}

async fn active(p: &Pipeline, policy: serde_json::Value) {
    p.policy("prod-admin", policy);
    p.grant("inc-1", "prod-admin", json!({}));
    p.until("inc-1", Some(GrantPhase::Active), 3).await;
}

#[tokio::test]
async fn a_member_whose_grant_is_gone_is_removed_then_its_entry_forgotten() {
    let p = Pipeline::new();
    active(&p, Pipeline::group_policy()).await;
    // Deleted with its finalizer stripped: no revocation ran.
    p.api.remove(&grant_path("inc-1"));
    sweep(&p).await;
    assert!(!p.alice_in_group(), "the orphan was removed");
    sweep(&p).await;
    assert!(
        p.ledger_entries().is_empty(),
        "nothing left to take back: forgotten"
    );
}

/// The race a settling sweep must not lose: a grant records its member in the ledger, the
/// sweep lists the group before the add lands, the grant is deleted without its finalizer.
/// Seeing neither member nor holder, the sweep would forget the entry, and the member the
/// add then lands is nobody's record. An entry recorded within one AWS call deadline of
/// the list is kept for the next sweep, which sees the member (and takes it back).
#[tokio::test]
async fn an_entry_whose_add_may_still_be_in_flight_is_not_forgotten() {
    let p = Pipeline::new();
    active(&p, Pipeline::group_policy()).await;
    p.api.remove(&grant_path("inc-1"));
    // As the list saw it: the add had not landed yet.
    p.aws.remove_member(STORE, &p.group, &p.alice);
    sweep_with(&p, std::time::Duration::from_secs(33)).await;
    assert_eq!(
        p.ledger_entries().len(),
        1,
        "recorded moments ago: its add may land after the list, so it stays"
    );
    // The add lands after the list; the next sweep sees the member and takes it back.
    p.aws.add_member(STORE, &p.group, &p.alice);
    sweep_with(&p, std::time::Duration::from_secs(33)).await;
    assert!(!p.alice_in_group(), "the orphan is taken back");
}

#[tokio::test]
async fn a_member_an_active_grant_holds_is_left_alone() {
    let p = Pipeline::new();
    active(&p, Pipeline::group_policy()).await;
    p.aws.clear_calls();
    sweep(&p).await;
    assert!(p.alice_in_group());
    assert_eq!(p.aws.count(Op::DeleteGroupMembership), 0);
    assert_eq!(
        p.aws.count(Op::ListGroupMemberships),
        1,
        "one list per group"
    );
    assert_eq!(
        p.ledger_entries().len(),
        1,
        "the entry of a held member stays"
    );
}

#[tokio::test]
async fn a_member_nobody_added_is_reported_not_removed_unless_exclusive() {
    let p = Pipeline::new();
    active(&p, Pipeline::group_policy()).await;
    let bob = p.aws.user(STORE, "bob@example.com");
    p.aws.add_member(STORE, &p.group, &bob);
    sweep(&p).await;
    assert!(
        p.aws.group_members(STORE, &p.group).contains(&bob),
        "left alone"
    );
    let events = p
        .api
        .list("/apis/events.k8s.io/v1/namespaces/default/events");
    assert!(
        events.iter().any(|e| e["reason"] == "UnmanagedMember"),
        "reported: {events:?}"
    );

    let mut exclusive = Pipeline::group_policy();
    exclusive["access"]["groupMembership"]["exclusive"] = json!(true);
    p.policy("prod-admin", exclusive);
    sweep(&p).await;
    assert!(
        !p.aws.group_members(STORE, &p.group).contains(&bob),
        "removed"
    );
    assert!(p.alice_in_group(), "the granted member stays");
}

#[tokio::test]
async fn a_member_removed_on_aws_ends_its_grant_instead_of_coming_back() {
    let p = Pipeline::new();
    active(&p, Pipeline::group_policy()).await;
    p.aws.remove_member(STORE, &p.group, &p.alice);
    sweep(&p).await;
    let _ = p.pass("inc-1").await;
    p.until("inc-1", Some(GrantPhase::Ended), 3).await;
    let g = p.held("inc-1");
    assert_eq!(
        g.status.and_then(|s| s.end_reason),
        Some(EndReason::RevokedOnAws)
    );
    assert!(!p.alice_in_group(), "not added back");
    assert_eq!(p.aws.count(Op::CreateGroupMembership), 1);
}
