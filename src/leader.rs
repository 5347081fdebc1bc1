//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager): only the
//! replica holding the lease reconciles; the others stay ready and idle.
//!
//! The lease manager tells us when we gain or lose the lease, but if the API server becomes
//! unreachable it keeps its last answer. So while leading we also read the Lease ourselves
//! and stop work as soon as our own renewal is no longer fresh, before any other replica
//! may take over.

use std::{future::Future, sync::Arc, time::Duration};

use k8s_openapi::{api::coordination::v1::Lease, jiff::Timestamp};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::telemetry::Metrics;

/// How often the leader re-reads its Lease to confirm it still holds it.
const CHECK_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Config {
    pub lease_name: String,
    pub namespace: String,
    /// Unique per replica (the Pod name in a cluster).
    pub identity: String,
    /// Seconds a lease stays valid after its last renewal.
    pub duration: u64,
    /// Seconds before expiry at which the holder renews; also the clock skew tolerated.
    pub grace: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lease {namespace}/{name}: {reason}")]
    Invalid {
        namespace: String,
        name: String,
        reason: String,
    },
    #[error("lease {namespace}/{name}: {source}")]
    Manager {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
    #[error("lease {namespace}/{name}: the lease manager stopped")]
    Stopped { namespace: String, name: String },
}

impl Config {
    pub fn validate(&self) -> Result<(), Error> {
        let reason = if self.grace < 2 {
            Some("--lease-grace must be at least 2 seconds")
        } else if self.duration <= self.grace + 1 {
            Some("--lease-duration must exceed --lease-grace by more than 1 second")
        } else if self.identity.is_empty() {
            Some("the lease identity is empty")
        } else {
            None
        };
        match reason {
            Some(r) => Err(Error::Invalid {
                namespace: self.namespace.clone(),
                name: self.lease_name.clone(),
                reason: r.into(),
            }),
            None => Ok(()),
        }
    }

    /// Until when a renewal at `renewed` lets us act: half the grace before expiry, so we
    /// stop before a replica whose clock runs up to `grace` ahead may take over.
    fn acts_until(&self, renewed: Timestamp, duration_secs: u64) -> Timestamp {
        let margin_ms = (self.grace * 1000 / 2) as i64;
        let valid_ms = (duration_secs * 1000) as i64 - margin_ms;
        renewed
            .checked_add(k8s_openapi::jiff::SignedDuration::from_millis(valid_ms))
            .unwrap_or(renewed)
    }
}

/// Whether the Lease, as read, says we hold it, and until when we may act on it.
fn held_until(cfg: &Config, lease: &Lease) -> Option<Timestamp> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return None;
    }
    let renewed = spec.renew_time.as_ref()?.0;
    let duration = spec
        .lease_duration_seconds
        .and_then(|d| u64::try_from(d).ok())
        .unwrap_or(cfg.duration);
    Some(cfg.acts_until(renewed, duration))
}

