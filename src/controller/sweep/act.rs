//! Acting on a target's drift: taking back what no grant backs (confirmed on a fresh read),
//! reporting what the operator never added, ending grants whose access was removed on AWS,
//! and forgetting ledger entries with nothing left to take back.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::{events::EventType, reflector::ObjectRef},
};
use serde_json::json;
use tracing::{info, warn};

use super::{Settings, Swept, sweep_error};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    aws::{self, Role},
    controller::{context::Context, error::SweepError as Error, ledger::Entry},
    plan::{self, REVOKED_ON_AWS},
    targets::{self, Findings, Target},
};

/// Holders of every target on a fresh read of the grants: what a removal is decided on.
async fn fresh_holders(ctx: &Context, settings: &Settings) -> Result<targets::Holders, Error> {
    let api: Api<BreakGlassGrant> = match &settings.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::Read {
            what: "re-reading the grants before removing members",
            source,
        })?;
    Ok(targets::holders(list.items.iter().map(targets::access)))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn act(
    ctx: &Context,
    t: &Target,
    swept: &Swept,
    drift: &Findings,
    entries: &BTreeMap<String, Entry>,
    fresh: &mut Option<targets::Holders>,
    seen_unmanaged: &mut BTreeSet<(Target, String)>,
    settings: &Settings,
    policies: &[BreakGlassPolicy],
    listed_at: Timestamp,
) -> Result<(), Error> {
    let mut removals: Vec<(&targets::Member, &'static str)> =
        drift.orphans.iter().map(|m| (m, "orphan")).collect();
    if drift.remove_unmanaged {
        removals.extend(drift.unmanaged.iter().map(|m| (m, "unmanaged")));
    } else {
        for m in &drift.unmanaged {
            if seen_unmanaged.insert((t.clone(), m.user_id.clone())) {
                ctx.metrics.drift("unmanaged", 1);
                let note = format!(
                    "user {} has {t} but no grant gave it and the operator never added it; left alone (not exclusive)",
                    m.user_id
                );
                for p in &swept.policies {
                    ctx.publish(
                        &p.object_ref(&()),
                        EventType::Warning,
                        "UnmanagedMember",
                        "Sweep",
                        &note,
                    )
                    .await;
                }
            }
        }
    }
    if !removals.is_empty() {
        if fresh.is_none() {
            *fresh = Some(fresh_holders(ctx, settings).await?);
        }
        let backed = fresh.as_ref().and_then(|h| h.get(t));
        for (m, kind) in removals {
            if backed.is_some_and(|b| b.contains_key(&m.user_id)) {
                continue;
            }
            remove(ctx, t, swept, m)
                .await
                .map_err(|e| sweep_error(t, e))?;
            ctx.metrics.drift(kind, 1);
            let who = entries
                .get(&m.user_id)
                .map(|e| format!("{} (last granted by {})", e.user, e.grant))
                .unwrap_or_else(|| m.user_id.clone());
            let note = format!("took {t} back from {who}: no Active grant backs it ({kind})");
            warn!(target = %t, user = %m.user_id, kind, "{note}");
            for p in &swept.policies {
                ctx.publish(
                    &p.object_ref(&()),
                    EventType::Warning,
                    "AccessTakenBack",
                    "Sweep",
                    &note,
                )
                .await;
            }
        }
    }
    for (user_id, grant_keys) in &drift.removed_on_aws {
        for key in grant_keys {
            end_revoked(ctx, t, user_id, key, policies).await?;
        }
    }
    if !drift.settled.is_empty() && fresh.is_none() {
        *fresh = Some(fresh_holders(ctx, settings).await?);
    }
    // The cache may not show a grant's record yet (it is written before the ledger entry):
    // an entry is forgotten only when a fresh read shows no grant holding it either.
    let held = fresh.as_ref().and_then(|h| h.get(t));
    for user_id in &drift.settled {
        if held.is_some_and(|h| h.contains_key(user_id)) {
            continue;
        }
        // Recorded just before the list, its add may have landed after it: the next sweep
        // decides (else a grant deleted meanwhile would leave an unrecorded member).
        if let Some(entry) = entries
            .get(user_id)
            .filter(|e| !e.in_flight(listed_at, settings.call_deadline))
        {
            ctx.ledger
                .forget(entry)
                .await
                .map_err(|source| Error::Ledger { source })?;
        }
    }
    Ok(())
}

/// Takes one member's access back. An account assignment's delete is asynchronous: the
/// next sweep's list shows whether AWS finished (and deletes again if it failed).
async fn remove(
    ctx: &Context,
    t: &Target,
    swept: &Swept,
    m: &targets::Member,
) -> Result<(), aws::Error> {
    match t {
        Target::Group(_) => {
            ctx.aws
                .store(&swept.aws, Role::Write)
                .await?
                .delete_membership(&m.membership_id)
                .await?;
        }
        Target::Account(a) => {
            let progress = ctx
                .aws
                .sso(&swept.aws, Role::Write)
                .await?
                .delete(&super::assignment(a), &m.user_id)
                .await?;
            if let aws::Progress::Failed { request_id, reason } = progress {
                return Err(aws::Error::AssignmentFailed {
                    operation: "DeleteAccountAssignment",
                    request_id,
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// Marks an Active grant whose member was removed on AWS, after a fresh read shows it still
/// Active on this group and meant to stay so (not expiring, not ended by a policy change:
/// those remove the member themselves): its reconcile ends it (`RevokedOnAws`) without
/// adding it back.
async fn end_revoked(
    ctx: &Context,
    t: &Target,
    user_id: &str,
    key: &str,
    policies: &[BreakGlassPolicy],
) -> Result<(), Error> {
    let Some((ns, name)) = key.split_once('/') else {
        return Ok(());
    };
    let api: Api<BreakGlassGrant> = Api::namespaced(ctx.client.clone(), ns);
    let me = ObjectRef::<BreakGlassGrant>::new(name).within(ns);
    let Some(grant) = api.get_opt(name).await.map_err(|source| Error::LoadGrant {
        grant: me.clone(),
        source,
    })?
    else {
        return Ok(());
    };
    let still = targets::active([targets::access(&grant)])
        .get(t)
        .is_some_and(|users| users.contains_key(user_id));
    let policy = policies
        .iter()
        .find(|p| p.name_any() == grant.spec.policy)
        .map(|p| &*p.spec);
    let continuing = matches!(
        plan::plan(&plan::record(&grant), policy, false, Timestamp::now()),
        plan::Step::Grant { .. }
    );
    if !still || !continuing {
        return Ok(());
    }
    let patch =
        json!({"metadata": {"annotations": {REVOKED_ON_AWS: Timestamp::now().to_string()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::MarkGrant { grant: me, source })?;
    ctx.metrics.drift("removed", 1);
    let note = format!(
        "{}'s {t} was removed on AWS by someone else; the grant ends and the access is not added back",
        grant.spec.user
    );
    info!(grant = %key, "{note}");
    ctx.publish(
        &grant.object_ref(&()),
        EventType::Warning,
        "RevokedOnAws",
        "Sweep",
        &note,
    )
    .await;
    Ok(())
}
