//! What this process itself did to each grant moments ago: the versions its status writes
//! produced (so a reconcile of an older copy waits for the cache) and the window it last
//! confirmed (so the echo of its own write needs no AWS call). The journal records every
//! write here; nothing else writes grant status.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;

/// Per grant instance (`namespace/name/uid`), what this process wrote or confirmed. Any
/// change made by someone else is a version not in here.
#[derive(Default)]
pub(crate) struct OwnWrites {
    own: std::sync::Mutex<HashMap<String, Own>>,
    own_pruned: std::sync::Mutex<Option<Instant>>,
}

/// How long a confirmation spares the echo of our own write. In a burst of thousands of
/// grants the watch delivers echoes minutes late; a late echo of the Pending write would
/// otherwise look the membership up on AWS again. An Active grant's periodic look costs
/// no AWS call either way (the sweep compares AWS), so the window only needs to outlast
/// the watch's lag. Entries are a few hundred bytes: 10,000 grants keep about 3 MB.
const ECHO_WINDOW: Duration = Duration::from_secs(600);

/// Expired confirmations are dropped at most this often (not on every look: at 10,000
/// grants a scan per reconcile would cost more than the echo it spares).
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Versions kept per grant: a grant's reconcile writes its status a few times at most.
const OWN_VERSIONS: usize = 8;

struct Own {
    versions: Vec<String>,
    /// The version this process's last status write produced, and versions known to be
    /// older than it (earlier writes, and the copies those writes were made from).
    written: Option<String>,
    behind: Vec<String>,
    /// The window access and pauses were last confirmed for.
    confirmed: Option<Timestamp>,
    at: Instant,
}

impl Own {
    fn note(&mut self, version: Option<String>) {
        if let Some(v) = version {
            if self.versions.len() == OWN_VERSIONS {
                self.versions.remove(0);
            }
            self.versions.push(v);
        }
        self.at = Instant::now();
    }

    fn wrote(&mut self, from: Option<String>, version: Option<String>) {
        self.note(version.clone());
        let Some(version) = version else { return };
        for older in [self.written.take(), from].into_iter().flatten() {
            if older != version && !self.behind.contains(&older) {
                if self.behind.len() == OWN_VERSIONS {
                    self.behind.remove(0);
                }
                self.behind.push(older);
            }
        }
        self.written = Some(version);
    }

    /// etcd's resourceVersions are increasing integers: compared as such, any copy older
    /// than our write is caught, also one someone else wrote while our reconcile ran.
    /// Where they are not integers (another storage), only the versions known to be older.
    fn is_behind(&self, version: &str) -> bool {
        let Some(written) = self.written.as_deref() else {
            return false;
        };
        match (version.parse::<u64>(), written.parse::<u64>()) {
            (Ok(v), Ok(w)) => v < w,
            _ => written != version && self.behind.iter().any(|b| b == version),
        }
    }
}

impl OwnWrites {
    fn own(&self, key: &str, f: impl FnOnce(&mut Own)) {
        if let Ok(mut map) = self.own.lock() {
            let entry = map.entry(key.to_owned()).or_insert_with(|| Own {
                versions: vec![],
                written: None,
                behind: vec![],
                confirmed: None,
                at: Instant::now(),
            });
            f(entry);
        }
    }

    /// The status write of this process, made from version `from` of grant `key`, produced
    /// `version`.
    pub(super) fn wrote(&self, key: &str, from: Option<String>, version: Option<String>) {
        self.own(key, |o| o.wrote(from, version));
    }

    /// Whether this copy of grant `key` is older than this process's own last write: a
    /// reconcile queued while the one that wrote was running, started before the watch
    /// delivered that write. Planned from it, work already done (a target given back, a
    /// join recorded) would look undone or changed by someone else. The write's own watch
    /// event follows and brings the current copy.
    pub(crate) fn is_behind(&self, key: &str, version: Option<&str>) -> bool {
        let Ok(map) = self.own.lock() else {
            return false;
        };
        map.get(key)
            .is_some_and(|o| version.is_some_and(|v| o.is_behind(v)))
    }

    /// Access and pauses of `version` of grant `key` were confirmed for this window.
    pub(crate) fn confirm(&self, key: &str, version: Option<String>, expires_at: Timestamp) {
        self.own(key, |o| {
            o.note(version);
            o.confirmed = Some(expires_at);
        });
    }

    /// Whether this version of the grant is the echo of our own work, confirmed moments ago
    /// for this same window.
    pub(crate) fn is_echo(&self, key: &str, version: Option<&str>, expires_at: Timestamp) -> bool {
        let Ok(mut map) = self.own.lock() else {
            return false;
        };
        if let Ok(mut pruned) = self.own_pruned.lock() {
            let last = *pruned.get_or_insert_with(Instant::now);
            if last.elapsed() >= PRUNE_EVERY {
                map.retain(|_, o| o.at.elapsed() < ECHO_WINDOW);
                *pruned = Some(Instant::now());
            }
        }
        map.get(key).is_some_and(|o| {
            o.at.elapsed() < ECHO_WINDOW
                && o.confirmed == Some(expires_at)
                && version.is_some_and(|v| o.versions.iter().any(|w| w == v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Own {
        Own {
            versions: vec![],
            written: None,
            behind: vec![],
            confirmed: None,
            at: Instant::now(),
        }
    }

    fn v(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn a_copy_older_than_our_last_write_is_behind_and_others_writes_are_not() {
        let mut o = own();
        // A reconcile of version 10 (someone else's) writes 11, then 12.
        o.wrote(v("10"), v("11"));
        o.wrote(v("10"), v("12"));
        assert!(o.is_behind("10"), "the copy the writes were made from");
        assert!(o.is_behind("11"), "an earlier write of ours");
        assert!(!o.is_behind("12"), "our last write is current");
        assert!(!o.is_behind("13"), "a later change by someone else");
        // Reconciling 13 (a requester's patch) and writing 14 makes 12 and 13 old too.
        o.wrote(v("13"), v("14"));
        assert!(o.is_behind("13") && o.is_behind("12"));
        assert!(!o.is_behind("14"));
    }

    #[test]
    fn a_change_by_someone_else_while_we_worked_is_older_than_our_write() {
        let mut o = own();
        // We reconciled 10; a requester patched (11) while we worked; our write made 12.
        o.wrote(v("10"), v("12"));
        assert!(o.is_behind("11"), "11 lacks what 12 recorded");
        assert!(!o.is_behind("13"));
    }

    #[test]
    fn opaque_versions_fall_back_to_the_ones_known_older() {
        let mut o = own();
        o.wrote(v("a"), v("c"));
        assert!(o.is_behind("a"));
        assert!(!o.is_behind("c"));
        assert!(!o.is_behind("b"), "order unknown: treated as new");
    }

    #[test]
    fn a_write_whose_version_is_unknown_changes_nothing() {
        let mut o = own();
        o.wrote(v("10"), None);
        assert!(!o.is_behind("10"), "no write known: 10 may be current");
    }

    #[test]
    fn only_the_latest_versions_are_kept() {
        let mut o = own();
        for n in 0..40u32 {
            o.wrote(v(&n.to_string()), v(&(n + 100).to_string()));
        }
        assert!(o.behind.len() <= OWN_VERSIONS);
        assert!(o.is_behind("138"));
        assert!(!o.is_behind("139"));
    }
}
