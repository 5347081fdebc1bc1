//! A suspended Flux Kustomization's end state, pure. kustomize-controller does not reconcile
//! a suspended Kustomization, so its Ready condition and revisions stay those from before
//! the pause: a repair made meanwhile is invisible there. What it would do if given back is
//! read from what is true now instead: the source's current artifact, rendered the way
//! kustomize-controller renders plain manifests ([`render`]), each object dry-run with
//! server-side apply as `kustomize-controller` against the live one, and the inventory it
//! would prune ([`assess`]). The I/O is the operator's `pause::cluster::flux`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{Drift, DriftResource};

mod render;
pub use render::{RenderError, normalize, render};

/// The field manager kustomize-controller applies with (forcing ownership).
pub const MANAGER: &str = "kustomize-controller";
/// The labels kustomize-controller puts on every object it applies.
const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// An object kustomize-controller never prunes.
const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// Kustomization spec fields that change the manifests in ways this reading does not
/// reproduce: with any of them set the end state is not assessed.
const TRANSFORMS: &[&str] = &[
    "patches",
    "images",
    "namePrefix",
    "nameSuffix",
    "targetNamespace",
    "commonMetadata",
    "postBuild",
    "components",
    "decryption",
];
/// How many changed fields one resource lists.
const MAX_PATHS: usize = 4;

/// The spec fields of `ks` this reading cannot reproduce.
pub fn unrendered(ks: &Value) -> Vec<&'static str> {
    TRANSFORMS
        .iter()
        .copied()
        .filter(|f| {
            ks.pointer(&format!("/spec/{f}"))
                .is_some_and(|v| !v.is_null())
        })
        .collect()
}

/// The source a Kustomization applies: `(apiVersion, kind, namespace, name)`.
pub fn source_ref(ks: &Value) -> Option<(String, String, String, String)> {
    let r = ks.pointer("/spec/sourceRef")?;
    let s = |k: &str| r.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let namespace = s("namespace").or_else(|| ks.pointer("/metadata/namespace")?.as_str())?;
    Some((
        s("apiVersion")
            .unwrap_or("source.toolkit.fluxcd.io/v1")
            .to_owned(),
        s("kind")?.to_owned(),
        namespace.to_owned(),
        s("name")?.to_owned(),
    ))
}

/// A source's current artifact, as source-controller reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub url: String,
    pub revision: String,
    /// `sha256:<hex>`, checked against what is downloaded.
    pub digest: Option<String>,
}

pub fn artifact(source: &Value) -> Option<Artifact> {
    let a = source.pointer("/status/artifact")?;
    let s = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Artifact {
        url: s("url")?,
        revision: s("revision").unwrap_or_default(),
        digest: s("digest"),
    })
}

/// One object kustomize-controller applies or has applied: the inventory's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjRef {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjRef {
    pub fn of(obj: &Value) -> Self {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let group = s("/apiVersion")
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        Self {
            group: group.to_owned(),
            kind: s("/kind").to_owned(),
            namespace: Some(s("/metadata/namespace").to_owned()).filter(|n| !n.is_empty()),
            name: s("/metadata/name").to_owned(),
        }
    }
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// `status.inventory`: each object with the apiVersion it was applied as.
pub fn inventory(ks: &Value) -> Vec<(ObjRef, String)> {
    let entries = ks
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array);
    entries
        .into_iter()
        .flatten()
        .filter_map(|e| {
            // `<namespace>_<name>_<group>_<kind>`: none of them may contain `_`.
            let id = e.get("id")?.as_str()?;
            let mut parts = id.splitn(4, '_');
            let (ns, name, group, kind) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let version = e.get("v").and_then(Value::as_str).unwrap_or("v1");
            let api_version = match group {
                "" => version.to_owned(),
                g => format!("{g}/{version}"),
            };
            Some((
                ObjRef {
                    group: group.to_owned(),
                    kind: kind.to_owned(),
                    namespace: Some(ns.to_owned()).filter(|n| !n.is_empty()),
                    name: name.to_owned(),
                },
                api_version,
            ))
        })
        .collect()
}

