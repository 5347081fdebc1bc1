//! Pausing automation, the pure part: which objects a policy names, which field each method
//! owns, and the exact JSON patches that pause and restore an object. The I/O lives in
//! [`apply`].
//!
//! An object paused by us carries two annotations: who holds the pause ([`PAUSED_BY`]) and a
//! [`Record`] of what was changed ([`PAUSE_RECORD`]). The record makes the object
//! self-describing, so whichever grant ends last can restore it exactly, even when the grant
//! that paused it (or its policy) is gone.

pub mod apply;
pub mod grant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{ArgoCdMethod, BreakGlassPolicySpec, FluxKind, PauseTarget};

/// Grants holding the pause of an object: comma-separated `namespace/name`, sorted.
pub const PAUSED_BY: &str = "breakglass.dev/paused-by";
/// The [`Record`] of what the first holder changed, as JSON.
pub const PAUSE_RECORD: &str = "breakglass.dev/pause-record";

const ARGO_SKIP_RECONCILE: &str = "argocd.argoproj.io/skip-reconcile";
const ARGO_REFRESH: &str = "argocd.argoproj.io/refresh";
const ARGO_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const ARGO_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const FLUX_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
const CROSSPLANE_PAUSED: &str = "crossplane.io/paused";
const AUTOMATED: &str = "/spec/syncPolicy/automated";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{kind} {name}: annotation {PAUSE_RECORD} is missing or unreadable ({why})")]
    BadRecord {
        kind: String,
        name: String,
        why: String,
    },
}

/// How an object is paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Argo CD: `automated.enabled: false`, or without that field, `automated` removed.
    DisableAutoSync,
    /// Argo CD: `argocd.argoproj.io/skip-reconcile: "true"`.
    SkipReconcile,
    /// Flux: `spec.suspend: true`.
    Suspend,
    /// Crossplane: `crossplane.io/paused: "true"`.
    CrossplanePause,
    /// tofu-controller: `spec.approvePlan: ""` (plan, never apply).
    PlanOnly,
    /// Any kind: one annotation set while paused.
    Annotation { key: String, value: String },
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::DisableAutoSync => "DisableAutoSync",
            Method::SkipReconcile => "SkipReconcile",
            Method::Suspend => "Suspend",
            Method::CrossplanePause => "CrossplanePause",
            Method::PlanOnly => "PlanOnly",
            Method::Annotation { .. } => "Annotation",
        }
    }
}

/// One `pause` entry of a policy: which objects, and how to pause them.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub names: Vec<String>,
    pub selector: Option<LabelSelector>,
    pub method: Method,
    pub required: bool,
    pub pause_parent: bool,
}

impl Selection {
    /// `kind apiVersion`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.api_version)
    }
}

/// The policy's pause entries, in order.
pub fn selections(policy: &BreakGlassPolicySpec) -> Vec<Selection> {
    policy.pause.iter().filter_map(selection).collect()
}

fn selection(target: &PauseTarget) -> Option<Selection> {
    let sel = |api_version: &str, kind: &str, namespace: Option<&String>, method| Selection {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.cloned(),
        names: vec![],
        selector: None,
        method,
        required: false,
        pause_parent: false,
    };
    if let Some(a) = &target.argo_cd {
        let method = match a.method {
            ArgoCdMethod::DisableAutoSync => Method::DisableAutoSync,
            ArgoCdMethod::SkipReconcile => Method::SkipReconcile,
        };
        return Some(Selection {
            names: a.names.clone(),
            selector: a.selector.clone(),
            required: a.required,
            pause_parent: a.pause_parent,
            ..sel(
                "argoproj.io/v1alpha1",
                "Application",
                Some(&a.namespace),
                method,
            )
        });
    }
    if let Some(f) = &target.flux {
        let (api_version, kind) = match f.kind {
            FluxKind::Kustomization => ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
            FluxKind::HelmRelease => ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        };
        return Some(Selection {
            names: f.names.clone(),
            selector: f.selector.clone(),
            required: f.required,
            ..sel(api_version, kind, Some(&f.namespace), Method::Suspend)
        });
    }
    if let Some(c) = &target.crossplane {
        return Some(Selection {
            names: c.names.clone(),
            selector: c.selector.clone(),
            required: c.required,
            ..sel(
                &c.api_version,
                &c.kind,
                c.namespace.as_ref(),
                Method::CrossplanePause,
            )
        });
    }
    if let Some(t) = &target.tofu {
        return Some(Selection {
            names: t.names.clone(),
            selector: t.selector.clone(),
            required: t.required,
            ..sel(
                "infra.contrib.fluxcd.io/v1alpha2",
                "Terraform",
                Some(&t.namespace),
                Method::PlanOnly,
            )
        });
    }
    target.annotation.as_ref().map(|a| Selection {
        names: a.names.clone(),
        selector: a.selector.clone(),
        required: a.required,
        ..sel(
            &a.api_version,
            &a.kind,
            a.namespace.as_ref(),
            Method::Annotation {
                key: a.key.clone(),
                value: a.value.clone(),
            },
        )
    })
}

