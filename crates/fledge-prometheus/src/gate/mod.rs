//! PromQL gates: judge a rollout's step from fleet-wide metrics in Prometheus.
//!
//! A [`PromEvaluator`] implements
//! [`Evaluate`](fledge_rollout::control::Evaluate): once per tick it runs
//! each [`PromCheck`]'s query against `/api/v1/query` and holds the value
//! to the check's `max` / `min`, alone ([`Compare::Absolute`]) or against
//! the baseline's value ([`Compare::Ratio`], [`Compare::Difference`]). It
//! blocks while it queries: see [`PromEvaluator`].
//!
//! | file | what |
//! |---|---|
//! | `gate/config.rs` | [`PromConfig`], [`PromCheck`], [`Compare`]: what is configured, and its checks |
//! | `gate/template.rs` | the placeholders and their escaping, [`promql_duration`] |
//! | `gate/eval.rs` | [`PromEvaluator`]: queries, bounds, the judgement |
//!
#![doc = include_str!("../docs/gates.md")]

mod config;
mod eval;
mod template;

pub use config::{Compare, PromCheck, PromConfig};
pub use eval::PromEvaluator;
pub use template::promql_duration;
