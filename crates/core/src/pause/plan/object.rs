//! What the operator's annotations on an object say (holders, record), and the JSON patch
//! builder every plan uses.

use serde_json::{Value, json};

use super::{Error, Record};
use crate::pause::{
    Method, PAUSE_RECORD, PAUSED_BY,
    owned::{self, escape},
};

const ARGO_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const ARGO_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

pub(super) use owned::annotation_path;

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
        .map(holders_of)
        .unwrap_or_default()
}

/// The grants a `paused-by` annotation's value names.
pub fn holders_of(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn record(obj: &Value) -> Result<Record, Error> {
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

/// The object's record, kept only when it stays inside a field one of `allowed` owns (see
/// [`owned`]): anyone who may edit the object may have written it.
pub(super) fn checked_record(obj: &Value, allowed: &[Method]) -> Result<Record, Error> {
    let r = record(obj)?;
    owned::check(&r, allowed).map_err(|why| Error::Refused {
        kind: obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        name: display_name(obj),
        why: Box::new(why),
    })?;
    Ok(r)
}

/// Builds a JSON patch that is applied only if `obj` is unchanged since it was read.
pub(super) struct Ops {
    pub(super) ops: Vec<Value>,
    has_annotations: bool,
}

impl Ops {
    pub(super) fn new(obj: &Value) -> Self {
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
    pub(super) fn set(&mut self, path: &str, value: Option<Value>, current: Option<&Value>) {
        if value.is_some() && path.starts_with("/metadata/annotations/") {
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

    pub(super) fn annotate(&mut self, obj: &Value, key: &str, value: Option<String>) {
        let path = annotation_path(key);
        let current = obj.pointer(&path);
        self.set(&path, value.map(Value::from), current);
    }
}

pub(super) fn joined(holders: &[String]) -> String {
    let mut h = holders.to_vec();
    h.sort();
    h.dedup();
    h.join(",")
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

/// Whether Argo CD reports `parent` managing the Application `child`: its
/// `status.resources` lists it (kind `Application`, group `argoproj.io` when given, same
/// name and namespace). The child's labels and tracking id are the child's to write, so
/// only the parent's own status may make it a parent to pause.
pub fn manages(parent: &Value, child: &Value) -> bool {
    let get = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let (name, namespace) = (
        get(child, "/metadata/name"),
        get(child, "/metadata/namespace"),
    );
    parent
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| {
            get(r, "/kind").as_deref() == Some("Application")
                && get(r, "/group").is_none_or(|g| g == "argoproj.io")
                && get(r, "/name") == name
                && get(r, "/namespace") == namespace
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
