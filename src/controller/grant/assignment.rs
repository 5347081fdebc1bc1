//! Applying the account effects: one account's create, delete or poll on AWS, its answer
//! recorded on the grant's entry, a new request id written before anything awaits it; and
//! AWS's failures shown per account. What to call is decided in `decide::accounts`.

use super::{
    effect::{Announcement, Assign, AssignStep, Unassign, UnassignStep},
    lookup::with_role_fallback,
    pass::Pass,
};
use crate::{
    api::{AssignmentState, BreakGlassGrantStatus, GrantedAccess, GrantedAssignment},
    assignments,
    aws::{self, Progress, Role},
    conditions::Outcome,
    controller::{
        context::failpoint,
        error::{AccountFailure, Error, Failures},
        grant::decide::accounts::newly_asked,
        journal::Journal,
    },
};

const ASSIGN: &str = "assigning the permission set";
const UNASSIGN: &str = "removing the assignment";

/// The recorded account assignments.
pub(super) fn recorded(status: &BreakGlassGrantStatus) -> Vec<GrantedAssignment> {
    status
        .access
        .as_ref()
        .map(|a| a.account_assignments.clone())
        .unwrap_or_default()
}

pub(super) fn set_entries(status: &mut BreakGlassGrantStatus, entries: &[GrantedAssignment]) {
    let access = status.access.get_or_insert(GrantedAccess {
        group_membership: None,
        account_assignments: vec![],
    });
    access.account_assignments = entries.to_vec();
}

/// Records `answer` on the entry of `index`; whether it newly carries a request id.
fn record(
    status: &mut BreakGlassGrantStatus,
    index: usize,
    answer: impl FnOnce(&mut GrantedAssignment),
) -> bool {
    let Some(entry) = status
        .access
        .as_mut()
        .and_then(|a| a.account_assignments.get_mut(index))
    else {
        return false;
    };
    let before = entry.request_id.clone();
    answer(entry);
    newly_asked(before.as_deref(), entry)
}

pub(super) async fn assign(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    a: Assign,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let ledger_error = |source| Error::Ledger {
        grant: pass.me.clone(),
        source,
    };
    let answer = match &a.step {
        AssignStep::Poll(id) => poll_create(pass, &a, id).await,
        AssignStep::Create => {
            // Look first: an assignment AWS lists that the ledger has no record of was there
            // before the grant (standing access): the user's own, never taken back.
            let listed = match assigned(pass, &a).await {
                Ok(listed) => listed,
                Err(e) => return Err(pass.fail(journal, ASSIGN, e).await),
            };
            if listed {
                let ours = ctx
                    .ledger
                    .has(&a.entry.target, &a.user_id)
                    .await
                    .map_err(ledger_error)?;
                if !ours {
                    record(journal.status_mut(), a.index, |e| {
                        assignments::created(e, Progress::Succeeded);
                        e.standing = true;
                    });
                    return Ok(());
                }
                Ok(Progress::Succeeded)
            } else {
                // The ledger before the change: whatever is assigned can be taken back even
                // if this grant is later deleted without its finalizer.
                ctx.ledger.record(&a.entry).await.map_err(ledger_error)?;
                create(pass, &a).await
            }
        }
    };
    let progress = match answer {
        Ok(p) => p,
        Err(e) => return Err(pass.fail(journal, ASSIGN, e).await),
    };
    if record(journal.status_mut(), a.index, |e| {
        assignments::created(e, progress)
    }) {
        // The request id is on the grant before its answer is awaited: a restart polls it
        // instead of asking AWS a second time.
        journal.checkpoint().await?;
        failpoint("after-create-assignment").await;
    }
    Ok(())
}

async fn poll_create(pass: &Pass<'_>, a: &Assign, id: &str) -> Result<Progress, aws::Error> {
    let ctx = pass.ctx;
    let instance = &a.assignment.instance_arn;
    let answer = ctx
        .aws
        .sso(&a.target, Role::Write)
        .await?
        .creation(instance, id)
        .await;
    if !matches!(answer, Ok(Progress::InProgress { .. })) {
        ctx.sso.finished(instance, id);
    }
    answer
}

/// Whether AWS lists the user's assignment already.
async fn assigned(pass: &Pass<'_>, a: &Assign) -> Result<bool, aws::Error> {
    let reader = pass.ctx.aws.sso(&a.target, Role::Read).await?;
    Ok(reader.users(&a.assignment).await?.contains(&a.user_id))
}

/// Creates the assignment (the caller has looked: it was not there).
async fn create(pass: &Pass<'_>, a: &Assign) -> Result<Progress, aws::Error> {
    let ctx = pass.ctx;
    let (assignment, user_id) = (&a.assignment, a.user_id.as_str());
    let writer = ctx.aws.sso(&a.target, Role::Write).await?;
    let progress = match writer.create(assignment, user_id).await {
        Ok(p) => p,
        // A create racing another for the same user (or one AWS already has): if AWS lists
        // the assignment, it is there; otherwise the retry's backoff waits it out.
        Err(e) if e.is_conflict() => {
            if writer.users(assignment).await?.contains(user_id) {
                Progress::Succeeded
            } else {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    };
    if let Progress::InProgress { request_id } = &progress {
        ctx.sso.started(&assignment.instance_arn, request_id);
    }
    Ok(progress)
}

pub(super) async fn unassign(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    u: Unassign,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let answer = match &u.step {
        UnassignStep::Poll(id) => {
            with_role_fallback(pass, &u.target, |t| {
                let (instance, id) = (u.assignment.instance_arn.clone(), id.clone());
                async move {
                    let sso = ctx.aws.sso(&t, Role::Write).await?;
                    sso.deletion(&instance, &id).await
                }
            })
            .await
        }
        UnassignStep::Delete => {
            with_role_fallback(pass, &u.target, |t| {
                let (a, user_id) = (u.assignment.clone(), u.user_id.clone());
                async move {
                    ctx.aws
                        .sso(&t, Role::Write)
                        .await?
                        .delete(&a, &user_id)
                        .await
                }
            })
            .await
        }
    };
    let progress = match answer {
        Ok(p) => p,
        Err(e) => return Err(pass.fail(journal, UNASSIGN, e).await),
    };
    if record(journal.status_mut(), u.index, |e| {
        assignments::deleted(e, progress)
    }) {
        // The request id before it is polled: a restart polls instead of asking again.
        journal.checkpoint().await?;
    }
    Ok(())
}

/// Shows AWS's failures on the grant (per account, with its reason) and returns the error
/// that retries with backoff.
pub(super) async fn assignment_failed(pass: &Pass<'_>, journal: &mut Journal<'_>) -> Error {
    let failures: Vec<AccountFailure> = recorded(journal.status())
        .iter()
        .filter(|e| e.state == AssignmentState::Failed)
        .map(|e| AccountFailure {
            account_id: e.account_id.clone(),
            reason: e.message.clone(),
        })
        .collect();
    let msg = format!(
        "AWS failed the assignment on {}; retrying",
        Failures(&failures)
    );
    journal.settle(&Outcome::Failed {
        reason: "AssignmentFailed",
        message: &msg,
    });
    if journal.commit_failure().await {
        pass.announce(&Announcement::warning("AssignmentFailed", "Grant", msg))
            .await;
    }
    Error::Assignment {
        grant: pass.me.clone(),
        failures,
    }
}
