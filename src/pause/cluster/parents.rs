//! The app-of-apps to pause with each selected Argo CD Application (`pauseParent`). The
//! child names its parent (tracking id, instance label), but those are the child's to
//! write: a tenant's Application could name a platform app-of-apps. So a parent is paused
//! only when it exists and its own `status.resources` lists the child; otherwise it is a
//! `NotManaged` problem (the target is `Skipped`, with the reason).

use std::collections::BTreeMap;

use kube::{Api, Client, api::DynamicObject, discovery::ApiResource};
use serde_json::Value;

use super::{Found, Problem, get};
use crate::{
    api::{PauseProblem, TargetRef},
    pause::{
        Selection,
        plan::{argo_parent, manages},
    },
};

/// The app-of-apps of each found Application, once each. A parent some child names without
/// being listed is kept as that child's `NotManaged` problem unless another child it lists
/// makes it a parent.
pub(super) async fn parents(
    client: &Client,
    ar: &ApiResource,
    sel: &Selection,
    children: &[Found],
) -> Vec<Found> {
    let mut out: Vec<Found> = vec![];
    // Each parent is read once, however many children name it.
    let mut read: BTreeMap<(Option<String>, String), Result<Value, Problem>> = BTreeMap::new();
    for child in children {
        let Ok(obj) = &child.object else { continue };
        let Some((ns, name)) = argo_parent(obj) else {
            continue;
        };
        let namespace = ns.or_else(|| child.target.namespace.clone());
        let known = |f: &Found| f.target.name == name && f.target.namespace == namespace;
        if children.iter().any(known) {
            continue;
        }
        let earlier = out.iter().position(known);
        if earlier.is_some_and(|i| {
            out[i]
                .object
                .as_ref()
                .err()
                .is_none_or(|p| p.reason != PauseProblem::NotManaged)
        }) {
            continue;
        }
        let target = TargetRef {
            api_version: sel.api_version.clone(),
            kind: sel.kind.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
        };
        let key = (namespace.clone(), name.clone());
        let parent = match read.get(&key) {
            Some(r) => r.clone(),
            None => {
                let api: Api<DynamicObject> = match &namespace {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
                    None => Api::all_with(client.clone(), ar),
                };
                let r = get(&api, ar, &target).await;
                read.insert(key, r.clone());
                r
            }
        };
        let object = parent
            .map_err(|p| match p.reason {
                PauseProblem::NotFound => Problem::new(
                    PauseProblem::NotFound,
                    format!("app-of-apps {name} of {} not found", child.target.name),
                ),
                _ => p,
            })
            .and_then(|parent| {
                if manages(&parent, obj) {
                    return Ok(parent);
                }
                Err(Problem::new(
                    PauseProblem::NotManaged,
                    format!(
                        "{} names {name} as its app-of-apps, but {name} does not list it in status.resources; not paused",
                        child.target
                    ),
                ))
            });
        let found = Found {
            target,
            method: sel.method.clone(),
            required: false,
            restore: sel.restore,
            object,
            parent_of: Some(child.target.name.clone()),
            resource: None,
        };
        match earlier {
            Some(i) => out[i] = found,
            None => out.push(found),
        }
    }
    out
}
