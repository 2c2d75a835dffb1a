//! Per-version pick counters, one row per counter slot (see
//! [`local`](crate::local)): each thread writes only its own row, on cache
//! lines no other thread writes, and readers sum the rows.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::local::{self, OVERFLOW, SLOTS};

/// Counters per cache line (8 × 8 bytes fill a 64-byte line; `CachePadded`
/// pads to 128 on x86-64 to keep adjacent-line prefetch apart too).
const PER_LINE: usize = 8;

pub(crate) struct PickCounters {
    /// `SLOTS + 1` rows (the last is the shared overflow row) of
    /// `lines_per_row` lines.
    lines: Box<[CachePadded<[AtomicU64; PER_LINE]>]>,
    lines_per_row: usize,
    versions: usize,
}

impl PickCounters {
    pub(crate) fn new(versions: usize) -> Self {
        let lines_per_row = versions.div_ceil(PER_LINE).max(1);
        let lines = (0..(SLOTS + 1) * lines_per_row)
            .map(|_| CachePadded::new(Default::default()))
            .collect();
        PickCounters {
            lines,
            lines_per_row,
            versions,
        }
    }

    /// Counts one pick of version `index` in this thread's row.
    #[inline]
    pub(crate) fn add(&self, index: usize) {
        let slot = local::slot();
        let line = slot * self.lines_per_row + index / PER_LINE;
        let Some(counter) = self.lines.get(line).map(|line| &line[index % PER_LINE]) else {
            return;
        };
        if slot < OVERFLOW {
            // This thread is the only writer of its slot's row: a plain load
            // and store count exactly, without a locked instruction.
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The picks of version `index` summed over the rows (0 when out of
    /// range). Picks racing with this read may or may not be included.
    pub(crate) fn get(&self, index: usize) -> u64 {
        if index >= self.versions {
            return 0;
        }
        self.lines
            .iter()
            .skip(index / PER_LINE)
            .step_by(self.lines_per_row)
            .map(|line| line[index % PER_LINE].load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn sums_over_threads() {
        let counters = PickCounters::new(10);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..1_000 {
                        counters.add(i % 10);
                    }
                });
            }
        });
        for i in 0..10 {
            assert_eq!(counters.get(i), 400, "version {i}");
        }
        assert_eq!(counters.get(10), 0);
        counters.add(99); // out of range: ignored, no panic
    }

    /// More live threads than slots: the extra ones share the overflow row
    /// and nothing is lost.
    #[test]
    fn exact_with_more_threads_than_slots() {
        let _serial = local::SLOT_HUNGRY_TESTS.lock();
        let counters = PickCounters::new(17);
        let threads = SLOTS + 8;
        let barrier = Barrier::new(threads);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    // All alive at once, so some must overflow.
                    barrier.wait();
                    for i in 0..1_700 {
                        counters.add(i % 17);
                    }
                    barrier.wait();
                });
            }
        });
        for i in 0..17 {
            assert_eq!(counters.get(i), 100 * threads as u64, "version {i}");
        }
    }

    #[test]
    fn rows_do_not_share_cache_lines() {
        let counters = PickCounters::new(2);
        let a = &counters.lines[0] as *const _ as usize;
        let b = &counters.lines[1] as *const _ as usize;
        assert!(b - a >= 64);
    }
}
