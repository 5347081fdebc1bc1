//! Rendering a Flux source's manifests as kustomize-controller does for plain manifests.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{NAME_LABEL, NAMESPACE_LABEL};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("path {0} is not in the artifact")]
    NoPath(String),
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: {what}, which the operator does not render")]
    Unsupported { file: String, what: String },
}

fn kustomization_file(files: &BTreeMap<String, Vec<u8>>, dir: &str) -> Option<String> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|f| join(dir, f))
        .find(|f| files.contains_key(f))
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_owned(),
        d => format!("{d}/{name}"),
    }
}

/// `path` as the artifact's keys spell it: no `./`, no trailing `/`, `..` resolved.
pub fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = vec![];
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The objects kustomize-controller would apply from `files` (the artifact's regular files
/// by normalized path) at `path`, labelled as it labels them. Plain manifests, and
/// `kustomization.yaml` files that only list `resources` inside the artifact, are rendered
/// as kustomize would; anything else is [`RenderError::Unsupported`].
pub fn render(
    files: &BTreeMap<String, Vec<u8>>,
    path: &str,
    ks_name: &str,
    ks_namespace: &str,
) -> Result<Vec<Value>, RenderError> {
    let dir = normalize(path).ok_or_else(|| RenderError::NoPath(path.to_owned()))?;
    let inside = |d: &str| d.is_empty() || files.keys().any(|f| f.starts_with(&format!("{d}/")));
    if !inside(&dir) {
        return Err(RenderError::NoPath(path.to_owned()));
    }
    let mut out = vec![];
    render_dir(files, &dir, &mut out)?;
    for obj in &mut out {
        let labels = &mut obj["metadata"]["labels"];
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        labels[NAME_LABEL] = ks_name.into();
        labels[NAMESPACE_LABEL] = ks_namespace.into();
    }
    Ok(out)
}

fn render_dir(
    files: &BTreeMap<String, Vec<u8>>,
    dir: &str,
    out: &mut Vec<Value>,
) -> Result<(), RenderError> {
    if let Some(k) = kustomization_file(files, dir) {
        return render_kustomization(files, dir, &k, out);
    }
    // No kustomization file: kustomize-controller generates one listing every manifest
    // below, a subdirectory with its own kustomization file as one resource.
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut subdirs = BTreeSet::new();
    for (name, bytes) in files.range(prefix.clone()..) {
        let Some(rest) = name.strip_prefix(&prefix) else {
            break;
        };
        match rest.split_once('/') {
            Some((sub, _)) => {
                subdirs.insert(sub.to_owned());
            }
            None if rest.ends_with(".yaml") || rest.ends_with(".yml") => {
                out.extend(documents(name, bytes)?);
            }
            None => {}
        }
    }
    for sub in subdirs {
        render_dir(files, &join(dir, &sub), out)?;
    }
    Ok(())
}

fn render_kustomization(
    files: &BTreeMap<String, Vec<u8>>,
    dir: &str,
    file: &str,
    out: &mut Vec<Value>,
) -> Result<(), RenderError> {
    let k = yaml(file, &files[file])?.into_iter().next();
    let Some(Value::Object(k)) = k else {
        return Ok(());
    };
    let unsupported = |what: String| RenderError::Unsupported {
        file: file.to_owned(),
        what,
    };
    if let Some(key) = k
        .keys()
        .find(|key| !matches!(key.as_str(), "apiVersion" | "kind" | "resources"))
    {
        return Err(unsupported(format!("`{key}`")));
    }
    for r in k
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = r.as_str().unwrap_or_default();
        let target = normalize(&join(dir, r))
            .filter(|_| !r.contains("://") && !r.starts_with('/'))
            .ok_or_else(|| unsupported(format!("resource {r} outside the artifact")))?;
        match files.get(&target) {
            Some(bytes) => out.extend(documents(&target, bytes)?),
            None if files.keys().any(|f| f.starts_with(&format!("{target}/"))) => {
                render_dir(files, &target, out)?
            }
            None => return Err(unsupported(format!("resource {r}, which is not there"))),
        }
    }
    Ok(())
}

/// The Kubernetes objects in one YAML file (documents without `apiVersion` and `kind`
/// are not objects and are left out, as kustomize-controller's generator does).
fn documents(file: &str, bytes: &[u8]) -> Result<Vec<Value>, RenderError> {
    let mut docs = yaml(file, bytes)?;
    docs.retain(|v| v.get("apiVersion").is_some() && v.get("kind").is_some());
    Ok(docs)
}

fn yaml(file: &str, bytes: &[u8]) -> Result<Vec<Value>, RenderError> {
    let mut out = vec![];
    for doc in serde_yaml::Deserializer::from_slice(bytes) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| RenderError::Yaml {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}
