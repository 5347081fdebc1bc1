//! Pausing automation, the Kubernetes I/O: finds the objects a selection names (through API
//! discovery, so any kind works), reads them, dry-runs and sends the JSON patches planned in
//! [`super::plan`]. Every failure stays with its object as a [`Problem`]: one forbidden,
//! missing or slow kind never keeps the other targets from being paused. Every patch starts
//! with a `resourceVersion` test, so a concurrent writer makes it fail instead of being
//! overwritten.

pub mod flux;
mod kinds;
mod parents;
mod problem;

pub use kinds::Kinds;
pub use problem::Problem;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ObjectReference;

use kube::{
    Api, Client,
    api::{DynamicObject, ListParams, Patch, PatchParams},
    core::Selector,
    discovery::{ApiResource, Scope},
};

use self::problem::timed;
use serde_json::Value;

use super::{Method, Selection};
use crate::api::{LabelSelector, PauseProblem, RestoreMode, TargetRef, label_selector_to_k8s};

/// One object a selection names, as found in the cluster.
#[derive(Debug, Clone)]
pub struct Found {
    pub target: TargetRef,
    pub method: Method,
    pub required: bool,
    /// When to give it back after the grant ends (the selection's).
    pub restore: RestoreMode,
    /// The object, or why there is none.
    pub object: Result<Value, Problem>,
    /// Set for an app-of-apps paused because of a child: the child's name.
    pub parent_of: Option<String>,
    resource: Option<ApiResource>,
}

impl Found {
    fn api(&self, client: &Client) -> Option<Api<DynamicObject>> {
        let ar = self.resource.as_ref()?;
        Some(match &self.target.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
            None => Api::all_with(client.clone(), ar),
        })
    }
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Reads one object by name: `NotFound` when it does not exist.
async fn get(
    api: &Api<DynamicObject>,
    ar: &ApiResource,
    target: &TargetRef,
) -> Result<Value, Problem> {
    let what = || target.to_string();
    timed(what, async {
        match api.get_opt(&target.name).await {
            Ok(Some(o)) => Ok(to_value(&o)),
            Ok(None) => Err(Problem::new(
                PauseProblem::NotFound,
                format!("{target} not found"),
            )),
            Err(e) => Err(Problem::api("get", &what(), Some(ar), e)),
        }
    })
    .await
}

/// Every object `sel` names, plus the app-of-apps of each Argo CD Application when asked.
/// Whatever cannot be found or read comes back as that object's [`Problem`].
pub async fn resolve(client: &Client, kinds: &Kinds, sel: &Selection) -> Vec<Found> {
    let target = |name: &str, namespace: Option<String>| TargetRef {
        api_version: sel.api_version.clone(),
        kind: sel.kind.clone(),
        namespace,
        name: name.to_owned(),
    };
    let base = |name: &str, namespace: Option<String>, object: Result<Value, Problem>| Found {
        target: target(name, namespace),
        method: sel.method.clone(),
        required: sel.required,
        restore: sel.restore,
        object,
        parent_of: None,
        resource: None,
    };
    let mut names = sel.names.clone();
    if sel.selector.is_some() {
        names.push("*".into());
    }
    let (ar, scope) = match kinds.resource(client, &sel.api_version, &sel.kind).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let why = Problem::new(
                PauseProblem::KindNotInstalled,
                format!("{} is not installed in the cluster", sel.describe()),
            );
            return names
                .iter()
                .map(|n| base(n, sel.namespace.clone(), Err(why.clone())))
                .collect();
        }
        Err(problem) => {
            return names
                .iter()
                .map(|n| base(n, sel.namespace.clone(), Err(problem.clone())))
                .collect();
        }
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
            let why = Problem::new(
                PauseProblem::Invalid,
                format!("{} is namespaced: set a namespace", sel.describe()),
            );
            out.push(base(name, None, Err(why)));
            continue;
        }
        let object = get(&api, &ar, &target(name, namespace.clone())).await;
        seen.insert((namespace.clone(), name.clone()));
        out.push(with_resource(base(name, namespace.clone(), object)));
    }
    if let Some(selector) = &sel.selector {
        out.extend(
            list(&api, &ar, sel, namespace.clone(), selector, &mut seen)
                .await
                .into_iter()
                .map(|(name, ns, object)| with_resource(base(&name, ns, object))),
        );
    }
    if sel.pause_parent {
        let parents = parents::parents(client, &ar, sel, &out).await;
        out.extend(parents.into_iter().map(with_resource));
    }
    out
}

/// The objects matching a selection's label selector, as `(name, namespace, object)`; one
/// `*` entry with the problem when none match or the list fails.
async fn list(
    api: &Api<DynamicObject>,
    ar: &ApiResource,
    sel: &Selection,
    namespace: Option<String>,
    selector: &LabelSelector,
    seen: &mut BTreeSet<(Option<String>, String)>,
) -> Vec<(String, Option<String>, Result<Value, Problem>)> {
    let star = |p: Problem| vec![("*".to_owned(), namespace.clone(), Err(p))];
    let labels = match Selector::try_from(label_selector_to_k8s(selector)) {
        Ok(s) => s,
        Err(e) => {
            return star(Problem::new(
                PauseProblem::Invalid,
                format!("bad selector: {e}"),
            ));
        }
    };
    let what = || format!("{} matching {labels}", sel.kind);
    let listed = timed(what, async {
        api.list(&ListParams::default().labels_from(&labels))
            .await
            .map_err(|e| Problem::api("list", &what(), Some(ar), e))
    })
    .await;
    let items = match listed {
        Ok(l) => l.items,
        Err(p) => return star(p),
    };
    if items.is_empty() {
        return star(Problem::new(
            PauseProblem::NotFound,
            format!("no {} matches {labels}", sel.kind),
        ));
    }
    let mut out = vec![];
    for item in &items {
        let key = (
            item.metadata.namespace.clone(),
            item.metadata.name.clone().unwrap_or_default(),
        );
        if seen.insert(key.clone()) {
            out.push((key.1, key.0, Ok(to_value(item))));
        }
    }
    out
}

