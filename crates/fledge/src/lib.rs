//! fledge: progressive delivery inside your Rust serving process.
//!
//! The facade crate. It re-exports the public API of the `fledge-*` crates as
//! they land; optional worlds (tokio, tower, axum, actix-web, the admin API,
//! Redis, Prometheus) sit behind features so that `fledge` with default
//! features builds without them.

/// The weighted selector: weights, splits, lock-free picking. See
/// [`fledge_select`].
#[doc(inline)]
pub use fledge_select as select;
#[doc(inline)]
pub use fledge_select::{Selector, Split, VersionId, VersionIndex, Weight};

/// Sticky bucketing: key → bucket, Unleash- and GrowthBook-compatible modes.
/// See [`fledge_sticky`].
#[doc(inline)]
pub use fledge_sticky as sticky;
#[doc(inline)]
pub use fledge_sticky::{Bucketer, HashMode};

/// Metric gates: recording, windows, statistics, checks, the judge and
/// verdicts. See [`fledge_gate`].
#[doc(inline)]
pub use fledge_gate as gate;
#[doc(inline)]
pub use fledge_gate::{CheckSpec, Judge, Recorder, RecorderConfig, Verdict};

/// Multi-armed bandits: Thompson sampling, UCB1, epsilon-greedy. See
/// [`fledge_bandit`].
#[doc(inline)]
pub use fledge_bandit as bandit;

/// Rollouts: plans, the state machine, the controller, stores, the version
/// registry and (feature `tokio`) the driver. See [`fledge_rollout`].
#[doc(inline)]
pub use fledge_rollout as rollout;
#[doc(inline)]
pub use fledge_rollout::{Controller, Plan, PlanBuilder, Registry, RolloutRouting};

/// Experiment strategies: A/B/n tests (reports, sample sizes), champion /
/// challenger, blue-green and shadow-first. See [`fledge_rollout::strategy`].
#[doc(inline)]
pub use fledge_rollout::strategy;
#[doc(inline)]
pub use fledge_rollout::strategy::{
    AbTest, BlueGreen, ChampionChallenger, ExperimentRouting, SampleSize, ShadowFirst,
};

/// The tower layer (feature `tower`): [`CanaryLayer`](fledge_tower::CanaryLayer),
/// [`VersionRouter`](fledge_tower::VersionRouter), shadow mirroring. See
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

/// The admin API and live dashboard (feature `admin`): an axum `Router`
/// with status, history and operator commands. See [`fledge_admin`].
#[cfg(feature = "admin")]
#[doc(inline)]
pub use fledge_admin as admin;

/// Fleets on Redis (feature `redis`): a shared snapshot store with
/// compare-and-swap, a leader lease and followers. See [`fledge_redis`].
#[cfg(feature = "redis")]
#[doc(inline)]
pub use fledge_redis as redis;

/// Prometheus (feature `prometheus`): exposition read at scrape time and
/// PromQL gates. See [`fledge_prometheus`].
#[cfg(feature = "prometheus")]
#[doc(inline)]
pub use fledge_prometheus as prometheus;

/// Notifications (feature `notify`): a webhook posting chosen rollout
/// events (Slack-compatible JSON) from a background thread. See
/// [`fledge_notify`].
#[cfg(feature = "notify")]
#[doc(inline)]
pub use fledge_notify as notify;

/// Registry-driven rollouts (feature `registry`): watch MLflow (or a
/// directory) for a challenger, load it next to the champion, canary it
/// and write the outcome back. See [`fledge_registry`].
#[cfg(feature = "registry")]
#[doc(inline)]
pub use fledge_registry as registry;

/// The README's Rust code blocks, compiled and run as doctests.
#[cfg(all(doctest, feature = "axum", feature = "tokio"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
