//! Tower middleware for fledge: route each request to a version by the
//! rollout's current split, record its latency and outcome into the gates,
//! and mirror shadow traffic.
//!
//! Most applications start from the `fledge` crate's `Canary::from_plan`,
//! which builds the controller and this crate's [`CanaryLayer`] with the
//! plan's limits applied. Use this crate directly for a routing source of
//! your own ([`FixedRouting`], an experiment) or another framework.
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
//! # Overview
#![doc = include_str!("docs/overview.md")]
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
//! The minimum supported Rust version is 1.89.

#![forbid(unsafe_code)]

mod attributes;
mod canary;
mod chosen;
mod clock;
mod decide;
mod error;
pub mod isolation;
pub mod key;
pub mod otel;
mod outputs;
pub mod pool;
mod qa;
mod router;
mod routes;
mod serve;
pub mod shadow;

pub use attributes::{HttpAttributes, RequestAttributes};
pub use canary::{CanaryLayer, CanaryService};
pub use chosen::{Chosen, Reason};
pub use clock::{LatencyClock, Stopwatch};
pub use decide::{DEFAULT_VERSION_HEADER, Decider, Settings};
pub use error::{BoxError, ConfigError};
pub use key::{KeySource, NoKey, RequestHead};
pub use outputs::{CategoricalHandle, NumericHandle, OutputError, Outputs};
pub use qa::{DEFAULT_OVERRIDE_HEADER, MIN_SECRET_LEN, QaOverride};
pub use router::VersionRouter;
pub use routes::{FixedRouting, RoutingSource};
pub use serve::{ResponseBody, ResponseFuture};

/// Re-exported: the targeting attributes trait rules read.
pub use fledge_rollout::plan::Attributes;
/// Re-exported: `tower-http`'s response classifiers.
pub use tower_http::classify;
