//! Discovery answers by kind, cached: grants look at their targets at each change and at
//! every re-check, and each kind watch resolves its kind.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use kube::{
    Client,
    core::GroupVersionKind,
    discovery::{self, ApiResource, Scope},
};

use super::problem::{Problem, timed};

/// How long a served kind is remembered: many grants look at targets of the same kinds.
const KIND_TTL: Duration = Duration::from_secs(60);
/// How long a kind that is not served is remembered: a CRD installed meanwhile is seen soon.
const MISSING_KIND_TTL: Duration = Duration::from_secs(10);

pub(crate) type Kind = Option<(ApiResource, Scope)>;

/// Discovery answers by `(apiVersion, kind)`, shared by every grant's checks.
#[derive(Default)]
pub struct Kinds {
    cache: Mutex<HashMap<(String, String), (Instant, Kind)>>,
}

impl Kinds {
    /// The API resource for a kind, `Ok(None)` when the kind is not served (CRD not
    /// installed).
    pub(crate) async fn resource(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Kind, Problem> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Ok(cache) = self.cache.lock()
            && let Some((at, found)) = cache.get(&key)
        {
            let ttl = if found.is_some() {
                KIND_TTL
            } else {
                MISSING_KIND_TTL
            };
            if at.elapsed() < ttl {
                return Ok(found.clone());
            }
        }
        let what = || format!("discovery of {kind} {api_version}");
        let found = timed(what, async {
            match discovery::pinned_kind(client, &gvk(api_version, kind)).await {
                Ok((ar, caps)) => Ok(Some((ar, caps.scope))),
                Err(kube::Error::Discovery(_)) => Ok(None),
                // A group that is not served answers with a plain-text 404, not a Status.
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                Err(e) => Err(Problem::api("discover", &what(), None, e)),
            }
        })
        .await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), found.clone()));
        }
        Ok(found)
    }
}

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}
