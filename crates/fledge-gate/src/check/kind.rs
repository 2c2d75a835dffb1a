//! What a check runs: [`CheckKind`] (the `kind` field) and [`Test`] (the
//! kind with its parameters).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kayenta::{Direction, EffectSizeMeasure};

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
    /// Two-sample Kolmogorov–Smirnov test on a numeric model output.
    Ks,
    /// Population stability index of a numeric model output.
    Psi,
    /// Chi-square test of a categorical model output's label mix.
    ChiSquare,
    /// The canary's mean of a numeric model output within a tolerance of
    /// the baseline's.
    OutputMean,
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
            CheckKind::Ks => "ks",
            CheckKind::Psi => "psi",
            CheckKind::ChiSquare => "chi_square",
            CheckKind::OutputMean => "output_mean",
        }
    }

    /// Whether the kind reads a model output (see [`crate::output`]) and
    /// spends its `alpha` over a step's looks.
    pub fn reads_output(self) -> bool {
        matches!(
            self,
            CheckKind::Ks | CheckKind::Psi | CheckKind::ChiSquare | CheckKind::OutputMean
        )
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
    /// data shows it with the check's [`confidence`](crate::CheckSpec::confidence)
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
    /// Two-sample Kolmogorov–Smirnov test of a numeric output's
    /// distribution, canary against baseline, on the windows' sketches
    /// (`D` at the buckets' edges; exact or asymptotic p-value). Fails when
    /// the p-value is at most the level this look was given: the step's
    /// `alpha` is spent over its looks (`alpha · 6 / (π² k²)` at the k-th
    /// test, see [`crate::stats::look_alpha`]), so it is safe to evaluate
    /// every tick.
    Ks {
        /// False-failure budget over the whole step.
        alpha: f64,
    },
    /// Population stability index of a numeric output, `bins` bins cut at
    /// the baseline's quantiles. Fails when the PSI is above `threshold`
    /// and a chi-square test on the same bins shows the difference at this
    /// look's level (alpha spent as for `ks`); above the threshold without
    /// that evidence is Inconclusive.
    Psi {
        /// Number of bins (default 10).
        bins: usize,
        /// PSI above which the shift counts (default 0.2).
        threshold: f64,
        /// False-failure budget over the whole step.
        alpha: f64,
    },
    /// Pearson's chi-square test of a categorical output's label mix,
    /// canary against baseline (labels with expected counts below 5
    /// pooled); fails at this look's level (alpha spent as for `ks`).
    ChiSquare {
        /// False-failure budget over the whole step.
        alpha: f64,
    },
    /// The canary's mean of a numeric output within `±tolerance` (a
    /// fraction) of the baseline's: fails when a one-sided Welch t-test
    /// shows the canary's mean above `(1 + tolerance) ×` the baseline's
    /// (or below `(1 − tolerance) ×`) at this look's level (alpha spent as
    /// for `ks`).
    OutputMean {
        /// Allowed relative difference, e.g. `0.05` for ±5 %.
        tolerance: f64,
        /// False-failure budget over the whole step.
        alpha: f64,
        /// Which side counts against the canary (default `either`).
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
            Test::Ks { .. } => CheckKind::Ks,
            Test::Psi { .. } => CheckKind::Psi,
            Test::ChiSquare { .. } => CheckKind::ChiSquare,
            Test::OutputMean { .. } => CheckKind::OutputMean,
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
