//! Account assignments, given: resolve who and where, record the entries before the first
//! change, then plan one account's call (`decide::accounts`, pure), apply it, and plan the
//! next; finally record where the accounts stand. AWS works asynchronously, so each
//! account's request id is written to the grant before its answer is awaited, and every
//! pass polls what is recorded (also after a restart) rather than asking again.

use crate::api::Time;
use kube::runtime::controller::Action;

use super::{
    assignment::{recorded, set_entries},
    decide::{
        self,
        accounts::{self, assignment},
    },
    effect::{Assign, Effect},
    execute::{apply, execute},
    giving::{GiveError, Giving},
    pass::Pass,
};
use crate::{
    api::{AccountAssignmentAccess, BreakGlassGrantStatus, GrantPhase},
    assignments,
    aws::{self, ActAs, Assignment, Role},
    conditions::Outcome,
    controller::{journal::Journal, ledger, sso_state::MAX_OUTSTANDING},
    policy::{self, Denial, Eligibility},
    targets,
};

const RESOLVE: &str = "looking up the user, instance and permission set";

/// Everything resolved before the first change: who, where, and on which accounts.
struct Resolved {
    user_id: String,
    instance_arn: String,
    permission_set_arn: String,
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
    let entries = assignments::plan_entries(
        &recorded(journal.status()),
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

    let user_id = resolved.user_id;
    // One user's grants change AWS one at a time, each looking before it creates (another
    // grant may have assigned the account already, or the user holds it as standing
    // access: a duplicate must never be made).
    let guard = ctx.user_lock(&user_id).await;
    let mut held_back = false;
    let mut from = 0;
    while let Some((index, step)) = accounts::next_assign(
        &recorded(journal.status()),
        from,
        |instance| ctx.sso.may_create(instance),
        &mut held_back,
    ) {
        let a = assignment(&recorded(journal.status())[index]);
        let assign = Assign {
            index,
            entry: ledger_entry(pass, &a, &user_id),
            assignment: a,
            step,
            target: target.clone(),
            user_id: user_id.clone(),
        };
        apply(pass, journal, vec![Effect::Assign(Box::new(assign))]).await?;
        from = index + 1;
    }
    drop(guard);
    let entries = recorded(journal.status());
    let plan = accounts::conclude(
        &accounts::Giving {
            user: &grant.spec.user,
            entries: &entries,
            phase: journal.status().phase,
            held_back,
            max_outstanding: MAX_OUTSTANDING,
            selections: &giving.selections,
            pauses: giving.pauses,
            expires_at,
        },
        || ctx.sso.next_poll(&pass.key),
    );
    execute(pass, journal, plan)
        .await
        .map_err(GiveError::Failed)
}

/// What stopped the look-ups before any change.
enum Failure {
    Denied(Denial),
    Aws(aws::Error),
}

async fn resolve_all(
    pass: &Pass<'_>,
    access: &AccountAssignmentAccess,
    target: &ActAs,
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
        None => ctx
            .user_id(&reader, &target.identity_store_id, &grant.spec.user)
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

fn ledger_entry(pass: &Pass<'_>, a: &Assignment, user_id: &str) -> ledger::Entry {
    let account = targets::Target::Account(targets::AccountTarget {
        instance_arn: a.instance_arn.clone(),
        account_id: a.account_id.clone(),
        permission_set_arn: a.permission_set_arn.clone(),
    });
    ledger::Entry::new(
        account,
        user_id,
        &pass.grant.spec.user,
        &pass.key,
        &pass.grant.spec.policy,
    )
}
