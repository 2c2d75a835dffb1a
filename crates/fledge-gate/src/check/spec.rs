//! Check specifications: serde data that rollout plans embed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kayenta::{Direction, EffectSizeMeasure};
use crate::metric::MetricRef;

/// Default minimum number of samples on each side before a check decides.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;

/// Default confidence with which a `threshold` check must see its limit
/// crossed before it fails (see [`CheckSpec::confidence`]).
pub const DEFAULT_THRESHOLD_CONFIDENCE: f64 = 0.99;

/// The kind of a check (the `kind` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Absolute bounds on the canary's value.
    Threshold,
    /// Bounds relative to the baseline's value.
    Relative,
    /// Kayenta-style Mann-Whitney classification.
    MannWhitney,
    /// Two-proportion z-test (error rate).
    Proportion,
    /// Welch's t-test on means.
    TTest,
    /// Always-valid mixture SPRT, cumulative since the step started.
    Sequential,
}

impl CheckKind {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Threshold => "threshold",
            CheckKind::Relative => "relative",
            CheckKind::MannWhitney => "mann_whitney",
            CheckKind::Proportion => "proportion",
            CheckKind::TTest => "t_test",
            CheckKind::Sequential => "sequential",
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The test a check runs, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Fail when the canary's value is above `max` (or below `min`) and the
    /// data shows it with the check's [`confidence`](CheckSpec::confidence)
    /// (99 % by default): for a quantile, a binomial test on the number of
    /// samples beyond the limit; for the error rate, a binomial test on the
    /// errors; for a mean, a one-sided t bound. A value beyond the limit
    /// without that confidence (a p99 from 60 samples is their maximum) is
    /// Inconclusive; a value within the limits passes.
    Threshold {
        /// Upper bound (inclusive).
        max: Option<f64>,
        /// Lower bound (inclusive).
        min: Option<f64>,
    },
    /// Fail when the canary's value leaves the bounds set by the baseline's
    /// value `b`: `canary ≤ max_ratio × b`, `canary ≥ min_ratio × b`,
    /// `canary ≤ b + max_increase`, `canary ≥ b − max_decrease`.
    Relative {
        /// Most the canary may be, as a multiple of the baseline.
        max_ratio: Option<f64>,
        /// Least the canary may be, as a multiple of the baseline.
        min_ratio: Option<f64>,
        /// Most the canary may exceed the baseline by (metric units).
        max_increase: Option<f64>,
        /// Most the canary may fall below the baseline by (metric units).
        max_decrease: Option<f64>,
    },
    /// Kayenta's Mann-Whitney classifier; fails on High (direction
    /// `increase`), Low (`decrease`) or either.
    MannWhitney {
        /// Which change counts against the canary.
        direction: Direction,
        /// Fraction of the shift estimate the interval must clear.
        tolerance: f64,
        /// Confidence level of the interval.
        confidence: f64,
        /// Effect size measure.
        effect_measure: EffectSizeMeasure,
        /// `[low, high]` effect size thresholds.
        effect_thresholds: [f64; 2],
        /// `[low, high]` effect size thresholds for a critical failure.
        critical_thresholds: [f64; 2],
    },
    /// Two-proportion z-test on the error rate; fails when `p ≤ alpha` and
    /// the difference is in `direction`.
    Proportion {
        /// Significance level.
        alpha: f64,
        /// Which change counts against the canary.
        direction: Direction,
    },
    /// Welch's t-test on means; fails when `p ≤ alpha` and the difference is
    /// in `direction`.
    TTest {
        /// Significance level.
        alpha: f64,
        /// Which change counts against the canary.
        direction: Direction,
    },
    /// mSPRT with an always-valid p-value on the data since the step started
    /// (error rate as proportions; `latency_mean` and custom metrics as
    /// means); fails as soon as the running p-value is `≤ alpha` with the
    /// difference in `direction`. Safe to evaluate every tick.
    Sequential {
        /// Significance level (the bound on false failures over the step).
        alpha: f64,
        /// Mixing standard deviation: the size of difference worth
        /// detecting, in the metric's units.
        tau: f64,
        /// Which change counts against the canary.
        direction: Direction,
    },
}

