//! [`CheckSpec`]: one check as a rollout plan embeds it (its serde form is
//! in `raw.rs`, its validation in `validate.rs`).

use super::kind::Test;
use crate::metric::MetricRef;

/// Default minimum number of samples on each side before a check decides.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;

/// Default number of bins of a `psi` check.
pub const DEFAULT_PSI_BINS: usize = 10;

/// Default PSI above which a `psi` check counts a shift (the usual reading:
/// below 0.1 stable, 0.1–0.2 moderate, above 0.2 significant).
pub const DEFAULT_PSI_THRESHOLD: f64 = 0.2;

/// Default confidence with which a `threshold` check must see its limit
/// crossed before it fails (see [`CheckSpec::confidence`]).
pub const DEFAULT_THRESHOLD_CONFIDENCE: f64 = 0.99;

/// One check: a metric, a test, and how it counts in the judge.
///
/// Serde format (a flat table; unknown fields are rejected, and fields that do
/// not apply to the `kind` are errors naming the field):
///
/// | field | kinds | default | meaning |
/// |---|---|---|---|
/// | `kind` | all | required | `threshold`, `relative`, `mann_whitney`, `proportion`, `t_test`, `sequential`; on model outputs `ks`, `psi`, `chi_square`, `output_mean` |
/// | `metric` | all | required | see [`MetricRef`]; for the output kinds, the name of a declared output |
/// | `name` | all | `"<metric> <kind>"` | label in verdicts |
/// | `min_samples` | all | 100 | samples needed on each side, else Inconclusive |
/// | `weight` | all | 1.0 | weight in the judge's score |
/// | `critical` | all | false | a failure fails the verdict at once |
/// | `max`, `min` | threshold | – | absolute bounds (at least one) |
/// | `max_ratio`, `min_ratio`, `max_increase`, `max_decrease` | relative | – | bounds against the baseline (at least one) |
/// | `direction` | mann_whitney, proportion, t_test, sequential, output_mean | `increase` (`either` for output_mean) | `increase`, `decrease` or `either`: the change that counts against the canary |
/// | `confidence` | threshold | 0.99 | confidence, `0` or in `[0.5, 1)`, with which the data must show the limit crossed before the check fails; `0` fails on the value alone (see [`CheckSpec::confidence`]) |
/// | `tolerance`, `confidence`, `effect_measure`, `effect_thresholds`, `critical_thresholds` | mann_whitney | 0.25, 0.95, `mean_ratio`, `[1, 1]`, `[1, 1]` | Kayenta's classifier parameters |
/// | `alpha` | proportion, t_test, sequential, ks, psi, chi_square, output_mean | 0.05 | significance level; for the output kinds the false-failure budget of a whole step, spent over its looks |
/// | `tau` | sequential | required | mixing standard deviation: the difference worth detecting |
/// | `bins`, `threshold` | psi | 10, 0.2 | bins cut at the baseline's quantiles (2 to 100); the PSI above which the shift counts |
/// | `tolerance` | output_mean | required | the relative difference allowed between the means, in `(0, 1)` (`0.05` = ±5 %) |
///
/// ```
/// use fledge_gate::check::{CheckSpec, MetricRef, Test};
///
/// let check: CheckSpec = toml::from_str(r#"
///     kind = "threshold"
///     metric = "latency_p99"
///     max = 50.0
///     critical = true
/// "#)?;
/// assert_eq!(check.metric, MetricRef::LatencyQuantile(0.99));
/// assert_eq!(check.test, Test::Threshold { max: Some(50.0), min: None });
/// assert_eq!(check.threshold_confidence(), 0.99);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`CheckSpec::validate`] checks that the metric suits the test and every
/// number is in range; deserializing validates.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// Label used in verdicts (default `"<metric> <kind>"`).
    pub name: Option<String>,
    /// The metric read from the windows.
    pub metric: MetricRef,
    /// Samples needed on each side (requests, or values of a custom metric)
    /// before the check decides; fewer give Inconclusive.
    pub min_samples: u64,
    /// Weight in the judge's score (positive).
    pub weight: f64,
    /// Whether a failure fails the whole verdict at once.
    pub critical: bool,
    /// For `threshold` checks: the confidence, `0` or in `[0.5, 1)`, with which the
    /// data must show the limit crossed before the check fails; `None` is
    /// [`DEFAULT_THRESHOLD_CONFIDENCE`] (0.99). Other kinds leave it `None`
    /// (`mann_whitney` has its own in [`Test::MannWhitney`]).
    ///
    /// With `confidence = c` and `α = 1 − c`, a threshold on
    ///
    /// * a quantile `q` (`latency_p99`) fails when `k` of the `n` samples
    ///   are above `max` and `P(Binomial(n, 1 − q) ≥ k) ≤ α`: were the
    ///   quantile at most `max`, a sample would exceed it with probability
    ///   at most `1 − q` (below `min`: `P(Binomial(n, q) ≥ k) ≤ α` on the
    ///   samples below);
    /// * `error_rate` fails when `P(Binomial(n, max) ≥ errors) ≤ α` (below
    ///   `min`: `P(Binomial(n, min) ≤ errors) ≤ α`);
    /// * a mean (`latency_mean`, a custom metric) fails when the one-sided
    ///   `c` lower t bound on the mean is above `max` (upper bound below
    ///   `min`).
    ///
    /// The value itself must also be beyond the limit. A value beyond the
    /// limit without that confidence is Inconclusive: a p99 over 60 samples
    /// is their maximum, and one slow request is no evidence that p99 is
    /// above 50 ms (P(at least one of 60 above) = 45 % when p99 is exactly
    /// 50 ms). A value within the limits passes, as before.
    ///
    /// `confidence = 0` fails on the value alone, as Flagger's thresholds
    /// do: simple, and on small windows a source of false rollbacks (the
    /// `gate_sim` example measures how many). Confidences strictly between 0
    /// and 0.5 are refused: they would claim evidence the data does not give.
    pub confidence: Option<f64>,
    /// The test and its parameters.
    pub test: Test,
}

impl CheckSpec {
    /// A check with default `name`, `min_samples` (100), `weight` (1) and
    /// `critical` (false).
    pub fn new(metric: MetricRef, test: Test) -> CheckSpec {
        CheckSpec {
            name: None,
            metric,
            min_samples: DEFAULT_MIN_SAMPLES,
            weight: 1.0,
            critical: false,
            confidence: None,
            test,
        }
    }

    /// Sets the label.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the minimum sample size.
    pub fn min_samples(mut self, n: u64) -> Self {
        self.min_samples = n;
        self
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    /// Marks the check critical (or not).
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Sets the confidence a `threshold` check needs to fail (see
    /// [`CheckSpec::confidence`]).
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = Some(confidence);
        self
    }

    /// The confidence a `threshold` check needs to fail: `confidence` or
    /// [`DEFAULT_THRESHOLD_CONFIDENCE`].
    pub fn threshold_confidence(&self) -> f64 {
        self.confidence.unwrap_or(DEFAULT_THRESHOLD_CONFIDENCE)
    }

    /// The label: `name`, or `"<metric> <kind>"`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.metric, self.test.kind()))
    }
}
