//! Async locks by key, made on first use and forgotten once nobody holds or waits for them,
//! so the map holds only keys in use.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct Locks(Mutex<HashMap<String, Weak<AsyncMutex<()>>>>);

impl Locks {
    /// Waits for `key`'s lock; held until the guard is dropped.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            // Nothing panics while the map is held: a poisoned lock holds consistent state.
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, w| w.strong_count() > 0);
            match map.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(AsyncMutex::new(()));
                    map.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// Keys held or waited for now.
    pub fn len(&self) -> usize {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_key_and_nothing_kept_once_released() {
        let locks = Locks::default();
        let a = locks.lock("policy-a").await;
        let b = locks.lock("policy-b").await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("policy-a"))
                .await
                .is_err(),
            "a second holder of the same key waits"
        );
        assert_eq!(locks.len(), 2);
        drop((a, b));
        assert_eq!(locks.len(), 0, "released keys are forgotten");
        let _again = locks.lock("policy-a").await;
        assert_eq!(
            locks.0.lock().unwrap().len(),
            1,
            "the map holds only keys in use"
        );
    }
}
