//! Objects for the mocked API server to serve, and what a real one does to them on a write
//! (patches applied, `resourceVersion` bumped), so answers are the objects the code expects.

use serde_json::{Value, json};

use crate::api::BreakGlassGrant;

/// A grant as the API server would serve it, with `resourceVersion` `version`.
pub(crate) fn grant(ns: &str, name: &str, version: u64, extra: Value) -> BreakGlassGrant {
    let mut g = json!({
        "apiVersion": "breakglass.dev/v1alpha1",
        "kind": "BreakGlassGrant",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "resourceVersion": version.to_string(), "generation": 1},
        "spec": {"policy": "prod-admin", "user": "alice@example.com", "reason": "INC-1"},
    });
    json_patch::merge(&mut g, &extra);
    serde_json::from_value(g).expect("a grant")
}

/// The object's `resourceVersion` as a number (0 when unset).
pub(crate) fn version_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `obj` with its `resourceVersion` one higher, as after any write.
pub(crate) fn bumped(mut obj: Value) -> Value {
    let next = version_of(&obj) + 1;
    obj["metadata"]["resourceVersion"] = json!(next.to_string());
    obj
}

/// A JSON merge patch applied as the API server applies it (the `resourceVersion` the patch
/// carries is a precondition, not a value to store).
pub(crate) fn merged(obj: &Value, patch: &Value) -> Value {
    let mut out = obj.clone();
    let mut patch = patch.clone();
    if let Some(meta) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    json_patch::merge(&mut out, &patch);
    bumped(out)
}

/// A JSON patch (RFC 6902) applied, `test` ops included: `Err` when one fails, as the API
/// server answers 422.
pub(crate) fn patched(obj: &Value, ops: &Value) -> Result<Value, String> {
    let patch: json_patch::Patch =
        serde_json::from_value(ops.clone()).map_err(|e| e.to_string())?;
    let mut out = obj.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| e.to_string())?;
    Ok(bumped(out))
}

/// The discovery answer (`GET /apis/{group}/{version}`) serving one kind.
pub(crate) fn resource_list(
    api_version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
) -> Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version,
        "resources": [
            {"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
             "kind": kind, "verbs": ["get", "list", "patch", "update", "watch"]},
            {"name": format!("{plural}/status"), "singularName": "", "namespaced": namespaced,
             "kind": kind, "verbs": ["get", "patch", "update"]},
        ],
    })
}

/// An Argo CD Application with automated sync (prune and selfHeal).
pub(crate) fn application(ns: &str, name: &str, version: u64) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": version.to_string()},
        "spec": {"project": "default",
                 "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
    })
}

/// A Flux Kustomization, running (not suspended).
pub(crate) fn kustomization(ns: &str, name: &str, version: u64) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": version.to_string()},
        "spec": {"interval": "5m", "path": "./", "prune": true},
    })
}

/// A status after `manager`'s server-side apply of `sent`, as the API server merges it for
/// the grant's appliers (`appliers`: what each one last applied; updated): what it sends is
/// its own (taken from any other applier, as `force` does), what it sent before and leaves
/// out now goes, what another applier sent stays. `conditions` is a map keyed by `type`, so
/// each applier owns its own entries. Fields no applier sent are the last applier's to wipe,
/// as this tier always did, but for the webhook's merge-patched `alerts`.
pub(crate) fn applied_status(
    current: &Value,
    sent: &Value,
    manager: &str,
    appliers: &mut std::collections::BTreeMap<String, Value>,
) -> Value {
    let sent = match sent {
        Value::Object(_) => sent.clone(),
        _ => json!({}),
    };
    let types = |status: &Value| -> Vec<String> {
        status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["type"].as_str().map(str::to_owned))
            .collect()
    };
    let sent_types = types(&sent);
    let mut out = sent.clone();
    let mut conditions: Vec<Value> = sent["conditions"].as_array().cloned().unwrap_or_default();
    for (_, theirs) in appliers.iter_mut().filter(|(m, _)| *m != manager) {
        let Value::Object(fields) = theirs else {
            continue;
        };
        // Force: what `manager` sends now is no longer the other's.
        fields.retain(|k, _| k == "conditions" || sent.get(k).is_none());
        if let Some(Value::Array(cs)) = fields.get_mut("conditions") {
            cs.retain(|c| {
                c["type"]
                    .as_str()
                    .is_none_or(|t| !sent_types.iter().any(|s| s == t))
            });
        }
        for (k, _) in fields.iter().filter(|(k, _)| *k != "conditions") {
            if let Some(v) = current.get(k) {
                out[k] = v.clone();
            }
        }
        let kept = types(&Value::Object(fields.clone()));
        conditions.extend(
            current["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| {
                    c["type"]
                        .as_str()
                        .is_some_and(|t| kept.iter().any(|k| k == t))
                })
                .cloned(),
        );
    }
    match (conditions.is_empty(), out.as_object_mut()) {
        (true, Some(o)) => {
            o.remove("conditions");
        }
        _ => out["conditions"] = Value::Array(conditions),
    }
    if out.get("alerts").is_none() && !current["alerts"].is_null() {
        out["alerts"] = current["alerts"].clone();
    }
    appliers.insert(manager.to_owned(), sent);
    out
}
