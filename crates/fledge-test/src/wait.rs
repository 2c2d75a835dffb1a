//! Polling until a condition holds, up to a limit: the tests wait on
//! observable state, never on a fixed sleep.

use std::time::{Duration, Instant};

/// How often the blocking waits poll.
pub const POLL: Duration = Duration::from_millis(5);

/// How often the async waits poll.
pub const POLL_ASYNC: Duration = Duration::from_millis(20);

/// Polls `f` (every [`POLL`]) until it holds or `limit` passes; whether it
/// held (`f` is asked once more at the limit).
pub fn until(limit: Duration, f: impl FnMut() -> bool) -> bool {
    timed(limit, f).is_some()
}

/// Like [`until`], and how long it took: `None` if `f` never held within
/// `limit`.
pub fn timed(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(POLL);
    }
    f().then(|| start.elapsed())
}

/// [`until`] for async tests: polls `f` every [`POLL_ASYNC`] with a tokio
/// sleep, so the runtime's other tasks go on meanwhile.
pub async fn until_async(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(POLL_ASYNC).await;
    }
    f()
}

/// [`until_async`], panicking with `what` when `f` never held within
/// `limit`.
pub async fn eventually(limit: Duration, what: &str, f: impl FnMut() -> bool) {
    assert!(
        until_async(limit, f).await,
        "timed out after {limit:?} waiting for: {what}"
    );
}
