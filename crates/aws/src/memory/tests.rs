//! The in-memory Identity Center keeps the semantics the operator's tests rely on.

use std::{sync::Arc, time::Duration};

use super::*;
use crate::{Error, IdentityCenter, Progress, Role};

const STORE: &str = "d-1";

fn target(session: &str) -> ActAs {
    ActAs {
        role_arn: "arn:aws:iam::1:role/write".into(),
        read_role_arn: Some("arn:aws:iam::1:role/read".into()),
        external_id: None,
        region: None,
        identity_store_id: STORE.into(),
        session_name: session.into(),
    }
}

fn center(m: &Arc<Memory>) -> Arc<dyn IdentityCenter> {
    m.clone()
}

#[tokio::test]
async fn memberships_are_idempotent_through_the_store_handle() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    let user = m.user(STORE, "alice");
    let group = m.group(STORE, "oncall");
    let t = target("breakglass@ns.g");
    let reader = ic.store(&t, Role::Read).await.expect("session");
    assert_eq!(reader.user_id("alice").await.expect("user"), user);
    assert!(matches!(
        reader.user_id("bob").await,
        Err(Error::UserNotFound { .. })
    ));
    assert_eq!(reader.group_id("oncall").await.expect("group"), group);

    let writer = ic.store(&t, Role::Write).await.expect("session");
    let first = writer
        .ensure_membership(&group, &user, false)
        .await
        .expect("created");
    // A second create conflicts on AWS: the handle finds the existing one instead.
    let again = writer
        .ensure_membership(&group, &user, false)
        .await
        .expect("conflict resolved");
    assert_eq!(first, again);
    assert_eq!(m.count(Op::CreateGroupMembership), 2);
    assert_eq!(m.group_members(STORE, &group).len(), 1);
    assert!(
        writer
            .member_of_any(&user, &["oncall".into()])
            .await
            .expect("read")
    );
    assert!(
        !writer
            .member_of_any(&user, &["none".into()])
            .await
            .expect("read")
    );

    writer
        .remove_membership(&group, &user, Some(&first))
        .await
        .expect("removed");
    assert!(m.group_members(STORE, &group).is_empty());
    assert!(
        !writer
            .delete_membership(&first)
            .await
            .expect("gone is not an error")
    );
}

#[tokio::test]
async fn sessions_are_assumed_once_per_role_and_name_until_forgotten() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    m.group(STORE, "g");
    let t = target("breakglass@ns.g");
    for _ in 0..3 {
        ic.store(&t, Role::Read)
            .await
            .expect("read")
            .group_id("g")
            .await
            .expect("found");
    }
    ic.store(&t, Role::Write).await.expect("write");
    let assumed: Vec<_> = m
        .calls()
        .into_iter()
        .filter(|c| c.op == Op::AssumeRole)
        .map(|c| (c.role_arn, c.session_name))
        .collect();
    assert_eq!(
        assumed,
        [
            (
                "arn:aws:iam::1:role/read".to_owned(),
                crate::READ_SESSION.to_owned()
            ),
            (
                "arn:aws:iam::1:role/write".to_owned(),
                "breakglass@ns.g".to_owned()
            ),
        ]
    );
    ic.forget(&t).await;
    assert!(!m.has_session(&t, Role::Write));
    assert!(
        m.has_session(&t, Role::Read),
        "the shared read session stays"
    );
    m.deny_role("arn:aws:iam::1:role/write", true);
    let refused = ic.store(&t, Role::Write).await.err().expect("refused");
    assert!(refused.is_access_denied(), "{refused}");
    assert_eq!(refused.reason(), "AssumeRoleFailed");
}

#[tokio::test]
async fn assignments_complete_on_a_later_status_call() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    m.instance("arn:instance", STORE);
    let ps = m.permission_set("arn:instance", "Admin");
    let a = Assignment {
        instance_arn: "arn:instance".into(),
        account_id: "111111111111".into(),
        permission_set_arn: ps.clone(),
    };
    m.complete_on_poll(2);
    let t = target("breakglass@ns.g");
    let sso = ic.sso(&t, Role::Write).await.expect("session");
    assert_eq!(
        sso.instances().await.expect("listed"),
        [("arn:instance".into(), STORE.into())]
    );
    assert_eq!(
        sso.permission_set_arn("arn:instance", "Admin")
            .await
            .expect("found"),
        ps
    );
    let Progress::InProgress { request_id } = sso.create(&a, "u-1").await.expect("asked") else {
        panic!("a create answers IN_PROGRESS");
    };
    assert!(sso.users(&a).await.expect("listed").is_empty(), "not yet");
    assert!(matches!(
        sso.creation("arn:instance", &request_id).await,
        Ok(Progress::InProgress { .. })
    ));
    assert_eq!(
        sso.creation("arn:instance", &request_id)
            .await
            .expect("polled"),
        Progress::Succeeded
    );
    assert!(sso.users(&a).await.expect("listed").contains("u-1"));

    m.fail_assignments(Some("quota"));
    m.complete_on_poll(1);
    let Progress::InProgress { request_id } = sso.delete(&a, "u-1").await.expect("asked") else {
        panic!("a delete answers IN_PROGRESS");
    };
    assert!(matches!(
        sso.deletion("arn:instance", &request_id).await,
        Ok(Progress::Failed { reason, .. }) if reason == "quota"
    ));
    assert!(m.assigned(&a, "u-1"), "a failed delete leaves it");
    m.fail_assignments(None);
    m.complete_on_poll(0);
    assert_eq!(
        sso.delete(&a, "u-1").await.expect("done"),
        Progress::Succeeded
    );
    assert!(!m.assigned(&a, "u-1"));
    assert_eq!(
        sso.delete(&a, "u-1").await.expect("gone"),
        Progress::Succeeded,
        "one already gone counts as removed"
    );
    assert!(sso.creation("arn:instance", "req-unknown").await.is_err());
}

