//! The ConfigMap ledger (releases before `BreakGlassLedgerEntry`) moved into the new kind
//! at start-up: each ConfigMap becomes an entry, then is deleted. Crash-safe: an entry is
//! created (or touched) before its ConfigMap is deleted, so a restart redoes at most one.
//!
//! The ConfigMaps were writable by anyone who could write ConfigMaps in the operator's
//! namespace, so one moves over only when the operator's own record confirms it: the grant
//! it names exists and its status (written by the operator only) records that user on that
//! target; the entry then names that grant's policy, never the ConfigMap's role or
//! ExternalId. Anything else (a name the old release would not have computed, a grant gone
//! or not recording it) is left in place and reported for a person to check.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Preconditions},
};
use tracing::{info, warn};

use super::{Entry, LABEL, Ledger};
use crate::{
    api::{BreakGlassGrant, legacy_ledger_name},
    targets::{self, AccountTarget, GroupTarget, Target},
};

/// What a migration did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub moved: usize,
    /// ConfigMaps left in place: not under their computed name, or not confirmed by a grant.
    pub refused: Vec<String>,
}

/// A ConfigMap entry as the old release wrote it.
struct Legacy {
    target: Target,
    user_id: String,
    user: String,
    grant: String,
}

fn legacy(cm: &ConfigMap) -> Option<Legacy> {
    let d = cm.data.as_ref()?;
    let get = |k: &str| d.get(k).cloned();
    let target = match get("groupId") {
        Some(group_id) => Target::Group(GroupTarget {
            identity_store_id: get("identityStoreId")?,
            group_id,
        }),
        None => Target::Account(AccountTarget {
            instance_arn: get("instanceArn")?,
            account_id: get("accountId")?,
            permission_set_arn: get("permissionSetArn")?,
        }),
    };
    let user_id = get("userId")?;
    (cm.name_any() == legacy_ledger_name(&target, &user_id)).then(|| Legacy {
        target,
        user_id,
        user: get("user").unwrap_or_default(),
        grant: get("grant").unwrap_or_default(),
    })
}

/// The policy of the grant that confirms `old`: it exists and its status records the
/// user on the target (standing access is never in a ledger).
fn confirmed_by(old: &Legacy, grant: Option<&BreakGlassGrant>) -> Option<String> {
    let grant = grant?;
    let standing = grant
        .status
        .as_ref()
        .and_then(|s| s.access.as_ref())
        .is_some_and(|a| {
            a.group_membership.as_ref().is_some_and(|m| m.standing)
                || a.account_assignments.iter().any(|e| e.standing)
        });
    let recorded = targets::recorded_targets(grant.status.as_ref())
        .into_iter()
        .any(|(t, user, _)| t == old.target && user == old.user_id);
    (recorded && !standing).then(|| grant.spec.policy.clone())
}

/// Moves every ConfigMap entry of `namespace` into `ledger`. Without the right to list
/// ConfigMaps there (the chart's `ledger.migrateConfigMaps: false`), nothing to do.
pub async fn run(
    client: &Client,
    namespace: &str,
    ledger: &Ledger,
) -> Result<Migrated, kube::Error> {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let list = match maps
        .list(&ListParams::default().labels(&format!("{LABEL}=member")))
        .await
    {
        Ok(l) => l,
        Err(kube::Error::Api(s)) if s.code == 403 => {
            info!(
                namespace,
                "no ConfigMap ledger to migrate (ConfigMaps not readable)"
            );
            return Ok(Migrated::default());
        }
        Err(e) => return Err(e),
    };
    if list.items.is_empty() {
        return Ok(Migrated::default());
    }
    let mut out = Migrated::default();
    for cm in &list.items {
        let old = legacy(cm);
        let grant = match old.as_ref().and_then(|o| o.grant.split_once('/')) {
            Some((ns, name)) => {
                Api::<BreakGlassGrant>::namespaced(client.clone(), ns)
                    .get_opt(name)
                    .await?
            }
            None => None,
        };
        let Some((old, policy)) =
            old.and_then(|o| confirmed_by(&o, grant.as_ref()).map(|p| (o, p)))
        else {
            warn!(namespace, name = %cm.name_any(), "a ledger ConfigMap that no grant of the operator confirms: not migrated, not acted on; check its member by hand");
            out.refused.push(cm.name_any());
            continue;
        };
        let entry = Entry {
            target: old.target,
            user_id: old.user_id,
            user: old.user,
            grant: old.grant,
            policy,
            version: None,
            recorded_at: None,
        };
        ledger.record(&entry).await.map_err(|e| e.source)?;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: cm.metadata.resource_version.clone(),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        match maps.delete(&cm.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e),
        }
        out.moved += 1;
    }
    info!(
        namespace,
        moved = out.moved,
        refused = out.refused.len(),
        "ConfigMap ledger migrated"
    );
    Ok(out)
}
