//! Prometheus for fledge: expose a rollout's live figures, and judge its
//! steps from fleet-wide metrics with PromQL.
//!
//! * **Exposition** ([`FledgeCollector`], [`render`], [`axum`] with the
//!   feature): a [`prometheus_client`] collector that reads the controllers'
//!   and recorders' figures at scrape time — requests, errors, latency,
//!   feedback metrics, traffic weights, phase, step and events — so the
//!   request path does no extra work.
//! * **PromQL gates** ([`PromEvaluator`], [`PromCheck`], [`PromConfig`]): an
//!   implementation of [`fledge_rollout::control::Evaluate`] that runs
//!   PromQL queries against Prometheus' HTTP API once per tick and holds
//!   the values to bounds, alone or against the baseline. Every replica
//!   exposes its own figures; Prometheus sums them, and the leader judges
//!   the fleet, the way Flagger and Argo Rollouts do. No data, `NaN`, too
//!   few samples and every error are Inconclusive, never Pass. The queries
//!   block: [tick off the async workers](#blocking).
//!
//! ```
//! use std::sync::Arc;
//! use prometheus_client::registry::Registry;
//! use fledge_prometheus::{FledgeCollector, PromCheck, PromConfig, PromEvaluator};
//! use fledge_rollout::{Controller, Plan};
//!
//! let plan = Plan::from_toml(r#"
//!     name = "checkout"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "2m"
//! "#)?;
//!
//! // 1. Judge each step from the whole fleet's figures.
//! let errors = PromCheck::new(
//!     "fleet error rate",
//!     r#"sum(rate(fledge_request_errors_total{rollout="{rollout}",version="{version}"}[{interval}]))
//!      / sum(rate(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))"#,
//! )
//! .max(0.01)
//! .min_samples(
//!     r#"sum(increase(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))"#,
//!     200.0,
//! );
//! let config = PromConfig::new("http://prometheus:9090").check(errors);
//! let evaluator = PromEvaluator::new(config, &plan)?;
//! let controller = Arc::new(Controller::builder(plan)
//!     .evaluator(evaluator)
//!     .judge_every_step() // the plan has no gates of its own
//!     .build()?);
//!
//! // 2. Expose this replica's figures for Prometheus to scrape.
//! let mut registry = Registry::default();
//! FledgeCollector::new().controller(controller.clone()).register(&mut registry);
//! let body = fledge_prometheus::render(&registry)?; // serve with CONTENT_TYPE at /metrics
//! assert!(body.contains("fledge_rollout_info"));
//!
//! // 3. Tick `controller` off the async workers: see "Blocking" below.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Metrics
//!
#![doc = include_str!("docs/metrics.md")]
//!
//! # Blocking
//!
#![doc = include_str!("docs/blocking.md")]
//!
//! # Modules
//!
//! | module | what |
//! |---|---|
//! | [`exposition`] | the collector and OpenMetrics text |
//! | [`axum`] | `/metrics` for an axum application (feature `axum`) |
//! | [`gate`] | PromQL gates: configuration, query templates, evaluation |
//! | [`client`] | the blocking HTTP client and its time-outs |
//! | [`response`] | Prometheus' answers, parsed |
//!
//! # Features
//!
//! - `axum`: [`axum::router`] and [`axum::handler`] serving a registry at
//!   `/metrics`.
//! - `rustls`: `https://` Prometheus URLs.
//!
//! The minimum supported Rust version is 1.89.
#![cfg_attr(not(feature = "axum"), doc = "\n\n[`axum`]: crate#features")]
#![cfg_attr(not(feature = "axum"), doc = "[`axum::router`]: crate#features")]
#![cfg_attr(not(feature = "axum"), doc = "[`axum::handler`]: crate#features")]
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod client;
pub mod exposition;
pub mod gate;
pub mod response;

#[doc(inline)]
pub use client::{ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, PromClient};
#[doc(inline)]
pub use exposition::{CONTENT_TYPE, DEFAULT_LATENCY_BUCKETS, FledgeCollector, RenderError, render};
#[doc(inline)]
pub use gate::{Compare, PromCheck, PromConfig, PromEvaluator};
#[doc(inline)]
pub use response::{QueryError, QueryResponse, QueryValue, Sample};
