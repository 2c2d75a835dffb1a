//! Per-thread state for the request path: a fast random number generator and
//! the counter shard this thread writes to. Both live in one `const`
//! thread-local, so reaching them costs one TLS access and no lazy
//! registration.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Local {
    /// wyrand state; 0 means "not seeded yet".
    rng: Cell<u64>,
    /// This thread's shard number; `usize::MAX` means "not assigned yet".
    shard: Cell<usize>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            rng: Cell::new(0),
            shard: Cell::new(usize::MAX),
        }
    };
}

/// Hands out shard numbers to threads in the order they first pick.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

const WY_ADD: u64 = 0xa076_1d64_78bd_642f;
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

/// The next number from this thread's wyrand generator (Wang Yi's wyrand:
/// a Weyl sequence through a 64×64→128 multiply-fold; passes BigCrush and
/// PractRand, not cryptographic). Seeded once per thread from the OS-seeded
/// `RandomState`.
#[inline]
pub(crate) fn next_u64() -> u64 {
    LOCAL.with(|local| {
        let mut state = local.rng.get();
        if state == 0 {
            state = seed();
        }
        state = state.wrapping_add(WY_ADD);
        local.rng.set(state);
        let t = u128::from(state) * u128::from(state ^ WY_XOR);
        // Fold the 128-bit product: high half xor low half.
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A uniformly random bucket in `0..10_000` (multiply-shift of the top 32
/// bits; the bias is below 10 000 / 2^32).
#[inline]
pub(crate) fn random_bucket() -> u32 {
    let high = next_u64() >> 32;
    // high < 2^32, so high * 10_000 < 2^46 and the result is below 10_000.
    ((high * u64::from(crate::BUCKETS)) >> 32) as u32
}

/// This thread's shard number (a small integer, distinct for the first
/// threads that ask; callers reduce it modulo their shard count).
#[inline]
pub(crate) fn shard() -> usize {
    LOCAL.with(|local| {
        let shard = local.shard.get();
        if shard != usize::MAX {
            return shard;
        }
        let shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % (usize::MAX - 1);
        local.shard.set(shard);
        shard
    })
}

#[cold]
fn seed() -> u64 {
    // `RandomState::new` is seeded from the OS once per thread and advanced
    // on every call, so different threads get different, unpredictable seeds.
    let seed = RandomState::new().hash_one(NEXT_SHARD.load(Ordering::Relaxed));
    // Never 0, which marks "not seeded".
    seed | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_buckets_are_in_range_and_spread() {
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            let b = random_bucket();
            assert!(b < crate::BUCKETS);
            counts[(b / 1_000) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn threads_get_different_streams_and_shards() {
        let here = (next_u64(), shard());
        let there = std::thread::spawn(|| (next_u64(), shard()))
            .join()
            .expect("thread ran");
        assert_ne!(here.0, there.0);
        assert_ne!(here.1, there.1);
        assert_eq!(shard(), here.1, "a thread keeps its shard");
    }
}
