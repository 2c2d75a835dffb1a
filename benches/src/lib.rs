//! Helpers shared by fledge's criterion benchmarks.
//!
//! Every benchmark group measures fledge next to a baseline in the same run. The
//! `_2t` variants run the same operation on two threads at once and report the
//! time per operation *per thread*, which is what [`per_thread`] measures.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `op` `iters` times on each of `threads` threads started together, and
/// returns the mean wall time one thread spent on its `iters` operations.
///
/// Use it with criterion's `iter_custom`: the result is "time per operation per
/// thread" when divided by `iters`, so a value equal to the single-threaded
/// figure means perfect scaling.
pub fn per_thread<F>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let op = &op;
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(i.wrapping_add((t as u64) << 48));
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .sum()
    });
    total / threads.max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_thread_runs_every_iteration() {
        let count = AtomicU64::new(0);
        per_thread(2, 1000, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 2000);
    }
}
