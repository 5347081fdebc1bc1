//! One async mutex per key (a user, a policy), made on first use and dropped when its last
//! holder lets go: at 10,000 grants the map holds the keys in use right now, not every user
//! the process ever saw.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub(crate) struct KeyedLocks {
    locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// Holds `key`'s lock; dropping it releases the lock and forgets the key when no one else
/// holds or waits for it.
pub(crate) struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub(crate) async fn lock(&self, key: &str) -> KeyGuard<'_> {
        // Clones are made only under the map's lock, so the count read in `drop` is exact.
        let mutex = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone();
        KeyGuard {
            locks: self,
            key: key.to_owned(),
            guard: Some(mutex.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().map(|m| m.len()).unwrap_or_default()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let mut map = self
            .locks
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map's and this guard's: nobody waits, so the next caller may make a new one.
        if Arc::strong_count(OwnedMutexGuard::mutex(&guard)) == 2 {
            map.remove(&self.key);
        }
        drop(guard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_forgotten_once_released() {
        let locks = KeyedLocks::default();
        for i in 0..1000 {
            let _g = locks.lock(&format!("user{i}")).await;
            assert_eq!(locks.len(), 1);
        }
        assert_eq!(locks.len(), 0, "no lock outlives its holders");
    }

    #[tokio::test]
    async fn one_key_is_held_by_one_caller_at_a_time_and_kept_while_awaited() {
        let locks = Arc::new(KeyedLocks::default());
        let first = locks.lock("alice").await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _g = locks.lock("alice").await;
                tx.send(()).ok();
            })
        };
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(rx.try_recv().is_err(), "the second caller waits");
        let _other = locks.lock("bob").await;
        drop(first);
        // Released with a waiter: the key stays, so the waiter gets the same mutex.
        waiter.await.expect("waiter");
        assert!(rx.try_recv().is_ok());
        drop(_other);
        assert_eq!(locks.len(), 0);
    }
}
