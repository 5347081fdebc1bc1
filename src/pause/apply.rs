//! Pausing automation, the I/O part: finds the objects a selection names (through API
//! discovery, so any kind works and a missing CRD is reported, not fatal) and sends the JSON
//! patches planned in the parent module. Every patch starts with a `resourceVersion` test, so
//! a concurrent writer makes it fail instead of being overwritten.

use std::collections::BTreeSet;

use kube::{
    Api, Client,
    api::{DynamicObject, ListParams, Patch, PatchParams},
    core::{GroupVersionKind, Selector},
    discovery::{self, ApiResource, Scope},
};
use serde_json::Value;

use super::{Method, Selection};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {target}: {source}")]
    Kube {
        action: &'static str,
        target: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{target} changed while it was being patched (or the API server rejected the patch); will look again"
    )]
    Conflict { target: String },
    #[error("{target}: the JSON patch is invalid: {why}")]
    Patch { target: String, why: String },
}

impl Error {
    /// Short CamelCase reason for conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } if is_status(source, |s| s.is_forbidden()) => "Forbidden",
            Error::Kube { .. } => "KubernetesError",
            Error::Conflict { .. } => "Conflict",
            Error::Patch { .. } => "InvalidPatch",
        }
    }
}

fn is_status(e: &kube::Error, f: impl Fn(&kube::core::Status) -> bool) -> bool {
    matches!(e, kube::Error::Api(s) if f(s))
}

/// One object a selection names, as found in the cluster.
#[derive(Debug, Clone)]
pub struct Found {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub method: Method,
    pub required: bool,
    /// The object, or why there is none.
    pub object: Result<Value, String>,
    /// Set for an app-of-apps paused because of a child: the child's name.
    pub parent_of: Option<String>,
    resource: Option<ApiResource>,
}

impl Found {
    /// `Kind namespace/name`, for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    fn api(&self, client: &Client) -> Option<Api<DynamicObject>> {
        let ar = self.resource.as_ref()?;
        Some(match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
            None => Api::all_with(client.clone(), ar),
        })
    }
}

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

