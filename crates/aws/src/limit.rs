//! One client-side budget for every AWS call: Identity Store and the SSO Admin API allow
//! about 20 calls/s per account, and a burst of grants, a sweep or a restart must never
//! spend it all (or be throttled into failures).

use std::time::{Duration, Instant};

/// Calls in flight at most: each holds an HTTP connection and its buffers, so a burst of a
/// thousand grants must not open a thousand connections (memory) when AWS serves only
/// about 20 calls/s anyway.
pub const MAX_IN_FLIGHT: usize = 32;

/// A token bucket that hands out reservations: each call takes a token now or waits its
/// turn, in the order calls arrived. Holds up to one second's worth for bursts. At most
/// `MAX_IN_FLIGHT` calls hold a turn at once.
pub struct Limiter {
    per_second: f64,
    state: std::sync::Mutex<(f64, Instant)>,
    in_flight: tokio::sync::Semaphore,
}

/// A call's turn: keep it until the call has its answer.
#[must_use = "the turn must be held for the duration of the call"]
pub struct Turn<'a>(#[allow(dead_code)] Option<tokio::sync::SemaphorePermit<'a>>);

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
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
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

    /// Waits for a free slot, then for the call's place at the rate.
    pub async fn wait(&self) -> Turn<'_> {
        // The semaphore is never closed: `None` cannot happen, and would only lift the cap.
        let permit = self.in_flight.acquire().await.ok();
        let delay = self.reserve(Instant::now());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Turn(permit)
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
