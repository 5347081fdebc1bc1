//! The assumed-role credentials, cached per session key (role, ExternalId, session name) and
//! fetched single-flight per key: callers of one key wait for its one `AssumeRole`, callers
//! of other keys never wait for it. No lock is held across network I/O except a key's own.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;

/// Who a session acts as: its role, ExternalId and RoleSessionName.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct SessionKey {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// A session's credentials and when they stop working.
#[derive(Clone)]
pub(super) struct Cached {
    pub credentials: Credentials,
    pub expires: SystemTime,
}

/// One key's slot: the async lock is what makes its fetch single-flight.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Sessions are reused until this long before their credentials expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// The cache, at most `max` keys; beyond, idle keys whose credentials are closest to expiry
/// are dropped first (a key being fetched is never dropped).
pub(super) struct Sessions {
    slots: Mutex<HashMap<SessionKey, Slot>>,
    max: usize,
}

impl Sessions {
    pub fn new(max: usize) -> Self {
        Self {
            slots: Mutex::default(),
            max: max.max(1),
        }
    }

    /// The key's credentials: cached while fresh, else fetched by `fetch` once for all the
    /// callers waiting on this key. A failed fetch caches nothing; the next caller retries.
    pub async fn get<F, Fut, E>(&self, key: &SessionKey, fetch: F) -> Result<Credentials, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Cached, E>>,
    {
        let slot = self.slot(key);
        let mut held = slot.lock().await;
        if let Some(cached) = held.as_ref()
            && cached.expires > SystemTime::now() + REFRESH_MARGIN
        {
            return Ok(cached.credentials.clone());
        }
        let fresh = fetch().await?;
        let credentials = fresh.credentials.clone();
        *held = Some(fresh);
        Ok(credentials)
    }

    fn slot(&self, key: &SessionKey) -> Slot {
        // Poisoning needs a panic while the map is held, and nothing in here panics.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        if slots.len() >= self.max {
            evict(&mut slots, self.max);
        }
        let slot = Slot::default();
        slots.insert(key.clone(), slot.clone());
        slot
    }

    /// Drops the sessions `which` selects, e.g. after an error that may mean their
    /// credentials went bad, or once the grant they are named after has ended.
    pub fn forget(&self, which: impl Fn(&SessionKey) -> bool) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|k, _| !which(k));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().map(|s| s.len()).unwrap_or_default()
    }
}

/// Makes room for one key: first the expired or empty idle slots, then the idle one
/// closest to expiry. Slots in use (a fetch or a read under way) stay.
fn evict(slots: &mut HashMap<SessionKey, Slot>, max: usize) {
    let soon = SystemTime::now() + REFRESH_MARGIN;
    slots.retain(|_, slot| match slot.try_lock() {
        Ok(held) => held.as_ref().is_some_and(|c| c.expires > soon),
        Err(_) => true,
    });
    if slots.len() < max {
        return;
    }
    let oldest = slots
        .iter()
        .filter_map(|(k, slot)| {
            let held = slot.try_lock().ok()?;
            held.as_ref().map(|c| (c.expires, k.clone()))
        })
        .min_by_key(|(expires, _)| *expires)
        .map(|(_, k)| k);
    if let Some(k) = oldest {
        slots.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(role: &str) -> SessionKey {
        SessionKey {
            role_arn: role.into(),
            external_id: None,
            session_name: "s".into(),
        }
    }

    fn cached(valid_for: Duration) -> Cached {
        let expires = SystemTime::now() + valid_for;
        Cached {
            credentials: Credentials::new("k", "s", None, Some(expires), "test"),
            expires,
        }
    }

    #[tokio::test]
    async fn a_slow_fetch_for_one_role_never_delays_another_role() {
        let sessions = Arc::new(Sessions::new(16));
        let (release, stalled) = tokio::sync::oneshot::channel::<()>();
        let (started, fetching) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                sessions
                    .get(&key("slow"), || async {
                        let _ = started.send(());
                        let _ = stalled.await;
                        Ok::<_, ()>(cached(Duration::from_secs(3600)))
                    })
                    .await
            })
        };
        fetching.await.expect("the slow fetch started");
        // Answered while the slow role's fetch is still held.
        let other = tokio::time::timeout(
            Duration::from_secs(5),
            sessions.get(&key("other"), || async {
                Ok::<_, ()>(cached(Duration::from_secs(3600)))
            }),
        )
        .await;
        assert!(matches!(other, Ok(Ok(_))), "another role is not held up");
        assert!(!slow.is_finished(), "the slow fetch is still under way");
        release.send(()).expect("the slow fetch waits");
        assert!(slow.await.expect("joined").is_ok());
    }

    #[tokio::test]
    async fn callers_of_one_key_share_one_fetch_and_failures_are_not_cached() {
        let sessions = Arc::new(Sessions::new(16));
        let fetches = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (sessions, fetches) = (sessions.clone(), fetches.clone());
                tokio::spawn(async move {
                    sessions
                        .get(&key("r"), || async {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            Ok::<_, ()>(cached(Duration::from_secs(3600)))
                        })
                        .await
                })
            })
            .collect();
        for c in callers {
            assert!(c.await.expect("joined").is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "single-flight");

        let failed = sessions
            .get(&key("f"), || async { Err::<Cached, _>("no") })
            .await;
        assert_eq!(failed.err(), Some("no"));
        let retried = sessions
            .get(&key("f"), || async {
                Ok::<_, &str>(cached(Duration::from_secs(3600)))
            })
            .await;
        assert!(retried.is_ok(), "a failure is fetched again");

        // Credentials about to expire are fetched anew.
        let n = Arc::new(AtomicUsize::new(0));
        for valid in [Duration::from_secs(10), Duration::from_secs(3600)] {
            let n = n.clone();
            let got = sessions
                .get(&key("e"), || async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(cached(valid))
                })
                .await;
            assert!(got.is_ok());
        }
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_forget_drops_keys() {
        let sessions = Sessions::new(4);
        for i in 0..10 {
            let got = sessions
                .get(&key(&format!("r{i}")), || async {
                    Ok::<_, ()>(cached(Duration::from_secs(3600 + i)))
                })
                .await;
            assert!(got.is_ok());
        }
        assert!(sessions.len() <= 4, "{}", sessions.len());
        sessions.forget(|k| k.role_arn == "r9");
        assert!(sessions.len() <= 3);
    }
}
