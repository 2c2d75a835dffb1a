//! actix-web adapter for fledge: [`CanaryMiddleware`] chooses a version for
//! every request, records its outcome into the gates and names it; the
//! [`Version`] extractor hands it to a handler; [`Outputs`] records what the
//! model answered, at response time, for the plan's output drift gates (no
//! ground truth needed).
//!
//! Most applications get the middleware from the `fledge` crate
//! (`fledge::Canary::from_plan(plan)?.actix()`, feature `actix`), which
//! applies the plan's limits. Here it is built on any routing source.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use actix_web::{App, HttpResponse, web};
//! use fledge_actix::{CanaryMiddleware, Version};
//! use fledge_gate::{Recorder, RecorderConfig};
//! use fledge_select::{Selector, Split};
//! use fledge_sticky::{Bucketer, HashMode};
//! use fledge_tower::FixedRouting;
//!
//! async fn recommend(version: Version) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("ranked by {}", version.id()))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 1_000), ("v1", 9_000)])?));
//! let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
//! let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "rec"), recorder);
//! let canary = CanaryMiddleware::new(routes);
//!
//! // In `HttpServer::new(move || ...)`, each worker wraps its app with a clone.
//! let make_app = move || {
//!     App::new()
//!         .wrap(canary.clone())
//!         .route("/api/v1/recommend", web::post().to(recommend))
//! };
//! # let _ = make_app;
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

mod attributes;
mod extract;
mod middleware;

pub use attributes::ActixAttributes;
pub use extract::{MissingVersion, Version};
pub use middleware::{CanaryMiddleware, CanaryMiddlewareService, CanaryResponseFuture};

#[doc(inline)]
pub use fledge_tower::{CategoricalHandle, NumericHandle, OutputError, Outputs};

#[doc(inline)]
pub use fledge_tower::isolation;
#[doc(inline)]
pub use fledge_tower::{
    Chosen, Decider, FixedRouting, KeySource, NoKey, QaOverride, Reason, RoutingSource, Settings,
};
