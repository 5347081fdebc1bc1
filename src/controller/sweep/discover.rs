//! What to sweep: the targets of the policies in scope (groups resolved by name, account
//! targets by permission set), of grants that may hold access, and of the ledger.
//!
//! How to reach a target comes only from what the operator itself wrote or a policy says:
//! a policy's role, or a grant's recorded session (status, written by the operator). A
//! ledger entry names its policy, never a role: an entry whose policy is gone (or no
//! longer on that Identity Store or account) and that no grant reaches is reported, not
//! acted on.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use kube::ResourceExt;
use tracing::warn;

use super::{SWEEP_SESSION, Settings, Swept};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    aws::{self, Role},
    controller::{context::Context, ledger::Recorded},
    plan,
    targets::{self, AccountTarget, GroupTarget, Target},
};

fn aws_target(
    role_arn: &str,
    read_role_arn: Option<String>,
    external_id: Option<String>,
    region: Option<String>,
    store: &str,
) -> aws::ActAs {
    aws::ActAs {
        role_arn: role_arn.to_owned(),
        read_role_arn,
        external_id,
        region,
        identity_store_id: store.to_owned(),
        session_name: SWEEP_SESSION.into(),
    }
}

/// The account targets of an `accountAssignment` policy, its instance and permission set
/// resolved (cached; looked up as the read role otherwise). Unresolvable: not swept, said
/// (`None`).
async fn account_targets(
    ctx: &Context,
    p: &BreakGlassPolicy,
    access: &crate::api::AccountAssignmentAccess,
) -> Option<Vec<(Target, Swept)>> {
    let a = &p.spec.aws;
    let aws = aws_target(
        &a.role_arn,
        a.read_role_arn.clone(),
        a.external_id.clone(),
        a.region.clone(),
        &a.identity_store_id,
    );
    let (instance_arn, permission_set_arn) = match ctx
        .sso
        .resolve(ctx.aws.as_ref(), &aws, access)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            warn!(policy = %p.name_any(), error = %e, "cannot resolve the policy's permission set; not swept");
            return None;
        }
    };
    let targets = access
        .account_ids
        .iter()
        .map(|account_id| {
            let t = Target::Account(AccountTarget {
                instance_arn: instance_arn.clone(),
                account_id: account_id.clone(),
                permission_set_arn: permission_set_arn.clone(),
            });
            let swept = Swept {
                aws: aws.clone(),
                exclusive: access.exclusive,
                policies: vec![],
            };
            (t, swept)
        })
        .collect();
    Some(targets)
}

/// What to sweep, and what cannot be.
pub(super) struct Discovered {
    pub found: BTreeMap<Target, Swept>,
    /// The kinds of target some policy's could not be resolved for.
    pub failed: BTreeSet<&'static str>,
    /// Targets only the ledger names, with no policy or grant to act as.
    pub unreachable: Vec<Target>,
}

/// The role a ledger entry's `policy` acts as on `t`: only while that policy still names
/// the target's Identity Store (groups) or account (assignments).
fn policy_role(policies: &[BreakGlassPolicy], policy: &str, t: &Target) -> Option<aws::ActAs> {
    let p = policies.iter().find(|p| p.name_any() == policy)?;
    let a = &p.spec.aws;
    let reaches = match t {
        Target::Group(g) => {
            p.spec.access.group_membership.is_some() && a.identity_store_id == g.identity_store_id
        }
        Target::Account(t) => p
            .spec
            .access
            .account_assignment
            .as_ref()
            .is_some_and(|access| access.account_ids.contains(&t.account_id)),
    };
    reaches.then(|| {
        aws_target(
            &a.role_arn,
            a.read_role_arn.clone(),
            a.external_id.clone(),
            a.region.clone(),
            &a.identity_store_id,
        )
    })
}

