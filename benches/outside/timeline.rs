//! The run over time, from outside: every second the controller's AWS call counters (its
//! `/metrics`) and its RSS (`/proc`), whichever process runs at that moment, and when each
//! phase began. What the pictures of calls/s and memory are drawn from.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    probe::{self, Metrics},
    series::{Mark, Tick, Timeline},
};

pub const INTERVAL: Duration = Duration::from_secs(1);

/// The process sampled: its admin address and its pid (0 while none runs).
type Target = (SocketAddr, Arc<AtomicU32>);

pub struct Sampler {
    started: Instant,
    target: Arc<Mutex<Target>>,
    marks: Arc<Mutex<Vec<Mark>>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Tick>>,
}

impl Sampler {
    /// Samples the controller at `admin` whose pid `pid` holds (0 while none runs).
    pub fn start(admin: SocketAddr, pid: Arc<AtomicU32>) -> Self {
        let started = Instant::now();
        let target = Arc::new(Mutex::new((admin, pid)));
        let following = target.clone();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ticks = vec![];
            let mut every = tokio::time::interval(INTERVAL);
            // A slow scrape on the loaded machine delays the next one, never bunches them.
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = every.tick() => {}
                }
                let Ok((admin, pid)) = following.lock().map(|t| (t.0, t.1.load(Ordering::Relaxed)))
                else {
                    break;
                };
                let (rss_mib, aws_calls) = if pid == 0 {
                    (None, None)
                } else {
                    let rss = probe::memory(pid).ok().map(|(rss, _)| rss);
                    let calls = Metrics::scrape(admin).await.ok();
                    (rss, calls.map(|m| m.aws_calls_by_service()))
                };
                ticks.push(Tick {
                    t_s: secs(started.elapsed()),
                    // A sample of a process that has since gone is still that process's.
                    pid,
                    rss_mib: rss_mib.map(|m| (m * 10.0).round() / 10.0),
                    aws_calls,
                });
            }
            ticks
        });
        Self {
            started,
            target,
            marks: Arc::default(),
            stop,
            task,
        }
    }

    /// Samples another controller from now on (a phase that runs its own).
    pub fn follow(&self, admin: SocketAddr, pid: u32) {
        if let Ok(mut t) = self.target.lock() {
            *t = (admin, Arc::new(AtomicU32::new(pid)));
        }
    }

    /// Notes that a phase begins now.
    pub fn mark(&self, phase: &str) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.push(Mark {
                t_s: secs(self.started.elapsed()),
                phase: phase.to_owned(),
            });
        }
    }

    pub async fn finish(self) -> Timeline {
        let _ = self.stop.send(());
        let ticks = self.task.await.unwrap_or_default();
        let marks = self.marks.lock().map(|m| m.clone()).unwrap_or_default();
        Timeline {
            interval_s: INTERVAL.as_secs_f64(),
            ticks,
            marks,
        }
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
