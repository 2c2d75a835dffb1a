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
//!   few samples and every error are Inconclusive, never Pass.
//!
//! # Example
//!
//! ```no_run
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
//! # let _ = body;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Metrics
//!
//! Labels: `rollout` is the plan's name (or the name given to
//! [`FledgeCollector::recorder`]), `version` a version's id. Counters and
//! sums are cumulative since the recorder was created (they restart with
//! the process, which `rate()` handles).
//!
//! | name | type | labels | value |
//! |---|---|---|---|
//! | `fledge_requests_total` | counter | `rollout`, `version` | requests recorded |
//! | `fledge_request_errors_total` | counter | `rollout`, `version` | of which failed |
//! | `fledge_request_duration_seconds` | histogram (`_bucket`, `_sum`, `_count`) | `rollout`, `version` | latency since start, buckets [`DEFAULT_LATENCY_BUCKETS`] (1 ms to 10 s; [`FledgeCollector::latency_buckets`]): `histogram_quantile(0.99, sum by (le) (rate(..._bucket[5m])))` is the fleet's p99, `rate(_sum) / rate(_count)` the mean |
//! | `fledge_request_duration_window_seconds` | gauge | `rollout`, `version`, `q` | latency quantiles, `q` = 0.5, 0.9, 0.99 by default (not `quantile`: that label belongs to summaries) over the recent window: the step's bake time, else 60 s; `NaN` without requests |
//! | `fledge_feedback_value` | histogram (`_sum`, `_count`, only `+Inf`) | `rollout`, `version`, `metric` | custom (feedback) metrics: sum and count of values |
//! | `fledge_recorder_dropped_total` | counter | `rollout` | records the recorder ignored |
//! | `fledge_traffic_weight_ratio` | gauge | `rollout`, `version` | published share of traffic, 0 to 1 (controllers) |
//! | `fledge_mirror_weight_ratio` | gauge | `rollout` | share mirrored to the candidate |
//! | `fledge_rollout_info` | info (`1`) | `rollout`, `baseline`, `candidate` | the rollout's versions |
//! | `fledge_rollout_phase` | gauge | `rollout`, `phase` | 1 for the current phase: `progressing`, `paused`, `awaiting_approval`, `frozen`, `promoted`, `rolled_back`, `aborted`; 0 for the others |
//! | `fledge_rollout_step` | gauge | `rollout` | step in effect from 0, -1 before the first |
//! | `fledge_rollout_steps` | gauge | `rollout` | steps in the plan |
//! | `fledge_rollout_attempt` | gauge | `rollout` | 0, +1 per restart |
//! | `fledge_rollout_events_total` | counter | `rollout`, `kind` | events in the log by kind: `started`, `step_taken`, `promoted`, `rolled_back`, `aborted`, `paused`, `resumed`, `frozen`, `awaiting_approval`, `restarted`, `weight_set`, `failure_counted`, `inconclusive_counted`, `rejected` |
//! | `fledge_rollout_judgement` | gauge | `rollout`, `outcome` | 1 for the last judgement's outcome (`pass`, `fail`, `inconclusive`), after the first |
//!
//! The latency histogram's buckets come from
//! [`Recorder::cumulative_latency`](fledge_gate::Recorder::cumulative_latency)
//! (every time slot folded in as it is reused, on the control path), so a
//! fleet-wide p99 gate is
//! `histogram_quantile(0.99, sum by (le) (rate(fledge_request_duration_seconds_bucket{rollout="{rollout}",version="{version}"}[{interval}])))`,
//! as exact as the bucket bounds (Prometheus interpolates within a bucket).
//!
//! # The HTTP client
//!
//! Queries go through [`ureq`], a small blocking client. `Evaluate` is
//! synchronous and runs once per tick on the control path — inside a tokio
//! worker when the `fledge-rollout` driver ticks — so a blocking client
//! with a time-out is the simple, safe fit: an async client would need its
//! own runtime, and blocking on one from within the driver's would panic.
//! Without the `rustls` feature it speaks plain HTTP only, with no TLS
//! stack to build.
//!
//! # Features
//!
//! - `axum`: [`axum::router`] and [`axum::handler`] serving a registry at
//!   `/metrics`.
//! - `rustls`: `https://` Prometheus URLs.
//!
//! The minimum supported Rust version is 1.85.
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
pub use client::{ConfigError, PromClient};
#[doc(inline)]
pub use exposition::{CONTENT_TYPE, DEFAULT_LATENCY_BUCKETS, FledgeCollector, RenderError, render};
#[doc(inline)]
pub use gate::{Compare, PromCheck, PromConfig, PromEvaluator};
#[doc(inline)]
pub use response::{QueryError, QueryResponse, QueryValue, Sample};
