//! A suspended Flux Kustomization's end state, the I/O: downloads its source's current
//! artifact from source-controller, renders it ([`flux::render`]) and dry-runs each object
//! as kustomize-controller would apply it; [`flux::assess`] says what that means. Whatever
//! cannot be read makes the drift "not assessed", never "in sync".

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
    discovery::Scope,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Kinds, Problem, reread, timed, to_value};
use crate::{
    api::{Drift, TargetRef},
    pause::flux::{self, ObjRef, Outcome, RenderError},
};

/// The artifact download may take this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest artifact read, compressed and unpacked: sources are manifests, not data.
const MAX_ARTIFACT: usize = 32 << 20;
const MAX_UNPACKED: u64 = 128 << 20;

/// Why the end state could not be read, by step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("it uses {0}, which the operator does not render")]
    Unrendered(String),
    #[error("it names no source")]
    NoSource,
    #[error("its source {0} was not found")]
    SourceGone(String),
    #[error("reading its source: {0}")]
    Source(Problem),
    #[error("its source {0} has no artifact yet")]
    NoArtifact(String),
    #[error("downloading artifact {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("artifact {url} has digest {got}, its source says {want}")]
    Digest {
        url: String,
        got: String,
        want: String,
    },
    #[error("unpacking artifact {url}")]
    Unpack {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering its source")]
    Render(#[source] RenderError),
}

/// The drift of suspended Kustomization `ks`: what giving it back would change now.
/// `ignore`: the operator's own field manager (its pause patches are not a repair).
pub async fn end_state(client: &Client, kinds: &Kinds, ks: &Value, ignore: &str) -> Drift {
    match read(client, kinds, ks, ignore).await {
        Ok(d) => d,
        Err(e) => {
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why.push_str(&format!(": {c}"));
                cause = c.source();
            }
            Drift {
                summary: format!(
                    "not assessed: {why}; kustomize-controller's own status is from before the pause"
                ),
                in_sync: None,
                resources: vec![],
            }
        }
    }
}

async fn read(client: &Client, kinds: &Kinds, ks: &Value, ignore: &str) -> Result<Drift, Error> {
    let unrendered = flux::unrendered(ks);
    if !unrendered.is_empty() {
        return Err(Error::Unrendered(format!(
            "spec.{}",
            unrendered.join(", spec.")
        )));
    }
    let (api_version, kind, namespace, name) = flux::source_ref(ks).ok_or(Error::NoSource)?;
    let source_ref = TargetRef {
        api_version,
        kind,
        namespace: Some(namespace),
        name,
    };
    let (source, _) = reread(client, kinds, &source_ref)
        .await
        .map_err(Error::Source)?
        .ok_or_else(|| Error::SourceGone(source_ref.to_string()))?;
    let artifact =
        flux::artifact(&source).ok_or_else(|| Error::NoArtifact(source_ref.to_string()))?;
    let tarball = fetch(&artifact.url).await?;
    if let Some(want) = artifact
        .digest
        .as_deref()
        .filter(|d| d.starts_with("sha256:"))
    {
        let got = format!("sha256:{}", hex::encode(Sha256::digest(&tarball)));
        if got != want {
            return Err(Error::Digest {
                url: artifact.url,
                got,
                want: want.to_owned(),
            });
        }
    }
    let files = unpack(&tarball).map_err(|source| Error::Unpack {
        url: artifact.url.clone(),
        source,
    })?;
    let s = |p: &str| ks.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let path = Some(s("/spec/path"))
        .filter(|p| !p.is_empty())
        .unwrap_or("./");
    let objects = flux::render(&files, path, s("/metadata/name"), s("/metadata/namespace"))
        .map_err(Error::Render)?;
    let mut outcomes = vec![];
    let mut rendered = BTreeSet::new();
    for obj in &objects {
        let r = ObjRef::of(obj);
        rendered.insert(r.clone());
        outcomes.push((r, dry_run(client, kinds, obj, ignore).await));
    }
    for (r, api_version) in flux::inventory(ks) {
        if !rendered.contains(&r)
            && let Some(outcome) = pruned(client, kinds, ks, &r, &api_version).await
        {
            outcomes.push((r, outcome));
        }
    }
    Ok(flux::assess(&artifact.revision, &outcomes))
}

async fn fetch(url: &str) -> Result<Bytes, Error> {
    let failed = |message: String| Error::Fetch {
        url: url.to_owned(),
        message,
    };
    let uri: http::Uri = url.parse().map_err(|e| failed(format!("{e}")))?;
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let got = tokio::time::timeout(FETCH_TIMEOUT, async {
        let res = http.get(uri).await.map_err(|e| failed(e.to_string()))?;
        if !res.status().is_success() {
            return Err(failed(format!("HTTP {}", res.status())));
        }
        Limited::new(res.into_body(), MAX_ARTIFACT)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| failed(e.to_string()))
    })
    .await;
    got.unwrap_or_else(|_| {
        Err(failed(format!(
            "no answer within {}s",
            FETCH_TIMEOUT.as_secs()
        )))
    })
}

