//! Account assignments: giving a permission set on each of the grant's accounts, and taking
//! it back. AWS works asynchronously, so each account's request id is written to the grant
//! before its answer is awaited, and every pass polls what is recorded (also after a
//! restart) rather than asking again. What to ask next is `assignments` (pure).

use crate::api::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;

mod settle;

use self::settle::settle_giving;
use super::{
    keep::{GiveError, keep},
    lookup::list_user_grants,
    status::{fail, settle, write_status},
};
use crate::{
    api::{
        AccountAssignmentAccess, AwsSession, BreakGlassGrant, BreakGlassGrantStatus,
        BreakGlassPolicySpec, GrantPhase, GrantedAccess, GrantedAssignment,
    },
    assignments::{self, Next, Overall},
    aws::{self, Assignment, Progress, Role, Target},
    conditions::Outcome,
    controller::{
        context::{Context, failpoint, key},
        error::Error,
        ledger,
    },
    pause::Selection,
    policy::{self, Denial, Eligibility},
    targets,
};

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
#[allow(clippy::too_many_arguments)]
pub(super) async fn give_accounts(
    grant: &BreakGlassGrant,
    ctx: &Context,
    policy: &BreakGlassPolicySpec,
    access: &AccountAssignmentAccess,
    target: &Target,
    selections: &[Selection],
    eligibility: Option<Eligibility>,
    (started_at, expires_at): (Timestamp, Timestamp),
    now: &Time,
) -> Result<Action, GiveError> {
    let mut status = grant.status.clone().unwrap_or_default();
    let first = status.expires_at.is_none();
    let recorded = recorded(&status);
    // Already Active with every account assigned: AWS is the sweep's to compare.
    if status.phase == Some(GrantPhase::Active)
        && !recorded.is_empty()
        && assignments::giving(&recorded) == Overall::Assigned
    {
        return keep(grant, ctx, selections, status, expires_at, now)
            .await
            .map_err(GiveError::Failed);
    }
    let resolved = match resolve_all(grant, ctx, access, target, &status, eligibility).await {
        Ok(r) => r,
        Err(Failure::Denied(d)) => return Err(GiveError::Denied(d)),
        Err(Failure::Aws(e)) => return Err(fail(grant, ctx, status, e, now).await.into()),
    };

    // Record who, where and when before the first AWS change.
    let accounts = policy::accounts(&grant.spec, policy);
    let mut entries = assignments::plan_entries(
        &recorded,
        &accounts,
        &resolved.instance_arn,
        &resolved.permission_set_arn,
    );
    status.user_id = Some(resolved.user_id.clone());
    status.aws = Some(AwsSession {
        role_arn: target.role_arn.clone(),
        session_name: target.session_name.clone(),
        region: target.region.clone(),
        external_id: target.external_id.clone(),
    });
    status.granted_at = Some(Time(started_at));
    status.expires_at = Some(Time(expires_at));
    set_entries(&mut status, &entries);
    if first {
        status.phase = Some(GrantPhase::Pending);
        let msg = format!("assigning on {}", accounts.join(", "));
        settle(
            &mut status,
            grant,
            &Outcome::Granting { message: &msg },
            now,
        );
        write_status(grant, ctx, &status).await?;
    }

    let writer = match ctx.aws.sso(target, Role::Write).await {
        Ok(w) => w,
        Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
    };
    let reader = match ctx.aws.sso(target, Role::Read).await {
        Ok(r) => r,
        Err(e) => return Err(fail(grant, ctx, status, e, now).await.into()),
    };
    let user_id = resolved.user_id.as_str();
    // One user's grants change AWS one at a time; with another live grant of the user, look
    // before creating (it may have assigned the account already: AWS would answer a
    // conflict, and a duplicate must never be made).
    let lock = ctx.user_lock(user_id).await;
    let guard = lock.lock().await;
    let others = list_user_grants(grant, ctx).await?.iter().any(|g| {
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
                if let Err(source) = ctx
                    .ledger
                    .record(&ledger_entry(grant, target, &a, user_id))
                    .await
                {
                    return Err(GiveError::Failed(Error::Ledger {
                        grant: key(grant),
                        source,
                    }));
                }
                if look_first {
                    match reader.users(&a).await {
                        Ok(users) if users.contains(user_id) => Ok(Some(Progress::Succeeded)),
                        Ok(_) => create(ctx, &writer, &a, user_id, &mut held_back).await,
                        Err(e) => Err(e),
                    }
                } else {
                    create(ctx, &writer, &a, user_id, &mut held_back).await
                }
            }
        };
        let progress = match answer {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                set_entries(&mut status, &entries);
                return Err(fail(grant, ctx, status, e, now).await.into());
            }
        };
        let was_asked = entries[i].request_id.is_none();
        assignments::created(&mut entries[i], progress);
        if was_asked && entries[i].request_id.is_some() {
            // The request id is on the grant before its answer is awaited: a restart polls
            // it instead of asking AWS a second time.
            set_entries(&mut status, &entries);
            write_status(grant, ctx, &status).await?;
            failpoint("after-create-assignment").await;
        }
    }
    drop(guard);
    set_entries(&mut status, &entries);
    settle_giving(
        grant, ctx, selections, status, &entries, expires_at, now, held_back,
    )
    .await
}

/// What stopped the look-ups before any change.
enum Failure {
    Denied(Denial),
    Aws(aws::Error),
}

async fn resolve_all(
    grant: &BreakGlassGrant,
    ctx: &Context,
    access: &AccountAssignmentAccess,
    target: &Target,
    status: &BreakGlassGrantStatus,
    eligibility: Option<Eligibility>,
) -> Result<Resolved, Failure> {
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
    if let Some(Eligibility::ByGroup(groups)) = &eligibility
        && !reader
            .member_of_any(&user_id, groups)
            .await
            .map_err(Failure::Aws)?
    {
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
    ctx: &Context,
    writer: &aws::Sso<'_>,
    a: &Assignment,
    user_id: &str,
    held_back: &mut bool,
) -> Result<Option<Progress>, aws::Error> {
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

fn ledger_entry(
    grant: &BreakGlassGrant,
    target: &Target,
    a: &Assignment,
    user_id: &str,
) -> ledger::Entry {
    let account = targets::Target::Account(targets::AccountTarget {
        instance_arn: a.instance_arn.clone(),
        account_id: a.account_id.clone(),
        permission_set_arn: a.permission_set_arn.clone(),
    });
    ledger::Entry::new(account, user_id, &grant.spec.user, key(grant), target)
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
