//! One client-side budget for every AWS call: Identity Store and the SSO Admin API allow
//! about 20 calls/s per account, and a burst of grants, a sweep or a restart must never
//! spend it all (or be throttled into failures).

use std::time::{Duration, Instant};

/// A token bucket that hands out reservations: each call takes a token now or waits its
/// turn, in the order calls arrived. Holds up to one second's worth for bursts.
pub struct Limiter {
    per_second: f64,
    state: std::sync::Mutex<(f64, Instant)>,
}

impl Limiter {
    pub fn new(per_second: f64) -> Self {
        let per_second = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            10.0
        };
        Self {
            per_second,
            state: std::sync::Mutex::new((per_second.max(1.0), Instant::now())),
        }
    }

    /// How long the next call must wait, with its token taken.
    fn reserve(&self, now: Instant) -> Duration {
        let Ok(mut state) = self.state.lock() else {
            return Duration::ZERO;
        };
        let (tokens, last) = &mut *state;
        let burst = self.per_second.max(1.0);
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * self.per_second)
            .min(burst);
        *last = now;
        *tokens -= 1.0;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / self.per_second)
        }
    }

    pub async fn wait(&self) {
        let delay = self.reserve(Instant::now());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_calls_are_spaced_at_the_rate() {
        let l = Limiter::new(10.0);
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                l.reserve(t),
                Duration::ZERO,
                "the first second's worth passes"
            );
        }
        let waits: Vec<u128> = (0..3).map(|_| l.reserve(t).as_millis()).collect();
        assert_eq!(waits, [100, 200, 300], "then one call per 100 ms, in order");
        let later = t + Duration::from_secs(10);
        assert_eq!(
            l.reserve(later),
            Duration::ZERO,
            "idle time refills the bucket"
        );
    }
}
