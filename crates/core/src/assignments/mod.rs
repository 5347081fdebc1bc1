//! Account assignments as a state machine (pure): per account, what to ask AWS next, and how
//! its answer changes the record. AWS creates and deletes assignments asynchronously, so the
//! record (`status.access.accountAssignments[]`) carries each request id until AWS says how
//! it ended; a restarted controller polls the recorded request instead of asking again.

use crate::{AssignmentState, GrantedAssignment};

/// Where an asynchronous create or delete stands, as AWS answers it (`breakglass-aws`
/// returns it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    InProgress { request_id: String },
    Succeeded,
    Failed { request_id: String, reason: String },
}

/// The next call for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Ask AWS to create the assignment (the operator looks first: it may be there
    /// already, from an earlier attempt or as the user's standing access).
    Create,
    /// Ask AWS how the recorded create went.
    PollCreate(String),
    /// Ask AWS to delete the assignment.
    Delete,
    /// Ask AWS how the recorded delete went.
    PollDelete(String),
    /// Nothing: this account is where it should be.
    Done,
}

/// Giving access: what to ask next for `entry`.
pub fn to_give(entry: &GrantedAssignment) -> Next {
    match (entry.state, &entry.request_id) {
        (AssignmentState::Pending, Some(id)) => Next::PollCreate(id.clone()),
        (AssignmentState::Pending, None) => Next::Create,
        // A failure is created again (after the pipeline's backoff): AWS keeps no state for it.
        (AssignmentState::Failed, _) => Next::Create,
        (AssignmentState::Assigned, _) => Next::Done,
        // Recorded as given back while the grant is given again cannot happen (a grant never
        // goes back to granting); create rather than leave an account without access.
        (AssignmentState::Removing | AssignmentState::Removed, _) => Next::Create,
    }
}

/// Taking access back: what to ask next for `entry`. `shared`: another Active grant gives
/// the same user the same permission set on the same account, so the assignment stays.
pub fn to_end(entry: &GrantedAssignment, shared: bool) -> Next {
    match (entry.state, &entry.request_id) {
        (AssignmentState::Removed, _) => Next::Done,
        (AssignmentState::Removing, Some(id)) => Next::PollDelete(id.clone()),
        // Standing access (there before the grant) is the user's own: never deleted.
        _ if shared || entry.standing => Next::Done,
        // Pending or Failed creates may still land: delete whatever AWS has.
        _ => Next::Delete,
    }
}

/// Records AWS's answer to a create (or its poll).
pub fn created(entry: &mut GrantedAssignment, progress: Progress) {
    match progress {
        Progress::Succeeded => {
            entry.state = AssignmentState::Assigned;
            entry.request_id = None;
            entry.message = None;
        }
        Progress::InProgress { request_id } => {
            entry.state = AssignmentState::Pending;
            entry.request_id = Some(request_id);
        }
        Progress::Failed { reason, .. } => {
            entry.state = AssignmentState::Failed;
            entry.request_id = None;
            entry.message = Some(reason);
        }
    }
}

/// Records AWS's answer to a delete (or its poll).
pub fn deleted(entry: &mut GrantedAssignment, progress: Progress) {
    match progress {
        Progress::Succeeded => {
            entry.state = AssignmentState::Removed;
            entry.request_id = None;
            entry.message = None;
        }
        Progress::InProgress { request_id } => {
            entry.state = AssignmentState::Removing;
            entry.request_id = Some(request_id);
        }
        // Still assigned: the next pass deletes again.
        Progress::Failed { reason, .. } => {
            entry.state = AssignmentState::Assigned;
            entry.request_id = None;
            entry.message = Some(format!("removal failed: {reason}"));
        }
    }
}

/// Where a grant's accounts stand, as one summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overall {
    /// Every account is assigned.
    Assigned,
    /// Some are still being created.
    Assigning { pending: Vec<String> },
    /// AWS failed some (account, reason); the rest may be assigned or pending.
    Failed(Vec<(String, String)>),
    /// Every account is removed (or kept for another grant).
    Removed,
    /// Some are still being deleted.
    Removing { pending: Vec<String> },
}

pub fn giving(entries: &[GrantedAssignment]) -> Overall {
    let failed: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.state == AssignmentState::Failed)
        .map(|e| (e.account_id.clone(), e.message.clone().unwrap_or_default()))
        .collect();
    if !failed.is_empty() {
        return Overall::Failed(failed);
    }
    let pending = accounts_not_in(entries, AssignmentState::Assigned);
    if pending.is_empty() {
        Overall::Assigned
    } else {
        Overall::Assigning { pending }
    }
}

pub fn ending(entries: &[GrantedAssignment]) -> Overall {
    let pending = accounts_not_in(entries, AssignmentState::Removed);
    if pending.is_empty() {
        Overall::Removed
    } else {
        Overall::Removing { pending }
    }
}

fn accounts_not_in(entries: &[GrantedAssignment], state: AssignmentState) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.state != state)
        .map(|e| e.account_id.clone())
        .collect()
}

