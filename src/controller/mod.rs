//! Controller wiring: watches grants (and the policies they name) and runs each grant's
//! lifecycle as a pipeline (`grant`): load → plan (pure) → apply (AWS) → status.

pub mod ledger;
pub mod policies;
pub mod sweep;

mod context;
mod error;
mod grant;
mod group_ids;
pub(crate) mod guard;
mod journal;
mod locks;
mod own_writes;
mod pause_watch;
mod sso_state;
mod user_ids;

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
        reflector::{self, ObjectRef},
        watcher,
    },
};
use tracing::{debug, warn};

use self::grant::apply;
pub use self::{
    context::{Context, FIELD_MANAGER, FINALIZER},
    error::{Error, PolicyError, SweepError, backoff},
};
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicy},
    aws::IdentityCenter,
    telemetry::Metrics,
};

/// How the controller runs.
pub struct Settings {
    /// Limits the grants watched (policies are cluster-scoped and always watched).
    pub namespace: Option<String>,
    /// Where releases before `BreakGlassLedgerEntry` kept the ledger (ConfigMaps, migrated
    /// at start).
    pub ledger_namespace: String,
    pub sweep_interval: std::time::Duration,
    /// Grant reconciles in flight at most.
    pub concurrency: u16,
    /// Names this installation's session guard statements and ledger entries.
    pub installation: breakglass_core::sessions::Installation,
    /// How long one AWS call may take at most, retries included.
    pub aws_call_deadline: std::time::Duration,
    /// How often a grant reads its pause targets although their watch says nothing changed.
    pub pause_recheck: std::time::Duration,
}

/// Runs the controller until the process is told to stop. Dropping the future stops all
/// work at once: every step is safe to interrupt and is redone by the next leader.
pub async fn run(
    client: Client,
    aws: Arc<dyn IdentityCenter>,
    metrics: Arc<Metrics>,
    settings: Settings,
) {
    let namespace = settings.namespace.clone();
    let grants: Api<BreakGlassGrant> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let policies: Api<BreakGlassPolicy> = Api::all(client.clone());
    let unmanaged = policies::Unmanaged::default();
    let policy_status = policies::run(client.clone(), unmanaged.clone());
    let ledger = ledger::Ledger::new(client.clone(), settings.installation.clone());
    // Before any sweep: an old ConfigMap entry not yet moved would be unknown to it.
    if let Err(e) = ledger::migrate::run(&client, &settings.ledger_namespace, &ledger).await {
        tracing::warn!(error = %e, namespace = %settings.ledger_namespace, "could not migrate the ConfigMap ledger; trying again at the next start");
    }
    let mut ctx = Context::new(client, aws, metrics.clone(), ledger);
    ctx.pause_recheck = settings.pause_recheck;
    let ctx = Arc::new(ctx);
    // The grant watch, shared by the lifecycle and the sweep's trigger: a grant deleted while
    // it may hold access (finalizer stripped) has its group swept at once.
    let (store, writer) = reflector::store();
    let trigger = sweep::Trigger::default();
    let gone = trigger.clone();
    let guard_trigger = guard::Trigger::default();
    let changed = guard_trigger.clone();
    let grants_changed = Arc::new(tokio::sync::Notify::new());
    let grant_changed = grants_changed.clone();
    let grant_events = crate::faults::lagged(
        watcher(grants, watcher::Config::default())
            .default_backoff()
            .modify(slim),
    )
    .reflect(writer)
    .inspect_ok(move |event| {
        if let watcher::Event::Delete(g) = event {
            gone.grant_gone(g);
        }
        changed.poke();
        grant_changed.notify_one();
    })
    .applied_objects();
    // A change to a paused target reconciles the grants it concerns.
    let (target_changed, changed_targets) = futures::channel::mpsc::unbounded();
    let pause_watches =
        pause_watch::run(ctx.clone(), store.clone(), grants_changed, target_changed);
    let controller = Controller::for_stream(grant_events, store.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .reconcile_on(changed_targets);
    let sweep = sweep::run(
        ctx.clone(),
        store.clone(),
        sweep::Settings {
            interval: settings.sweep_interval,
            namespace,
            call_deadline: settings.aws_call_deadline,
        },
        unmanaged,
        trigger,
    );
    ctx.guarding
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let sessions = guard::run(
        ctx.clone(),
        store.clone(),
        guard::Settings {
            installation: settings.installation.clone(),
            interval: settings.sweep_interval,
        },
        guard_trigger,
    );
    let _published = StorePublished::new(metrics, store.clone(), settings.sweep_interval);
    let grant_lifecycle = controller
        .watches(policies, watcher::Config::default(), move |policy| {
            let name = policy.name_any();
            store
                .state()
                .into_iter()
                .filter(|g| g.spec.policy == name)
                .map(|g| ObjectRef::from_obj(&*g))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                warn!(error = %err, "reconcile failed");
            }
        });
    // The sweep runs as long as the controller does: it stops on the same signal.
    tokio::select! {
        _ = futures::future::join(grant_lifecycle, policy_status) => {}
        () = sweep => {}
        () = sessions => {}
        () = pause_watches => {}
    }
}

