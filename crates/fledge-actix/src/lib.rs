//! actix-web adapter for fledge.
//!
//! - [`Canary`]: a middleware ([`Transform`](actix_web::dev::Transform)) that
//!   chooses a version for every request exactly like `fledge-tower`'s layer
//!   (QA override → targeting rules → sticky key → no-key policy), records
//!   latency and outcome (5xx and errors are failures) into the gates, names
//!   the version in an `x-fledge-version` response header and puts a
//!   [`Chosen`] into the request's extensions. Its state is behind an `Arc`:
//!   every worker's app shares the same routing handle and recorder.
//! - **Isolation** ([`Canary::isolation`]): per-version bulkheads (overflow
//!   to stable, or a 503), timeouts (a 504) and panic containment (a 500
//!   instead of unwinding through the actix worker), counted and recorded as
//!   the version's failures like `fledge-tower`'s. Not available with
//!   actix-web: the fallback to stable (replaying a request needs its payload
//!   buffered and a second pass through the app, which actix's
//!   `ServiceRequest` does not allow from a middleware), and the version
//!   header on those 503/504/500 answers (they are actix errors, turned into
//!   responses by actix). Run CPU-heavy models on a
//!   [`VersionPool`](fledge_tower::pool::VersionPool) as with axum.
//! - [`Version`]: the extractor giving a handler the chosen version.
//! - [`ActixAttributes`]: actix-web's request seen as targeting
//!   [`Attributes`](fledge_rollout::plan::Attributes) (actix-web 4 has its own
//!   HTTP types).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use actix_web::{App, HttpResponse, web};
//! use fledge_actix::{Canary, Version};
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
//! let canary = Canary::new(routes);
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
//! The minimum supported Rust version is 1.85.

#![forbid(unsafe_code)]

mod attributes;
mod extract;
mod middleware;

pub use attributes::ActixAttributes;
pub use extract::{MissingVersion, Version};
pub use middleware::{Canary, CanaryMiddleware, CanaryResponseFuture};

#[doc(inline)]
pub use fledge_tower::{
    Chosen, Decider, FixedRouting, KeySource, NoKey, QaOverride, Reason, RoutingSource,
};