/// The API resource for a kind, `Ok(None)` when the kind is not served (CRD not installed).
async fn resource(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Result<Option<(ApiResource, Scope)>, Error> {
    match discovery::pinned_kind(client, &gvk(api_version, kind)).await {
        Ok((ar, caps)) => Ok(Some((ar, caps.scope))),
        Err(kube::Error::Discovery(_)) => Ok(None),
        // A group that is not served answers with a plain-text 404, not a Status.
        Err(e) if is_status(&e, |s| s.code == 404) => Ok(None),
        Err(source) => Err(Error::Kube {
            action: "discovering",
            target: format!("{kind} {api_version}"),
            source,
        }),
    }
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Every object `sel` names, plus the app-of-apps of each Argo CD Application when asked.
/// Names that do not exist, and kinds that are not installed, come back as `Err` objects.
pub async fn resolve(client: &Client, sel: &Selection) -> Result<Vec<Found>, Error> {
    let base = |name: &str, namespace: Option<String>, object: Result<Value, String>| Found {
        api_version: sel.api_version.clone(),
        kind: sel.kind.clone(),
        namespace,
        name: name.to_owned(),
        method: sel.method.clone(),
        required: sel.required,
        object,
        parent_of: None,
        resource: None,
    };
    let Some((ar, scope)) = resource(client, &sel.api_version, &sel.kind).await? else {
        let why = format!("{} is not installed in the cluster", sel.describe());
        let mut names = sel.names.clone();
        if sel.selector.is_some() {
            names.push("*".into());
        }
        return Ok(names
            .iter()
            .map(|n| base(n, sel.namespace.clone(), Err(why.clone())))
            .collect());
    };
    let namespace = match scope {
        Scope::Namespaced => sel.namespace.clone(),
        Scope::Cluster => None,
    };
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let with_resource = |mut f: Found| {
        f.resource = Some(ar.clone());
        f
    };
    let mut out = vec![];
    let mut seen = BTreeSet::new();
    for name in &sel.names {
        if scope == Scope::Namespaced && namespace.is_none() {
            let why = format!("{} is namespaced: set a namespace", sel.describe());
            out.push(base(name, None, Err(why)));
            continue;
        }
        let got = api.get_opt(name).await.map_err(|source| Error::Kube {
            action: "reading",
            target: format!("{} {name}", sel.kind),
            source,
        })?;
        let object = got.as_ref().map(to_value).ok_or_else(|| match &namespace {
            Some(ns) => format!("{} {ns}/{name} not found", sel.kind),
            None => format!("{} {name} not found", sel.kind),
        });
        seen.insert((namespace.clone(), name.clone()));
        out.push(with_resource(base(name, namespace.clone(), object)));
    }
    if let Some(selector) = &sel.selector {
        let labels = match Selector::try_from(selector.clone()) {
            Ok(s) => s,
            Err(e) => {
                out.push(base(
                    "*",
                    namespace.clone(),
                    Err(format!("bad selector: {e}")),
                ));
                return Ok(out);
            }
        };
        let list = api
            .list(&ListParams::default().labels_from(&labels))
            .await
            .map_err(|source| Error::Kube {
                action: "listing",
                target: format!("{} matching {labels}", sel.kind),
                source,
            })?;
        if list.items.is_empty() {
            let why = format!("no {} matches {labels}", sel.kind);
            out.push(base("*", namespace.clone(), Err(why)));
        }
        for item in &list.items {
            let key = (
                item.metadata.namespace.clone(),
                item.metadata.name.clone().unwrap_or_default(),
            );
            if seen.insert(key.clone()) {
                out.push(with_resource(base(&key.1, key.0, Ok(to_value(item)))));
            }
        }
    }
    if sel.pause_parent {
        let parents = parents(client, &ar, sel, &out).await?;
        out.extend(parents.into_iter().map(with_resource));
    }
    Ok(out)
}

/// The app-of-apps of each found Application, once each.
async fn parents(
    client: &Client,
    ar: &ApiResource,
    sel: &Selection,
    children: &[Found],
) -> Result<Vec<Found>, Error> {
    let mut out: Vec<Found> = vec![];
    for child in children {
        let Ok(obj) = &child.object else { continue };
        let Some((ns, name)) = super::argo_parent(obj) else {
            continue;
        };
        let namespace = ns.or_else(|| child.namespace.clone());
        let known = |f: &Found| f.name == name && f.namespace == namespace;
        if children.iter().any(known) || out.iter().any(known) {
            continue;
        }
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
            None => Api::all_with(client.clone(), ar),
        };
        let got = api.get_opt(&name).await.map_err(|source| Error::Kube {
            action: "reading the app-of-apps",
            target: name.clone(),
            source,
        })?;
        out.push(Found {
            api_version: sel.api_version.clone(),
            kind: sel.kind.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
            method: sel.method.clone(),
            required: false,
            object: got
                .as_ref()
                .map(to_value)
                .ok_or_else(|| format!("app-of-apps {name} of {} not found", child.name)),
            parent_of: Some(child.name.clone()),
            resource: None,
        });
    }
    Ok(out)
}

/// Reads `found` again (for restore, from what the grant's status recorded).
pub async fn reread(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<(Value, Found)>, Error> {
    let Some((ar, scope)) = resource(client, api_version, kind).await? else {
        return Ok(None);
    };
    let namespace = match scope {
        Scope::Namespaced => namespace.map(str::to_owned),
        Scope::Cluster => None,
    };
    let found = Found {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        namespace,
        name: name.to_owned(),
        // Restoring follows the record on the object, not a method.
        method: Method::Suspend,
        required: false,
        object: Err(String::new()),
        parent_of: None,
        resource: Some(ar),
    };
    let Some(api) = found.api(client) else {
        return Ok(None);
    };
    let got = api.get_opt(name).await.map_err(|source| Error::Kube {
        action: "reading",
        target: found.describe(),
        source,
    })?;
    Ok(got.map(|o| (to_value(&o), found)))
}

/// Whether the Application CRD keeps `spec.syncPolicy.automated.enabled` (Argo CD ≥ 3.1):
/// a server-side dry run shows whether the API server prunes it.
pub async fn supports_enabled(
    client: &Client,
    found: &Found,
    field_manager: &str,
) -> Result<bool, Error> {
    let Some(api) = found.api(client) else {
        return Ok(false);
    };
    let ops = serde_json::json!([
        {"op": "add", "path": "/spec/syncPolicy/automated/enabled", "value": false}
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| Error::Patch {
        target: found.describe(),
        why: e.to_string(),
    })?;
    let params = PatchParams {
        dry_run: true,
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    let result = api
        .patch(&found.name, &params, &Patch::Json::<()>(patch))
        .await
        .map_err(|source| Error::Kube {
            action: "dry-run patching",
            target: found.describe(),
            source,
        })?;
    Ok(
        to_value(&result).pointer("/spec/syncPolicy/automated/enabled")
            == Some(&Value::Bool(false)),
    )
}

/// Sends JSON patch `ops` (which starts with a resourceVersion test) to `found`.
pub async fn patch(
    client: &Client,
    found: &Found,
    ops: &[Value],
    field_manager: &str,
) -> Result<Value, Error> {
    let target = found.describe();
    let Some(api) = found.api(client) else {
        return Err(Error::Patch {
            target,
            why: "kind not served".into(),
        });
    };
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops.to_vec())).map_err(|e| Error::Patch {
            target: target.clone(),
            why: e.to_string(),
        })?;
    let params = PatchParams {
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    match api
        .patch(&found.name, &params, &Patch::Json::<()>(patch))
        .await
    {
        Ok(obj) => Ok(to_value(&obj)),
        // A failed `test` op is reported as 422 (older servers: 409).
        Err(e) if is_status(&e, |s| s.is_conflict() || s.is_invalid()) => {
            Err(Error::Conflict { target })
        }
        Err(source) => Err(Error::Kube {
            action: "patching",
            target,
            source,
        }),
    }
}
