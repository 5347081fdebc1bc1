//! Identity Store user ids by (store, user name). An id never changes while its user
//! exists, so it is kept with no TTL; a call naming it that AWS answers ResourceNotFound
//! (the user was deleted, perhaps re-created under the same name) drops it.
//!
//! Bounded: two generations of at most `GENERATION` entries each. A hit in the old one
//! moves the entry to the new one; when the new one is full the old one is dropped, so
//! the ids in use stay and the size never exceeds twice `GENERATION` (10,000 users, a
//! few hundred bytes each, fit in about 2 MiB).

use std::{collections::HashMap, sync::Mutex};

/// Entries per generation.
pub const GENERATION: usize = 8192;

type Key = (String, String);

#[derive(Default)]
struct Generations {
    new: HashMap<Key, String>,
    old: HashMap<Key, String>,
}

pub struct UserIds {
    generation: usize,
    ids: Mutex<Generations>,
}

impl Default for UserIds {
    fn default() -> Self {
        Self::with_generation(GENERATION)
    }
}

impl UserIds {
    pub fn with_generation(generation: usize) -> Self {
        Self {
            generation: generation.max(1),
            ids: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // Nothing panics while the map is held: a poisoned lock holds consistent state.
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id looked up for `user` in `store`, if known.
    pub fn get(&self, store: &str, user: &str) -> Option<String> {
        let mut g = self.lock();
        let key = (store.to_owned(), user.to_owned());
        if let Some(id) = g.new.get(&key) {
            return Some(id.clone());
        }
        let id = g.old.remove(&key)?;
        self.insert(&mut g, key, id.clone());
        Some(id)
    }

    /// Remembers the id AWS answered for `user`.
    pub fn set(&self, store: &str, user: &str, id: &str) {
        let mut g = self.lock();
        let key = (store.to_owned(), user.to_owned());
        g.old.remove(&key);
        self.insert(&mut g, key, id.to_owned());
    }

    /// Forgets `user`'s id: AWS no longer knows it.
    pub fn forget(&self, store: &str, user: &str) {
        let mut g = self.lock();
        let key = (store.to_owned(), user.to_owned());
        g.new.remove(&key);
        g.old.remove(&key);
    }

    fn insert(&self, g: &mut Generations, key: Key, id: String) {
        if g.new.len() >= self.generation && !g.new.contains_key(&key) {
            g.old = std::mem::take(&mut g.new);
        }
        g.new.insert(key, id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.new.len() + g.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_kept_per_store_until_forgotten() {
        let ids = UserIds::default();
        assert_eq!(ids.get("d-1", "alice"), None);
        ids.set("d-1", "alice", "u-1");
        assert_eq!(ids.get("d-1", "alice").as_deref(), Some("u-1"));
        assert_eq!(ids.get("d-2", "alice"), None, "per Identity Store");
        ids.forget("d-1", "alice");
        assert_eq!(ids.get("d-1", "alice"), None);
    }

    #[test]
    fn the_size_is_bounded_and_ids_in_use_stay() {
        let ids = UserIds::with_generation(100);
        ids.set("d-1", "alice", "u-alice");
        for i in 0..1000 {
            ids.set("d-1", &format!("user-{i}"), &format!("u-{i}"));
            assert!(ids.len() <= 200, "at most two generations");
            // Alice is granted all the time: she stays.
            assert_eq!(ids.get("d-1", "alice").as_deref(), Some("u-alice"));
        }
        assert_eq!(ids.get("d-1", "user-0"), None, "unused ids make room");
        assert_eq!(ids.get("d-1", "user-999").as_deref(), Some("u-999"));
    }
}