/// The record for `accounts`: existing entries kept (they carry request ids), new accounts
/// added as Pending. Entries for accounts no longer asked for are kept too: what was
/// assigned there must still be taken back.
pub fn plan_entries(
    existing: &[GrantedAssignment],
    accounts: &[String],
    instance_arn: &str,
    permission_set_arn: &str,
) -> Vec<GrantedAssignment> {
    let mut out = existing.to_vec();
    for account in accounts {
        if !out.iter().any(|e| &e.account_id == account) {
            out.push(GrantedAssignment {
                account_id: account.clone(),
                permission_set_arn: permission_set_arn.to_owned(),
                instance_arn: instance_arn.to_owned(),
                state: AssignmentState::Pending,
                request_id: None,
                message: None,
                standing: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<GrantedAssignment> {
        serde_yaml::from_str(include_str!("../../../../tests/fixtures/assignments.yaml"))
            .expect("fixture")
    }

    fn entry(account: &str) -> GrantedAssignment {
        entries()
            .into_iter()
            .find(|e| e.account_id == account)
            .expect("account in fixture")
    }

    #[test]
    fn giving_creates_polls_and_recreates_failures() {
        assert_eq!(to_give(&entry("111111111111")), Next::Create);
        assert_eq!(
            to_give(&entry("222222222222")),
            Next::PollCreate("req-2".into())
        );
        assert_eq!(to_give(&entry("333333333333")), Next::Done);
        assert_eq!(to_give(&entry("444444444444")), Next::Create);
    }

    #[test]
    fn ending_deletes_everything_not_shared_and_polls_deletions() {
        assert_eq!(to_end(&entry("333333333333"), false), Next::Delete);
        assert_eq!(to_end(&entry("333333333333"), true), Next::Done);
        // A create still in flight may land: delete it too.
        assert_eq!(to_end(&entry("222222222222"), false), Next::Delete);
        assert_eq!(
            to_end(&entry("555555555555"), false),
            Next::PollDelete("req-5".into())
        );
        assert_eq!(to_end(&entry("666666666666"), false), Next::Done);
    }

    #[test]
    fn answers_move_the_record() {
        let mut e = entry("111111111111");
        created(
            &mut e,
            Progress::InProgress {
                request_id: "r".into(),
            },
        );
        assert_eq!(
            (e.state, e.request_id.as_deref()),
            (AssignmentState::Pending, Some("r"))
        );
        created(
            &mut e,
            Progress::Failed {
                request_id: "r".into(),
                reason: "no such account".into(),
            },
        );
        assert_eq!(e.state, AssignmentState::Failed);
        assert_eq!(e.message.as_deref(), Some("no such account"));
        assert_eq!(e.request_id, None, "a failure is created again, not polled");
        created(&mut e, Progress::Succeeded);
        assert_eq!(
            (e.state, e.message.as_deref()),
            (AssignmentState::Assigned, None)
        );
        deleted(
            &mut e,
            Progress::InProgress {
                request_id: "d".into(),
            },
        );
        assert_eq!(to_end(&e, false), Next::PollDelete("d".into()));
        deleted(
            &mut e,
            Progress::Failed {
                request_id: "d".into(),
                reason: "busy".into(),
            },
        );
        assert_eq!(
            (e.state, to_end(&e, false)),
            (AssignmentState::Assigned, Next::Delete)
        );
        deleted(&mut e, Progress::Succeeded);
        assert_eq!(e.state, AssignmentState::Removed);
    }

    #[test]
    fn a_grant_is_assigned_only_when_every_account_is() {
        let all = entries();
        assert_eq!(
            giving(&all),
            Overall::Failed(vec![("444444444444".into(), "ConflictException".into())])
        );
        let two = vec![entry("333333333333"), entry("222222222222")];
        assert_eq!(
            giving(&two),
            Overall::Assigning {
                pending: vec!["222222222222".into()]
            }
        );
        assert_eq!(giving(&[entry("333333333333")]), Overall::Assigned);
        assert_eq!(ending(&[entry("666666666666")]), Overall::Removed);
        assert_eq!(
            ending(&[entry("666666666666"), entry("555555555555")]),
            Overall::Removing {
                pending: vec!["555555555555".into()]
            }
        );
    }

    #[test]
    fn planning_keeps_recorded_requests_and_adds_new_accounts() {
        let existing = vec![entry("222222222222")];
        let planned = plan_entries(
            &existing,
            &["222222222222".into(), "777777777777".into()],
            "arn:aws:sso:::instance/ssoins-0000000000000001",
            "arn:aws:sso:::permissionSet/ssoins-0000000000000001/ps-0000000000000001",
        );
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0], existing[0], "the recorded request is kept");
        assert_eq!(
            (planned[1].state, planned[1].request_id.as_deref()),
            (AssignmentState::Pending, None)
        );
    }
}

#[cfg(test)]
mod tests_transitions;