#[tokio::test]
async fn faults_carry_the_codes_aws_sends_and_are_logged() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    let user = m.user(STORE, "alice");
    let t = target("s");
    let store = ic.store(&t, Role::Read).await.expect("session");
    m.inject(Op::GetUserId, Fault::Throttle, 1);
    let e = store.user_id("alice").await.expect_err("throttled");
    assert!(e.is_throttling(), "{e}");
    assert_eq!(e.code(), Some("ThrottlingException"));
    assert_eq!(store.user_id("alice").await.expect("once only"), user);

    m.inject_any(Fault::AccessDenied, 1);
    let e = store.group_id("g").await.expect_err("refused");
    assert!(e.is_access_denied(), "{e}");

    m.inject(Op::CreateAccountAssignment, Fault::Conflict, 1);
    let a = Assignment {
        instance_arn: "i".into(),
        account_id: "1".into(),
        permission_set_arn: "p".into(),
    };
    let sso = ic.sso(&t, Role::Write).await.expect("session");
    let e = sso.create(&a, &user).await.expect_err("conflict");
    assert!(e.is_conflict(), "{e}");
    assert_eq!(e.reason(), "AwsError");

    let log = m.calls();
    let get = log
        .iter()
        .filter(|c| c.op == Op::GetUserId)
        .collect::<Vec<_>>();
    assert_eq!(get.len(), 2);
    assert_eq!(get[0].args, ["alice"]);
    assert_eq!(get[0].session_name, crate::READ_SESSION);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_call_answers_only_once_released() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    let group = m.group(STORE, "g");
    let t = target("s");
    m.inject(Op::ListGroupMemberships, Fault::Stall, 1);
    let store = ic.store(&t, Role::Read).await.expect("session");
    let deadline = tokio::time::timeout(Duration::from_secs(30), store.members(&group)).await;
    assert!(deadline.is_err(), "a stall outlasts any deadline");

    m.inject(Op::ListGroupMemberships, Fault::Stall, 1);
    let stalled = {
        let ic = ic.clone();
        let t = t.clone();
        let group = group.clone();
        tokio::spawn(async move { ic.store(&t, Role::Read).await?.members(&group).await })
    };
    while m.stalled() == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!stalled.is_finished(), "still waiting an hour later");
    m.release();
    let answered = stalled
        .await
        .expect("joined")
        .expect("answered once released");
    assert!(answered.is_empty());
    assert_eq!(m.count(Op::ListGroupMemberships), 2);
}

#[tokio::test(start_paused = true)]
async fn with_a_deadline_a_stalled_call_times_out_as_the_sdk_would() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    let group = m.group(STORE, "g");
    let t = target("s");
    m.deadline(Some(Duration::from_secs(10)));
    m.inject(Op::ListGroupMemberships, Fault::Stall, 1);
    let store = ic.store(&t, Role::Read).await.expect("session");
    let err = store.members(&group).await.expect_err("timed out");
    assert_eq!(err.reason(), "AwsTimeout", "{err}");
    assert!(!err.is_access_denied());
    assert_eq!(m.stalled(), 0, "the stalled call let go");
    m.inject(Op::AssumeRole, Fault::Stall, 1);
    let err = ic
        .store(&target("other"), Role::Write)
        .await
        .err()
        .expect("STS timed out");
    assert!(
        matches!(
            err,
            Error::AssumeRole {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_observer_sees_every_call_in_log_order() {
    let m = Arc::new(Memory::new());
    let ic = center(&m);
    let seen = Arc::new(std::sync::Mutex::new(vec![]));
    let sink = seen.clone();
    m.observe(Arc::new(move |l: &Logged| {
        sink.lock().expect("seen").push(l.op)
    }));
    m.user(STORE, "alice");
    let t = target("s");
    let store = ic.store(&t, Role::Read).await.expect("session");
    store.user_id("alice").await.expect("found");
    let logged: Vec<Op> = m.calls().iter().map(|l| l.op).collect();
    assert_eq!(*seen.lock().expect("seen"), logged);
    assert_eq!(logged, [Op::AssumeRole, Op::GetUserId]);
}
