//! Which permission sets guard a grant, and as whom the guard acts on them: an account
//! assignment's own permission set (recorded on the grant), a group's named ones or those
//! its account assignments use (ListAccountAssignmentsForPrincipal). Once recorded on the
//! grant they are kept for its life, so a policy edit cannot leave a statement unowned.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;

use super::decide::{PsKey, Scope, Seen};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicySpec, GrantPhase, GuardMode, GuardState},
    aws::{self, ActAs, Role},
    controller::context::Context,
};

/// The session name of the guard's changes in CloudTrail.
pub(crate) const SESSION_NAME: &str = "breakglass-guard";

/// What a group's permission sets resolved to, kept for `ttl` (the group's assignments may
/// change; named sets may be recreated).
#[derive(Default)]
pub(crate) struct Resolved {
    groups: Mutex<HashMap<String, (BTreeSet<PsKey>, Instant)>>,
}

/// The guard's view of a grant, or `None` when it never had access (Pending, Denied).
pub(crate) async fn seen(
    ctx: &Context,
    resolved: &Resolved,
    ttl: Duration,
    grant: &BreakGlassGrant,
    policy: Option<&BreakGlassPolicySpec>,
) -> Option<(Seen, Option<ActAs>)> {
    let status = grant.status.as_ref()?;
    let active = match status.phase? {
        GrantPhase::Active => true,
        GrantPhase::Ended => false,
        GrantPhase::Pending | GrantPhase::Denied => return None,
    };
    let user_id = status.user_id.clone()?;
    let granted_at = status.granted_at.as_ref()?.0;
    let act = act_as(grant, policy);
    let scope = scope(ctx, resolved, ttl, grant, policy, act.as_ref()).await;
    Some((
        Seen {
            key: grant.key(),
            user_id,
            active,
            granted_at,
            expires_at: status.expires_at.as_ref().map(|t| t.0),
            ended_at: status.ended_at.as_ref().map(|t| t.0),
            sessions: status.sessions.clone(),
            scope,
        },
        act,
    ))
}

/// As the policy's change role (the grant's recorded one once the policy is gone), in a
/// session of the guard's own.
fn act_as(grant: &BreakGlassGrant, policy: Option<&BreakGlassPolicySpec>) -> Option<ActAs> {
    let mut act = crate::controller::grant::target(grant, policy)?;
    if let Some(p) = policy {
        act.role_arn = p.aws.role_arn.clone();
        act.external_id = p.aws.external_id.clone();
        act.region = p.aws.region.clone();
    }
    act.session_name = SESSION_NAME.into();
    Some(act)
}

async fn scope(
    ctx: &Context,
    resolved: &Resolved,
    ttl: Duration,
    grant: &BreakGlassGrant,
    policy: Option<&BreakGlassPolicySpec>,
    act: Option<&ActAs>,
) -> Scope {
    let Some(status) = grant.status.as_ref() else {
        return no_sets("the grant has no record");
    };
    let membership = status
        .access
        .as_ref()
        .and_then(|a| a.group_membership.as_ref());
    let standing_assignment = status
        .access
        .as_ref()
        .is_some_and(|a| a.account_assignments.iter().any(|e| e.standing));
    if membership.is_some_and(|m| m.standing) || standing_assignment {
        return Scope::Skip {
            reason: "StandingAccess".into(),
            message: "the user had this access before the grant: standing sessions are not cut"
                .into(),
        };
    }
    if let Some(s) = &status.sessions {
        if s.state == GuardState::Skipped {
            return Scope::Skip {
                reason: s.reason.clone().unwrap_or_else(|| "Skipped".into()),
                message: s.message.clone().unwrap_or_default(),
            };
        }
        if !s.permission_sets.is_empty() {
            return Scope::Guard(
                s.permission_sets
                    .iter()
                    .map(|e| PsKey {
                        instance_arn: e.instance_arn.clone(),
                        permission_set_arn: e.permission_set_arn.clone(),
                    })
                    .collect(),
            );
        }
    }
    let assigned: BTreeSet<PsKey> = status
        .access
        .as_ref()
        .map(|a| a.account_assignments.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|a| PsKey {
            instance_arn: a.instance_arn.clone(),
            permission_set_arn: a.permission_set_arn.clone(),
        })
        .collect();
    let Some(policy) = policy else {
        return match assigned.is_empty() {
            true => no_sets("the policy is gone and no permission set was recorded"),
            false => Scope::Guard(assigned),
        };
    };
    let guard = policy.access.guard();
    if guard.guard == GuardMode::Off {
        return Scope::Skip {
            reason: "GuardOff".into(),
            message: "the policy turns the session guard off".into(),
        };
    }
    if !assigned.is_empty() {
        return Scope::Guard(assigned);
    }
    let (Some(m), Some(act)) = (membership, act) else {
        return no_sets("no access recorded");
    };
    let cache_key = format!(
        "{}|{}|{:?}",
        m.identity_store_id, m.group_id, guard.permission_sets
    );
    if let Some(sets) = resolved.get(&cache_key, ttl) {
        return guarded(sets);
    }
    match group_sets(ctx, act, &m.group_id, &guard.permission_sets).await {
        Ok(sets) => {
            resolved.put(cache_key, sets.clone());
            guarded(sets)
        }
        Err(e) => Scope::Unresolved {
            reason: super::permission_set::reason(&e),
            message: format!("resolving the permission sets to guard: {e}"),
        },
    }
}

