//! Experiment strategies beyond the canary: A/B/n tests and champion /
//! challenger. Blue-green and shadow-first are plans
//! ([`plan::BlueGreenBuilder`](crate::plan::BlueGreenBuilder),
//! [`plan::ShadowFirstBuilder`](crate::plan::ShadowFirstBuilder)).
//!
//! | strategy | what | built on |
//! |---|---|---|
//! | [`AbTest`] | fixed split over 2+ variants, sticky, optional segment; business metrics (conversions, means, per-exposure values); lift, interval, p-value, Holm / Bonferroni correction, fixed-horizon or sequential stopping; a [`Report`]; optional promotion of the winner | its own selector, [`ExperimentRouting`], fledge-gate's statistics |
//! | [`SampleSize`] | exposures per variant for a baseline rate (or standard deviation), a minimum detectable effect, power and alpha | closed forms checked against SciPy and statsmodels |
//! | [`ChampionChallenger`] | one champion with most traffic, challengers with a small share each, evaluated continuously (always-valid test + fledge-gate guard checks); winners promoted, losers retired, every change kept with its evidence | [`ExperimentRouting`], fledge-gate's judge |
//!
//! Multi-armed bandits live in the `fledge-bandit` crate.
//!
//! # Exposures and metrics
//!
//! An A/B test or champion / challenger counts **exposures** (requests in
//! the experiment) with [`ExperimentRouting::route`] or
//! [`ExperimentRouting::expose`] (behind the `fledge-tower` layer, the layer
//! counts them), and reads **business metrics** recorded
//! through the feedback path into [`ExperimentRouting::recorder`] under the
//! variant that served the request. A [`MetricSpec`] says how to read them:
//! [`MetricKind::Conversion`] (events per exposure, two-proportion z-test),
//! [`MetricKind::Mean`] (mean of the values, Welch's t-test) or
//! [`MetricKind::PerExposure`] (sum of the values per exposure, missing
//! values as 0, Welch's t-test).
//!
//! # Example: an A/B/n test with a segment and a sequential stop
//!
//! ```
//! use fledge_gate::clock::Timestamp;
//! use fledge_rollout::strategy::{AbTest, Condition, MetricSpec, Mde, SampleSize};
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

mod ab;
mod analysis;
mod champion;
mod error;
mod metric;
mod report;
mod routing;
mod sample_size;

pub use ab::{AbBuilder, AbConfig, AbTest, VariantShare};
pub use analysis::{ArmSummary, Comparison, Decision, MetricReport};
pub use champion::{
    ChampionBuilder, ChampionChallenger, ChampionConfig, ChampionReport, ChampionState, Change,
    ChangeKind, Evidence, OldChampion, Role, Standing,
};
pub use error::StrategyError;
pub use metric::{Correction, Goal, MetricKind, MetricSpec, Stopping};
pub use report::{Conclusion, Report};
pub use routing::{Assignment, Condition, ExperimentRouting};
pub use sample_size::{Mde, Method, SampleSize};
