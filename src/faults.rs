//! Fault injection for tests, compiled only with the `failpoints` cargo feature (the test
//! builds enable it; default and release builds carry none of it): failpoints that park a
//! reconcile at an exact step (so a test can SIGKILL the process there), and a lag on the
//! grant watches.

/// Stops with a failpoint when `BREAKGLASS_FAILPOINT` names it: the process stays alive but
/// this reconcile never continues, so a test can SIGKILL it at exactly this point.
#[cfg(feature = "failpoints")]
pub(crate) async fn failpoint(name: &str) {
    if std::env::var("BREAKGLASS_FAILPOINT").is_ok_and(|f| f == name) {
        eprintln!("failpoint reached: {name}");
        std::future::pending::<()>().await;
    }
}

/// Without the `failpoints` feature a failpoint is nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) async fn failpoint(_name: &str) {}

/// `BREAKGLASS_WATCH_LAG_MS` holds back every grant watch event (the controller's and the
/// webhook's), so a cache lags behind the API server as a loaded one does, long enough for
/// a test to make work start from a copy older than a write already made.
#[cfg(feature = "failpoints")]
fn watch_lag() -> Option<std::time::Duration> {
    std::env::var("BREAKGLASS_WATCH_LAG_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .filter(|ms| *ms > 0)
        .map(std::time::Duration::from_millis)
}

/// `stream` with every item held back by [`watch_lag`] from when it arrived, in order
/// (a list of many objects is not delayed once per object); unchanged when it is not set.
#[cfg(feature = "failpoints")]
pub(crate) fn lagged<S: futures::Stream>(stream: S) -> impl futures::Stream<Item = S::Item> {
    use futures::StreamExt;
    /// Items held back at once: far more than a test's watch delivers in one lag.
    const IN_FLIGHT: usize = 100_000;
    let Some(lag) = watch_lag() else {
        return stream.left_stream();
    };
    stream
        .map(move |item| {
            let due = tokio::time::Instant::now() + lag;
            async move {
                tokio::time::sleep_until(due).await;
                item
            }
        })
        .buffered(IN_FLIGHT)
        .right_stream()
}

/// Without the `failpoints` feature the watches are not delayed.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn lagged<S: futures::Stream>(stream: S) -> S {
    stream
}
