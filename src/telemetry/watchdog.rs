//! Whether the leader's work moves: every grant reconcile and every sweep pass is tracked
//! from start to end, so a call that never returns (or a reconcile parked forever) is seen
//! by its age, whatever else keeps working. `/healthz` fails on it, the kubelet restarts
//! the process, its Lease lapses and a standby takes over.
//!
//! A reconcile or sweep that *fails* is progress: it is retried with backoff and shown on
//! the grant, and restarting would not help (AWS refusing a role stays refused). Only work
//! that does not end is a stall: with a deadline on every call, none should run for long.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use prometheus_client::metrics::gauge::Gauge;

/// What is running: one grant's reconcile, or a sweep pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Reconcile { grant: String },
    Sweep,
}

impl std::fmt::Display for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reconcile { grant } => write!(f, "the reconcile of grant {grant}"),
            Self::Sweep => f.write_str("a sweep of the AWS targets and paused objects"),
        }
    }
}

/// Why the leader is not healthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stall {
    #[error("{work} has been running for {running:?}, longer than {limit:?}")]
    Stuck {
        work: Work,
        running: Duration,
        limit: Duration,
    },
    #[error(
        "grant(s) {} overdue by more than {limit:?} and no reconcile finished in that time",
        overdue.join(", ")
    )]
    Idle {
        /// The overdue grants (a few of them).
        overdue: Vec<String>,
        limit: Duration,
    },
}

#[derive(Default)]
struct State {
    /// The stall limit while this replica runs the controller; `None` otherwise.
    limit: Option<Duration>,
    running: BTreeMap<u64, (Instant, Work)>,
    /// When a reconcile last ended (or the controller started).
    last_reconcile: Option<Instant>,
}

/// Tracks the controller's work while it runs.
#[derive(Default)]
pub struct Watchdog {
    state: Mutex<State>,
    next: AtomicU64,
    /// `breakglass_reconcile_last_progress_timestamp_seconds`: set where a reconcile ends.
    progress: Gauge<f64, AtomicU64>,
}

/// Held while a piece of work runs; dropping it (however the work ends) records the end.
#[must_use = "the work is tracked while this is held"]
pub struct Running<'a> {
    dog: &'a Watchdog,
    id: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut state = self.dog.lock();
        if let Some((_, work)) = state.running.remove(&self.id)
            && matches!(work, Work::Reconcile { .. })
        {
            state.last_reconcile = Some(Instant::now());
            self.dog.progress.set(super::unix_now());
        }
    }
}

impl Watchdog {
    /// Reports when a reconcile last ended on `progress`.
    pub fn new(progress: Gauge<f64, AtomicU64>) -> Self {
        Self {
            progress,
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it cannot leave the map half-written: recover it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The controller runs from now on (this replica leads): work older than `limit` is a
    /// stall. Returns to "not leading" on `disarm`.
    pub fn arm(&self, limit: Duration) {
        let mut state = self.lock();
        state.limit = Some(limit);
        state.running.clear();
        state.last_reconcile = Some(Instant::now());
    }

    pub fn disarm(&self) {
        let mut state = self.lock();
        state.limit = None;
        state.running.clear();
    }

    /// Tracks `work` until the returned guard is dropped.
    pub fn start(&self, work: Work) -> Running<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().running.insert(id, (Instant::now(), work));
        Running { dog: self, id }
    }

    /// `Err` when work has been running longer than the limit, or grants are overdue by more
    /// than the limit (`overdue_beyond` counts them) while no reconcile ended within it.
    pub fn check(
        &self,
        now: Instant,
        overdue_beyond: impl FnOnce(Duration) -> Vec<String>,
    ) -> Result<(), Stall> {
        let (limit, oldest, last) = {
            let state = self.lock();
            let Some(limit) = state.limit else {
                return Ok(());
            };
            let oldest = state
                .running
                .values()
                .min_by_key(|(started, _)| *started)
                .cloned();
            (limit, oldest, state.last_reconcile)
        };
        if let Some((started, work)) = oldest {
            let running = now.saturating_duration_since(started);
            if running > limit {
                return Err(Stall::Stuck {
                    work,
                    running,
                    limit,
                });
            }
        }
        let idle = last.is_none_or(|t| now.saturating_duration_since(t) > limit);
        if idle {
            let overdue = overdue_beyond(limit);
            if !overdue.is_empty() {
                return Err(Stall::Idle { overdue, limit });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(300);

    fn grant(name: &str) -> Work {
        Work::Reconcile {
            grant: format!("incidents/{name}"),
        }
    }

    #[test]
    fn work_that_ends_is_progress_and_work_that_does_not_is_a_stall() {
        let dog = Watchdog::default();
        let t0 = Instant::now();
        let parked = dog.start(grant("parked"));
        assert_eq!(
            dog.check(t0 + LIMIT * 2, |_| vec![]),
            Ok(()),
            "not leading: healthy"
        );

        dog.arm(LIMIT);
        let parked_again = dog.start(grant("parked"));
        drop(parked);
        assert_eq!(dog.progress.get(), 0.0, "no reconcile has ended yet");
        {
            let quick = dog.start(grant("quick"));
            drop(quick);
        }
        assert!(dog.progress.get() > 0.0, "the gauge tells when one ended");
        let start = Instant::now();
        assert_eq!(dog.check(start, |_| vec![]), Ok(()));
        let err = dog
            .check(start + LIMIT + Duration::from_secs(1), |_| vec![])
            .expect_err("the parked reconcile is a stall");
        assert!(
            matches!(&err, Stall::Stuck { work, .. } if *work == grant("parked")),
            "{err}"
        );
        assert!(err.to_string().contains("incidents/parked"), "{err}");
        drop(parked_again);
        assert_eq!(
            dog.check(start + LIMIT + Duration::from_secs(1), |_| vec![]),
            Ok(()),
            "nothing overdue, nothing stuck"
        );
        dog.disarm();
        let _sweep = dog.start(Work::Sweep);
        assert_eq!(
            dog.check(start + LIMIT * 10, |_| vec!["a/b".into()]),
            Ok(()),
            "a standby is healthy"
        );
    }

    #[test]
    fn overdue_grants_with_no_reconcile_ending_is_a_stall_and_failures_are_not() {
        let dog = Watchdog::default();
        dog.arm(LIMIT);
        let armed = Instant::now();
        let later = armed + LIMIT + Duration::from_secs(1);
        assert_eq!(
            dog.check(later, |_| vec![]),
            Ok(()),
            "idle without work is fine"
        );
        let err = dog.check(later, |beyond| {
            assert_eq!(beyond, LIMIT);
            vec!["incidents/late".into()]
        });
        assert_eq!(
            err,
            Err(Stall::Idle {
                overdue: vec!["incidents/late".into()],
                limit: LIMIT
            })
        );
        assert!(err.unwrap_err().to_string().contains("incidents/late"));
        // A reconcile that ends (even in an error, retried) is progress.
        drop(dog.start(grant("failing")));
        let now = Instant::now();
        assert_eq!(
            dog.check(now + Duration::from_secs(1), |_| vec!["a/b".into()]),
            Ok(())
        );
    }
}
