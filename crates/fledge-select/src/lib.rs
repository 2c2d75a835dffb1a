//! Lock-free weighted version selection: the part of fledge that runs on every
//! request.
//!
//! - [`Weight`]: a share of traffic in basis points (`0..=10_000`).
//! - [`VersionId`]: a version's validated name; [`VersionIndex`]: its position.
//! - [`Split`]: 1 to 64 versions with unique ids whose weights sum to exactly
//!   10 000. Buckets `0..10_000` are laid out in version order from 0, so the
//!   first version owns `[0, w0)`, the next `[w0, w0 + w1)`, and so on.
//! - [`Selector`]: holds the current split behind an atomic pointer; picks by
//!   sticky bucket or at random without locks or allocation, counts picks per
//!   version in per-thread shards, and swaps in a new split with
//!   [`publish`](Selector::publish).
//!
//! Invalid input returns a [`SelectError`] naming the problem; nothing here
//! panics on user input.
//!
//! # Example
//!
//! ```
//! use fledge_select::{Selector, Split, VersionId, Weight};
//!
//! // 5 % of the buckets to the canary, listed first so it owns [0, 500).
//! let split = Split::canary(
//!     VersionId::new("model-v2")?,
//!     VersionId::new("model-v1")?,
//!     Weight::from_percent(5.0)?,
//! )?;
//! let selector = Selector::new(split);
//!
//! // On the request path: a sticky bucket (from fledge-sticky) or a random pick.
//! let v = selector.pick_by_bucket(123);
//! assert_eq!(selector.id(v).map(|id| id.as_str()), Some("model-v2"));
//! let _any = selector.pick_random();
//!
//! // On the control path: the next step of the rollout, one atomic swap.
//! let next = selector.split().with_weights(&[Weight::from_percent(25.0)?, Weight::from_percent(75.0)?])?;
//! assert_eq!(selector.publish(next)?, 1);
//! assert_eq!(selector.picks().iter().sum::<u64>(), 2);
//! # Ok::<(), fledge_select::SelectError>(())
//! ```
//!
//! The minimum supported Rust version is 1.89.

#![forbid(unsafe_code)]

mod counters;
mod error;
mod id;
mod local;
mod selector;
mod split;
mod weight;

pub use error::SelectError;
pub use id::{MAX_ID_LEN, VersionId, VersionIndex};
pub use selector::Selector;
pub use split::{Split, VersionWeight};
pub use weight::Weight;

/// The number of buckets: weights are in basis points, one bucket each.
pub const BUCKETS: u32 = 10_000;

/// The most versions a [`Split`] may hold.
pub const MAX_VERSIONS: usize = 64;

/// A uniformly random bucket in `0..10_000` ([`BUCKETS`]), from this
/// thread's generator (see [`fast_random_u64`]); what
/// [`Selector::pick_random`] uses. For sampling a share of requests on the
/// request path: no lock, no allocation, no system call after the thread's
/// first draw.
#[inline]
pub fn random_bucket() -> u32 {
    local::random_bucket()
}

/// A fast random `u64` from this thread's generator: Wang Yi's wyrand, seeded
/// once per thread from the OS-seeded `RandomState`. Statistically sound
/// (passes BigCrush and PractRand) and unpredictable across processes, but
/// **not cryptographic**: use it for sampling and nonces that only need to be
/// unique, never for secrets.
#[inline]
pub fn fast_random_u64() -> u64 {
    local::next_u64()
}