/// What the first holder changed on the object; stored on it as [`PAUSE_RECORD`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub method: String,
    /// JSON pointer of the one field the pause owns.
    pub path: String,
    /// What the field was set to while paused; absent when the pause removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Value>,
    /// The field before the pause; absent when it was unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Value>,
}

/// The next change for one object when a grant wants it paused.
#[derive(Debug, Clone, PartialEq)]
pub enum PausePlan {
    /// Nothing to pause, and nothing will be restored: the reason says why.
    Skip(String),
    /// First holder: set the owned field and record the original. `ops` is the JSON patch.
    Pause { record: Record, ops: Vec<Value> },
    /// Already paused for other grants: add this grant to the holders.
    Join {
        record: Record,
        holders: Vec<String>,
        ops: Vec<Value>,
    },
    /// This grant already holds it. `changed` when someone else has since changed the field.
    Held { record: Record, changed: bool },
}

/// The next change for one object when a grant that may hold its pause ends.
#[derive(Debug, Clone, PartialEq)]
pub enum RestorePlan {
    /// This grant does not hold it (never patched, or already released).
    NotHeld,
    /// Other grants still hold it: only remove this grant from the holders.
    Release {
        others: Vec<String>,
        ops: Vec<Value>,
    },
    /// Last holder: put the field back, drop our annotations, ask the tool to reconcile.
    Restore { record: Record, ops: Vec<Value> },
    /// Last holder, but someone changed the field meanwhile: leave it, drop our annotations.
    KeepChange {
        record: Record,
        current: Option<Value>,
        ops: Vec<Value>,
    },
}

/// Escapes a map key for a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn annotation_path(key: &str) -> String {
    format!("/metadata/annotations/{}", escape(key))
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer(&annotation_path(key)).and_then(Value::as_str)
}

fn display_name(obj: &Value) -> String {
    let get = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    match get("/metadata/namespace") {
        "" => get("/metadata/name").to_owned(),
        ns => format!("{ns}/{}", get("/metadata/name")),
    }
}

/// Grants recorded as holding the pause of `obj`.
pub fn holders(obj: &Value) -> Vec<String> {
    annotation(obj, PAUSED_BY)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn record(obj: &Value) -> Result<Record, Error> {
    let bad = |why: String| Error::BadRecord {
        kind: obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        name: display_name(obj),
        why,
    };
    let raw = annotation(obj, PAUSE_RECORD).ok_or_else(|| bad("missing".into()))?;
    serde_json::from_str(raw).map_err(|e| bad(e.to_string()))
}

/// The field `method` owns on `obj` and the value it takes while paused, or why there is
/// nothing to pause. `enabled_supported`: the Application CRD has `automated.enabled`.
fn field(method: &Method, obj: &Value, enabled_supported: bool) -> Result<Record, String> {
    let (path, paused) = match method {
        Method::DisableAutoSync => {
            let automated = obj.pointer(AUTOMATED).filter(|v| !v.is_null());
            let Some(automated) = automated else {
                return Err("auto-sync is not enabled; nothing to pause".into());
            };
            if enabled_supported {
                if automated.get("enabled") == Some(&Value::Bool(false)) {
                    return Err("auto-sync is already disabled; nothing to pause".into());
                }
                (format!("{AUTOMATED}/enabled"), Some(Value::Bool(false)))
            } else {
                (AUTOMATED.to_owned(), None)
            }
        }
        Method::SkipReconcile => (
            annotation_path(ARGO_SKIP_RECONCILE),
            Some(Value::from("true")),
        ),
        Method::Suspend => ("/spec/suspend".to_owned(), Some(Value::Bool(true))),
        Method::CrossplanePause => (
            annotation_path(CROSSPLANE_PAUSED),
            Some(Value::from("true")),
        ),
        Method::PlanOnly => {
            let current = obj.pointer("/spec/approvePlan").and_then(Value::as_str);
            if current.unwrap_or_default().is_empty() {
                return Err("approvePlan is already empty (plan only); nothing to pause".into());
            }
            ("/spec/approvePlan".to_owned(), Some(Value::from("")))
        }
        Method::Annotation { key, value } => {
            (annotation_path(key), Some(Value::from(value.as_str())))
        }
    };
    let original = obj.pointer(&path).cloned();
    if original == paused {
        return Err("already paused by someone else; left alone".into());
    }
    Ok(Record {
        method: method.name().to_owned(),
        path,
        paused,
        original,
    })
}

/// Builds a JSON patch that is applied only if `obj` is unchanged since it was read.
struct Ops {
    ops: Vec<Value>,
    has_annotations: bool,
}

impl Ops {
    fn new(obj: &Value) -> Self {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        Self {
            ops: vec![json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv})],
            has_annotations: obj
                .pointer("/metadata/annotations")
                .is_some_and(Value::is_object),
        }
    }

    fn ensure_annotations(&mut self) {
        if !self.has_annotations {
            self.ops
                .push(json!({"op": "add", "path": "/metadata/annotations", "value": {}}));
            self.has_annotations = true;
        }
    }

    /// Sets (`Some`) or removes (`None`) the value at `path`; `current` is what is there now.
    fn set(&mut self, path: &str, value: Option<Value>, current: Option<&Value>) {
        if path.starts_with("/metadata/annotations/") {
            self.ensure_annotations();
        }
        match (value, current) {
            (Some(v), _) => self
                .ops
                .push(json!({"op": "add", "path": path, "value": v})),
            (None, Some(_)) => self.ops.push(json!({"op": "remove", "path": path})),
            (None, None) => {}
        }
    }

    fn annotate(&mut self, obj: &Value, key: &str, value: Option<String>) {
        let path = annotation_path(key);
        let current = obj.pointer(&path);
        self.set(&path, value.map(Value::from), current);
    }
}