/// Runs `work` only while this replica leads. Returns when `work` returns (the controller
/// shut down on a signal) or when a signal arrives while following; the lease is released
/// on the way out so another replica takes over at once.
pub async fn run<W, F>(
    client: Client,
    cfg: Config,
    metrics: Arc<Metrics>,
    mut work: W,
) -> Result<(), Error>
where
    W: FnMut() -> F,
    F: Future<Output = ()>,
{
    cfg.validate()?;
    let manager_error = |source| Error::Manager {
        namespace: cfg.namespace.clone(),
        name: cfg.lease_name.clone(),
        source,
    };
    let manager = LeaseManagerBuilder::new(client.clone(), &cfg.lease_name)
        .with_namespace(&cfg.namespace)
        .with_identity(&cfg.identity)
        .with_duration(cfg.duration)
        .with_grace(cfg.grace)
        .with_field_manager(format!("breakglass-lease/{}", cfg.identity))
        .build()
        .await
        .map_err(manager_error)?;
    let (mut leading, task) = manager.watch().await;
    let leases: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    info!(lease = %cfg.lease_name, namespace = %cfg.namespace, identity = %cfg.identity, "waiting for the leader lease");
    metrics.set_leader(false);

    let outcome = loop {
        let acquired = tokio::select! {
            acquired = acquire(&cfg, &leases, &mut leading) => acquired,
            () = shutdown_signal() => break Ok(()),
        };
        let Some(mut until) = acquired else {
            break Err(Error::Stopped {
                namespace: cfg.namespace.clone(),
                name: cfg.lease_name.clone(),
            });
        };
        info!(identity = %cfg.identity, "leading: reconciling grants");
        metrics.set_leader(true);
        tokio::select! {
            () = work() => break Ok(()),
            () = lost(&cfg, &leases, &mut leading, &mut until) => {
                metrics.set_leader(false);
                warn!(identity = %cfg.identity, "lost the leader lease: stopped all work");
            }
        }
    };
    metrics.set_leader(false);
    // Closing the channel makes the manager release the lease.
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(Ok(Ok(_))) => info!("leader lease released"),
        Ok(Ok(Err(err))) => warn!(error = %err, "releasing the leader lease"),
        Ok(Err(err)) => warn!(error = %err, "the lease task failed"),
        Err(_) => warn!("timed out releasing the leader lease; it expires by itself"),
    }
    outcome
}

/// Waits until the manager says we lead and the Lease confirms a fresh renewal. `None` when
/// the manager has stopped.
async fn acquire(
    cfg: &Config,
    leases: &Api<Lease>,
    leading: &mut watch::Receiver<bool>,
) -> Option<Timestamp> {
    loop {
        leading.wait_for(|l| *l).await.ok()?;
        if let Ok(lease) = leases.get(&cfg.lease_name).await
            && let Some(until) = held_until(cfg, &lease)
            && Timestamp::now() < until
        {
            return Some(until);
        }
        // Told we lead, but the Lease does not show a fresh renewal (yet): look again.
        tokio::select! {
            _ = leading.changed() => {}
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

/// Returns when leadership is lost: the manager says so, another holder appears, or our
/// last confirmed renewal is about to run out (e.g. the API server is unreachable).
async fn lost(
    cfg: &Config,
    leases: &Api<Lease>,
    leading: &mut watch::Receiver<bool>,
    until: &mut Timestamp,
) {
    loop {
        tokio::select! {
            changed = leading.changed() => {
                if changed.is_err() || !*leading.borrow() {
                    return;
                }
            }
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
        match leases.get(&cfg.lease_name).await {
            Ok(lease) => match held_until(cfg, &lease) {
                Some(t) => *until = t,
                None => return,
            },
            Err(err) => warn!(error = %err, "reading the leader lease"),
        }
        if Timestamp::now() >= *until {
            return;
        }
    }
}

/// SIGTERM (Kubernetes) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            lease_name: "breakglass-operator".into(),
            namespace: "breakglass-system".into(),
            identity: "pod-a".into(),
            duration: 15,
            grace: 4,
        }
    }

    fn lease(holder: &str, renewed: &str, duration: i32) -> Lease {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "breakglass-operator"},
            "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": duration}
        }))
        .expect("lease fixture")
    }

    #[test]
    fn a_holder_acts_until_half_the_grace_before_expiry() {
        let until = held_until(&cfg(), &lease("pod-a", "2026-11-21T10:00:00.000000Z", 15));
        assert_eq!(
            until.map(|t| t.to_string()),
            Some("2026-11-21T10:00:13Z".to_owned())
        );
    }

    #[test]
    fn another_holder_means_not_leading() {
        assert_eq!(
            held_until(&cfg(), &lease("pod-b", "2026-11-21T10:00:00.000000Z", 15)),
            None
        );
    }

    #[test]
    fn timings_that_cannot_keep_one_leader_are_refused() {
        let mut c = cfg();
        c.grace = 1;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.duration = 5;
        assert!(c.validate().is_err());
        assert!(cfg().validate().is_ok());
    }
}