/// The regular files of a gzipped tarball by normalized path.
fn unpack(tarball: &[u8]) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let gz = flate2::read::GzDecoder::new(tarball).take(MAX_UNPACKED);
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(path) = flux::normalize(&path).filter(|p| !p.is_empty()) else {
            continue;
        };
        let mut bytes = vec![];
        entry.read_to_end(&mut bytes)?;
        files.insert(path, bytes);
    }
    Ok(files)
}

/// The API and the namespace `obj` lives in, or why it cannot be looked at.
async fn api_for(
    client: &Client,
    kinds: &Kinds,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<Api<DynamicObject>, String> {
    let (ar, scope) = kinds
        .resource(client, api_version, kind)
        .await
        .map_err(|p| p.message)?
        .ok_or_else(|| format!("kind {kind} {api_version} is not served"))?;
    match (scope, namespace) {
        (Scope::Cluster, _) => Ok(Api::all_with(client.clone(), &ar)),
        (Scope::Namespaced, Some(ns)) => Ok(Api::namespaced_with(client.clone(), ns, &ar)),
        (Scope::Namespaced, None) => Err("namespaced, but the source gives no namespace".into()),
    }
}

/// The live object, `None` when it does not exist.
async fn live(api: &Api<DynamicObject>, r: &ObjRef) -> Result<Option<Value>, Problem> {
    let what = || r.to_string();
    timed(what, async {
        api.get_opt(&r.name)
            .await
            .map(|o| o.as_ref().map(to_value))
            .map_err(|e| Problem::api("get", &what(), None, e))
    })
    .await
}

/// What applying `obj` as kustomize-controller (server-side, forcing ownership) would
/// change: a dry run against the live object.
async fn dry_run(client: &Client, kinds: &Kinds, obj: &Value, ignore: &str) -> Outcome {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let r = ObjRef::of(obj);
    let api = match api_for(
        client,
        kinds,
        s("/apiVersion"),
        s("/kind"),
        r.namespace.as_deref(),
    )
    .await
    {
        Ok(api) => api,
        Err(why) => return Outcome::Unknown(why),
    };
    let what = || r.to_string();
    let live = live(&api, &r).await;
    let live = match live {
        Ok(Some(live)) => live,
        Ok(None) => return Outcome::Missing,
        Err(p) => return Outcome::Unknown(p.message),
    };
    let params = PatchParams {
        field_manager: Some(flux::MANAGER.to_owned()),
        force: true,
        dry_run: true,
        ..PatchParams::default()
    };
    let after = timed(what, async {
        api.patch(&r.name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| Problem::api("dry-run", &what(), None, e))
    })
    .await;
    match after {
        Ok(after) => {
            let paths = flux::changes(&live, &to_value(&after));
            if paths.is_empty() {
                Outcome::Unchanged
            } else {
                Outcome::Changes {
                    paths,
                    writers: flux::writers(&live, ignore),
                }
            }
        }
        Err(p) => Outcome::Unknown(p.message),
    }
}

/// An inventory object no longer in the source: `Pruned` when kustomize-controller would
/// delete it, `None` when it is already gone or kept.
async fn pruned(
    client: &Client,
    kinds: &Kinds,
    ks: &Value,
    r: &ObjRef,
    api_version: &str,
) -> Option<Outcome> {
    let api = match api_for(client, kinds, api_version, &r.kind, r.namespace.as_deref()).await {
        Ok(api) => api,
        Err(why) => return Some(Outcome::Unknown(why)),
    };
    let live = live(&api, r).await;
    match live {
        Ok(Some(live)) => flux::prunable(ks, &live).then_some(Outcome::Pruned),
        Ok(None) => None,
        Err(p) => Some(Outcome::Unknown(p.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (path, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // Written raw: `append_data` refuses `..`, an artifact need not.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            tar.append(&header, *bytes).expect("entry");
        }
        tar.into_inner().expect("tar").finish().expect("gzip")
    }

    #[test]
    fn an_artifact_unpacks_to_its_regular_files_and_nothing_outside_it() {
        let t = tarball(&[
            ("./app/settings.yaml", b"a: 1\n"),
            ("../../etc/passwd", b"x"),
            ("app/../other.yaml", b"b: 2\n"),
        ]);
        let files = unpack(&t).expect("unpacks");
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(names, ["app/settings.yaml", "other.yaml"]);
        assert_eq!(files["app/settings.yaml"], b"a: 1\n");
        assert!(unpack(b"not a tarball").is_err());
    }
}
