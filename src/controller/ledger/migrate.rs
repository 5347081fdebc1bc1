//! The ConfigMap ledger (releases before `BreakGlassLedgerEntry`) moved into the new kind
//! at start-up: each ConfigMap becomes an entry, then is deleted. Crash-safe: an entry is
//! created (or touched) before its ConfigMap is deleted, so a restart redoes at most one.
//!
//! The ConfigMaps were writable by anyone who could write ConfigMaps in the operator's
//! namespace, so only their target and user move over: never their role or ExternalId (the
//! policy is found from the grant they name, else from the policy whose role they name),
//! and one under a name the old release would not have computed is left and reported.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Preconditions},
};
use tracing::{info, warn};

use super::{Entry, LABEL, Ledger};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy, legacy_ledger_name},
    targets::{AccountTarget, GroupTarget, Target},
};

/// What a migration did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub moved: usize,
    /// ConfigMaps left in place: not under their computed name, or unreadable.
    pub refused: Vec<String>,
}

/// A ConfigMap entry as the old release wrote it.
struct Legacy {
    target: Target,
    user_id: String,
    user: String,
    grant: String,
    role_arn: String,
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
        role_arn: get("roleArn").unwrap_or_default(),
    })
}

/// The policy an old entry belongs to: its grant's, else the one policy whose role it
/// names on its Identity Store (several or none: left empty, and the sweep reports it).
fn policy_of(
    old: &Legacy,
    grants: &BTreeMap<String, String>,
    policies: &[BreakGlassPolicy],
) -> String {
    if let Some(p) = grants.get(&old.grant) {
        return p.clone();
    }
    let store = match &old.target {
        Target::Group(g) => Some(g.identity_store_id.as_str()),
        Target::Account(_) => None,
    };
    let mut named = policies.iter().filter(|p| {
        p.spec.aws.role_arn == old.role_arn
            && store.is_none_or(|s| s == p.spec.aws.identity_store_id)
    });
    match (named.next(), named.next()) {
        (Some(p), None) => p.name_any(),
        _ => String::new(),
    }
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
    let policies = Api::<BreakGlassPolicy>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let mut grants = BTreeMap::new();
    let mut out = Migrated::default();
    for cm in &list.items {
        let Some(old) = legacy(cm) else {
            warn!(namespace, name = %cm.name_any(), "a ledger ConfigMap not under the name the operator computes: not migrated, not acted on");
            out.refused.push(cm.name_any());
            continue;
        };
        if let Some((ns, name)) = old.grant.split_once('/')
            && !grants.contains_key(&old.grant)
            && let Some(g) = Api::<BreakGlassGrant>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
        {
            grants.insert(old.grant.clone(), g.spec.policy.clone());
        }
        let policy = policy_of(&old, &grants, &policies);
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
