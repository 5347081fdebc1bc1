//! What every reconcile shares: clients, the event recorder, metrics, per-grant memory that
//! only saves work (failures for backoff, the journal's record of our own writes, group
//! ids), and small helpers.

use std::{collections::HashMap, sync::Arc};

pub(crate) use crate::faults::failpoint;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::{
    Client,
    runtime::events::{Event, EventType, Recorder, Reporter},
};

use super::{ledger::Ledger, own_writes::OwnWrites};
use crate::{api::GrantKey, aws::IdentityCenter, telemetry::Metrics};

pub const FINALIZER: &str = "breakglass.dev/revoke-access";

pub const FIELD_MANAGER: &str = "breakglass-controller";

/// What the controller shares across reconciles.
pub struct Context {
    pub client: Client,
    /// IAM Identity Center: the SDK in production, in memory in tests.
    pub aws: Arc<dyn IdentityCenter>,
    /// The durable record of every member the operator added.
    pub ledger: Ledger,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Account-assignment look-ups and AWS's in-progress creations.
    pub(crate) sso: super::sso_state::SsoState,
    /// Discovery answers for the kinds policies pause, shared by every grant's checks.
    pub(crate) kinds: crate::pause::cluster::Kinds,
    /// Consecutive failures per grant, for capped exponential backoff.
    pub(crate) failures: std::sync::Mutex<HashMap<GrantKey, u32>>,
    /// Serializes grant/revoke for one user, so overlapping grants cannot undo each other.
    user_locks: super::locks::KeyedLocks,
    /// What this process wrote or confirmed per grant: the journal's, which keeps it.
    pub(crate) own_writes: OwnWrites,
    /// The session guard runs beside the pipeline (deleted grants wait for its cut).
    pub(crate) guarding: std::sync::atomic::AtomicBool,
    /// Identity Store group ids by (store, display name), looked up once per TTL.
    group_ids: super::group_ids::GroupIds,
    /// Identity Store user ids by (store, user name): immutable, so kept until AWS says
    /// the id is gone.
    user_ids: super::user_ids::UserIds,
    /// Which paused kinds are watched and in sync: their grants need no periodic read.
    pub(crate) pause_watches: super::pause_watch::health::Health,
    /// How often a grant whose targets are all watched reads them anyway (a safety net).
    pub(crate) pause_recheck: std::time::Duration,
    /// One pausing or restoring grant per policy at a time: its grants share their targets,
    /// and concurrent patches of one object conflict and back off (a burst of endings on
    /// one Application took tens of seconds).
    pub(crate) pause_locks: super::locks::KeyedLocks,
}

/// The safety re-check of watched pause targets unless `--pause-recheck-interval` says.
pub const PAUSE_RECHECK_DEFAULT: std::time::Duration = std::time::Duration::from_secs(3600);

impl Context {
    pub fn new(
        client: Client,
        aws: Arc<dyn IdentityCenter>,
        metrics: Arc<Metrics>,
        ledger: Ledger,
    ) -> Self {
        let reporter = Reporter {
            controller: "breakglass-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            ledger,
            metrics,
            failures: Default::default(),
            user_locks: Default::default(),
            own_writes: Default::default(),
            sso: Default::default(),
            kinds: Default::default(),
            guarding: Default::default(),
            group_ids: Default::default(),
            user_ids: Default::default(),
            pause_watches: Default::default(),
            pause_recheck: PAUSE_RECHECK_DEFAULT,
            pause_locks: Default::default(),
        }
    }

    pub(crate) fn cached_group_id(&self, store: &str, name: &str) -> Option<String> {
        self.group_ids.get(store, name, tokio::time::Instant::now())
    }

    pub(crate) fn cache_group_id(&self, store: &str, name: &str, id: Option<&str>) {
        self.group_ids
            .set(store, name, id, tokio::time::Instant::now());
    }

    /// The user's id in `store`: remembered, or looked up (once) by `reader`.
    pub(crate) async fn user_id(
        &self,
        reader: &crate::aws::Store<'_>,
        store: &str,
        user: &str,
    ) -> Result<String, crate::aws::Error> {
        if let Some(id) = self.user_ids.get(store, user) {
            return Ok(id);
        }
        let id = reader.user_id(user).await?;
        self.user_ids.set(store, user, &id);
        Ok(id)
    }

    /// Forgets the user's id when AWS answered `err` (ResourceNotFound) to a call naming
    /// it: the user was deleted, and may come back under the same name with a new id.
    pub(crate) fn user_id_failed(&self, store: &str, user: &str, err: &crate::aws::Error) {
        if err.code() == Some("ResourceNotFoundException") {
            self.user_ids.forget(store, user);
        }
    }

    /// Records an Event on `object`; best effort: a lost Event never fails a reconcile.
    pub(crate) async fn publish(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1024).collect()),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, object).await {
            tracing::warn!(error = %e, "could not publish event");
        }
    }

    /// Held while one user's membership is given or taken.
    pub(crate) async fn user_lock(&self, key: &str) -> super::locks::KeyGuard<'_> {
        self.user_locks.lock(key).await
    }
}

pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}
