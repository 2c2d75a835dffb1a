//! Registry-driven rollouts for fledge: a data scientist registers a model
//! version and points the `@challenger` alias at it; the serving process
//! loads it next to the `@champion`, canaries it through a plan's gates,
//! and writes the outcome back to the registry — `@champion` moves on
//! promotion, the version is tagged `fledge.verdict = rolled_back` (with
//! the reason) on rollback.
//!
//! - [`ModelSource`]: the registry. [`MlflowSource`] speaks MLflow's REST
//!   API (aliases, tags, versions, artifact downloads); [`DirSource`] keeps
//!   the same things in a directory tree.
//! - [`Watcher`]: polls the source (with backoff), loads versions with
//!   your async loader, runs a `fledge_rollout::Controller` per challenger,
//!   and writes aliases and tags back (only the [`Fleet`] leader writes).
//! - [`ModelTable`] and [`ModelLayer`]: the request path. The layer routes
//!   each request (sticky, weighted, gated) and hands the handler the
//!   routed model as a [`Served<M>`] extension; no lock, no registry call.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use fledge_registry::{DirSource, ModelSource, Served, Watcher};
//! use fledge_rollout::Plan;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A registry in a directory: version 1 is the champion.
//! let root = tempfile::tempdir()?;
//! let registry = DirSource::new(root.path());
//! std::fs::write(registry.create_version("forecaster", "1")?.join("model.json"), "10.0")?;
//! registry.set_alias("forecaster", "champion", "1")?;
//!
//! // The plan every challenger goes through (names are placeholders).
//! let plan = Plan::from_toml(r#"
//!     name = "forecaster"
//!     baseline = "champion"
//!     candidate = "challenger"
//!     steps = [10, 50, 100]
//!     interval = "30s"
//! "#)?;
//!
//! // The model: here a constant forecast read from model.json.
//! let watcher = Watcher::builder(registry.clone(), "forecaster", plan)
//!     .loader(|_version, dir| async move {
//!         let text = tokio::fs::read_to_string(dir.join("model.json")).await?;
//!         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Arc::new(text.trim().parse::<f64>()?))
//!     })
//!     .poll_interval(Duration::from_millis(50))
//!     .start()
//!     .await?;
//!
//! // Serving: the handler gets the routed model.
//! let handler = tower::service_fn(|req: http::Request<String>| async move {
//!     let model = req.extensions().get::<Served<f64>>().cloned().expect("the layer inserts it");
//!     Ok::<_, std::convert::Infallible>(http::Response::new(format!("{} from {}", *model, model.id())))
//! });
//! let service = watcher.layer().layer(handler);
//! let res = service.oneshot(http::Request::new(String::new())).await?;
//! assert_eq!(res.headers()["x-fledge-version"], "v1");
//! let body = http_body_util::BodyExt::collect(res.into_body()).await?.to_bytes();
//! assert_eq!(body, "10 from v1");
//!
//! // Version 2 becomes the challenger: it is loaded and canaried.
//! std::fs::write(registry.create_version("forecaster", "2")?.join("model.json"), "12.0")?;
//! registry.set_alias("forecaster", "challenger", "2")?;
//! let status = watcher
//!     .wait_for(Duration::from_secs(30), |s| s.rollout.is_some())
//!     .await
//!     .expect("the canary starts");
//! assert_eq!(status.challenger.map(|c| c.version), Some("2".to_owned()));
//! assert!(watcher.models().get("v2").is_some());
//! # watcher.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Guide
#![doc = include_str!("docs/registries.md")]
// Without the `redis` feature, the guide's links to its items point at
// the guide's "On Redis" section (with it, they resolve to the items).
#![cfg_attr(
    not(feature = "redis"),
    doc = "\n\n[`RedisFleet`]: #on-redis\n[`RedisFleet::shutdown`]: #on-redis\n[`RedisFleet::status`]: #on-redis\n[`LoadFailure::Reject`]: #on-redis\n[`LoadFailure::Wait`]: #on-redis\n"
)]
//!
//! The minimum supported Rust version is 1.89.

#![forbid(unsafe_code)]

pub mod fleet;
mod layer;
pub mod source;
mod table;
mod version;
mod watcher;

pub use fleet::{Fleet, LeaderFn, Readiness, ReplicaLoad, SingleProcess};
#[cfg(feature = "redis")]
pub use fleet::{
    LoadFailure, RedisFleet, RedisFleetBuilder, RedisFleetStatus, ReplicaReport, ReplicaSeen,
};
pub use layer::{Attach, Configure, ModelLayer, ModelService};
pub use source::{ConfigError, DirSource, MlflowSource, ModelSource, Op, SourceError};
pub use table::{Loaded, ModelTable, Served};
pub use version::{IdScheme, ModelVerdict, ModelVersion, tags};
pub use watcher::{
    BoxError, Rejection, Status, VersionInfo, WatchError, WatchPhase, Watcher, WatcherBuilder,
};
