//! What the webhook knows without asking: reflector stores (a watch each) of the grants it
//! made and of the policies. A repeated notification is answered from them with no API
//! call. Its own writes are kept aside until the watch delivers them, so a retry that
//! arrives first still finds them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, reflector, reflector::Store, watcher},
};
use tracing::warn;

use super::alertmanager::{NamedPolicy, SOURCE_LABEL};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    telemetry::Metrics,
};

pub struct Cache {
    /// The webhook's own identity, for its writes.
    pub client: Client,
    pub metrics: Arc<Metrics>,
    grants: Store<BreakGlassGrant>,
    policies: Store<BreakGlassPolicy>,
    /// Grants this process wrote, by namespace/name, until the watch catches up, delivers
    /// their deletion, or `REMEMBER_FOR` has passed.
    recent: Arc<Mutex<Recent>>,
}

type Recent = HashMap<(String, String), (Instant, BreakGlassGrant)>;

/// A deleted grant is no longer one to write to: its remembered copy (this version or an
/// older one) goes with it.
fn forget_deleted(recent: &Mutex<Recent>, deleted: &BreakGlassGrant) {
    let key = (deleted.namespace().unwrap_or_default(), deleted.name_any());
    if let Ok(mut recent) = recent.lock()
        && recent
            .get(&key)
            .is_some_and(|(_, mine)| version(mine) <= version(deleted))
    {
        recent.remove(&key);
    }
}

/// How long an own write is kept when the watch has not delivered it: far longer than a
/// watch event takes, short enough that a grant deleted meanwhile is soon forgotten.
const REMEMBER_FOR: Duration = Duration::from_secs(60);

/// `resourceVersion`s are opaque, but etcd's are increasing integers; they are compared
/// only to pick the fresher of two copies of one object, never for correctness (writes are
/// guarded by the API server's own check).
fn version(g: &BreakGlassGrant) -> u64 {
    g.resource_version()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Cache {
    /// Starts both watches in the background.
    pub fn start(clients: super::Clients, metrics: Arc<Metrics>) -> Arc<Self> {
        let super::Clients {
            watches: client,
            writes,
        } = clients;
        let (grants, grant_writer) = reflector::store();
        let (policies, policy_writer) = reflector::store();
        let selector = format!("{SOURCE_LABEL}=alertmanager");
        let recent = Arc::new(Mutex::new(Recent::new()));
        let deletions = recent.clone();
        let grant_stream = reflector(
            grant_writer,
            crate::faults::lagged(
                watcher(
                    Api::<BreakGlassGrant>::all(client.clone()),
                    watcher::Config::default().labels(&selector),
                )
                .modify(|g| g.managed_fields_mut().clear()),
            ),
        )
        .inspect_ok(move |event| {
            if let watcher::Event::Delete(g) = event {
                forget_deleted(&deletions, g);
            }
        });
        let policy_stream = reflector(
            policy_writer,
            watcher(
                Api::<BreakGlassPolicy>::all(client.clone()),
                watcher::Config::default(),
            ),
        );
        tokio::spawn(drain(grant_stream.default_backoff().boxed(), "grants"));
        tokio::spawn(drain(policy_stream.default_backoff().boxed(), "policies"));
        Arc::new(Self {
            client: writes,
            metrics,
            grants,
            policies,
            recent,
        })
    }

    /// A cache with no watches behind it (they would be requests of their own): the fast
    /// tier's tests fill it only through the webhook's own writes.
    #[cfg(test)]
    pub(crate) fn detached(client: Client, metrics: Arc<Metrics>) -> Arc<Self> {
        let (grants, _) = reflector::store();
        let (policies, _) = reflector::store();
        Arc::new(Self {
            client,
            metrics,
            grants,
            policies,
            recent: Arc::new(Mutex::new(Recent::new())),
        })
    }

    /// Waits until both stores hold a first full list (at most `limit`).
    pub async fn ready(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            let _ = self.grants.wait_until_ready().await;
            let _ = self.policies.wait_until_ready().await;
        })
        .await
        .is_ok()
    }

    /// Every policy, named, as alert matching reads them.
    pub fn policies(&self) -> Vec<NamedPolicy> {
        self.policies
            .state()
            .iter()
            .map(|p| NamedPolicy {
                name: p.metadata.name.clone().unwrap_or_default(),
                spec: p.spec.0.clone(),
            })
            .collect()
    }

    /// Every grant the webhook made, as fresh as this process knows it.
    pub fn grants(&self) -> Vec<Arc<BreakGlassGrant>> {
        let mut all: HashMap<(String, String), Arc<BreakGlassGrant>> = self
            .grants
            .state()
            .into_iter()
            .map(|g| ((g.namespace().unwrap_or_default(), g.name_any()), g))
            .collect();
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|key, (at, mine)| match all.get(key) {
                // The watch has delivered this write or a later one: it is no longer needed.
                Some(watched) if version(watched) >= version(mine) => false,
                _ if at.elapsed() > REMEMBER_FOR => false,
                _ => {
                    all.insert(key.clone(), Arc::new(mine.clone()));
                    true
                }
            });
        }
        all.into_values().collect()
    }

    /// One grant, from the cache.
    pub fn get(&self, namespace: &str, name: &str) -> Option<BreakGlassGrant> {
        let key = (namespace.to_owned(), name.to_owned());
        let recent = self
            .recent
            .lock()
            .ok()
            .and_then(|r| r.get(&key).map(|(_, g)| g.clone()));
        let watched = self
            .grants
            .get(&reflector::ObjectRef::new(name).within(namespace))
            .map(|g| (*g).clone());
        match (recent, watched) {
            (Some(r), Some(w)) => Some(if version(&w) >= version(&r) { w } else { r }),
            (r, w) => r.or(w),
        }
    }

    /// Drops what this process remembers of a grant the API server says is gone (a
    /// deletion the watch did not deliver, e.g. while it was re-listing).
    pub fn forget(&self, namespace: &str, name: &str) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.remove(&(namespace.to_owned(), name.to_owned()));
        }
    }

    /// Keeps a grant this process just wrote.
    pub fn remember(&self, mut grant: BreakGlassGrant) {
        grant.managed_fields_mut().clear();
        if let Ok(mut recent) = self.recent.lock() {
            recent.insert(
                (grant.namespace().unwrap_or_default(), grant.name_any()),
                (Instant::now(), grant),
            );
        }
    }
}

async fn drain<T, E: std::fmt::Display>(
    mut stream: futures::stream::BoxStream<'static, Result<T, E>>,
    what: &'static str,
) {
    while let Some(event) = stream.next().await {
        if let Err(e) = event {
            warn!(error = %e, "webhook cache: watching {what} failed; retrying");
        }
    }
}
