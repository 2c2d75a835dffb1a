//! Per-thread state for the request path: a fast random number generator and
//! the counter slot this thread owns. Both live in one `const` thread-local,
//! so reaching them costs one TLS access.
//!
//! # Counter slots
//!
//! A thread that picks claims one of [`SLOTS`] slot numbers on its first pick
//! and gives it back when it exits. While it holds slot `s`, it is the only
//! thread writing the counters in slot `s` of every selector, so it can count
//! with a plain load and store instead of a locked read-modify-write. Threads
//! beyond the first `SLOTS` live ones share the [`OVERFLOW`] slot, counted
//! with atomic `fetch_add`.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// The number of exclusive counter slots (one bit each in [`CLAIMED`]).
pub(crate) const SLOTS: usize = 64;

/// The shared slot of threads that found no free exclusive one.
pub(crate) const OVERFLOW: usize = SLOTS;

/// Marks a thread that has not picked yet.
const UNASSIGNED: usize = usize::MAX;

/// Bit `s` set: slot `s` is held by a live thread.
static CLAIMED: AtomicU64 = AtomicU64::new(0);

struct Local {
    /// wyrand state; 0 means "not seeded yet".
    rng: Cell<u64>,
    /// This thread's counter slot, or `UNASSIGNED`.
    slot: Cell<usize>,
}

impl Drop for Local {
    fn drop(&mut self) {
        let slot = self.slot.get();
        if slot < SLOTS {
            // Release: the next owner of the slot sees every count we stored.
            CLAIMED.fetch_and(!(1u64 << slot), Ordering::Release);
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            rng: Cell::new(0),
            slot: Cell::new(UNASSIGNED),
        }
    };
}

const WY_ADD: u64 = 0xa076_1d64_78bd_642f;
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

/// The next number from this thread's wyrand generator (Wang Yi's wyrand:
/// a Weyl sequence through a 64×64→128 multiply-fold; passes BigCrush and
/// PractRand, not cryptographic). Seeded once per thread from the OS-seeded
/// `RandomState`.
#[inline]
pub(crate) fn next_u64() -> u64 {
    let state = LOCAL
        .try_with(|local| {
            let mut state = local.rng.get();
            if state == 0 {
                state = seed();
            }
            state = state.wrapping_add(WY_ADD);
            local.rng.set(state);
            state
        })
        // Only while this thread's locals are being destroyed.
        .unwrap_or_else(|_| seed());
    let t = u128::from(state) * u128::from(state ^ WY_XOR);
    // Fold the 128-bit product: high half xor low half.
    ((t >> 64) as u64) ^ (t as u64)
}

/// A uniformly random bucket in `0..10_000` (multiply-shift of the top 32
/// bits; the bias is below 10 000 / 2^32).
#[inline]
pub(crate) fn random_bucket() -> u32 {
    let high = next_u64() >> 32;
    // high < 2^32, so high * 10_000 < 2^46 and the result is below 10_000.
    ((high * u64::from(crate::BUCKETS)) >> 32) as u32
}

/// This thread's counter slot: `0..SLOTS` (held exclusively by this thread
/// until it exits) or [`OVERFLOW`] (shared).
#[inline]
pub(crate) fn slot() -> usize {
    LOCAL
        .try_with(|local| {
            let slot = local.slot.get();
            if slot != UNASSIGNED {
                return slot;
            }
            let slot = claim();
            local.slot.set(slot);
            slot
        })
        .unwrap_or(OVERFLOW)
}

#[cold]
fn claim() -> usize {
    let mut claimed = CLAIMED.load(Ordering::Relaxed);
    loop {
        let free = !claimed;
        if free == 0 {
            return OVERFLOW;
        }
        let slot = free.trailing_zeros();
        // Acquire: see every count the slot's previous owner stored.
        match CLAIMED.compare_exchange_weak(
            claimed,
            claimed | (1u64 << slot),
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return slot as usize,
            Err(now) => claimed = now,
        }
    }
}

#[cold]
fn seed() -> u64 {
    // `RandomState::new` is seeded from the OS once per thread and advanced
    // on every call, so different threads get different, unpredictable seeds.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let seed = RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed));
    // Never 0, which marks "not seeded".
    seed | 1
}

/// Serializes the tests that need many slots at once or all slots free.
#[cfg(test)]
pub(crate) static SLOT_HUNGRY_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    fn threads_get_different_streams_and_slots() {
        let here = (next_u64(), slot());
        let there = std::thread::spawn(|| (next_u64(), slot()))
            .join()
            .expect("thread ran");
        assert_ne!(here.0, there.0);
        assert_ne!(here.1, there.1);
        assert_eq!(slot(), here.1, "a thread keeps its slot");
    }

    #[test]
    fn slots_are_given_back_on_exit() {
        let _serial = SLOT_HUNGRY_TESTS.lock();
        // Many short-lived threads one after the other never run out.
        for _ in 0..(2 * SLOTS) {
            let slot = std::thread::spawn(slot).join().expect("thread ran");
            assert!(slot < SLOTS, "got the overflow slot");
        }
    }
}
