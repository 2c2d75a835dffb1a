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

/// Experiment strategies: A/B/n tests (reports, sample sizes), champion /
/// challenger, blue-green and shadow-first. See [`fledge_rollout::strategy`].
#[doc(inline)]
pub use fledge_rollout::strategy;
#[doc(inline)]
pub use fledge_rollout::strategy::{
    AbTest, BlueGreen, ChampionChallenger, ExperimentRouting, SampleSize, ShadowFirst,
};

/// The tower layer (feature `tower`): [`CanaryLayer`](fledge_tower::CanaryLayer),
/// [`CanaryRouter`](fledge_tower::CanaryRouter), shadow mirroring. See
/// [`fledge_tower`].
#[cfg(feature = "tower")]
#[doc(inline)]
pub use fledge_tower as tower;

/// The axum adapter (feature `axum`): the `Version` extractor and the
/// feedback route. See [`fledge_axum`].
#[cfg(feature = "axum")]
#[doc(inline)]
pub use fledge_axum as axum;

/// The actix-web adapter (feature `actix`): the `Canary` middleware and the
/// `Version` extractor. See [`fledge_actix`].
#[cfg(feature = "actix")]
#[doc(inline)]
pub use fledge_actix as actix;
