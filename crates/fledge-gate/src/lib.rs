//! Metric gates for progressive delivery: decide whether a canary may take
//! more traffic.
//!
//! fledge-gate is fed on the request path and read on the control path:
//!
//! * [`Recorder`]: per-version latency histogram, request and error counts,
//!   named custom metrics (fed later through feedback) and model outputs
//!   (a forecast, a class, recorded at response time), sharded so many
//!   threads record at once without a global lock, a shared hot cache line,
//!   a clock read or an allocation.
//! * [`Window`]: a sliding-window snapshot of one version (e.g. the last 60 s,
//!   built from 10 s slots), merged across shards, plus cumulative
//!   [`Totals`].
//! * [`stats`]: Mann-Whitney U, Hodges-Lehmann, Welch's t, two-proportion z
//!   and the always-valid mixture SPRT, checked against R, SciPy and Kayenta;
//!   Kolmogorov–Smirnov, chi-square and PSI for output drift.
//! * [`output`]: model outputs: numeric ones as mergeable sketches,
//!   categorical ones as label counts; [`OutputWindow`] with its binary form
//!   for fleets.
//! * [`metric`]: [`MetricRef`], the metric a check reads (`error_rate`,
//!   `latency_p99`, a custom name), and the rules for custom metric names
//!   that the recorder and the checks share.
//! * [`check`] and [`Judge`]: serde-configured checks (absolute thresholds,
//!   baseline-relative bounds, Kayenta-style classification, proportion and
//!   sequential tests, output drift tests, each Inconclusive below its
//!   minimum sample size)
//!   combined into a [`Verdict`]: Pass, Fail or Inconclusive, with a
//!   per-check explanation.
//! * [`explain`]: how explanations write numbers (values, p-values,
//!   percentages, statistics), for other crates to match.
//! * [`clock`]: injected time ([`clock::Timestamp`], [`clock::ManualClock`]),
//!   so nothing sleeps in tests.
//!
//! No async, no HTTP, no dependency on other fledge crates. Minimum Rust
//! version: the workspace's, 1.89.
//!
//! # Modules
//!
//! | module | job | uses |
//! |---|---|---|
//! | [`clock`] | injected time | – |
//! | [`explain`] | how explanations write numbers | – |
//! | [`stats`] | the statistical tests | – |
//! | [`metric`] | metric names and the custom-name rules | `explain` |
//! | [`kayenta`] | Kayenta's classifiers | `stats` |
//! | [`output`] | model outputs: specs, sketches, label counts, their windows and binary form | `metric`, `stats` |
//! | [`window`] | window snapshots and cumulative totals | `clock`, `output`, `stats` |
//! | [`recorder`] | the sharded recorder: request-path writes, control-path reads | `clock`, `metric`, `output`, `stats`, `window` |
//! | [`check`] | check specs, one file per check kind, results | `explain`, `kayenta`, `metric`, `output`, `stats`, `window` |
//! | [`judge`] | checks combined into a [`Verdict`] | `check`, `explain`, `window` |
//!
//! No module uses one listed below it (`check` and `judge` also use the
//! private `float_serde`), and inside `stats`, `recorder` and `check` no two
//! files import each other: the crate's module graph has no cycles.
//!
//! # Output drift gates
//!
#![doc = include_str!("docs/drift.md")]
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use fledge_gate::clock::{Clock, ManualClock, Timestamp};
//! use fledge_gate::{Judge, JudgeSpec, Recorder, RecorderConfig};
//!
//! const BASELINE: usize = 0;
//! const CANARY: usize = 1;
//!
//! // The gate, as a rollout plan would embed it.
//! let spec: JudgeSpec = toml::from_str(r#"
//!     [[checks]]
//!     kind = "threshold"
//!     metric = "latency_p99"
//!     max = 50.0
//!     critical = true
//!
//!     [[checks]]
//!     kind = "relative"
//!     metric = "error_rate"
//!     max_increase = 0.005
//!
//!     [[checks]]
//!     kind = "sequential"
//!     metric = "error_rate"
//!     tau = 0.01
//! "#)?;
//! let mut judge = Judge::new(spec)?;
//!
//! // Request path: record every response.
//! let recorder = Recorder::new(RecorderConfig::new(2))?;
//! for i in 0..2_000u64 {
//!     let latency = Duration::from_millis(10 + i % 20);
//!     recorder.record(BASELINE, latency, i % 200 == 0);
//!     recorder.record(CANARY, latency, i % 10 == 0); // 10 % errors
//! }
//!
//! // Control path: once per tick.
//! let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
//! clock.advance(Duration::from_secs(1));
//! let now = clock.now();
//! let canary = recorder.window(CANARY, now, Duration::from_secs(60))?;
//! let baseline = recorder.window(BASELINE, now, Duration::from_secs(60))?;
//! let verdict = judge.evaluate(&canary, &baseline);
//! assert!(verdict.is_fail());
//! println!("{verdict}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod check;
pub mod clock;
mod codec;
pub mod explain;
mod float_serde;
pub mod judge;
pub mod kayenta;
pub mod metric;
pub mod output;
pub mod recorder;
pub mod stats;
pub mod summary;
pub mod window;

#[doc(inline)]
pub use check::{CheckResult, CheckSpec, Outcome, SpecError, Test};
#[doc(inline)]
pub use judge::{Judge, JudgeSpec, Report, Verdict};
#[doc(inline)]
pub use metric::MetricRef;
#[doc(inline)]
pub use output::{LabelCounts, NumericOutput, OutputKind, OutputSpec, OutputWindow};
#[doc(inline)]
pub use recorder::{MetricId, OutputId, Recorder, RecorderConfig, RecorderError};
#[doc(inline)]
pub use summary::{SummaryError, WindowSummary};
#[doc(inline)]
pub use window::{CumulativeLatency, Latency, MetricWindow, Totals, Window};
