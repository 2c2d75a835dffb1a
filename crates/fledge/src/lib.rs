//! fledge: progressive delivery inside your Rust serving process. Register
//! v2 next to v1, add one layer, and fledge sends a sticky, weighted share of
//! traffic to v2, judges it with gates, and promotes it step by step or
//! rolls it back.
//!
//! [`Canary`] is the front door (feature `tower`, or `axum` / `actix`):
//!
//! ```
//! # #[cfg(all(feature = "axum", feature = "tokio"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::post};
//! use fledge::axum::Version;
//!
//! // Both models live in this process; the handler calls the one fledge chose.
//! async fn predict(version: Version, body: String) -> String {
//!     format!("{} answered {body}", version.id())
//! }
//!
//! let plan = fledge::Plan::from_toml(r#"
//!     name = "predict-v2"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "30s"
//!
//!     [[gates]]
//!     name = "p99 latency"
//!     kind = "threshold"
//!     metric = "latency_p99"
//!     max = 50.0
//!
//!     [limits.v2]          # enforced by the layer: at most 32 in flight, 200 ms each
//!     concurrency = 32
//!     timeout = "200ms"
//! "#)?;
//! let canary = fledge::Canary::from_plan(plan)?; // controller + layer, plan limits applied
//! let app: Router = Router::new().route("/predict", post(predict)).layer(canary.axum_layer());
//! let driver = canary.spawn(); // ticks every second: promote, or roll back
//! # let _ = app;
//! // axum::serve(listener, app).await?;
//! driver.shutdown().await;
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "axum", feature = "tokio")))]
//! # fn main() {}
//! ```
//!
//! Everything else is re-exported from the `fledge-*` crates below; optional
//! worlds (tokio, experiments, bandits, tower, axum, actix-web, the admin API,
//! Redis, Prometheus, notifications)
//! sit behind features, so `fledge` with default features builds without
//! them.
//!
//! # Features
#![doc = include_str!("docs/features.md")]

#[cfg(feature = "tower")]
mod canary;

#[cfg(feature = "tower")]
pub use canary::{Canary, CanaryBuilder, CanaryError, DEFAULT_TICK};

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

/// Rollouts: plans, the state machine, the controller, stores, the version
/// registry and (feature `tokio`) the driver. See [`fledge_rollout`].
#[doc(inline)]
pub use fledge_rollout as rollout;
#[doc(inline)]
pub use fledge_rollout::{Controller, Plan, PlanBuilder, RolloutRouting, VersionRegistry};

/// Experiments (feature `experiment`): A/B/n tests with sample sizes and
/// reports, champion / challenger. See [`fledge_experiment`].
#[cfg(feature = "experiment")]
#[doc(inline)]
pub use fledge_experiment as experiment;
#[cfg(feature = "experiment")]
#[doc(inline)]
pub use fledge_experiment::{AbTest, ChampionChallenger, ExperimentRouting, SampleSize};

/// Multi-armed bandits (feature `bandit`): Thompson sampling, UCB1,
/// epsilon-greedy. See [`fledge_bandit`].
#[cfg(feature = "bandit")]
#[doc(inline)]
pub use fledge_bandit as bandit;

/// The tower layer (feature `tower`): [`CanaryLayer`](fledge_tower::CanaryLayer),
/// its [`Settings`](fledge_tower::Settings),
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

/// The actix-web adapter (feature `actix`): the `CanaryMiddleware` and the
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
