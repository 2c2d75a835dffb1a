//! What an experiment measures and how it decides: [`MetricSpec`],
//! [`Correction`] for several variants, and [`Stopping`] rules.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::MetricRef;

use crate::error::ExperimentError;

/// A business metric compared between variants.
///
/// Values arrive through the feedback path: record them into the
/// experiment's recorder under the variant that served the request
/// (`recorder().record_feedback(variant, name, value)`). Exposures are
/// counted by the experiment's routing handle (see
/// [`ExperimentRouting::expose`](crate::routing::ExperimentRouting::expose)).
///
/// Serde: `{ name = "purchase", kind = "conversion", goal = "increase" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// The custom metric's name in the recorder (e.g. `"purchase"`).
    pub name: String,
    /// How its values are read.
    pub kind: MetricKind,
    /// Which direction is better (default: higher).
    #[serde(default)]
    pub goal: Goal,
    /// For sequential tests: the mixing standard deviation in this metric's
    /// units (the difference worth detecting). The primary metric defaults
    /// to the stopping rule's `tau`; every other metric needs its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau: Option<f64>,
}

/// How a metric's recorded values become one number per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Events per exposure (a conversion rate): every value recorded is one
    /// event (its value is ignored), divided by the variant's exposures.
    /// Compared with the two-proportion z-test; record at most one event per
    /// exposure.
    Conversion,
    /// The mean of the recorded values (a rating, an order's revenue, a
    /// forecast's error). Compared with Welch's t-test.
    Mean,
    /// The sum of the recorded values per exposure, exposures without a value
    /// counting as 0 (revenue per visitor). Compared with Welch's t-test.
    PerExposure,
}

impl MetricKind {
    /// `conversion`, `mean` or `per exposure`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Conversion => "conversion",
            MetricKind::Mean => "mean",
            MetricKind::PerExposure => "per exposure",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which direction of a metric is better.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Higher is better (conversions, revenue, ratings).
    #[default]
    Increase,
    /// Lower is better (errors, latency, a forecast's absolute error).
    Decrease,
}

impl Goal {
    /// `+1` when higher is better, `-1` when lower is.
    pub fn sign(self) -> f64 {
        match self {
            Goal::Increase => 1.0,
            Goal::Decrease => -1.0,
        }
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Goal::Increase => "higher is better",
            Goal::Decrease => "lower is better",
        })
    }
}

impl MetricSpec {
    /// A conversion metric (events per exposure), higher is better.
    pub fn conversion(name: impl Into<String>) -> Self {
        Self::new(name, MetricKind::Conversion)
    }

    /// The mean of the recorded values, higher is better.
    pub fn mean(name: impl Into<String>) -> Self {
        Self::new(name, MetricKind::Mean)
    }

    /// The sum of recorded values per exposure (missing values count as 0),
    /// higher is better.
    pub fn per_exposure(name: impl Into<String>) -> Self {
        Self::new(name, MetricKind::PerExposure)
    }

    /// A metric of the given kind, higher is better.
    pub fn new(name: impl Into<String>, kind: MetricKind) -> Self {
        MetricSpec {
            name: name.into(),
            kind,
            goal: Goal::Increase,
            tau: None,
        }
    }

    /// The difference worth detecting in this metric's units, for sequential
    /// tests (see [`tau`](Self::tau)).
    pub fn tau(mut self, tau: f64) -> Self {
        self.tau = Some(tau);
        self
    }

    /// Lower values are better (errors, latency, losses).
    pub fn lower_is_better(mut self) -> Self {
        self.goal = Goal::Decrease;
        self
    }

