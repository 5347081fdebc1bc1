//! The lenient in-process API server, beside the strict [`super::ApiServer`]: it answers
//! each request by what it is (a read of an object or a list, a create, a patch of any
//! kind, a delete) from the objects it holds, as a real server would (versions bumped,
//! `resourceVersion` preconditions, 404 for what it does not hold, 409 for a name taken),
//! and records every request in a [`Timeline`] shared with the in-memory AWS's call log.
//! Tests through it assert outcomes and the order of Kubernetes writes against AWS calls,
//! never the exact list of requests a pass makes.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Arc, Mutex, MutexGuard},
};

use http::{Request, Response};
use kube::{Client, client::Body};
use serde_json::{Value, json};

use super::{
    applied_status, bumped, merged, patched,
    timeline::{Seen, Timeline},
};

/// Decides whether a request fails, before it is answered: `Some(code)` fails it.
pub(crate) type Rule = Box<dyn Fn(&Seen) -> Option<u16> + Send + Sync>;

#[derive(Default)]
struct Objects {
    /// Item path (`/apis/g/v/namespaces/ns/plural/name`) → object.
    by_path: BTreeMap<String, Value>,
    version: u64,
    rules: Vec<Rule>,
    /// Item path → field manager → the status it last applied (server-side apply).
    appliers: BTreeMap<String, BTreeMap<String, Value>>,
}

/// The objects the responder holds; cloned handles share them.
#[derive(Clone)]
pub(crate) struct Cluster {
    objects: Arc<Mutex<Objects>>,
    timeline: Timeline,
}

/// A kube client answered by a new [`Cluster`] recording into `timeline`.
pub(crate) fn cluster(timeline: Timeline) -> (Client, Cluster) {
    let cluster = Cluster {
        objects: Arc::default(),
        timeline,
    };
    let answering = cluster.clone();
    let service = tower::service_fn(move |req: Request<Body>| {
        let c = answering.clone();
        async move { Ok::<_, Infallible>(c.answer(req).await) }
    });
    (Client::new(service, "default"), cluster)
}

impl Cluster {
    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `obj` at `path` (its item path) as if created: a version, a uid.
    pub(crate) fn put(&self, path: &str, mut obj: Value) {
        let mut o = self.objects();
        o.version += 1;
        obj["metadata"]["resourceVersion"] = json!(o.version.to_string());
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = json!(format!("uid-{}", o.version));
        }
        o.by_path.insert(path.to_owned(), obj);
    }

    pub(crate) fn get(&self, path: &str) -> Option<Value> {
        self.objects().by_path.get(path).cloned()
    }

    pub(crate) fn remove(&self, path: &str) {
        self.objects().by_path.remove(path);
    }

    /// The objects under a collection path (a namespace's or every namespace's).
    pub(crate) fn list(&self, collection: &str) -> Vec<Value> {
        let o = self.objects();
        o.by_path
            .iter()
            .filter(|(p, _)| in_collection(p, collection))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Requests from now on meet `rule` first (every rule added stays).
    pub(crate) fn fail_when(&self, rule: impl Fn(&Seen) -> Option<u16> + Send + Sync + 'static) {
        self.objects().rules.push(Box::new(rule));
    }

    pub(crate) fn clear_rules(&self) {
        self.objects().rules.clear();
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body,
            code: 0,
        };
        let (code, answer) = {
            let mut o = self.objects();
            match o.rules.iter().find_map(|rule| rule(&seen)) {
                Some(code) => (code, status(code, "Injected")),
                None => o.handle(&seen),
            }
        };
        seen.code = code;
        self.timeline.kube(seen);
        Response::builder()
            .status(code)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(answer.to_string().into_bytes()))
            .expect("a response")
    }
}

/// Whether the item at `path` is in `collection`: its own, or the cluster-wide list of its
/// kind (`/apis/g/v/plural` for `/apis/g/v/namespaces/ns/plural/name`).
fn in_collection(path: &str, collection: &str) -> bool {
    let Some((parent, _)) = path.rsplit_once('/') else {
        return false;
    };
    if parent == collection {
        return true;
    }
    let segments: Vec<&str> = parent.split('/').collect();
    match segments.iter().position(|s| *s == "namespaces") {
        Some(i) if i + 2 < segments.len() => {
            let mut all = segments[..i].to_vec();
            all.extend(&segments[i + 2..]);
            all.join("/") == collection
        }
        _ => false,
    }
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "reason": reason, "code": code, "message": format!("{reason} (in-process API)")})
}

/// Whether `obj` carries every `key=value` of a selector (labels or the fields we select by).
fn selected(obj: &Value, query: &str) -> bool {
    query.split('&').all(|pair| {
        let Some((key, value)) = pair.split_once('=') else {
            return true;
        };
        let value = urlencoding_decode(value);
        let at = |pointer: &str| {
            obj.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match key {
            "labelSelector" => value.split(',').all(|l| match l.split_once('=') {
                Some((k, v)) => {
                    at(&format!("/metadata/labels/{}", k.replace('/', "~1"))).as_deref() == Some(v)
                }
                None => obj["metadata"]["labels"].get(l).is_some(),
            }),
            "fieldSelector" => value.split(',').all(|f| match f.split_once('=') {
                Some((k, v)) => at(&format!("/{}", k.replace('.', "/"))).as_deref() == Some(v),
                None => true,
            }),
            _ => true,
        }
    })
}

/// The `fieldManager` a write names (empty when none).
fn field_manager(query: &str) -> String {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("fieldManager="))
        .map(urlencoding_decode)
        .unwrap_or_default()
}

fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Objects {
    fn handle(&mut self, req: &Seen) -> (u16, Value) {
        let (path, sub) = match req.path.strip_suffix("/status") {
            Some(p) => (p.to_owned(), Some("status")),
            None => (req.path.clone(), None),
        };
        match req.method.as_str() {
            "GET" => match self.by_path.get(&path) {
                Some(obj) => (200, obj.clone()),
                None if sub.is_none() && self.is_collection(&path) => {
                    let items: Vec<&Value> = self
                        .by_path
                        .iter()
                        .filter(|(p, o)| in_collection(p, &path) && selected(o, &req.query))
                        .map(|(_, o)| o)
                        .collect();
                    let version = self.version.to_string();
                    (
                        200,
                        json!({"apiVersion": "v1", "kind": "List",
                                 "metadata": {"resourceVersion": version}, "items": items}),
                    )
                }
                None => (404, status(404, "NotFound")),
            },
            "POST" => self.create(&path, req.body.clone()),
            "PATCH" => self.patch(&path, sub, req),
            "PUT" => match self.by_path.get(&path) {
                None => (404, status(404, "NotFound")),
                Some(obj) if stale(obj, &req.body) => (409, status(409, "Conflict")),
                Some(_) => self.store(path, req.body.clone(), 200),
            },
            "DELETE" => self.delete(&path, &req.body),
            _ => (405, status(405, "MethodNotAllowed")),
        }
    }

    /// A collection is served when this kind is known: an object of it is or was held, or
    /// it is one of the kinds the operator lists (policies, grants, ledger entries, ConfigMaps).
    fn is_collection(&self, path: &str) -> bool {
        path.ends_with("/breakglasspolicies")
            || path.ends_with("/breakglassgrants")
            || path.ends_with("/breakglassledgerentries")
            || path.ends_with("/configmaps")
            || path.ends_with("/events")
            || self.by_path.keys().any(|p| in_collection(p, path))
    }

    fn store(&mut self, path: String, obj: Value, code: u16) -> (u16, Value) {
        self.version += 1;
        let mut obj = obj;
        obj["metadata"]["resourceVersion"] = json!(self.version.to_string());
        let deleted = obj["metadata"]["deletionTimestamp"].is_string()
            && obj["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty);
        if deleted {
            self.by_path.remove(&path);
        } else {
            self.by_path.insert(path, obj.clone());
        }
        (code, obj)
    }

    fn create(&mut self, collection: &str, mut obj: Value) -> (u16, Value) {
        let name = match obj["metadata"]["name"].as_str() {
            Some(n) => n.to_owned(),
            None => {
                let prefix = obj["metadata"]["generateName"].as_str().unwrap_or("obj-");
                let n = format!("{prefix}{}", self.version + 1);
                obj["metadata"]["name"] = json!(n);
                n
            }
        };
        let path = format!("{collection}/{name}");
        if self.by_path.contains_key(&path) {
            return (409, status(409, "AlreadyExists"));
        }
        obj["metadata"]["uid"] = json!(format!("uid-{}", self.version + 1));
        self.store(path, obj, 201)
    }

    fn patch(&mut self, path: &str, sub: Option<&str>, req: &Seen) -> (u16, Value) {
        let Some(obj) = self.by_path.get(path).cloned() else {
            return (404, status(404, "NotFound"));
        };
        let out = if req.content_type.starts_with("application/apply-patch") {
            let mut out = obj.clone();
            match sub {
                // Server-side apply of the status: each field manager's own fields (the
                // controller's, the guard's), the webhook's `alerts` kept.
                Some(_) => {
                    let manager = field_manager(&req.query);
                    let appliers = self.appliers.entry(path.to_owned()).or_default();
                    out["status"] =
                        applied_status(&obj["status"], &req.body["status"], &manager, appliers);
                }
                None => json_patch::merge(&mut out, &req.body),
            }
            bumped(out)
        } else if req.content_type.starts_with("application/json-patch") {
            match patched(&obj, &req.body) {
                Ok(out) => out,
                Err(_) => return (422, status(422, "Invalid")),
            }
        } else {
            if stale(&obj, &req.body) {
                return (409, status(409, "Conflict"));
            }
            merged(&obj, &req.body)
        };
        self.store(path.to_owned(), out, 200)
    }

    fn delete(&mut self, path: &str, body: &Value) -> (u16, Value) {
        let Some(obj) = self.by_path.get(path).cloned() else {
            return (404, status(404, "NotFound"));
        };
        if let Some(want) = body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            && obj["metadata"]["resourceVersion"].as_str() != Some(want)
        {
            return (409, status(409, "Conflict"));
        }
        if obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            let mut out = obj;
            out["metadata"]["deletionTimestamp"] =
                json!(k8s_openapi::jiff::Timestamp::now().to_string());
            return self.store(path.to_owned(), out, 200);
        }
        self.by_path.remove(path);
        (200, obj)
    }
}

/// Whether `body` names a `resourceVersion` other than the object's (a failed precondition).
fn stale(obj: &Value, body: &Value) -> bool {
    body.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|want| obj["metadata"]["resourceVersion"].as_str() != Some(want))
}
