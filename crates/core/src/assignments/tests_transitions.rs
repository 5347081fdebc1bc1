//! The account-assignment state machine (`assignments`): transitions beyond the cases next
//! to it.

use super::{
    Next, Overall, Progress, created, deleted, ending, giving, plan_entries, to_end, to_give,
};
use crate::{AssignmentState, GrantedAssignment};

fn entry(account: &str, state: AssignmentState, request: Option<&str>) -> GrantedAssignment {
    GrantedAssignment {
        account_id: account.into(),
        permission_set_arn: "arn:ps".into(),
        instance_arn: "arn:inst".into(),
        state,
        request_id: request.map(str::to_owned),
        message: None,
        standing: false,
    }
}

#[test]
fn an_entry_recorded_as_given_back_is_created_again_after_a_look() {
    for state in [AssignmentState::Removing, AssignmentState::Removed] {
        assert_eq!(
            to_give(&entry("1", state, Some("d"))),
            Next::Create,
            "{state:?}"
        );
    }
}

#[test]
fn a_delete_in_flight_is_polled_even_when_another_grant_shares_the_account() {
    assert_eq!(
        to_end(&entry("1", AssignmentState::Removing, Some("d")), true),
        Next::PollDelete("d".into())
    );
}

#[test]
fn a_shared_account_is_kept_whatever_state_this_grant_recorded() {
    for state in [
        AssignmentState::Pending,
        AssignmentState::Failed,
        AssignmentState::Assigned,
    ] {
        assert_eq!(
            to_end(&entry("1", state, None), true),
            Next::Done,
            "{state:?}"
        );
    }
}

#[test]
fn a_failed_create_is_deleted_at_the_end_in_case_it_landed() {
    assert_eq!(
        to_end(&entry("1", AssignmentState::Failed, None), false),
        Next::Delete
    );
}

#[test]
fn a_removal_that_fails_keeps_the_reason_for_people() {
    let mut e = entry("1", AssignmentState::Removing, Some("d"));
    deleted(
        &mut e,
        Progress::Failed {
            request_id: "d".into(),
            reason: "AccessDenied".into(),
        },
    );
    assert_eq!(e.message.as_deref(), Some("removal failed: AccessDenied"));
    deleted(&mut e, Progress::Succeeded);
    assert_eq!(
        (e.state, e.message.as_deref()),
        (AssignmentState::Removed, None)
    );
}

#[test]
fn a_create_in_progress_after_a_failure_clears_nothing_but_the_state_and_id() {
    let mut e = entry("1", AssignmentState::Failed, None);
    e.message = Some("ConflictException".into());
    created(
        &mut e,
        Progress::InProgress {
            request_id: "r2".into(),
        },
    );
    assert_eq!(
        (e.state, e.request_id.as_deref()),
        (AssignmentState::Pending, Some("r2"))
    );
}

#[test]
fn no_accounts_is_assigned_and_removed() {
    assert_eq!(giving(&[]), Overall::Assigned);
    assert_eq!(ending(&[]), Overall::Removed);
}

#[test]
fn a_failure_outweighs_pending_accounts_and_every_failure_is_listed() {
    let mut a = entry("1", AssignmentState::Failed, None);
    a.message = Some("x".into());
    let b = entry("2", AssignmentState::Pending, Some("r"));
    let c = entry("3", AssignmentState::Failed, None);
    assert_eq!(
        giving(&[a, b, c]),
        Overall::Failed(vec![("1".into(), "x".into()), ("3".into(), String::new())])
    );
}

#[test]
fn accounts_no_longer_asked_for_stay_recorded_to_be_taken_back() {
    let existing = vec![entry("1", AssignmentState::Assigned, None)];
    let planned = plan_entries(&existing, &["2".into()], "arn:inst", "arn:ps");
    let accounts: Vec<&str> = planned.iter().map(|e| e.account_id.as_str()).collect();
    assert_eq!(accounts, ["1", "2"]);
    assert_eq!(
        ending(&planned),
        Overall::Removing {
            pending: vec!["1".into(), "2".into()]
        }
    );
}
