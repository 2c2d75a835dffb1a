//! Experiments for fledge: A/B/n tests with a sample-size calculator and
//! reports, and champion / challenger, over sticky [`ExperimentRouting`].
//!
//! An experiment owns its split over two or more variants, counts exposures
//! on the request path (lock-free), reads business metrics recorded through
//! the feedback path, and decides with fledge-gate's statistics on every
//! `tick`. Rollouts of one candidate over a baseline (canary, blue-green,
//! shadow-first) are plans in `fledge-rollout`; bandits are in
//! `fledge-bandit`.
//!
//! An A/B/n test with a segment and a sequential stop:
//!
//! ```
//! use fledge_gate::clock::Timestamp;
//! use fledge_experiment::{AbTest, Condition, MetricSpec, Mde, SampleSize};
//!
//! // How long would a fixed-horizon test take? 4 % baseline, +25 % relative lift.
//! let n = SampleSize::proportions(0.04, Mde::Relative(0.25)).comparisons(2).per_variant()?;
//! println!("{n} exposures per variant");
//!
//! // Or stop as soon as the data speak: a sequential (always-valid) test.
//! let t0 = Timestamp::from_millis(0);
//! let ab = AbTest::builder("ranking")
//!     .control("popular", 50.0)
//!     .variant("personal", 25.0)
//!     .variant("fresh", 25.0)
//!     .metric(MetricSpec::conversion("click"))
//!     .metric(MetricSpec::per_exposure("revenue").tau(0.5)) // its own units
//!     .segment(Condition::attribute_in("country", ["fr", "de"]))
//!     .sequential(0.01)
//!     .auto_promote(true)
//!     .build(t0)?;
//! let routing = ab.routing().clone();
//! for user in 0..30_000u32 {
//!     let key = format!("user-{user}");
//!     let country = if user % 4 == 0 { "us" } else { "fr" };
//!     let attrs: &[(&str, &str)] = &[("country", country)];
//!     let a = routing.route(Some(key.as_bytes()), attrs);
//!     if !a.in_experiment {
//!         continue; // served by the control, not counted
//!     }
//!     let rate = match routing.id(a.variant).map(|v| v.as_str()) {
//!         Some("personal") => 9,
//!         _ => 5,
//!     };
//!     if user % 100 < rate {
//!         routing.recorder().record_feedback(a.variant.get(), "click", 1.0)?;
//!         routing.recorder().record_feedback(a.variant.get(), "revenue", 12.5)?;
//!     }
//! }
//! let report = ab.tick(t0);
//! println!("{report}");
//! assert_eq!(report.conclusion.as_ref().and_then(|c| c.winner()).map(|v| v.as_str()), Some("personal"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is here
#![doc = include_str!("docs/overview.md")]
//!
//! # Exposures and metrics
#![doc = include_str!("docs/metrics.md")]
//!
//! The minimum supported Rust version is 1.89.
#![forbid(unsafe_code)]

mod ab;
mod analysis;
mod champion;
mod error;
mod format;
mod metric;
mod report;
mod routing;
mod sample_size;
mod validate;

pub use ab::{AbBuilder, AbConfig, AbTest, VariantShare};
pub use analysis::{ArmSummary, Comparison, Decision, MetricReport};
pub use champion::{
    ChampionBuilder, ChampionChallenger, ChampionConfig, ChampionReport, ChampionState, Change,
    ChangeKind, Evidence, OldChampion, Role, Standing,
};
pub use error::ExperimentError;
pub use metric::{Correction, Goal, MetricKind, MetricSpec, Stopping};
pub use report::{Conclusion, Report};
pub use routing::{Assignment, Condition, ExperimentRouting};
pub use sample_size::{Mde, Method, SampleSize};