/// The groups to sweep: those of the policies in scope, of grants that may hold access,
/// and of the ledger (a group no policy names any more can still hold what was added).
pub(super) async fn discover(
    ctx: &Context,
    policies: &[BreakGlassPolicy],
    grants: &[Arc<BreakGlassGrant>],
    recorded: &Recorded,
    settings: &Settings,
) -> Discovered {
    let used: BTreeSet<&str> = grants.iter().map(|g| g.spec.policy.as_str()).collect();
    let mut found: BTreeMap<Target, Swept> = BTreeMap::new();
    let mut failed = BTreeSet::new();
    for p in policies {
        if settings.namespace.is_some() && !used.contains(p.name_any().as_str()) {
            continue;
        }
        if let Some(access) = &p.spec.access.account_assignment {
            let Some(targets) = account_targets(ctx, p, access).await else {
                failed.insert("account");
                continue;
            };
            for (key, swept) in targets {
                let entry = found.entry(key).or_insert_with(|| Swept {
                    exclusive: false,
                    policies: vec![],
                    ..swept
                });
                entry.exclusive |= access.exclusive;
                entry.policies.push(p.clone());
            }
        }
        let Some(group) = &p.spec.access.group_membership else {
            continue;
        };
        let a = &p.spec.aws;
        let target = aws_target(
            &a.role_arn,
            a.read_role_arn.clone(),
            a.external_id.clone(),
            a.region.clone(),
            &a.identity_store_id,
        );
        let group_id = match (&group.group_id, &group.group_name) {
            (Some(id), _) => id.clone(),
            (None, Some(name)) => match ctx.cached_group_id(&a.identity_store_id, name) {
                Some(id) => id,
                None => {
                    let looked = match ctx.aws.store(&target, Role::Read).await {
                        Ok(reader) => reader.group_id(name).await,
                        Err(e) => Err(e),
                    };
                    match looked {
                        Ok(id) => {
                            ctx.cache_group_id(&a.identity_store_id, name, Some(&id));
                            id
                        }
                        Err(e) => {
                            warn!(policy = %p.name_any(), error = %e, "cannot find the policy's group; not swept");
                            failed.insert("group");
                            continue;
                        }
                    }
                }
            },
            (None, None) => continue,
        };
        let key = Target::Group(GroupTarget {
            identity_store_id: a.identity_store_id.clone(),
            group_id,
        });
        let entry = found.entry(key).or_insert_with(|| Swept {
            aws: target,
            exclusive: false,
            policies: vec![],
        });
        entry.exclusive |= group.exclusive;
        entry.policies.push(p.clone());
    }
    // Targets no policy in scope names (any more): as the session a grant recorded.
    for g in grants
        .iter()
        .filter(|g| plan::may_hold_access(g.status.as_ref()))
    {
        let Some(session) = g.status.as_ref().and_then(|s| s.aws.as_ref()) else {
            continue;
        };
        for (t, _, _) in targets::recorded_targets(g.status.as_ref()) {
            found.entry(t.clone()).or_insert_with(|| Swept {
                aws: aws_target(
                    &session.role_arn,
                    None,
                    session.external_id.clone(),
                    session.region.clone(),
                    match &t {
                        Target::Group(g) => &g.identity_store_id,
                        Target::Account(_) => "",
                    },
                ),
                exclusive: false,
                policies: vec![],
            });
        }
    }
    // Then as the current role of the policy a ledger entry names.
    let mut unreachable = vec![];
    for (t, entries) in &recorded.by_target {
        if found.contains_key(t) {
            continue;
        }
        match entries
            .values()
            .find_map(|e| policy_role(policies, &e.policy, t))
        {
            Some(aws) => {
                found.insert(
                    t.clone(),
                    Swept {
                        aws,
                        exclusive: false,
                        policies: vec![],
                    },
                );
            }
            None => unreachable.push(t.clone()),
        }
    }
    Discovered {
        found,
        failed,
        unreachable,
    }
}
