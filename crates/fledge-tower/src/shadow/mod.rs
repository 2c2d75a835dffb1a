//! Shadow mirroring: a copy of a share of requests goes to a shadow version;
//! its response is discarded, its latency and errors are recorded, and a
//! user-supplied comparator turns "primary vs shadow output" into a gate
//! metric ([`agreement`] has ready-made ones).
//!
//! Guarantees:
//!
//! - **The user's response is never delayed or changed.** The primary request
//!   and response bodies pass through frame for frame; copies are made on the
//!   side (up to [`ShadowLayer::body_limit`]) and the shadow call runs on its
//!   own tokio task.
//! - **Bounded.** At most [`ShadowLayer::max_in_flight`] shadow calls run at
//!   once; a request that would exceed it is not mirrored and is counted in
//!   [`ShadowStats::dropped`].
//! - **Counted.** Bodies over the limit, bodies never read by the primary,
//!   and missing runtimes are counted in [`ShadowStats::skipped`].
//!
//! Needs a tokio runtime (the shadow call is spawned). Place it inside a
//! [`CanaryLayer`](crate::CanaryLayer): requests the canary already sent to
//! the shadow version are not mirrored again.

pub mod agreement;
mod layer;
mod service;
pub(crate) mod tee;

pub use layer::{Comparator, ShadowHandle, ShadowLayer, ShadowStats};
pub use service::{Shadow, ShadowFuture};
pub use tee::TeeBody;