    /// Checks the name (a valid custom metric name of the recorder).
    pub fn validate(&self) -> Result<(), ExperimentError> {
        if let Some(problem) = custom_metric_problem(&self.name) {
            return Err(ExperimentError::BadMetric {
                name: self.name.clone(),
                problem,
            });
        }
        match self.tau {
            Some(tau) if !(tau.is_finite() && tau > 0.0) => Err(ExperimentError::BadMetric {
                name: self.name.clone(),
                problem: format!(
                    "tau = {tau}: give a positive difference worth detecting, in this metric's units"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The stopping rule for this metric: a sequential rule takes the
    /// metric's own `tau`, or `primary_tau` for the primary metric.
    pub(crate) fn stopping(
        &self,
        stopping: Stopping,
        primary: bool,
    ) -> Result<Stopping, ExperimentError> {
        match stopping {
            Stopping::Sequential { tau, max_exposures } => {
                let tau = match (self.tau, primary) {
                    (Some(t), _) => t,
                    (None, true) => tau,
                    (None, false) => {
                        return Err(ExperimentError::BadMetric {
                            name: self.name.clone(),
                            problem: "a sequential test needs the difference worth detecting in this metric's units: set its tau (MetricSpec::tau)".to_owned(),
                        });
                    }
                };
                Ok(Stopping::Sequential { tau, max_exposures })
            }
            fixed => Ok(fixed),
        }
    }
}

impl fmt::Display for MetricSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.kind, self.goal)
    }
}

/// Why `name` cannot be a custom metric of the recorder, if it cannot.
fn custom_metric_problem(name: &str) -> Option<String> {
    match name.parse::<MetricRef>() {
        Ok(MetricRef::Custom(_)) => None,
        Ok(_) => Some("this is a built-in metric: do not declare it".to_owned()),
        Err(e) => Some(e.reason),
    }
}

/// The correction for comparing several variants against the control.
///
/// With `m` treatments, each compared with the control, the chance that at
/// least one "significant" result is a fluke grows with `m`. Both
/// corrections keep that family-wise error rate at most `alpha`:
///
/// - [`Holm`](Correction::Holm) (the default): step-down. Sort the `m`
///   p-values `p(1) ≤ … ≤ p(m)`; the adjusted p-value of the `i`-th is
///   `max over j ≤ i of min(1, (m − j + 1) · p(j))`. Uniformly more powerful
///   than Bonferroni.
/// - [`Bonferroni`](Correction::Bonferroni): every p-value times `m`
///   (capped at 1).
/// - [`None`](Correction::None): no correction (only sensible for one
///   treatment).
///
/// Confidence intervals are simultaneous Bonferroni intervals at level
/// `1 − alpha / m` under both corrections (Holm has no matching interval),
/// so with Holm a decision may rarely be significant while its interval
/// touches zero; the adjusted p-value decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm's step-down procedure (default).
    #[default]
    Holm,
    /// Bonferroni: `p × m`.
    Bonferroni,
    /// No correction.
    None,
}

impl Correction {
    /// Adjusted p-values, in the order given. `None` entries (no test) are
    /// left out of `m` and stay `None`.
    pub fn adjust(self, p_values: &[Option<f64>]) -> Vec<Option<f64>> {
        let m = p_values.iter().filter(|p| p.is_some()).count();
        let mut out: Vec<Option<f64>> = vec![None; p_values.len()];
        match self {
            Correction::None => return p_values.to_vec(),
            Correction::Bonferroni => {
                for (o, p) in out.iter_mut().zip(p_values) {
                    *o = p.map(|p| (p * m as f64).min(1.0));
                }
            }
            Correction::Holm => {
                let mut order: Vec<(usize, f64)> = p_values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| p.map(|p| (i, p)))
                    .collect();
                order.sort_by(|a, b| a.1.total_cmp(&b.1));
                let mut running: f64 = 0.0;
                for (rank, (i, p)) in order.into_iter().enumerate() {
                    let adjusted = ((m - rank) as f64 * p).min(1.0);
                    running = running.max(adjusted);
                    out[i] = Some(running);
                }
            }
        }
        out
    }

    /// The per-comparison level of the simultaneous intervals: `alpha / m`,
    /// or `alpha` without correction.
    pub fn interval_alpha(self, alpha: f64, m: usize) -> f64 {
        match self {
            Correction::None => alpha,
            _ => alpha / m.max(1) as f64,
        }
    }
}