fn guarded(sets: BTreeSet<PsKey>) -> Scope {
    if sets.is_empty() {
        return no_sets("the group has no account assignment");
    }
    Scope::Guard(sets)
}

fn no_sets(why: &str) -> Scope {
    Scope::Skip {
        reason: "NoPermissionSets".into(),
        message: format!("nothing to guard: {why}"),
    }
}

/// The permission sets a group's access goes through: the named ones (names or ARNs) on
/// the Identity Store's instance, else those its account assignments use.
async fn group_sets(
    ctx: &Context,
    act: &ActAs,
    group_id: &str,
    named: &[String],
) -> Result<BTreeSet<PsKey>, aws::Error> {
    let sso = ctx.aws.sso(act, Role::Read).await?;
    let instance_arn = match ctx.sso.instance(&act.role_arn, act.region.as_deref()) {
        Some(arn) => arn,
        None => {
            let found = sso.instances().await?;
            let Some((arn, _)) = found
                .iter()
                .find(|(_, store)| *store == act.identity_store_id)
                .or(found.first())
            else {
                return Err(aws::Error::InstanceNotFound(
                    "the role's account has no IAM Identity Center instance".into(),
                ));
            };
            ctx.sso
                .remember_instance(&act.role_arn, act.region.as_deref(), arn);
            arn.clone()
        }
    };
    let arns: BTreeSet<String> = if named.is_empty() {
        sso.group_permission_sets(&instance_arn, group_id).await?
    } else {
        let mut arns = BTreeSet::new();
        for name in named {
            if name.starts_with("arn:") {
                arns.insert(name.clone());
                continue;
            }
            let arn = match ctx.sso.permission_set(&instance_arn, name) {
                Some(arn) => arn,
                None => {
                    let arn = sso.permission_set_arn(&instance_arn, name).await?;
                    ctx.sso.remember_permission_set(&instance_arn, name, &arn);
                    arn
                }
            };
            arns.insert(arn);
        }
        arns
    };
    Ok(arns
        .into_iter()
        .map(|permission_set_arn| PsKey {
            instance_arn: instance_arn.clone(),
            permission_set_arn,
        })
        .collect())
}

impl Resolved {
    fn get(&self, key: &str, ttl: Duration) -> Option<BTreeSet<PsKey>> {
        let map = self.groups.lock().ok()?;
        map.get(key)
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(sets, _)| sets.clone())
    }

    fn put(&self, key: String, sets: BTreeSet<PsKey>) {
        if let Ok(mut map) = self.groups.lock() {
            map.insert(key, (sets, Instant::now()));
        }
    }
}

/// Whether an Ended grant's deletion waits for the guard: it had access, and its cut is
/// neither done nor known needless — but never longer than `HOLD` after its end (a guard
/// that cannot run must not keep grants from being deleted; AWS's expiry statement still
/// ends the access, and the guard cuts what it finds unowned).
pub(crate) fn holds_deletion(grant: &BreakGlassGrant, now: Timestamp) -> bool {
    const HOLD: k8s_openapi::jiff::SignedDuration =
        k8s_openapi::jiff::SignedDuration::from_secs(120);
    let Some(status) = grant.status.as_ref() else {
        return false;
    };
    if status.granted_at.is_none() || status.user_id.is_none() {
        return false;
    }
    if let Some(ended) = &status.ended_at
        && ended.0.checked_add(HOLD).is_ok_and(|t| t <= now)
    {
        return false;
    }
    let standing = status.access.as_ref().is_some_and(|a| {
        a.group_membership.as_ref().is_some_and(|m| m.standing)
            || a.account_assignments.iter().any(|e| e.standing)
    });
    let done = status.sessions.as_ref().is_some_and(|s| {
        matches!(
            s.state,
            GuardState::Revoked | GuardState::Skipped | GuardState::Failed
        ) && status.phase == Some(GrantPhase::Ended)
    });
    !standing && !done
}
