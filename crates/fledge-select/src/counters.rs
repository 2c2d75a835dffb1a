//! Per-variant pick counters, sharded so that threads do not fight over one
//! cache line: each thread adds to its own shard's line, readers sum the
//! shards.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::local;

/// Counters per cache line (8 × 8 bytes fill a 64-byte line; `CachePadded`
/// pads to 128 on x86-64 to keep adjacent-line prefetch apart too).
const PER_LINE: usize = 8;

pub(crate) struct PickCounters {
    lines: Box<[CachePadded<[AtomicU64; PER_LINE]>]>,
    lines_per_shard: usize,
    shard_mask: usize,
    variants: usize,
}

impl PickCounters {
    pub(crate) fn new(variants: usize) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(4, usize::from);
        // A few shards per core keeps two busy threads on different shards
        // with high probability; a power of two makes the reduction a mask.
        let shards = (parallelism * 4).next_power_of_two().clamp(2, 64);
        let lines_per_shard = variants.div_ceil(PER_LINE).max(1);
        let lines = (0..shards * lines_per_shard)
            .map(|_| CachePadded::new(Default::default()))
            .collect();
        PickCounters {
            lines,
            lines_per_shard,
            shard_mask: shards - 1,
            variants,
        }
    }

    /// Counts one pick of variant `index` on this thread's shard.
    #[inline]
    pub(crate) fn add(&self, index: usize) {
        let shard = local::shard() & self.shard_mask;
        let line = shard * self.lines_per_shard + index / PER_LINE;
        if let Some(line) = self.lines.get(line) {
            line[index % PER_LINE].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The picks of variant `index` summed over the shards (0 when out of
    /// range). Concurrent picks may or may not be included.
    pub(crate) fn get(&self, index: usize) -> u64 {
        if index >= self.variants {
            return 0;
        }
        self.lines
            .iter()
            .skip(index / PER_LINE)
            .step_by(self.lines_per_shard)
            .map(|line| line[index % PER_LINE].load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }

    pub(crate) fn shards(&self) -> usize {
        self.shard_mask + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_threads_and_shards() {
        let counters = PickCounters::new(10);
        assert!(counters.shards() >= 2);
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
            assert_eq!(counters.get(i), 400, "variant {i}");
        }
        assert_eq!(counters.get(10), 0);
        counters.add(99); // out of range: ignored, no panic
    }

    #[test]
    fn counters_of_one_shard_do_not_share_a_line_with_another_shard() {
        let counters = PickCounters::new(2);
        let a = &counters.lines[0] as *const _ as usize;
        let b = &counters.lines[1] as *const _ as usize;
        assert!(b - a >= 64);
    }
}
