//! Identity Store group ids by (store, display name). A name can be given to another group
//! (deleted and re-created, renamed): an id is kept for `TTL` only, and dropped at once when
//! AWS refuses a change to it (the caller forgets it then).

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// How long a looked-up id is trusted: one lookup per group per TTL, whatever the grants.
pub const TTL: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct GroupIds {
    ids: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl GroupIds {
    /// The id looked up for `name` less than `TTL` before `now`.
    pub fn get(&self, store: &str, name: &str, now: Instant) -> Option<String> {
        let mut map = self.ids.lock().ok()?;
        let key = (store.to_owned(), name.to_owned());
        match map.get(&key) {
            Some((id, at)) if now.saturating_duration_since(*at) < TTL => Some(id.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers `id` for `name` as looked up at `now`, or forgets it (`None`).
    pub fn set(&self, store: &str, name: &str, id: Option<&str>, now: Instant) {
        if let Ok(mut map) = self.ids.lock() {
            let key = (store.to_owned(), name.to_owned());
            match id {
                Some(id) => map.insert(key, (id.to_owned(), now)),
                None => map.remove(&key),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_trusted_for_the_ttl_and_forgotten_on_demand() {
        let ids = GroupIds::default();
        let t0 = Instant::now();
        assert_eq!(ids.get("d-1", "admins", t0), None);
        ids.set("d-1", "admins", Some("g-1"), t0);
        assert_eq!(
            ids.get("d-1", "admins", t0 + TTL / 2).as_deref(),
            Some("g-1")
        );
        assert_eq!(ids.get("d-2", "admins", t0), None, "per Identity Store");
        assert_eq!(ids.get("d-1", "admins", t0 + TTL), None, "looked up again");
        ids.set("d-1", "admins", Some("g-2"), t0 + TTL);
        assert_eq!(ids.get("d-1", "admins", t0 + TTL).as_deref(), Some("g-2"));
        ids.set("d-1", "admins", None, t0 + TTL);
        assert_eq!(
            ids.get("d-1", "admins", t0 + TTL),
            None,
            "refused: forgotten"
        );
    }
}
