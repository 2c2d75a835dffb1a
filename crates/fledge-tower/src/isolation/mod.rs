//! Isolation between versions in one process: per-version bulkheads,
//! timeouts, panic containment and a safe fallback to stable.
//!
//! - **Bulkheads.** A version with a concurrency limit
//!   ([`Isolation::concurrency`], or `limits.<version>.concurrency` in a
//!   plan) takes an in-flight slot per request (one atomic compare-and-swap,
//!   a [`Permit`] freed when the response head is ready). When the slots are
//!   taken the request goes to stable ([`Overflow::Stable`], the default) or
//!   gets a 503 ([`Overflow::Reject`]). Lock-free, allocation-free.
//! - **Timeouts.** A version with a timeout abandons a request whose
//!   response head takes longer (its future is dropped): 504, or a fallback.
//! - **Panic containment** (on by default, any version): a panic while
//!   calling or polling a version's service is caught, counted, recorded as
//!   that version's failure and answered with a 500 (or a fallback). The
//!   connection and the other versions carry on.
//! - **Fallback** ([`CanaryLayer::fallback`](crate::CanaryLayer::fallback),
//!   opt-in per route, see [`Fallback`]): a request that fails on a version
//!   other than stable (error, 5xx, timeout, panic) is retried once on
//!   stable, so the user gets a good answer while the gates still see the
//!   failure.
//! - **Pools** for CPU-heavy inference: [`crate::pool`].
//!
//! # How the gates see it
//!
//! - A request turned away by a full bulkhead is recorded in the gate
//!   recorder as a **failure of the version that turned it away, with zero
//!   latency** (`record(version, 0, error = true)`), and counted in
//!   [`VersionStats::overflowed`]. Error-rate checks (`error_rate`,
//!   `proportion`, `sequential` on errors) therefore see overflow as
//!   failures; latency checks see a near-zero sample, so judge a candidate
//!   that overflows often by its error rate (the overflow share is in the
//!   error count). A request sent on to stable is then recorded under
//!   stable as usual.
//! - A timeout or panic is recorded as a failure with the time it took.
//! - A fallback records the failure under the failed version and the retry
//!   under stable: two records for one client request.
//!
//! Counters per version: [`IsolationHandle::stats`].
//!
//! Limits are per version and read once, when the layer is built. After a
//! promotion the candidate serves everyone: its limits still apply and its
//! overflow still goes to the plan's baseline, so build the next layer with
//! the limits the new stable needs.
//!
//! # Readiness
//!
//! Slots are taken in `call`, after the routing decision, and freed when the
//! response head is ready (or the request is dropped); a streaming body does
//! not hold a slot. Timeouts, too, cover the response head only. Fallback is
//! decided on the response head: a failure known only at the end of the
//! stream (gRPC trailers) is recorded but not retried.

mod bulkhead;
mod config;
pub(crate) mod incident;
mod replay;

pub use bulkhead::{Admission, IsolationHandle, Permit, VersionStats};
pub use config::{DEFAULT_FALLBACK_BODY_LIMIT, Fallback, Isolation};
/// Re-exported from the plan: what a full bulkhead does.
pub use fledge_rollout::plan::Overflow;
/// Re-exported from the plan: one version's limits.
pub use fledge_rollout::plan::VersionLimits;

pub(crate) use bulkhead::{Bulkheads, Slot, sleep};
pub use replay::{FallbackRetry, NoFallback, NoRetry, ReplayBody, WithFallback};

/// What [`Decider::record_contained`](crate::Decider::record_contained)
/// records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contained {
    /// The version's timeout expired.
    Timeout,
    /// The version's service panicked.
    Panic,
}

/// A timer for a version's timeout
/// ([`Decider::timeout`](crate::Decider::timeout)), for adapters that
/// enforce it themselves. `None` outside a tokio runtime with timers (the
/// request then runs without a deadline rather than panicking).
pub fn timer(timeout: std::time::Duration) -> Option<tokio::time::Sleep> {
    bulkhead::timer(timeout)
}
