//! What every reconcile shares: clients, the event recorder, metrics, per-grant memory that
//! only saves work (failures for backoff, recent confirmations, group ids), and small helpers.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Client, ResourceExt,
    runtime::events::{Recorder, Reporter},
};
use tokio::sync::Mutex;

use crate::{api::BreakGlassGrant, aws::Aws, telemetry::Metrics};

pub const FINALIZER: &str = "breakglass.dev/revoke-access";

pub const FIELD_MANAGER: &str = "breakglass-controller";

/// What the controller shares across reconciles.
pub struct Context {
    pub client: Client,
    pub aws: Aws,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per grant, for capped exponential backoff.
    pub(crate) failures: std::sync::Mutex<HashMap<String, u32>>,
    /// Serializes grant/revoke for one user, so overlapping grants cannot undo each other.
    user_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Per Active grant: the window it was last fully confirmed for (access on AWS, pauses),
    /// and when. The reconciles that follow within moments are the echoes of our own status
    /// writes (often of an older version still in the cache) and need no AWS call.
    confirmed: std::sync::Mutex<HashMap<String, (Timestamp, Instant)>>,
    /// Identity Store group ids by (store, display name): stable, so looked up once.
    group_ids: std::sync::Mutex<HashMap<(String, String), String>>,
}

/// How long a confirmation spares the echo of our own write; well below the periodic
/// re-check, which therefore always calls AWS.
const ECHO_WINDOW: Duration = Duration::from_secs(30);

impl Context {
    pub fn new(client: Client, aws: Aws, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: "breakglass-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            metrics,
            failures: Default::default(),
            user_locks: Default::default(),
            confirmed: Default::default(),
            group_ids: Default::default(),
        }
    }

    pub(crate) fn confirm(&self, key: String, expires_at: Timestamp) {
        if let Ok(mut map) = self.confirmed.lock() {
            map.insert(key, (expires_at, Instant::now()));
        }
    }

    /// Whether the grant was confirmed for this same window moments ago.
    pub(crate) fn just_confirmed(&self, key: &str, expires_at: Timestamp) -> bool {
        let Ok(mut map) = self.confirmed.lock() else {
            return false;
        };
        map.retain(|_, (_, at)| at.elapsed() < ECHO_WINDOW);
        map.get(key).is_some_and(|(e, _)| *e == expires_at)
    }

    pub(crate) fn cached_group_id(&self, store: &str, name: &str) -> Option<String> {
        let map = self.group_ids.lock().ok()?;
        map.get(&(store.to_owned(), name.to_owned())).cloned()
    }

    pub(crate) fn cache_group_id(&self, store: &str, name: &str, id: Option<&str>) {
        if let Ok(mut map) = self.group_ids.lock() {
            let key = (store.to_owned(), name.to_owned());
            match id {
                Some(id) => map.insert(key, id.to_owned()),
                None => map.remove(&key),
            };
        }
    }

    pub(crate) async fn user_lock(&self, key: &str) -> Arc<Mutex<()>> {
        self.user_locks
            .lock()
            .await
            .entry(key.to_owned())
            .or_default()
            .clone()
    }
}

pub(crate) fn key(grant: &BreakGlassGrant) -> String {
    format!(
        "{}/{}",
        grant.namespace().unwrap_or_default(),
        grant.name_any()
    )
}

/// This grant object, not another one made later under the same name.
pub(crate) fn instance(grant: &BreakGlassGrant) -> String {
    format!("{}/{}", key(grant), grant.uid().unwrap_or_default())
}

/// Stops with a failpoint when `BREAKGLASS_FAILPOINT` names it: the process stays alive but
/// this reconcile never continues, so a test can SIGKILL it at exactly this point.
pub(crate) async fn failpoint(name: &str) {
    if std::env::var("BREAKGLASS_FAILPOINT").is_ok_and(|f| f == name) {
        eprintln!("failpoint reached: {name}");
        std::future::pending::<()>().await;
    }
}

pub(crate) fn time(t: Timestamp) -> Time {
    Time(t)
}

pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}