/// A reference to `target` for an Event about it (no uid: the object may be gone).
pub fn object_ref(target: &TargetRef) -> ObjectReference {
    ObjectReference {
        api_version: Some(target.api_version.clone()),
        kind: Some(target.kind.clone()),
        namespace: target.namespace.clone(),
        name: Some(target.name.clone()),
        ..ObjectReference::default()
    }
}

/// Reads a recorded target again (for restore): `Ok(None)` when it or its kind is gone.
pub async fn reread(
    client: &Client,
    kinds: &Kinds,
    target: &TargetRef,
) -> Result<Option<(Value, Found)>, Problem> {
    let Some((ar, scope)) = kinds
        .resource(client, &target.api_version, &target.kind)
        .await?
    else {
        return Ok(None);
    };
    let mut target = target.clone();
    if scope == Scope::Cluster {
        target.namespace = None;
    }
    let found = Found {
        target,
        // Restoring follows the records, not a method.
        method: Method::Suspend,
        required: false,
        restore: RestoreMode::Auto,
        object: Err(Problem::new(PauseProblem::NotFound, "")),
        parent_of: None,
        resource: Some(ar.clone()),
    };
    let Some(api) = found.api(client) else {
        return Ok(None);
    };
    match get(&api, &ar, &found.target).await {
        Ok(obj) => Ok(Some((obj, found))),
        Err(p) if p.reason == PauseProblem::NotFound => Ok(None),
        Err(p) => Err(p),
    }
}

/// Whether the Application CRD keeps `spec.syncPolicy.automated.enabled` (Argo CD ≥ 3.1):
/// a server-side dry run shows whether the API server prunes it.
pub async fn supports_enabled(
    client: &Client,
    found: &Found,
    field_manager: &str,
) -> Result<bool, Problem> {
    let Some(api) = found.api(client) else {
        return Ok(false);
    };
    let ops = serde_json::json!([
        {"op": "add", "path": "/spec/syncPolicy/automated/enabled", "value": false}
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops)
        .map_err(|e| Problem::new(PauseProblem::Invalid, e.to_string()))?;
    let params = PatchParams {
        dry_run: true,
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    let what = || format!("{} (dry run)", found.target);
    let result = timed(what, async {
        api.patch(&found.target.name, &params, &Patch::Json::<()>(patch))
            .await
            .map_err(|e| Problem::api("patch", &what(), found.resource.as_ref(), e))
    })
    .await?;
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
) -> Result<Value, Problem> {
    let target = found.target.to_string();
    let Some(api) = found.api(client) else {
        return Err(Problem::new(
            PauseProblem::KindNotInstalled,
            format!("{target}: kind not served"),
        ));
    };
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec()))
        .map_err(|e| Problem::new(PauseProblem::Invalid, format!("{target}: {e}")))?;
    let params = PatchParams {
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    timed(|| target.clone(), async {
        match api
            .patch(&found.target.name, &params, &Patch::Json::<()>(patch))
            .await
        {
            Ok(obj) => Ok(to_value(&obj)),
            // A failed `test` op is reported as 422 (older servers: 409).
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_invalid() => Err(Problem::new(
                PauseProblem::Conflict,
                format!("{target} changed while it was being patched; will look again"),
            )),
            Err(e) => Err(Problem::api("patch", &target, found.resource.as_ref(), e)),
        }
    })
    .await
}

/// Asks Argo CD to refresh an Application (`argocd.argoproj.io/refresh: normal`) and waits
/// up to `wait` for `status.reconciledAt` to move. Returns the object as last read and
/// whether Argo CD refreshed it in time.
pub async fn refresh_argo(
    client: &Client,
    found: &Found,
    before: &Value,
    wait: std::time::Duration,
    field_manager: &str,
) -> Result<(Value, bool), Problem> {
    let Some(api) = found.api(client) else {
        return Ok((before.clone(), false));
    };
    let target = found.target.to_string();
    let was = before.pointer("/status/reconciledAt").cloned();
    let params = PatchParams {
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    };
    let ask =
        serde_json::json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    timed(|| target.clone(), async {
        api.patch(&found.target.name, &params, &Patch::Merge(&ask))
            .await
            .map_err(|e| Problem::api("patch", &target, found.resource.as_ref(), e))
    })
    .await?;
    let deadline = tokio::time::Instant::now() + wait;
    let ar = found.resource.clone();
    loop {
        let now = match &ar {
            Some(ar) => get(&api, ar, &found.target).await?,
            None => return Ok((before.clone(), false)),
        };
        let moved = now.pointer("/status/reconciledAt").cloned() != was;
        if moved || tokio::time::Instant::now() >= deadline {
            return Ok((now, moved));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
