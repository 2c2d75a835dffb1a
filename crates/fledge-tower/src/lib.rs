//! Tower middleware for fledge: route each request to a version by the
//! rollout's current split, record its latency and outcome into the gates,
//! and mirror shadow traffic.
//!
//! # Overview
//!
//! - [`CanaryLayer`] → [`Canary`]: wraps **one** service (an axum `Router`, a
//!   hyper service). For each request it picks a version, inserts a
//!   [`Chosen`] request extension naming it, calls the inner service, adds an
//!   `x-fledge-version` response header and records latency and outcome
//!   under that version. The common ML case: both models live in one
//!   process and the handler calls the chosen one.
//! - [`CanaryLayer::router`] → [`VersionRouter`]: **one service per version**
//!   (two model servers, two clients); the chosen one is cloned and driven
//!   with `oneshot`.
//! - [`shadow::ShadowLayer`] → [`shadow::Shadow`]: copies a share of
//!   requests to a shadow version on a spawned task; its response is
//!   discarded, its latency and errors recorded, its output compared with
//!   the primary's into a gate metric.
//! - [`isolation`]: per-version bulkheads and timeouts (from a plan's
//!   `limits` or in code), panic containment, and a fallback to stable for
//!   idempotent routes ([`CanaryLayer::isolation`],
//!   [`CanaryLayer::fallback`]); [`pool::VersionPool`]: a bounded pool of OS
//!   threads per version for CPU-heavy inference.
//!
//! The routing decision ([`Decider`]), in order: a valid QA override
//! ([`QaOverride`], honoured only with its secret) → a targeting rule → the
//! key's sticky bucket ([`KeySource`]: header `x-user-id` by default, cookie,
//! query parameter or closure) → without a key, [`NoKey`] (random or stable).
//! Outcomes are classified with `tower-http`'s
//! [`classify`]: by default 5xx responses and service
//! errors are failures; `GrpcErrorsAsFailures` reads gRPC status from headers
//! or trailers.
//!
//! The decision reads a [`RoutingSource`] source: the rollout controller's serving
//! handle, an experiment's
//! [`ExperimentRouting`](fledge_experiment::ExperimentRouting) (A/B/n,
//! champion / challenger: the layer also counts its exposures), or a
//! [`FixedRouting`] (a selector someone else publishes to, e.g. a bandit).
//! Latency is timed with a [`Stopwatch`].
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use fledge_gate::{Recorder, RecorderConfig};
//! use fledge_select::{Selector, Split};
//! use fledge_sticky::{Bucketer, HashMode};
//! use fledge_tower::{CanaryLayer, Chosen, FixedRouting};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // v2 owns buckets [0, 2500): 25 % of users.
//! let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 2_500), ("v1", 7_500)])?));
//! let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
//! let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "demo"), recorder.clone());
//!
//! // The handler calls the chosen model.
//! let handler = tower::service_fn(|req: http::Request<String>| async move {
//!     let chosen = req.extensions().get::<Chosen>().copied();
//!     let model = if chosen.map(|c| c.id()) == Some("v2") { "smoothing" } else { "average" };
//!     Ok::<_, Infallible>(http::Response::new(model.to_owned()))
//! });
//! let service = CanaryLayer::new(routes).layer(handler);
//!
//! let req = http::Request::builder().header("x-user-id", "user-42").body(String::new())?;
//! let res = service.oneshot(req).await?;
//! let version = res.headers()["x-fledge-version"].to_str()?.to_owned();
//! assert!(version == "v1" || version == "v2");
//! assert_eq!(recorder.window(0, fledge_gate::clock::Timestamp::from_millis(1), std::time::Duration::from_secs(60))?.totals().requests
//!     + recorder.window(1, fledge_gate::clock::Timestamp::from_millis(1), std::time::Duration::from_secs(60))?.totals().requests, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Readiness and back-pressure
#![doc = include_str!("docs/readiness.md")]
//!
//! # What it costs
#![doc = include_str!("docs/cost.md")]
//!
//! # Isolation and its limits
#![doc = include_str!("docs/isolation.md")]
//!
//! The minimum supported Rust version is 1.85.

#![forbid(unsafe_code)]

mod attributes;
mod body;
mod call;
mod canary;
mod chosen;
mod clock;
mod decide;
mod error;
mod future;
pub mod isolation;
pub mod key;
pub mod pool;
mod qa;
mod router;
mod routes;
pub mod shadow;

pub use attributes::{HttpAttributes, RequestAttributes};
pub use body::ResponseBody;
pub use canary::{Canary, CanaryLayer};
pub use chosen::{Chosen, Reason};
pub use clock::Stopwatch;
pub use decide::{DEFAULT_VERSION_HEADER, Decider};
pub use error::ConfigError;
pub use future::ResponseFuture;
pub use key::{KeySource, NoKey, RequestHead};
pub use qa::{DEFAULT_OVERRIDE_HEADER, MIN_SECRET_LEN, QaOverride};
pub use router::VersionRouter;
pub use routes::{FixedRouting, RoutingSource};

/// Re-exported: the targeting attributes trait rules read.
pub use fledge_rollout::plan::Attributes;
/// Re-exported: `tower-http`'s response classifiers.
pub use tower_http::classify;

/// A boxed error, for services whose errors are type-erased.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
