//! One budget's token bucket with AIMD: a throttling answer halves its rate (down to a
//! floor), and each calm window adds a step back up to the configured rate. Pure: every
//! decision takes `now`, so it is tested without sleeping.

use std::time::{Duration, Instant};

/// How long a bucket must go without a throttling answer before it adds a step back, and
/// how close together two throttling answers count as one (a burst of calls in flight is
/// throttled together: one halving, not one per call).
pub const WINDOW: Duration = Duration::from_secs(1);

/// Calls a bucket lets through at once after a calm spell. One: AWS counts its quotas per
/// second, and a bucket that saved a second's worth would let twice its rate through in
/// the second a burst begins (36 calls against a quota of 20); spaced evenly, any second
/// sees at most the rate plus one.
pub const BURST: f64 = 1.0;

#[derive(Debug, Clone)]
pub struct Bucket {
    /// The configured rate: what the bucket recovers to.
    ceiling: f64,
    /// The lowest rate throttling can bring it to.
    floor: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
    /// When the rate was last halved.
    halved: Option<Instant>,
    /// The last throttling answer (or creation): calm is counted from it.
    calm_since: Instant,
    /// When a step was last added back.
    stepped: Instant,
}

impl Bucket {
    /// A bucket at `per_second` holding one call, never slowed below `floor`.
    pub fn new(per_second: f64, floor: f64, now: Instant) -> Self {
        let ceiling = positive(per_second, 1.0);
        let floor = positive(floor, 1.0).min(ceiling);
        Self {
            ceiling,
            floor,
            rate: ceiling,
            tokens: BURST,
            last: now,
            halved: None,
            calm_since: now,
            stepped: now,
        }
    }

    /// Calls per second it lets through now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How long the next call must wait, its token taken: calls are served in the order
    /// they reserved, evenly spaced.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(BURST);
        self.last = self.last.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// AWS throttled a call of this budget: halve the rate (once per window). Whether the
    /// rate changed.
    pub fn throttled(&mut self, now: Instant) -> bool {
        self.calm_since = self.calm_since.max(now);
        if self
            .halved
            .is_some_and(|at| now.saturating_duration_since(at) < WINDOW)
        {
            return false;
        }
        let halved = (self.rate / 2.0).max(self.floor);
        self.halved = Some(now);
        let changed = halved < self.rate;
        self.rate = halved;
        // Drop the burst saved at the old rate: the next calls go at the new one.
        self.tokens = self.tokens.min(0.0);
        changed
    }

    /// A call of this budget was answered without throttling: after a calm window, add a
    /// step (a tenth of the configured rate, at least one call per second) back. Whether
    /// the rate changed.
    pub fn answered(&mut self, now: Instant) -> bool {
        if self.rate >= self.ceiling
            || now.saturating_duration_since(self.calm_since) < WINDOW
            || now.saturating_duration_since(self.stepped) < WINDOW
        {
            return false;
        }
        self.rate = (self.rate + (self.ceiling / 10.0).max(1.0)).min(self.ceiling);
        self.stepped = now;
        true
    }
}

fn positive(x: f64, otherwise: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        otherwise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn calls_are_spaced_at_the_rate_with_no_saved_burst() {
        let t = Instant::now();
        let mut b = Bucket::new(10.0, 1.0, t);
        assert_eq!(b.reserve(t), Duration::ZERO, "one call at once");
        let waits: Vec<u128> = (0..3).map(|_| ms(b.reserve(t))).collect();
        assert_eq!(waits, [100, 200, 300], "then one call per 100 ms, in order");
        // A calm minute saves no more than one call.
        let later = t + Duration::from_secs(60);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(ms(b.reserve(later)), 100);
    }

    #[test]
    fn no_second_sees_more_than_the_rate_plus_one() {
        let t = Instant::now();
        let mut b = Bucket::new(18.0, 1.0, t);
        // 100 calls queued at once: when each may go.
        let starts: Vec<Duration> = (0..100).map(|_| b.reserve(t)).collect();
        for s in 0..5 {
            let from = Duration::from_secs(s) / 2;
            let in_window = starts
                .iter()
                .filter(|d| **d >= from && **d < from + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 19,
                "{in_window} calls in the second from {from:?}"
            );
        }
    }

    #[test]
    fn a_throttling_answer_halves_the_rate_to_the_floor_and_calm_windows_add_it_back() {
        let t = Instant::now();
        let mut b = Bucket::new(20.0, 1.0, t);
        assert!(b.throttled(t));
        assert_eq!(b.rate(), 10.0);
        assert!(
            !b.throttled(t + WINDOW / 2),
            "answers throttled together halve once"
        );
        assert_eq!(b.rate(), 10.0);
        assert_eq!(ms(b.reserve(t)), 100, "the saved burst is gone: 10/s now");
        let mut now = t;
        for want in [5.0, 2.5, 1.25, 1.0, 1.0] {
            now += WINDOW;
            b.throttled(now);
            assert_eq!(b.rate(), want);
        }
        assert!(!b.answered(now + WINDOW / 2), "not calm for a window yet");
        let mut rates = vec![];
        for _ in 0..11 {
            now += WINDOW;
            b.answered(now);
            rates.push(b.rate());
        }
        assert_eq!(
            rates,
            [3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 17.0, 19.0, 20.0, 20.0],
            "additive steps up to the configured rate, never above"
        );
    }

    #[test]
    fn the_floor_is_never_above_the_configured_rate() {
        let t = Instant::now();
        let mut b = Bucket::new(0.5, 1.0, t);
        b.throttled(t);
        assert_eq!(b.rate(), 0.5);
    }
}
