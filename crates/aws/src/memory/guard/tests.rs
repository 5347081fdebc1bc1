//! The session guard's calls in memory: inline policies, provisioning, session durations
//! and group assignments, with the faults, log and stalls every call has.

use std::{sync::Arc, time::Duration};

use super::super::{Fault, Memory, Op};
use crate::{ActAs, Error, IdentityCenter, Progress, Role, Sso};

const STORE: &str = "d-1";
const INSTANCE: &str = "arn:instance";

fn target() -> ActAs {
    ActAs {
        role_arn: "arn:aws:iam::1:role/write".into(),
        read_role_arn: None,
        external_id: None,
        region: None,
        identity_store_id: STORE.into(),
        session_name: "breakglass@ns.guard".into(),
    }
}

/// A Memory with one instance and permission set (its ARN).
fn setup() -> (Arc<Memory>, String) {
    let m = Arc::new(Memory::new());
    m.instance(INSTANCE, STORE);
    let ps = m.permission_set(INSTANCE, "Admin");
    (m, ps)
}

async fn sso<'a>(ic: &'a dyn IdentityCenter, t: &'a ActAs) -> Sso<'a> {
    ic.sso(t, Role::Write).await.expect("session")
}

#[tokio::test]
async fn inline_policies_are_read_written_and_deleted() {
    let (m, ps) = setup();
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    assert_eq!(sso.inline_policy(INSTANCE, &ps).await.expect("read"), "");
    sso.put_inline_policy(INSTANCE, &ps, r#"{"v":1}"#)
        .await
        .expect("written");
    assert_eq!(
        sso.inline_policy(INSTANCE, &ps).await.expect("read"),
        r#"{"v":1}"#
    );
    m.set_inline_policy(&ps, r#"{"by":"hand"}"#);
    assert_eq!(m.inline_policy_of(&ps), r#"{"by":"hand"}"#);
    assert_eq!(
        m.policy_puts(&ps),
        [r#"{"v":1}"#],
        "an edit by hand is no put"
    );
    sso.delete_inline_policy(INSTANCE, &ps)
        .await
        .expect("deleted");
    assert_eq!(m.inline_policy_of(&ps), "");
    sso.delete_inline_policy(INSTANCE, &ps)
        .await
        .expect("already gone counts as deleted");

    let e = sso
        .inline_policy(INSTANCE, "arn:instance/ps-unknown")
        .await
        .expect_err("no such permission set");
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    let e = sso
        .inline_policy("arn:other-instance", &ps)
        .await
        .expect_err("not on that instance");
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    let put = m
        .calls()
        .into_iter()
        .find(|c| c.op == Op::PutInlinePolicyToPermissionSet)
        .expect("logged");
    assert_eq!(put.args, [INSTANCE, &ps, r#"{"v":1}"#]);
    assert_eq!(put.session_name, "breakglass@ns.guard");
}

#[tokio::test]
async fn a_document_over_the_limit_is_a_validation_error_and_writes_nothing() {
    let (m, ps) = setup();
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    m.inline_policy_limit(10);
    let e = sso
        .put_inline_policy(INSTANCE, &ps, "01234567890")
        .await
        .expect_err("too long");
    assert!(e.is_validation(), "{e}");
    assert!(!e.is_conflict() && !e.is_access_denied());
    assert_eq!(e.reason(), "AwsError");
    let e = sso
        .put_inline_policy(INSTANCE, &ps, "")
        .await
        .expect_err("empty");
    assert!(e.is_validation(), "{e}");
    sso.put_inline_policy(INSTANCE, &ps, "0123456789")
        .await
        .expect("at the limit");
    assert_eq!(m.policy_puts(&ps), ["0123456789"]);
    assert_eq!(m.count(Op::PutInlinePolicyToPermissionSet), 3);
}

#[tokio::test]
async fn provisioning_succeeds_at_once_by_default_and_records_the_document() {
    let (m, ps) = setup();
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    assert_eq!(m.provisioned_policy(&ps), None);
    sso.put_inline_policy(INSTANCE, &ps, "deny-1")
        .await
        .expect("written");
    assert_eq!(
        sso.provision(INSTANCE, &ps).await.expect("provisioned"),
        Progress::Succeeded
    );
    sso.put_inline_policy(INSTANCE, &ps, "deny-2")
        .await
        .expect("written");
    assert_eq!(m.provisioned_policy(&ps).as_deref(), Some("deny-1"));
    sso.provision(INSTANCE, &ps).await.expect("provisioned");
    assert_eq!(m.provisionings(&ps), ["deny-1", "deny-2"]);
    assert_eq!(m.provisioned_policy(&ps).as_deref(), Some("deny-2"));
    assert_eq!(m.count(Op::ProvisionPermissionSet), 2);
    assert!(m.provisionings("arn:instance/ps-other").is_empty());
}

#[tokio::test]
async fn provisioning_can_stay_in_progress_then_succeed_or_fail() {
    let (m, ps) = setup();
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    m.set_inline_policy(&ps, "deny");
    m.complete_provisioning_on_poll(3);
    let Progress::InProgress { request_id } = sso.provision(INSTANCE, &ps).await.expect("asked")
    else {
        panic!("answers IN_PROGRESS");
    };
    for _ in 0..2 {
        assert_eq!(
            sso.provisioning(INSTANCE, &request_id)
                .await
                .expect("polled"),
            Progress::InProgress {
                request_id: request_id.clone()
            }
        );
        assert_eq!(m.provisioned_policy(&ps), None, "not yet");
    }
    assert_eq!(
        sso.provisioning(INSTANCE, &request_id)
            .await
            .expect("polled"),
        Progress::Succeeded
    );
    assert_eq!(m.provisioned_policy(&ps).as_deref(), Some("deny"));
    assert_eq!(
        sso.provisioning(INSTANCE, &request_id)
            .await
            .expect("again"),
        Progress::Succeeded,
        "a finished one stays finished"
    );

    m.set_inline_policy(&ps, "deny-more");
    m.fail_provisioning(Some("role quota"));
    m.complete_provisioning_on_poll(1);
    let Progress::InProgress { request_id } = sso.provision(INSTANCE, &ps).await.expect("asked")
    else {
        panic!("answers IN_PROGRESS");
    };
    let failed = Progress::Failed {
        request_id: request_id.clone(),
        reason: "role quota".into(),
    };
    let polled = sso.provisioning(INSTANCE, &request_id).await;
    assert_eq!(polled.expect("polled"), failed);
    m.fail_provisioning(None);
    let polled = sso.provisioning(INSTANCE, &request_id).await;
    assert_eq!(polled.expect("polled"), failed, "FAILED stays FAILED");
    assert_eq!(m.provisioned_policy(&ps).as_deref(), Some("deny"));

    m.fail_provisioning(Some("at once"));
    m.complete_provisioning_on_poll(0);
    assert!(matches!(
        sso.provision(INSTANCE, &ps).await,
        Ok(Progress::Failed { reason, .. }) if reason == "at once"
    ));
    assert_eq!(m.provisionings(&ps), ["deny", "deny-more", "deny-more"]);
    let e = sso
        .provisioning(INSTANCE, "prov-unknown")
        .await
        .expect_err("never asked");
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn session_durations_and_group_assignments_are_set_by_the_test() {
    let (m, ps) = setup();
    let other = m.permission_set(INSTANCE, "ReadOnly");
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    assert_eq!(
        sso.session_duration(INSTANCE, &ps).await.expect("read"),
        Duration::from_secs(3600),
        "AWS's default"
    );
    m.set_session_duration(&ps, Duration::from_secs(12 * 3600));
    assert_eq!(
        sso.session_duration(INSTANCE, &ps).await.expect("read"),
        Duration::from_secs(12 * 3600)
    );
    assert!(
        sso.group_permission_sets(INSTANCE, "g-1")
            .await
            .expect("listed")
            .is_empty()
    );
    m.set_group_permission_sets(INSTANCE, "g-1", [&ps, &other, &ps]);
    let held = sso
        .group_permission_sets(INSTANCE, "g-1")
        .await
        .expect("listed");
    assert_eq!(held.into_iter().collect::<Vec<_>>(), {
        let mut v = vec![ps.clone(), other.clone()];
        v.sort();
        v
    });
    assert!(
        sso.group_permission_sets("arn:other", "g-1")
            .await
            .expect("listed")
            .is_empty()
    );
}

#[tokio::test]
async fn guard_calls_meet_conflicts_and_refusals_on_demand() {
    let (m, ps) = setup();
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    m.inject(Op::PutInlinePolicyToPermissionSet, Fault::Conflict, 2);
    for _ in 0..2 {
        let e = sso
            .put_inline_policy(INSTANCE, &ps, "deny")
            .await
            .expect_err("conflict");
        assert!(e.is_conflict(), "{e}");
    }
    sso.put_inline_policy(INSTANCE, &ps, "deny")
        .await
        .expect("then accepted");
    assert_eq!(m.policy_puts(&ps), ["deny"], "a refused put writes nothing");

    for op in [
        Op::DescribePermissionSet,
        Op::GetInlinePolicyForPermissionSet,
        Op::PutInlinePolicyToPermissionSet,
        Op::DeleteInlinePolicyFromPermissionSet,
        Op::ProvisionPermissionSet,
        Op::DescribePermissionSetProvisioningStatus,
        Op::ListAccountAssignmentsForPrincipal,
    ] {
        m.inject(op, Fault::AccessDenied, 1);
        let e = match op {
            Op::DescribePermissionSet => sso.session_duration(INSTANCE, &ps).await.err(),
            Op::GetInlinePolicyForPermissionSet => sso.inline_policy(INSTANCE, &ps).await.err(),
            Op::PutInlinePolicyToPermissionSet => {
                sso.put_inline_policy(INSTANCE, &ps, "x").await.err()
            }
            Op::DeleteInlinePolicyFromPermissionSet => {
                sso.delete_inline_policy(INSTANCE, &ps).await.err()
            }
            Op::ProvisionPermissionSet => sso.provision(INSTANCE, &ps).await.err(),
            Op::DescribePermissionSetProvisioningStatus => {
                sso.provisioning(INSTANCE, "prov-1").await.err()
            }
            _ => sso.group_permission_sets(INSTANCE, "g").await.err(),
        }
        .expect("refused");
        assert!(e.is_access_denied(), "{op:?}: {e}");
        assert!(
            matches!(&e, Error::Call { operation, .. } if *operation == op.name()),
            "{e:?}"
        );
    }
    assert_eq!(
        m.inline_policy_of(&ps),
        "deny",
        "a refused change changes nothing"
    );
    assert!(m.provisionings(&ps).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_provisioning_times_out_as_the_sdk_would() {
    let (m, ps) = setup();
    let t = target();
    let sso = sso(m.as_ref(), &t).await;
    m.deadline(Some(Duration::from_secs(10)));
    m.inject(Op::ProvisionPermissionSet, Fault::Stall, 1);
    let e = sso.provision(INSTANCE, &ps).await.expect_err("timed out");
    assert_eq!(e.reason(), "AwsTimeout", "{e}");
    assert!(
        m.provisionings(&ps).is_empty(),
        "never answered, never done"
    );
    assert_eq!(
        sso.provision(INSTANCE, &ps).await.expect("answered"),
        Progress::Succeeded
    );
}