/// What the cache keeps of a grant: nothing here reads managedFields, a client-side
/// apply's copy of the object, or the webhook's `status.alerts` (up to 5,000 per grant; the
/// journal's status writes leave them out, and the webhook has its own cache), and at
/// 10,000 grants they would be most of the cache's memory.
fn slim(grant: &mut BreakGlassGrant) {
    grant.managed_fields_mut().clear();
    grant
        .annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    if let Some(status) = grant.status.as_mut() {
        status.alerts = Vec::new();
    }
}

/// Work that makes no progress for this many sweep intervals fails the leader's `/healthz`.
pub const STALL_INTERVALS: u32 = 5;

/// Lends the grant cache to the metrics while the controller runs (the leader's gauges and
/// its health).
pub(crate) struct StorePublished(Arc<Metrics>);

impl StorePublished {
    fn new(
        metrics: Arc<Metrics>,
        store: kube::runtime::reflector::Store<BreakGlassGrant>,
        sweep_interval: std::time::Duration,
    ) -> Self {
        metrics.observe_grants(Some(store));
        metrics.watchdog.arm(sweep_interval * STALL_INTERVALS);
        Self(metrics)
    }
}

impl Drop for StorePublished {
    fn drop(&mut self) {
        self.0.observe_grants(None);
        self.0.watchdog.disarm();
    }
}

/// Only a safety net: the watch event of the write a stale copy lags behind wakes the grant
/// first.
const BEHIND_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) async fn reconcile(
    grant: Arc<BreakGlassGrant>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let ns = grant.namespace().unwrap_or_default();
    let api: Api<BreakGlassGrant> = Api::namespaced(ctx.client.clone(), &ns);
    let id = grant.key();
    let me = ObjectRef::from_obj(&*grant);
    ctx.metrics.reconciled();
    let _running = ctx.metrics.reconciling(id.to_string());
    if ctx.own_writes.is_behind(
        &journal::instance(&grant),
        grant.metadata.resource_version.as_deref(),
    ) {
        debug!(grant = %id, "the cache has not caught up with this process's last write; waiting for it");
        return Ok(Action::requeue(BEHIND_RECHECK));
    }
    let result = finalizer(&api, FINALIZER, grant, |event| async {
        match event {
            Finalizer::Apply(g) => apply(&g, &ctx, false).await,
            Finalizer::Cleanup(g) => {
                let action = apply(&g, &ctx, true).await?;
                // The finalizer stays until the guard has cut the sessions issued before
                // the end (its write wakes the grant again).
                if ctx.guarding.load(std::sync::atomic::Ordering::Relaxed)
                    && guard::holds_deletion(&g, k8s_openapi::jiff::Timestamp::now())
                {
                    return Err(Error::SessionsPending {
                        grant: ObjectRef::from_obj(&*g),
                    });
                }
                Ok(action)
            }
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer {
            grant: me,
            source: Box::new(other),
        },
    });
    if result.is_ok()
        && let Ok(mut failures) = ctx.failures.lock()
    {
        failures.remove(&id);
    }
    result
}

/// How often a deleted grant looks again while the guard has not cut its sessions yet
/// (the guard's write wakes it first).
const SESSIONS_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn error_policy(grant: Arc<BreakGlassGrant>, err: &Error, ctx: Arc<Context>) -> Action {
    let id = grant.key();
    if let Error::SessionsPending { .. } = err {
        debug!(grant = %id, "deleted grant waits for the session guard");
        return Action::requeue(SESSIONS_RECHECK);
    }
    let attempt = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(id.clone()).or_default();
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = backoff(attempt);
    ctx.metrics.reconcile_error(err.reason());
    warn!(grant = %id, attempt, retry_in = ?delay, error = %err, "reconcile failed; retrying");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_grant_keeps_no_field_nothing_reads() {
        let mut grant: BreakGlassGrant = serde_json::from_value(serde_json::json!({
            "apiVersion": "breakglass.dev/v1alpha1",
            "kind": "BreakGlassGrant",
            "metadata": {
                "name": "g", "namespace": "ns",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "breakglass.dev/restore": "now",
                },
                "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            },
            "spec": {"policy": "p", "user": "u", "reason": "r"},
            "status": {
                "phase": "Active",
                "alerts": [{"fingerprint": "f", "startsAt": "2026-01-01T00:00:00Z", "state": "Firing"}],
            },
        }))
        .expect("grant");
        slim(&mut grant);
        assert!(grant.metadata.managed_fields.is_none_or(|m| m.is_empty()));
        let status = grant.status.expect("status kept");
        assert!(
            status.alerts.is_empty(),
            "the webhook's alerts are not cached"
        );
        assert_eq!(status.phase, Some(crate::api::GrantPhase::Active));
        assert_eq!(
            grant
                .metadata
                .annotations
                .map(|a| a.into_keys().collect::<Vec<_>>()),
            Some(vec!["breakglass.dev/restore".to_owned()]),
            "the annotations the pipeline reads stay"
        );
    }
}
