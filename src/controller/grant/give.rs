//! Giving access: load what the decision needs (the route's facts, the required pause
//! targets, the look-ups), plan (pure, `decide`), apply (`execute`).

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;

use super::{
    assign::give_accounts,
    decide::{self, Facts, Membership, Route},
    effect::Plan,
    execute::execute,
    giving::{GiveError, Giving},
    lookup::target,
    pass::Pass,
};
use crate::{
    api::{BreakGlassPolicySpec, GroupMembershipAccess},
    aws::Role,
    controller::{
        context::FIELD_MANAGER,
        journal::{Journal, instance},
    },
    pause::{self, Selection, executor as pausing},
    policy::{Denial, Eligibility},
};

pub(crate) async fn give(
    pass: &Pass<'_>,
    policy: &BreakGlassPolicySpec,
    eligibility: Option<Eligibility>,
    window: (Timestamp, Timestamp),
) -> Result<Action, GiveError> {
    let grant = pass.grant;
    let Some(target) = target(grant, Some(policy)) else {
        return Ok(Action::await_change());
    };
    let mut journal = pass.journal();
    let selections = pause::selections(policy);
    let pauses = !selections.is_empty() || !journal.status().paused_targets.is_empty();
    let expires_at = window.1;
    let echo = pass.ctx.own_writes.is_echo(
        &instance(grant),
        grant.metadata.resource_version.as_deref(),
        expires_at,
    );
    let giving = Giving {
        target,
        selections,
        pauses,
        eligibility,
        window,
    };
    let mut required = giving.selections.iter().any(|s| s.required);
    loop {
        let facts = Facts {
            status: journal.status(),
            group: policy.access.group_membership.as_ref(),
            accounts: policy.access.account_assignment.as_ref(),
            identity_store_id: &giving.target.identity_store_id,
            echo,
            required,
        };
        let plan = match decide::route(&facts) {
            Route::Keep if echo => decide::echo(&giving.selections, pauses, expires_at),
            Route::Keep => decide::keep(&giving.selections, pauses, expires_at),
            Route::SurveyRequired => {
                let work = survey_required(pass, &giving.selections, &journal).await;
                match decide::wait_for_required(journal.status_mut(), work) {
                    Some(wait) => wait,
                    None => {
                        required = false;
                        continue;
                    }
                }
            }
            Route::Group => {
                let Some(group) = &policy.access.group_membership else {
                    return Ok(Action::await_change());
                };
                match plan_group(pass, &mut journal, &giving, group).await? {
                    Some(plan) => plan,
                    None => return Ok(Action::await_change()),
                }
            }
            Route::Accounts => {
                let Some(accounts) = &policy.access.account_assignment else {
                    return Ok(Action::await_change());
                };
                return give_accounts(pass, &mut journal, &giving, accounts).await;
            }
            Route::Nothing => return Ok(Action::await_change()),
        };
        return execute(pass, &mut journal, plan)
            .await
            .map_err(GiveError::Failed);
    }
}

/// The `required` pause targets as the cluster has them now.
async fn survey_required(
    pass: &Pass<'_>,
    selections: &[Selection],
    journal: &Journal<'_>,
) -> Vec<pausing::Work> {
    let required: Vec<Selection> = selections.iter().filter(|s| s.required).cloned().collect();
    pausing::survey(
        &pass.ctx.client,
        &pass.ctx.kinds,
        &required,
        &pass.key.to_string(),
        &journal.status().paused_targets,
        FIELD_MANAGER,
    )
    .await
}

/// Looks up the user and the group (ids recorded by an earlier pass are stable; group ids
/// are cached per store) and whether the user is eligible, then plans the membership.
/// `None`: the policy names no group.
async fn plan_group(
    pass: &Pass<'_>,
    journal: &mut Journal<'_>,
    giving: &Giving,
    group: &GroupMembershipAccess,
) -> Result<Option<Plan>, GiveError> {
    const OP: &str = "looking up the user and group";
    let (ctx, grant, target) = (pass.ctx, pass.grant, &giving.target);
    let reader = match ctx.aws.store(target, Role::Read).await {
        Ok(c) => c,
        Err(e) => return Err(pass.fail(journal, OP, e).await.into()),
    };
    let recorded = decide::recorded_ids(journal.status(), &target.identity_store_id);
    let (user_id, group_id) = match recorded {
        Some(ids) => ids,
        None => {
            let user_id = match ctx
                .user_id(&reader, &target.identity_store_id, &grant.spec.user)
                .await
            {
                Ok(u) => u,
                Err(e) => return Err(pass.fail(journal, OP, e).await.into()),
            };
            let group_id = match (&group.group_id, &group.group_name) {
                (Some(id), _) => id.clone(),
                (None, Some(name)) => match ctx.cached_group_id(&target.identity_store_id, name) {
                    Some(id) => id,
                    None => match reader.group_id(name).await {
                        Ok(id) => {
                            ctx.cache_group_id(&target.identity_store_id, name, Some(&id));
                            id
                        }
                        Err(e) => return Err(pass.fail(journal, OP, e).await.into()),
                    },
                },
                (None, None) => return Ok(None),
            };
            (user_id, group_id)
        }
    };
    let member_of_any = match decide::eligibility_groups(giving.eligibility.as_ref()) {
        Some(groups) => match reader.member_of_any(&user_id, groups).await {
            Ok(answer) => Some(answer),
            Err(e) => return Err(pass.fail(journal, OP, e).await.into()),
        },
        None => None,
    };
    if !decide::eligible(giving.eligibility.as_ref(), member_of_any) {
        return Err(GiveError::Denied(Denial::UserNotEligible {
            user: grant.spec.user.clone(),
            policy: grant.spec.policy.clone(),
        }));
    }
    let membership = Membership {
        user: &grant.spec.user,
        grant_key: &pass.key,
        policy: &grant.spec.policy,
        target,
        group,
        user_id,
        group_id,
        window: giving.window,
        selections: &giving.selections,
        pauses: giving.pauses,
    };
    Ok(Some(decide::membership(membership, journal.status_mut())))
}
