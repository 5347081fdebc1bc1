//! Account assignments: giving a permission set on each of the grant's accounts, and taking
//! it back. AWS works asynchronously, so each account's request id is written to the grant
//! before its answer is awaited, and every pass polls what is recorded (also after a
//! restart) rather than asking again. What to ask next is `assignments` (pure).

use crate::api::Time;
use kube::runtime::controller::Action;

mod settle;

use self::settle::settle_giving;
use super::{
    decide,
    giving::{GiveError, Giving},
    lookup::list_user_grants,
    pass::Pass,
};
use crate::{
    api::{
        AccountAssignmentAccess, BreakGlassGrantStatus, GrantPhase, GrantedAccess,
        GrantedAssignment,
    },
    assignments::{self, Next},
    aws::{self, Assignment, Progress, Role, Target},
    conditions::Outcome,
    controller::{context::failpoint, error::Error, journal::Journal, ledger},
    policy::{self, Denial, Eligibility},
    targets,
};

const RESOLVE: &str = "looking up the user, instance and permission set";
const ASSIGN: &str = "assigning the permission set";

/// Everything resolved before the first change: who, where, and on which accounts.
struct Resolved {
    user_id: String,
    instance_arn: String,
    permission_set_arn: String,
}

pub(super) fn assignment(e: &GrantedAssignment) -> Assignment {
    Assignment {
        instance_arn: e.instance_arn.clone(),
        account_id: e.account_id.clone(),
        permission_set_arn: e.permission_set_arn.clone(),
    }
}

/// Gives the permission set on every account of the grant; `Active` once AWS confirmed all.
pub(super) async fn give_accounts(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    giving: &Giving,
    access: &AccountAssignmentAccess,
) -> Result<Action, GiveError> {
    let (grant, ctx, target) = (pass.grant, pass.ctx, &giving.target);
    let first = decide::first(journal.status());
    let recorded = recorded(journal.status());
    let eligibility = giving.eligibility.as_ref();
    let resolved = match resolve_all(pass, access, target, journal.status(), eligibility).await {
        Ok(r) => r,
        Err(Failure::Denied(d)) => return Err(GiveError::Denied(d)),
        Err(Failure::Aws(e)) => return Err(pass.fail(journal, RESOLVE, e).await.into()),
    };
    let Some(policy) = pass.policy else {
        return Ok(Action::await_change());
    };

    // Record who, where and when before the first AWS change.
    let accounts = policy::accounts(&grant.spec, policy);
    let mut entries = assignments::plan_entries(
        &recorded,
        &accounts,
        &resolved.instance_arn,
        &resolved.permission_set_arn,
    );
    let (started_at, expires_at) = giving.window;
    let status = journal.status_mut();
    status.user_id = Some(resolved.user_id.clone());
    status.aws = Some(decide::session(target));
    status.granted_at = Some(Time(started_at));
    status.expires_at = Some(Time(expires_at));
    set_entries(status, &entries);
    if first {
        status.phase = Some(GrantPhase::Pending);
        let msg = format!("assigning on {}", accounts.join(", "));
        journal.settle(&Outcome::Granting { message: &msg });
        journal.checkpoint().await?;
    }

    let writer = match ctx.aws.sso(target, Role::Write).await {
        Ok(w) => w,
        Err(e) => return Err(pass.fail(journal, ASSIGN, e).await.into()),
    };
    let reader = match ctx.aws.sso(target, Role::Read).await {
        Ok(r) => r,
        Err(e) => return Err(pass.fail(journal, ASSIGN, e).await.into()),
    };
    let user_id = resolved.user_id.as_str();
    // One user's grants change AWS one at a time; with another live grant of the user, look
    // before creating (it may have assigned the account already: AWS would answer a
    // conflict, and a duplicate must never be made).
    let lock = ctx.user_lock(user_id).await;
    let guard = lock.lock().await;
    let others = list_user_grants(pass).await?.iter().any(|g| {
        g.metadata.uid != grant.metadata.uid
            && !g
                .status
                .as_ref()
                .is_some_and(|s| matches!(s.phase, Some(GrantPhase::Ended | GrantPhase::Denied)))
    });
    let mut held_back = false;
    for i in 0..entries.len() {
        let a = assignment(&entries[i]);
        let next = match assignments::to_give(&entries[i], !first) {
            Next::Create { look_first } => Next::Create {
                look_first: look_first || others,
            },
            other => other,
        };
        let answer = match next {
            Next::Done | Next::Delete | Next::PollDelete(_) => continue,
            Next::PollCreate(id) => {
                let answer = writer.creation(&a.instance_arn, &id).await;
                if !matches!(answer, Ok(Progress::InProgress { .. })) {
                    ctx.sso.finished(&a.instance_arn, &id);
                }
                answer.map(Some)
            }
            Next::Create { look_first } => {
                // The ledger before the change: whatever is assigned can be taken back even
                // if this grant is later deleted without its finalizer.
                let entry = ledger_entry(pass, target, &a, user_id);
                if let Err(source) = ctx.ledger.record(&entry).await {
                    return Err(GiveError::Failed(Error::Ledger {
                        grant: pass.me.clone(),
                        source,
                    }));
                }
                if look_first {
                    match reader.users(&a).await {
                        Ok(users) if users.contains(user_id) => Ok(Some(Progress::Succeeded)),
                        Ok(_) => create(pass, &writer, &a, user_id, &mut held_back).await,
                        Err(e) => Err(e),
                    }
                } else {
                    create(pass, &writer, &a, user_id, &mut held_back).await
                }
            }
        };
        let progress = match answer {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                set_entries(journal.status_mut(), &entries);
                return Err(pass.fail(journal, ASSIGN, e).await.into());
            }
        };
        let was_asked = entries[i].request_id.is_none();
        assignments::created(&mut entries[i], progress);
        if was_asked && entries[i].request_id.is_some() {
            // The request id is on the grant before its answer is awaited: a restart polls
            // it instead of asking AWS a second time.
            set_entries(journal.status_mut(), &entries);
            journal.checkpoint().await?;
            failpoint("after-create-assignment").await;
        }
    }
    drop(guard);
    set_entries(journal.status_mut(), &entries);
    settle_giving(pass, journal, giving, &entries, held_back).await
}

