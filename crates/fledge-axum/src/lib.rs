//! axum adapter for fledge: the canary layer on a `Router`, the [`Version`]
//! extractor naming the version a request was given, and a [`Feedback`]
//! route joining delayed ground truth to that version. [`Outputs`] records
//! what the model answered, at response time, for the plan's output drift
//! gates (no ground truth needed).
//!
//! Most applications get the layer from the `fledge` crate
//! (`fledge::Canary::from_plan(plan)?.layer()`, features `axum`), which
//! builds the controller and applies the plan's limits. Here it is built on
//! any routing source.
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
//! # What it does
#![doc = include_str!("docs/overview.md")]
//!
//! # Recording model outputs
#![doc = include_str!("docs/outputs.md")]
//!
//! The minimum supported Rust version is 1.89.

#![forbid(unsafe_code)]

mod extract;
mod feedback;
mod layer;
mod request_id;

pub use extract::{MissingVersion, Version};
pub use feedback::{Feedback, FeedbackBody, FeedbackError};
pub use layer::{AxumFuture, AxumLayer, AxumService, IntoMakeService};
pub use request_id::{REQUEST_ID_HEADER, RequestId};

#[doc(inline)]
pub use fledge_tower::{CategoricalHandle, NumericHandle, OutputError, Outputs};

#[doc(inline)]
pub use fledge_tower::{
    CanaryLayer, Chosen, FixedRouting, KeySource, NoKey, QaOverride, RoutingSource, Settings,
};
#[doc(inline)]
pub use fledge_tower::{isolation, pool};
