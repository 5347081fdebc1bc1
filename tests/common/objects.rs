//! Objects that policies pause (Argo CD, Flux, Crossplane, plain kinds) and the grant
//! entries that record them, for the pause tests.

use breakglass::api::{BreakGlassGrant, PauseState, PausedTarget};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    core::GroupVersionKind,
};
use serde_json::{Value, json};

use super::{SOON, Scenario, eventually, policies_raw};

pub const APPLICATION: (&str, &str, &str) = ("argoproj.io", "v1alpha1", "Application");
pub const KUSTOMIZATION: (&str, &str, &str) =
    ("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
pub const HELM_RELEASE: (&str, &str, &str) = ("helm.toolkit.fluxcd.io", "v2", "HelmRelease");
pub const XP_OBJECT: (&str, &str, &str) = ("kubernetes.m.crossplane.io", "v1alpha1", "Object");
pub const CONFIG_MAP: (&str, &str, &str) = ("", "v1", "ConfigMap");

pub fn api(
    client: &Client,
    ns: &str,
    (group, version, kind): (&str, &str, &str),
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

pub async fn create(
    client: &Client,
    ns: &str,
    gvk: (&str, &str, &str),
    name: &str,
    body: Value,
) -> Value {
    let api = api(client, ns, gvk);
    let mut obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": if gvk.0.is_empty() { gvk.1.to_owned() } else { format!("{}/{}", gvk.0, gvk.1) },
        "kind": gvk.2,
        "metadata": {"name": name, "namespace": ns},
    }))
    .expect("object");
    if let Some(labels) = body.get("labels") {
        obj.metadata.labels = serde_json::from_value(labels.clone()).ok();
    }
    if let Some(annotations) = body.get("annotations") {
        obj.metadata.annotations = serde_json::from_value(annotations.clone()).ok();
    }
    for (k, v) in body.as_object().into_iter().flatten() {
        if k != "labels" && k != "annotations" {
            obj.data[k] = v.clone();
        }
    }
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("creating {} {name}: {e}", gvk.2));
    serde_json::to_value(created).expect("json")
}

pub async fn get(client: &Client, ns: &str, gvk: (&str, &str, &str), name: &str) -> Value {
    let obj = api(client, ns, gvk)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("reading {} {name}: {e}", gvk.2));
    serde_json::to_value(obj).expect("json")
}

pub fn application(automated: Option<Value>) -> Value {
    let mut sync_policy = json!({"syncOptions": ["CreateNamespace=true"]});
    if let Some(a) = automated {
        sync_policy["automated"] = a;
    }
    json!({"spec": {
        "project": "default",
        "source": {"repoURL": "https://git.example.com/apps.git", "path": "payments", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "payments"},
        "syncPolicy": sync_policy,
    }})
}

pub fn annotations(obj: &Value) -> Value {
    obj.pointer("/metadata/annotations")
        .cloned()
        .unwrap_or(json!({}))
}

pub fn our_annotations(obj: &Value) -> Vec<String> {
    annotations(obj)
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| k.starts_with("breakglass.dev/"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn entry<'a>(g: &'a BreakGlassGrant, name: &str) -> &'a PausedTarget {
    g.status
        .as_ref()
        .and_then(|s| s.paused_targets.iter().find(|t| t.name == name))
        .unwrap_or_else(|| panic!("no pausedTargets entry for {name}: {:#?}", g.status))
}

pub fn states(g: &BreakGlassGrant) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = g
        .status
        .as_ref()
        .map(|s| {
            s.paused_targets
                .iter()
                .map(|t| (t.name.clone(), format!("{:?}", t.state)))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// A scenario whose policy pauses `pause` (entries of `spec.pause`).
pub async fn scenario(test: &str, pause: impl FnOnce(&str) -> Value) -> (Scenario, String) {
    let s = Scenario::new(test).await;
    let pause = pause(&s.ns);
    policies_raw(&s.client)
        .patch(
            &s.policy,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"pause": pause}})),
        )
        .await
        .expect("policy pause entries");
    let ns = s.ns.clone();
    (s, ns)
}

/// A scenario whose policy pauses one auto-syncing Application, `payments`, returned as
/// created.
pub async fn payments_app(test: &str, automated: Value) -> (Scenario, String, Value) {
    let (s, ns) = scenario(
        test,
        |ns| json!([{"argoCD": {"namespace": ns, "names": ["payments"]}}]),
    )
    .await;
    let app = create(
        &s.client,
        &ns,
        APPLICATION,
        "payments",
        application(Some(automated)),
    )
    .await;
    (s, ns, app)
}

pub async fn touch(s: &Scenario, grant: &str) {
    // Any change makes the controller look at the grant again now rather than at its resync.
    s.grants()
        .patch(
            grant,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"test/touched": format!("{:?}", std::time::Instant::now())}}})),
        )
        .await
        .expect("touch");
}

pub async fn wait_entry_state(
    s: &Scenario,
    grant: &str,
    name: &str,
    state: PauseState,
) -> BreakGlassGrant {
    let grants = s.grants();
    let found = eventually(SOON, || async {
        let g = grants.get(grant).await.ok()?;
        g.status
            .as_ref()?
            .paused_targets
            .iter()
            .any(|t| t.name == name && t.state == state)
            .then_some(g)
    })
    .await;
    found.unwrap_or_else(|| panic!("{name} never reached {state:?}"))
}