/// What stopped the look-ups before any change.
enum Failure {
    Denied(Denial),
    Aws(aws::Error),
}

async fn resolve_all(
    pass: &Pass<'_>,
    access: &AccountAssignmentAccess,
    target: &Target,
    status: &BreakGlassGrantStatus,
    eligibility: Option<&Eligibility>,
) -> Result<Resolved, Failure> {
    let (grant, ctx) = (pass.grant, pass.ctx);
    let reader = ctx
        .aws
        .store(target, Role::Read)
        .await
        .map_err(Failure::Aws)?;
    let user_id = match &status.user_id {
        Some(id) => id.clone(),
        None => reader
            .user_id(&grant.spec.user)
            .await
            .map_err(Failure::Aws)?,
    };
    let member_of_any = match decide::eligibility_groups(eligibility) {
        Some(groups) => Some(
            reader
                .member_of_any(&user_id, groups)
                .await
                .map_err(Failure::Aws)?,
        ),
        None => None,
    };
    if !decide::eligible(eligibility, member_of_any) {
        return Err(Failure::Denied(Denial::UserNotEligible {
            user: grant.spec.user.clone(),
            policy: grant.spec.policy.clone(),
        }));
    }
    let (instance_arn, permission_set_arn) = ctx
        .sso
        .resolve(ctx.aws.as_ref(), target, access)
        .await
        .map_err(Failure::Aws)?;
    Ok(Resolved {
        user_id,
        instance_arn,
        permission_set_arn,
    })
}

/// Creates one assignment unless AWS already has `MAX_OUTSTANDING` in progress on the
/// instance (then `None`: this account waits for the next pass).
async fn create(
    pass: &Pass<'_>,
    writer: &aws::Sso<'_>,
    a: &Assignment,
    user_id: &str,
    held_back: &mut bool,
) -> Result<Option<Progress>, aws::Error> {
    let ctx = pass.ctx;
    if !ctx.sso.may_create(&a.instance_arn) {
        *held_back = true;
        return Ok(None);
    }
    let progress = match writer.create(a, user_id).await {
        Ok(p) => p,
        // A create racing another for the same user (or one AWS already has): if AWS lists
        // the assignment, it is there; otherwise the retry's backoff waits it out.
        Err(e) if e.is_conflict() => {
            let listed = writer.users(a).await?;
            if listed.contains(user_id) {
                Progress::Succeeded
            } else {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    };
    if let Progress::InProgress { request_id } = &progress {
        ctx.sso.started(&a.instance_arn, request_id);
    }
    Ok(Some(progress))
}

fn ledger_entry(pass: &Pass<'_>, target: &Target, a: &Assignment, user_id: &str) -> ledger::Entry {
    let account = targets::Target::Account(targets::AccountTarget {
        instance_arn: a.instance_arn.clone(),
        account_id: a.account_id.clone(),
        permission_set_arn: a.permission_set_arn.clone(),
    });
    ledger::Entry::new(
        account,
        user_id,
        &pass.grant.spec.user,
        pass.key.to_string(),
        target,
    )
}

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
