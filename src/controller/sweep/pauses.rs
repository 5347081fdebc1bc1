//! The sweep's look at paused objects: an object whose `paused-by` names only grants that
//! are gone (deleted without their finalizer) or ended without holding it would stay paused
//! forever; it is restored from its annotation record (Warning Event on each policy naming
//! it, `breakglass_pauses_orphaned_total`). The record is anyone's to edit: it is written
//! back only on a field the method the grants recorded for the object owns; otherwise
//! nothing is written (Warning Event `PauseRecordRefused` on the object and the policies,
//! `breakglass_pause_records_refused_total`). Kubernetes reads only, no AWS call.

use std::collections::BTreeSet;

use k8s_openapi::jiff::Timestamp;
use kube::{Api, Resource, runtime::events::EventType};
use tracing::{info, warn};

use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy, TargetRef},
    controller::context::{Context, FIELD_MANAGER},
    pause::{
        self, Method, RestorePlan,
        cluster::{self, Found},
        executor::REFUSED,
        orphan::{Holder, Known, Standing, plan_orphan},
        plan::{self, holders},
    },
};

/// Restores every orphaned pause among `known` (every target the grants this process
/// watches have recorded, remembered after the grant is gone). Returns how many it could not
/// read, and the targets it found settled: gone, or named by no holder (given back).
/// Only these are read: the cost follows the distinct targets, not the policies or grants,
/// and a controller that watches one namespace judges only its own grants' pauses.
pub(super) async fn sweep(
    ctx: &Context,
    policies: &[BreakGlassPolicy],
    known: &Known,
) -> (usize, BTreeSet<TargetRef>) {
    let mut unread = 0;
    let mut settled = BTreeSet::new();
    for (target, recorded) in known.iter() {
        let (obj, found) = match cluster::reread(&ctx.client, &ctx.kinds, target).await {
            Ok(Some(got)) => got,
            Ok(None) => {
                settled.insert(target.clone());
                continue;
            }
            Err(p) => {
                warn!(target = %target, error = %p, "could not read a paused target");
                unread += 1;
                continue;
            }
        };
        if holders(&obj).is_empty() {
            settled.insert(target.clone());
            continue;
        }
        restore_if_orphaned(ctx, &obj, &found, recorded, policies).await;
    }
    (unread, settled)
}

async fn restore_if_orphaned(
    ctx: &Context,
    obj: &serde_json::Value,
    found: &Found,
    recorded: &[Method],
    policies: &[BreakGlassPolicy],
) -> bool {
    let named = holders(obj);
    if named.is_empty() {
        return false;
    }
    let mut standing = Vec::with_capacity(named.len());
    for key in named {
        let Some(holder) = holder(ctx, &key, &found.target).await else {
            return false;
        };
        standing.push((key, holder));
    }
    let now = Timestamp::now().to_string();
    let ops = match plan_orphan(obj, &standing, &now, recorded) {
        None => return false,
        Some(Ok(RestorePlan::Restore { ops, .. } | RestorePlan::KeepChange { ops, .. })) => ops,
        Some(Ok(_)) => return false,
        Some(Err(e @ plan::Error::Refused { .. })) => {
            refused(ctx, found, &e, policies).await;
            return false;
        }
        Some(Err(e)) => {
            warn!(target = %found.target, error = %e, "orphaned pause with an unreadable record");
            return false;
        }
    };
    if let Err(p) = cluster::patch(&ctx.client, found, &ops, FIELD_MANAGER).await {
        // A conflict means someone changed it since the read: the next sweep looks again.
        warn!(target = %found.target, error = %p, "could not restore an orphaned pause");
        return false;
    }
    let names: Vec<String> = standing.iter().map(|(k, _)| k.clone()).collect();
    let note = format!(
        "{} was still paused for {}, which no longer hold it (deleted without their finalizer, or ended): restored from its pause record",
        found.target,
        names.join(", ")
    );
    info!(target = %found.target, holders = ?names, "restored an orphaned pause");
    ctx.metrics.pauses.orphaned(&found.target.kind);
    for p in naming(policies, &found.target) {
        ctx.publish(
            &p.object_ref(&()),
            EventType::Warning,
            "RestoredOrphanedPause",
            "Sweep",
            &note,
        )
        .await;
    }
    true
}

/// The policies that pause the target's kind: they carry the sweep's Events about it.
fn naming<'a>(
    policies: &'a [BreakGlassPolicy],
    target: &'a TargetRef,
) -> impl Iterator<Item = &'a BreakGlassPolicy> {
    policies.iter().filter(|p| {
        pause::selections(&p.spec)
            .iter()
            .any(|s| s.kind == target.kind && s.api_version == target.api_version)
    })
}

/// An orphan whose record aims outside its method's field: nothing is written, and it is
/// said on the object (whoever edited it sees it) and on the policies, at every sweep
/// until a person puts the object right.
async fn refused(ctx: &Context, found: &Found, e: &plan::Error, policies: &[BreakGlassPolicy]) {
    warn!(target = %found.target, error = %e, "refused an orphaned pause's record");
    ctx.metrics.pauses.refused(&found.target.kind);
    let note = format!(
        "{} is paused for grants that no longer hold it, but its pause record was not written back: {e}; restore it by hand",
        found.target
    );
    let object = cluster::object_ref(&found.target);
    let policies = naming(policies, &found.target).map(|p| p.object_ref(&()));
    for r in std::iter::once(object).chain(policies) {
        ctx.publish(&r, EventType::Warning, REFUSED, "Sweep", &note)
            .await;
    }
}

/// What became of grant `key` (`namespace/name`), read fresh; `None` when it cannot be
/// told (the read failed): then nothing is touched.
async fn holder(ctx: &Context, key: &str, target: &TargetRef) -> Option<Holder> {
    let (ns, name) = key.split_once('/')?;
    let grants: Api<BreakGlassGrant> = Api::namespaced(ctx.client.clone(), ns);
    match grants.get_opt(name).await {
        Ok(g) => {
            let standing = g.as_ref().map(|g| Standing {
                status: g.status.as_ref(),
                deleting: g.metadata.deletion_timestamp.is_some(),
            });
            Some(Holder::of(standing, target))
        }
        Err(e) => {
            warn!(grant = key, error = %e, "could not read a pause holder");
            None
        }
    }
}
