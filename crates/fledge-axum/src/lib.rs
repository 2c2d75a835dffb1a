//! axum adapter for fledge.
//!
//! - **The layer**: [`CanaryLayer`] (re-exported from `fledge-tower`) plugs
//!   into [`Router::layer`](axum::Router::layer) or wraps the whole router.
//!   Every request gets a version, a `x-fledge-version` response header, and
//!   its latency and outcome recorded into the gates.
//! - **The extractor**: [`Version`] gives a handler the chosen version — the
//!   common ML case where both models live in one process and the handler
//!   calls the chosen one.
//! - **Feedback**: ground truth often arrives after the response (the actual
//!   value of a forecast, a click). [`Version::request_id`] makes a request
//!   id that *encodes the version* (and an optional payload such as the
//!   prediction), so joining feedback to its version needs no state at all;
//!   [`Feedback`] mounts `POST /feedback` which decodes it and records a
//!   value into a gate metric.
//! - **Isolation** ([`isolation`], [`pool`], re-exported from
//!   `fledge-tower`): per-version bulkheads and timeouts (a plan's `limits`),
//!   panic containment, a fallback to stable for idempotent routes
//!   (`CanaryLayer::fallback`; axum's routes accept its replayable body), and
//!   a bounded pool of OS threads per version for CPU-heavy models, so that
//!   a slow candidate does not slow stable's users. See
//!   `examples/isolation.rs`.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::post};
//! use fledge_axum::{CanaryLayer, Feedback, RequestId, Version};
//! use fledge_gate::{Recorder, RecorderConfig};
//! use fledge_select::{Selector, Split};
//! use fledge_sticky::{Bucketer, HashMode};
//! use fledge_tower::FixedRouting;
//!
//! async fn predict(version: Version, body: String) -> (RequestId, String) {
//!     let series: Vec<f64> = body.split(',').filter_map(|x| x.trim().parse().ok()).collect();
//!     let forecast = match version.id() {
//!         "v2" => series.iter().fold(series.first().copied().unwrap_or(0.0), |s, x| 0.5 * x + 0.5 * s),
//!         _ => series.iter().sum::<f64>() / series.len().max(1) as f64,
//!     };
//!     // The id carries the version and the forecast: feedback needs no lookup.
//!     (version.request_id(&format!("{forecast}")), format!("{forecast}"))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 500), ("v1", 9_500)])?));
//! let recorder = Arc::new(Recorder::new(RecorderConfig::new(2).metric("abs_error"))?);
//! let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "predict"), recorder);
//!
//! let feedback = Feedback::new(routes.clone(), "abs_error")?
//!     .score(|forecast, actual| Some((forecast.parse::<f64>().ok()? - actual).abs()));
//! let app: Router = Router::new()
//!     .route("/predict", post(predict))
//!     .layer(CanaryLayer::new(routes))
//!     .merge(feedback.router());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! The minimum supported Rust version is 1.85.

#![forbid(unsafe_code)]

mod extract;
mod feedback;
mod request_id;

pub use extract::{MissingVersion, Version};
pub use feedback::{Feedback, FeedbackBody, FeedbackError};
pub use request_id::{REQUEST_ID_HEADER, RequestId};

#[doc(inline)]
pub use fledge_tower::{
    CanaryLayer, Chosen, FixedRouting, KeySource, NoKey, QaOverride, RoutingSource,
};
#[doc(inline)]
pub use fledge_tower::{isolation, pool};
