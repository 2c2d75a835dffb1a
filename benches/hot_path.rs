//! The request path: pick a variant for one request and count the pick.
//!
//! Group `hot_path`, all in one run:
//!
//! - `fledge_sticky`: hash a 36-byte user id to a bucket (`fledge-sticky`,
//!   default mode), load the current split, pick among 2 variants, count the
//!   pick (`fledge-select`).
//! - `fledge_random`: the same without the key: a random pick.
//! - `baseline_rwlock_weightedindex`: the way such code is commonly written:
//!   a `parking_lot::RwLock<rand::distr::weighted::WeightedIndex>` read lock,
//!   a sample with `rand::rng()` (rand's thread-local generator, formerly
//!   `thread_rng()`), and one shared `AtomicU64` pick counter.
//! - The same three with `_2t`: two threads picking at once, reporting the
//!   time per pick *per thread* (see `fledge_benches::per_thread`).
//! - `control_hash_only` and `control_hash_only_2t`: the key hash alone, which
//!   touches no shared memory at all. Its slowdown from one thread to two is
//!   the machine's (shared physical cores, frequency), not contention; read
//!   `fledge_sticky_2t` against it.
//!
//! Run with `cargo bench -p fledge-benches --bench hot_path`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use fledge_benches::per_thread;
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use parking_lot::RwLock;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

/// Distinct keys cycled through so the hash sees varied input.
const KEYS: usize = 1024;

/// `KEYS` UUID-shaped user ids of 36 bytes, from a fixed-seed generator.
fn user_ids() -> Vec<[u8; 36]> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..KEYS)
        .map(|_| {
            let hex = format!("{:016x}{:016x}", next(), next());
            let id = format!(
                "{}-{}-4{}-a{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..15],
                &hex[15..18],
                &hex[18..30]
            );
            let mut out = [0u8; 36];
            out.copy_from_slice(id.as_bytes());
            out
        })
        .collect()
}

fn canary_split() -> Split {
    Split::from_pairs([("canary", 500), ("stable", 9_500)]).expect("valid split")
}

struct Baseline {
    dist: RwLock<WeightedIndex<u32>>,
    picks: AtomicU64,
}

impl Baseline {
    fn new() -> Self {
        Baseline {
            dist: RwLock::new(WeightedIndex::new([500u32, 9_500]).expect("valid weights")),
            picks: AtomicU64::new(0),
        }
    }

    #[inline]
    fn pick(&self) -> usize {
        let index = self.dist.read().sample(&mut rand::rng());
        self.picks.fetch_add(1, Ordering::Relaxed);
        index
    }
}

fn hot_path(c: &mut Criterion) {
    let keys = user_ids();
    let bucketer = Bucketer::new(HashMode::Fledge, "bench-rollout");
    let selector = Selector::new(canary_split());
    let baseline = Baseline::new();

    let sticky = |i: u64| {
        let key = &keys[(i as usize) % KEYS];
        selector.pick_by_bucket(bucketer.bucket(black_box(key)))
    };

    let mut group = c.benchmark_group("hot_path");

    group.bench_function("fledge_sticky", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(sticky(i))
        })
    });
    group.bench_function("fledge_random", |b| {
        b.iter(|| black_box(selector.pick_random()))
    });
    group.bench_function("baseline_rwlock_weightedindex", |b| {
        b.iter(|| black_box(baseline.pick()))
    });

    group.bench_function("fledge_sticky_2t", |b| {
        b.iter_custom(|iters| {
            per_thread(2, iters, |i| {
                black_box(sticky(i));
            })
        })
    });
    group.bench_function("fledge_random_2t", |b| {
        b.iter_custom(|iters| {
            per_thread(2, iters, |_| {
                black_box(selector.pick_random());
            })
        })
    });
    group.bench_function("baseline_rwlock_weightedindex_2t", |b| {
        b.iter_custom(|iters| {
            per_thread(2, iters, |_| {
                black_box(baseline.pick());
            })
        })
    });

    group.bench_function("control_hash_only", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(bucketer.bucket(black_box(&keys[(i as usize) % KEYS])))
        })
    });
    group.bench_function("control_hash_only_2t", |b| {
        b.iter_custom(|iters| {
            per_thread(2, iters, |i| {
                black_box(bucketer.bucket(black_box(&keys[(i as usize) % KEYS])));
            })
        })
    });

    group.finish();

    // Every pick was counted: a benchmark that skipped the count would be
    // measuring less than the request path does.
    let counted: u64 = selector.picks().iter().sum();
    assert!(counted > 0 && baseline.picks.load(Ordering::Relaxed) > 0);
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