impl Test {
    /// The kind of this test.
    pub fn kind(&self) -> CheckKind {
        match self {
            Test::Threshold { .. } => CheckKind::Threshold,
            Test::Relative { .. } => CheckKind::Relative,
            Test::MannWhitney { .. } => CheckKind::MannWhitney,
            Test::Proportion { .. } => CheckKind::Proportion,
            Test::TTest { .. } => CheckKind::TTest,
            Test::Sequential { .. } => CheckKind::Sequential,
        }
    }

    /// Kayenta's defaults for the Mann-Whitney classifier, with direction
    /// `increase`.
    pub fn mann_whitney() -> Test {
        Test::MannWhitney {
            direction: Direction::Increase,
            tolerance: 0.25,
            confidence: 0.95,
            effect_measure: EffectSizeMeasure::MeanRatio,
            effect_thresholds: [1.0, 1.0],
            critical_thresholds: [1.0, 1.0],
        }
    }
}

/// One check: a metric, a test, and how it counts in the judge.
///
/// Serde format (a flat table; unknown fields are rejected, and fields that do
/// not apply to the `kind` are errors naming the field):
///
/// | field | kinds | default | meaning |
/// |---|---|---|---|
/// | `kind` | all | required | `threshold`, `relative`, `mann_whitney`, `proportion`, `t_test`, `sequential` |
/// | `metric` | all | required | see [`MetricRef`] |
/// | `name` | all | `"<metric> <kind>"` | label in verdicts |
/// | `min_samples` | all | 100 | samples needed on each side, else Inconclusive |
/// | `weight` | all | 1.0 | weight in the judge's score |
/// | `critical` | all | false | a failure fails the verdict at once |
/// | `max`, `min` | threshold | – | absolute bounds (at least one) |
/// | `max_ratio`, `min_ratio`, `max_increase`, `max_decrease` | relative | – | bounds against the baseline (at least one) |
/// | `direction` | mann_whitney, proportion, t_test, sequential | `increase` | `increase`, `decrease` or `either`: the change that counts against the canary |
/// | `confidence` | threshold | 0.99 | confidence, `0` or in `[0.5, 1)`, with which the data must show the limit crossed before the check fails; `0` fails on the value alone (see [`CheckSpec::confidence`]) |
/// | `tolerance`, `confidence`, `effect_measure`, `effect_thresholds`, `critical_thresholds` | mann_whitney | 0.25, 0.95, `mean_ratio`, `[1, 1]`, `[1, 1]` | Kayenta's classifier parameters |
/// | `alpha` | proportion, t_test, sequential | 0.05 | significance level |
/// | `tau` | sequential | required | mixing standard deviation: the difference worth detecting |
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCheck", into = "RawCheck")]
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

    /// Checks that the metric suits the test and every number is in range.
    pub fn validate(&self) -> Result<(), SpecError> {
        let check = self.label();
        let kind = self.test.kind();
        let invalid =
            |field: &'static str, value: f64, expected: &'static str| SpecError::Invalid {
                check: check.clone(),
                field,
                value: value.to_string(),
                expected,
            };
        let metric_err = |hint: &'static str| SpecError::MetricNotSupported {
            check: check.clone(),
            metric: self.metric.to_string(),
            kind,
            hint,
        };
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return Err(invalid("weight", self.weight, "a positive, finite number"));
        }
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return Err(SpecError::Invalid {
                    check: check.clone(),
                    field: "name",
                    value: format!("{name:?}"),
                    expected: "a non-empty label",
                });
            }
        }
        let finite = |field: &'static str, v: Option<f64>| -> Result<(), SpecError> {
            match v {
                Some(x) if !x.is_finite() => Err(invalid(field, x, "a finite number")),
                _ => Ok(()),
            }
        };
        let non_negative = |field: &'static str, v: Option<f64>| -> Result<(), SpecError> {
            match v {
                Some(x) if !(x.is_finite() && x >= 0.0) => {
                    Err(invalid(field, x, "a non-negative, finite number"))
                }
                _ => Ok(()),
            }
        };
        let alpha_ok = |alpha: f64| -> Result<(), SpecError> {
            if alpha > 0.0 && alpha < 1.0 {
                Ok(())
            } else {
                Err(invalid(
                    "alpha",
                    alpha,
                    "a significance level strictly between 0 and 1, e.g. 0.05",
                ))
            }
        };
        if let Some(c) = self.confidence {
            if kind != CheckKind::Threshold {
                return Err(SpecError::Invalid {
                    check: check.clone(),
                    field: "confidence",
                    value: c.to_string(),
                    expected: "no value: CheckSpec::confidence applies to threshold checks (mann_whitney's is in Test::MannWhitney)",
                });
            }
            if c != 0.0 && !(0.5..1.0).contains(&c) {
                return Err(invalid(
                    "confidence",
                    c,
                    "a confidence level in [0.5, 1), e.g. 0.99 (how sure the data must be that the limit is crossed before the check fails), or 0 to fail on the value alone",
                ));
            }
        }
        match &self.test {
            Test::Threshold { max, min } => {
                if !self.metric.is_scalar() {
                    return Err(metric_err(
                        "thresholds need one number: use latency_p99, latency_mean, error_rate or a custom metric",
                    ));
                }
                if max.is_none() && min.is_none() {
                    return Err(SpecError::Missing {
                        check,
                        kind,
                        field: "max",
                        hint: "set `max` and/or `min`",
                    });
                }
                finite("max", *max)?;
                finite("min", *min)?;
                if let (Some(hi), Some(lo)) = (max, min) {
                    if lo > hi {
                        return Err(invalid("min", *lo, "a lower bound not above `max`"));
                    }
                }
            }
            Test::Relative {
                max_ratio,
                min_ratio,
                max_increase,
                max_decrease,
            } => {
                if !self.metric.is_scalar() {
                    return Err(metric_err(
                        "relative bounds need one number: use latency_p99, latency_mean, error_rate or a custom metric",
                    ));
                }
                if max_ratio.is_none()
                    && min_ratio.is_none()
                    && max_increase.is_none()
                    && max_decrease.is_none()
                {
                    return Err(SpecError::Missing {
                        check,
                        kind,
                        field: "max_ratio",
                        hint: "set at least one of `max_ratio`, `min_ratio`, `max_increase`, `max_decrease`",
                    });
                }
                non_negative("max_ratio", *max_ratio)?;
                non_negative("min_ratio", *min_ratio)?;
                non_negative("max_increase", *max_increase)?;
                non_negative("max_decrease", *max_decrease)?;
            }
            Test::MannWhitney {
                tolerance,
                confidence,
                effect_thresholds,
                critical_thresholds,
                ..
            } => {
                if !matches!(self.metric, MetricRef::Latency | MetricRef::Custom(_)) {
                    return Err(metric_err(
                        "mann_whitney compares distributions: use metric = \"latency\" or a custom metric",
                    ));
                }
                non_negative("tolerance", Some(*tolerance))?;
                if !(*confidence > 0.0 && *confidence < 1.0) {
                    return Err(invalid(
                        "confidence",
                        *confidence,
                        "a confidence level strictly between 0 and 1, e.g. 0.95",
                    ));
                }
                for (field, pair) in [
                    ("effect_thresholds", effect_thresholds),
                    ("critical_thresholds", critical_thresholds),
                ] {
                    if !pair.iter().all(|v| v.is_finite()) || pair[0] > pair[1] {
                        return Err(SpecError::Invalid {
                            check: check.clone(),
                            field,
                            value: format!("{pair:?}"),
                            expected: "[low, high] finite numbers with low <= high",
                        });
                    }
                }
            }
            Test::Proportion { alpha, .. } => {
                if self.metric != MetricRef::ErrorRate {
                    return Err(metric_err("the proportion test applies to error_rate"));
                }
                alpha_ok(*alpha)?;
            }
            Test::TTest { alpha, .. } => {
                if !matches!(self.metric, MetricRef::LatencyMean | MetricRef::Custom(_)) {
                    return Err(metric_err(
                        "the t-test compares means: use latency_mean or a custom metric",
                    ));
                }
                alpha_ok(*alpha)?;
            }
            Test::Sequential { alpha, tau, .. } => {
                if !matches!(
                    self.metric,
                    MetricRef::ErrorRate | MetricRef::LatencyMean | MetricRef::Custom(_)
                ) {
                    return Err(metric_err(
                        "the sequential test applies to error_rate, latency_mean or a custom metric's mean",
                    ));
                }
                alpha_ok(*alpha)?;
                if !(tau.is_finite() && *tau > 0.0) {
                    return Err(invalid(
                        "tau",
                        *tau,
                        "a positive difference worth detecting, in the metric's units (e.g. 0.01 for error_rate)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Why a check or judge specification was rejected. Every version names the
/// check (its label) and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A required field is missing.
    #[error("check `{check}` (kind `{kind}`): missing field `{field}`: {hint}")]
    Missing {
        /// The check's label.
        check: String,
        /// Its kind.
        kind: CheckKind,
        /// The missing field.
        field: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// A field was given that the kind does not use.
    #[error("check `{check}` (kind `{kind}`): field `{field}` does not apply to this kind")]
    NotApplicable {
        /// The check's label.
        check: String,
        /// Its kind.
        kind: CheckKind,
        /// The field.
        field: &'static str,
    },
    /// A field's value is out of range.
    #[error("check `{check}`: field `{field}` = {value} is invalid: expected {expected}")]
    Invalid {
        /// The check's label.
        check: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// The metric cannot be used with the kind.
    #[error(
        "check `{check}`: field `metric` = `{metric}` does not work with kind `{kind}`: {hint}"
    )]
    MetricNotSupported {
        /// The check's label.
        check: String,
        /// The metric.
        metric: String,
        /// The kind.
        kind: CheckKind,
        /// What to use instead.
        hint: &'static str,
    },
    /// A judge-level field is out of range.
    #[error("judge: field `{field}` = {value} is invalid: expected {expected}")]
    Judge {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// Two checks share a label.
    #[error("two checks are labelled `{0}`: give them distinct `name`s")]
    DuplicateName(String),
}

/// The flat serde form of a [`CheckSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    kind: CheckKind,
    metric: MetricRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_samples: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    critical: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_increase: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_decrease: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effect_measure: Option<EffectSizeMeasure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effect_thresholds: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    critical_thresholds: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tau: Option<f64>,
}

impl RawCheck {
    /// The kind-specific fields that are set, by name.
    fn specific_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |name: &'static str, set: bool| {
            if set {
                out.push(name);
            }
        };
        add("max", self.max.is_some());
        add("min", self.min.is_some());
        add("max_ratio", self.max_ratio.is_some());
        add("min_ratio", self.min_ratio.is_some());
        add("max_increase", self.max_increase.is_some());
        add("max_decrease", self.max_decrease.is_some());
        add("direction", self.direction.is_some());
        add("tolerance", self.tolerance.is_some());
        add("confidence", self.confidence.is_some());
        add("effect_measure", self.effect_measure.is_some());
        add("effect_thresholds", self.effect_thresholds.is_some());
        add("critical_thresholds", self.critical_thresholds.is_some());
        add("alpha", self.alpha.is_some());
        add("tau", self.tau.is_some());
        out
    }
}

fn allowed_fields(kind: CheckKind) -> &'static [&'static str] {
    match kind {
        CheckKind::Threshold => &["max", "min", "confidence"],
        CheckKind::Relative => &["max_ratio", "min_ratio", "max_increase", "max_decrease"],
        CheckKind::MannWhitney => &[
            "direction",
            "tolerance",
            "confidence",
            "effect_measure",
            "effect_thresholds",
            "critical_thresholds",
        ],
        CheckKind::Proportion | CheckKind::TTest => &["direction", "alpha"],
        CheckKind::Sequential => &["direction", "alpha", "tau"],
    }
}

impl TryFrom<RawCheck> for CheckSpec {
    type Error = SpecError;

    fn try_from(raw: RawCheck) -> Result<Self, SpecError> {
        let label = raw
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {}", raw.metric, raw.kind));
        for field in raw.specific_fields() {
            if !allowed_fields(raw.kind).contains(&field) {
                return Err(SpecError::NotApplicable {
                    check: label,
                    kind: raw.kind,
                    field,
                });
            }
        }
        let direction = raw.direction.unwrap_or_default();
        let alpha = raw.alpha.unwrap_or(0.05);
        let test = match raw.kind {
            CheckKind::Threshold => Test::Threshold {
                max: raw.max,
                min: raw.min,
            },
            CheckKind::Relative => Test::Relative {
                max_ratio: raw.max_ratio,
                min_ratio: raw.min_ratio,
                max_increase: raw.max_increase,
                max_decrease: raw.max_decrease,
            },
            CheckKind::MannWhitney => Test::MannWhitney {
                direction,
                tolerance: raw.tolerance.unwrap_or(0.25),
                confidence: raw.confidence.unwrap_or(0.95),
                effect_measure: raw.effect_measure.unwrap_or_default(),
                effect_thresholds: raw.effect_thresholds.unwrap_or([1.0, 1.0]),
                critical_thresholds: raw.critical_thresholds.unwrap_or([1.0, 1.0]),
            },
            CheckKind::Proportion => Test::Proportion { alpha, direction },
            CheckKind::TTest => Test::TTest { alpha, direction },
            CheckKind::Sequential => Test::Sequential {
                alpha,
                tau: raw.tau.ok_or(SpecError::Missing {
                    check: label,
                    kind: raw.kind,
                    field: "tau",
                    hint: "the size of difference worth detecting, in the metric's units (e.g. tau = 0.01 for error_rate)",
                })?,
                direction,
            },
        };
        let spec = CheckSpec {
            name: raw.name,
            metric: raw.metric,
            min_samples: raw.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
            weight: raw.weight.unwrap_or(1.0),
            critical: raw.critical.unwrap_or(false),
            confidence: match raw.kind {
                CheckKind::Threshold => raw.confidence,
                _ => None,
            },
            test,
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl From<CheckSpec> for RawCheck {
    fn from(spec: CheckSpec) -> RawCheck {
        let mut raw = RawCheck {
            kind: spec.test.kind(),
            metric: spec.metric,
            name: spec.name,
            min_samples: Some(spec.min_samples),
            weight: Some(spec.weight),
            critical: Some(spec.critical),
            max: None,
            min: None,
            max_ratio: None,
            min_ratio: None,
            max_increase: None,
            max_decrease: None,
            direction: None,
            tolerance: None,
            confidence: None,
            effect_measure: None,
            effect_thresholds: None,
            critical_thresholds: None,
            alpha: None,
            tau: None,
        };
        match spec.test {
            Test::Threshold { max, min } => {
                raw.max = max;
                raw.min = min;
                raw.confidence = spec.confidence;
            }
            Test::Relative {
                max_ratio,
                min_ratio,
                max_increase,
                max_decrease,
            } => {
                raw.max_ratio = max_ratio;
                raw.min_ratio = min_ratio;
                raw.max_increase = max_increase;
                raw.max_decrease = max_decrease;
            }
            Test::MannWhitney {
                direction,
                tolerance,
                confidence,
                effect_measure,
                effect_thresholds,
                critical_thresholds,
            } => {
                raw.direction = Some(direction);
                raw.tolerance = Some(tolerance);
                raw.confidence = Some(confidence);
                raw.effect_measure = Some(effect_measure);
                raw.effect_thresholds = Some(effect_thresholds);
                raw.critical_thresholds = Some(critical_thresholds);
            }
            Test::Proportion { alpha, direction } | Test::TTest { alpha, direction } => {
                raw.alpha = Some(alpha);
                raw.direction = Some(direction);
            }
            Test::Sequential {
                alpha,
                tau,
                direction,
            } => {
                raw.alpha = Some(alpha);
                raw.tau = Some(tau);
                raw.direction = Some(direction);
            }
        }
        raw
    }
}