fn joined(holders: &[String]) -> String {
    let mut h = holders.to_vec();
    h.sort();
    h.dedup();
    h.join(",")
}

/// Plans pausing `obj` for grant `me` (`namespace/name`).
pub fn plan_pause(
    obj: &Value,
    method: &Method,
    me: &str,
    enabled_supported: bool,
) -> Result<PausePlan, Error> {
    let mut current = holders(obj);
    if !current.is_empty() {
        let record = record(obj)?;
        if current.iter().any(|h| h == me) {
            let changed = obj.pointer(&record.path) != record.paused.as_ref();
            return Ok(PausePlan::Held { record, changed });
        }
        current.push(me.to_owned());
        let mut ops = Ops::new(obj);
        ops.annotate(obj, PAUSED_BY, Some(joined(&current)));
        return Ok(PausePlan::Join {
            record,
            holders: current,
            ops: ops.ops,
        });
    }
    let record = match field(method, obj, enabled_supported) {
        Ok(r) => r,
        Err(why) => return Ok(PausePlan::Skip(why)),
    };
    let mut ops = Ops::new(obj);
    ops.set(
        &record.path,
        record.paused.clone(),
        obj.pointer(&record.path),
    );
    ops.annotate(obj, PAUSED_BY, Some(me.to_owned()));
    let raw = serde_json::to_string(&record).unwrap_or_default();
    ops.annotate(obj, PAUSE_RECORD, Some(raw));
    Ok(PausePlan::Pause {
        record,
        ops: ops.ops,
    })
}

/// Plans ending `me`'s hold on `obj`. `others_live`: the other recorded holders that are
/// still active grants (stale holders are dropped, so a lost grant cannot pin a pause).
/// `now` (RFC 3339) goes into Flux's reconcile request.
pub fn plan_restore(
    obj: &Value,
    me: &str,
    others_live: &[String],
    now: &str,
) -> Result<RestorePlan, Error> {
    let current = holders(obj);
    if !current.iter().any(|h| h == me) {
        return Ok(RestorePlan::NotHeld);
    }
    let mut ops = Ops::new(obj);
    if !others_live.is_empty() {
        ops.annotate(obj, PAUSED_BY, Some(joined(others_live)));
        return Ok(RestorePlan::Release {
            others: others_live.to_vec(),
            ops: ops.ops,
        });
    }
    let record = record(obj)?;
    let now_value = obj.pointer(&record.path).cloned();
    let changed = now_value != record.paused;
    if !changed {
        ops.set(&record.path, record.original.clone(), now_value.as_ref());
    }
    ops.annotate(obj, PAUSED_BY, None);
    ops.annotate(obj, PAUSE_RECORD, None);
    if changed {
        return Ok(RestorePlan::KeepChange {
            record,
            current: now_value,
            ops: ops.ops,
        });
    }
    match record.method.as_str() {
        "DisableAutoSync" | "SkipReconcile" => {
            ops.annotate(obj, ARGO_REFRESH, Some("normal".into()));
        }
        "Suspend" | "PlanOnly" => {
            ops.annotate(obj, FLUX_REQUESTED_AT, Some(now.to_owned()));
        }
        _ => {}
    }
    Ok(RestorePlan::Restore {
        record,
        ops: ops.ops,
    })
}

/// The app-of-apps that manages an Argo CD Application: `(namespace, name)`, with the
/// namespace only when the tracking id names one (apps in any namespace).
pub fn argo_parent(app: &Value) -> Option<(Option<String>, String)> {
    let from_tracking = annotation(app, ARGO_TRACKING_ID)
        .and_then(|id| id.split(':').next())
        .filter(|s| !s.is_empty());
    let from_label = app
        .pointer(&format!("/metadata/labels/{}", escape(ARGO_INSTANCE_LABEL)))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let app_name = from_tracking.or(from_label)?;
    Some(match app_name.split_once('_') {
        Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
        None => (None, app_name.to_owned()),
    })
}

/// Applies JSON patch `ops` to `obj` in memory, as the API server would (for tests and for
/// checking a plan before sending it).
pub fn apply_ops(obj: &Value, ops: &[Value]) -> Result<Value, String> {
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops.to_vec())).map_err(|e| e.to_string())?;
    let mut out = obj.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests;