/// Whether kustomize-controller would delete `live` when it is no longer in the source.
pub fn prunable(ks: &Value, live: &Value) -> bool {
    let annotation = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PRUNE_ANNOTATION))
        .and_then(Value::as_str);
    ks.pointer("/spec/prune").and_then(Value::as_bool) == Some(true)
        && annotation != Some("disabled")
}

/// What giving the Kustomization back would do to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    /// The fields it would change, and who last wrote the object besides Flux.
    Changes {
        paths: Vec<String>,
        writers: Vec<String>,
    },
    /// It is in the source but not in the cluster: it would be created again.
    Missing,
    /// It is in the inventory, no longer in the source, and `prune` is on.
    Pruned,
    /// It could not be dry-run: nothing is known about it.
    Unknown(String),
}

/// The fields that differ between `live` and `after` (the dry run's answer), ignoring
/// what every write changes (`managedFields`, `resourceVersion`, `generation`).
pub fn changes(live: &Value, after: &Value) -> Vec<String> {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["managedFields", "resourceVersion", "generation"] {
                m.remove(k);
            }
        }
        v
    };
    let mut out = vec![];
    diff("", &strip(live), &strip(after), &mut out);
    out
}

fn diff(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if a == b || out.len() >= MAX_PATHS {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                diff(
                    &path,
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{at}[{i}]"), p, q, out);
            }
        }
        _ => out.push(at.to_owned()),
    }
}

/// Who wrote `live` besides kustomize-controller (field managers of the main resource).
pub fn writers(live: &Value, ignore: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let fields = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    for m in fields.into_iter().flatten() {
        let name = m.get("manager").and_then(Value::as_str).unwrap_or_default();
        let sub = m
            .get("subresource")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let theirs = !name.is_empty() && name != MANAGER && name != ignore && sub.is_empty();
        if theirs && !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
    }
    out
}

/// The drift of a suspended Kustomization, from each object's [`Outcome`] at `revision`.
pub fn assess(revision: &str, objects: &[(ObjRef, Outcome)]) -> Drift {
    let mut resources = vec![];
    let mut unknown = 0;
    for (r, outcome) in objects {
        let status = match outcome {
            Outcome::Unchanged => continue,
            Outcome::Changes { paths, writers } if writers.is_empty() => {
                format!("would change {}", paths.join(", "))
            }
            Outcome::Changes { paths, writers } => format!(
                "would change {} (written meanwhile by {})",
                paths.join(", "),
                writers.join(", ")
            ),
            Outcome::Missing => "would be created again".into(),
            Outcome::Pruned => "would be pruned".into(),
            Outcome::Unknown(why) => {
                unknown += 1;
                format!("not assessed: {why}")
            }
        };
        resources.push(DriftResource {
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            status,
        });
    }
    let total = objects.len();
    let changed = resources.len() - unknown;
    let (summary, in_sync) = if changed > 0 {
        let named: Vec<String> = objects
            .iter()
            .filter(|(_, o)| !matches!(o, Outcome::Unchanged | Outcome::Unknown(_)))
            .map(|(r, _)| r.to_string())
            .take(3)
            .collect();
        (
            format!(
                "giving it back would apply source revision {revision} over {changed} of {total} object(s) ({}{})",
                named.join(", "),
                if changed > named.len() { ", …" } else { "" }
            ),
            Some(false),
        )
    } else if unknown > 0 {
        (
            format!(
                "source revision {revision}: {unknown} of {total} object(s) could not be dry-run; the others would not change"
            ),
            None,
        )
    } else {
        (
            format!(
                "in sync while suspended: source revision {revision} changes none of {total} object(s) (server-side dry run as kustomize-controller)"
            ),
            Some(true),
        )
    };
    Drift {
        summary,
        in_sync,
        resources,
    }
}

#[cfg(test)]
mod tests;
