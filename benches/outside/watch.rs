//! The user's view: a watch on the bench namespace's grants, recording when each grant was
//! first seen in each phase (receive time of the watch event, monotonic and wall clock).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use breakglass::api::{BreakGlassGrant, GrantPhase, GuardState};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};

#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub at: Instant,
    pub wall: SystemTime,
}

#[derive(Debug, Clone, Default)]
pub struct GrantSeen {
    pub active: Option<Seen>,
    pub ended: Option<Seen>,
    pub denied: Option<Seen>,
    /// The session guard's cut provisioned (`status.sessions.state: Revoked`).
    pub revoked: Option<Seen>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Default)]
pub struct Watch(Arc<Mutex<HashMap<String, GrantSeen>>>);

impl Watch {
    /// Starts watching; returns once the initial list has been received.
    pub async fn start(api: Api<BreakGlassGrant>) -> Self {
        let watch = Self::default();
        let seen = watch.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                let now = Seen {
                    at: Instant::now(),
                    wall: SystemTime::now(),
                };
                match event {
                    Ok(watcher::Event::Apply(g) | watcher::Event::InitApply(g)) => {
                        seen.record(&g, now)
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("[bench] watch error (retrying): {e}"),
                }
            }
        });
        let _ = ready_rx.await;
        watch
    }

    fn record(&self, g: &BreakGlassGrant, now: Seen) {
        let Some(status) = &g.status else { return };
        let Ok(mut map) = self.0.lock() else { return };
        let entry = map.entry(g.name_any()).or_default();
        if let Some(e) = &status.expires_at {
            entry.expires_at = Some(e.0);
        }
        if status
            .sessions
            .as_ref()
            .is_some_and(|s| s.state == GuardState::Revoked)
        {
            entry.revoked.get_or_insert(now);
        }
        let slot = match status.phase {
            Some(GrantPhase::Active) => &mut entry.active,
            Some(GrantPhase::Ended) => &mut entry.ended,
            Some(GrantPhase::Denied) => &mut entry.denied,
            _ => return,
        };
        slot.get_or_insert(now);
    }

    pub fn get(&self, name: &str) -> GrantSeen {
        self.0
            .lock()
            .map(|m| m.get(name).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Waits until `pick` has a value for every name; the names still missing on timeout.
    pub async fn wait_all(
        &self,
        names: &[String],
        pick: fn(&GrantSeen) -> Option<Seen>,
        within: Duration,
    ) -> Result<Vec<Seen>, Vec<String>> {
        let deadline = Instant::now() + within;
        loop {
            let (found, missing): (Vec<_>, Vec<_>) = names
                .iter()
                .map(|n| (n, pick(&self.get(n))))
                .partition(|(_, s)| s.is_some());
            if missing.is_empty() {
                return Ok(found.into_iter().filter_map(|(_, s)| s).collect());
            }
            let denied: Vec<String> = names
                .iter()
                .filter(|n| self.get(n).denied.is_some())
                .cloned()
                .collect();
            if Instant::now() >= deadline || !denied.is_empty() {
                let mut left: Vec<String> = missing.into_iter().map(|(n, _)| n.clone()).collect();
                left.extend(denied.into_iter().map(|d| format!("{d} (Denied)")));
                return Err(left);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
