//! fledge: progressive delivery inside your Rust serving process.
//!
//! The facade crate. It re-exports the public API of the `fledge-*` crates as
//! they land; optional worlds (tokio, tower, axum, actix-web) sit behind
//! features so that `fledge` with default features builds without them.

/// Rollouts: plans, the state machine, the controller, stores, the version
/// registry and (feature `tokio`) the driver. See [`fledge_rollout`].
#[doc(inline)]
pub use fledge_rollout as rollout;
#[doc(inline)]
pub use fledge_rollout::{Controller, Plan, PlanBuilder, Registry, Routing};