impl fmt::Display for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Correction::Holm => "Holm",
            Correction::Bonferroni => "Bonferroni",
            Correction::None => "no",
        })
    }
}

/// When an experiment may decide.
///
/// Serde: `{ kind = "fixed_horizon", exposures = 20000 }` or
/// `{ kind = "sequential", tau = 0.01 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Stopping {
    /// Classic test: decide once every variant has `exposures` (from
    /// [`SampleSize`](crate::SampleSize)); earlier reports show the numbers
    /// but decide nothing, since peeking at a fixed-horizon test inflates
    /// false positives.
    FixedHorizon {
        /// Exposures each variant needs before the test decides.
        exposures: u64,
    },
    /// Always-valid inference (mixture SPRT): safe to look at every tick and
    /// to stop as soon as a difference is significant.
    Sequential {
        /// Mixing standard deviation: the size of difference worth
        /// detecting, in the primary metric's units (e.g. `0.01` for one
        /// point of conversion rate).
        tau: f64,
        /// Stop with "no difference" once every variant has this many
        /// exposures (default: run until a difference shows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_exposures: Option<u64>,
    },
}

impl Stopping {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ExperimentError> {
        match *self {
            Stopping::FixedHorizon { exposures } if exposures < 2 => Err(ExperimentError::range(
                "stopping.exposures",
                exposures as f64,
                "at least 2 exposures per variant; use SampleSize to plan it",
            )),
            Stopping::Sequential { tau, .. } if !(tau.is_finite() && tau > 0.0) => {
                Err(ExperimentError::range(
                    "stopping.tau",
                    tau,
                    "a positive difference worth detecting, in the metric's units (e.g. 0.01)",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether this is the sequential (always-valid) rule.
    pub fn is_sequential(&self) -> bool {
        matches!(self, Stopping::Sequential { .. })
    }
}

impl fmt::Display for Stopping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stopping::FixedHorizon { exposures } => {
                write!(f, "fixed horizon of {exposures} exposures per variant")
            }
            Stopping::Sequential {
                tau,
                max_exposures: None,
            } => write!(f, "sequential (always-valid, tau {tau})"),
            Stopping::Sequential {
                tau,
                max_exposures: Some(max),
            } => write!(
                f,
                "sequential (always-valid, tau {tau}, at most {max} exposures per variant)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_matches_the_textbook() {
        // p = 0.01, 0.04, 0.03 with m = 3: sorted 0.01, 0.03, 0.04 →
        // 0.03, max(0.03, 0.06), max(0.06, 0.04) = 0.03, 0.06, 0.06.
        let adj = Correction::Holm.adjust(&[Some(0.01), Some(0.04), Some(0.03)]);
        let got: Vec<f64> = adj.into_iter().map(|p| p.unwrap()).collect();
        for (g, e) in got.iter().zip([0.03, 0.06, 0.06]) {
            assert!((g - e).abs() < 1e-12, "{got:?}");
        }
        let bonf = Correction::Bonferroni.adjust(&[Some(0.01), None, Some(0.6)]);
        assert_eq!(bonf, vec![Some(0.02), None, Some(1.0)]);
        assert_eq!(Correction::None.adjust(&[Some(0.2)]), vec![Some(0.2)]);
    }

    #[test]
    fn stopping_parses_and_validates() {
        let s: Stopping = toml::from_str("kind = \"sequential\"\ntau = 0.01").unwrap();
        assert!(s.is_sequential());
        assert!(s.validate().is_ok());
        let bad = Stopping::Sequential {
            tau: 0.0,
            max_exposures: None,
        };
        assert!(bad.validate().unwrap_err().to_string().contains("tau"));
        let err = toml::from_str::<Stopping>("kind = \"fixed_horizon\"\nexposures = 10\nx = 1");
        assert!(err.is_err());
    }

    #[test]
    fn metric_names_are_checked() {
        assert!(MetricSpec::conversion("purchase").validate().is_ok());
        assert!(MetricSpec::mean("latency_p99").validate().is_err());
        assert!(MetricSpec::mean("").validate().is_err());
    }
}
