//! Kayenta-style metric classification (Netflix / Spinnaker Kayenta's
//! `MannWhitneyClassifier`): is the canary's metric High, Low or Pass against
//! the baseline?
//!
//! The classifier computes the Hodges-Lehmann shift `canary − baseline` and
//! its confidence interval ([`crate::stats::hodges_lehmann`]) and an effect
//! size, then:
//!
//! * **High** when the direction allows it, the interval's lower end is above
//!   `tolerance × |estimate|`, and the effect size reaches the upper effect
//!   threshold (or is undefined);
//! * **Low** symmetrically;
//! * **Pass** otherwise, and when both samples are identical or hold one
//!   value in total;
//! * **NoData** when a sample is empty (with [`NanStrategy::Remove`]).
//!
//! A High or Low result of a critical metric is *critical* when the effect
//! size also passes the critical thresholds (an undefined effect size counts
//! as passing, as in Kayenta).
//!
//! One deliberate difference: when both samples are constant but different,
//! Kayenta adds random noise before the test (R cannot build an interval on
//! all-tied data); here the shift is exact (`canary − baseline`, with a
//! zero-width interval), so the result is deterministic.
//!
//! ```
//! use fledge_gate::kayenta::{classify, Classification, ClassifierConfig, Direction};
//!
//! let canary = [20.0, 22.0, 21.0, 25.0, 30.0];
//! let baseline = [1.0, 2.2, 1.1, 2.5, 3.0];
//! let result = classify(&canary, &baseline, Direction::Either, &ClassifierConfig::default())?;
//! assert_eq!(result.classification, Classification::High);
//! # Ok::<(), fledge_gate::stats::StatsError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::stats::{Sample, ShiftEstimate, StatsError, Weighted};

/// Which change of a metric counts against the canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is worse (latency, error rate, absolute error). The default.
    #[default]
    Increase,
    /// Lower is worse (click rate, accuracy, throughput).
    Decrease,
    /// Any significant change is a failure.
    Either,
}

impl Direction {
    /// Whether a canary-minus-baseline difference of `sign` is in the bad
    /// direction.
    pub fn is_bad(self, difference: f64) -> bool {
        match self {
            Direction::Increase => difference > 0.0,
            Direction::Decrease => difference < 0.0,
            Direction::Either => difference != 0.0,
        }
    }

    fn allows_high(self) -> bool {
        matches!(self, Direction::Increase | Direction::Either)
    }

    fn allows_low(self) -> bool {
        matches!(self, Direction::Decrease | Direction::Either)
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
            Direction::Either => "either",
        })
    }
}

/// How the effect size is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectSizeMeasure {
    /// `mean(canary) / mean(baseline)`; undefined when either mean is 0.
    #[default]
    MeanRatio,
    /// Common-language effect size: the probability that a random canary
    /// value exceeds a random baseline value (ties count one half).
    Cles,
}

/// What to do with NaN values before classifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NanStrategy {
    /// Drop NaN values; an empty sample gives [`Classification::NoData`].
    #[default]
    Remove,
    /// Replace NaN with 0; an empty sample passes.
    Replace,
}

/// Parameters of [`classify`]; the defaults are Kayenta's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Fraction of `|estimate|` the interval must clear (default 0.25).
    pub tolerance: f64,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
    /// Effect size measure (default mean ratio).
    pub effect_measure: EffectSizeMeasure,
    /// `[low, high]`: High needs effect ≥ high, Low needs effect ≤ low
    /// (default `[1, 1]`).
    pub effect_thresholds: [f64; 2],
    /// `[low, high]` effect thresholds that make a High / Low of a critical
    /// metric critical (default `[1, 1]`).
    pub critical_thresholds: [f64; 2],
    /// Whether the metric is critical.
    pub critical: bool,
    /// NaN handling (default remove).
    pub nan_strategy: NanStrategy,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            tolerance: 0.25,
            confidence: 0.95,
            effect_measure: EffectSizeMeasure::MeanRatio,
            effect_thresholds: [1.0, 1.0],
            critical_thresholds: [1.0, 1.0],
            critical: false,
            nan_strategy: NanStrategy::Remove,
        }
    }
}

/// A metric's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No significant change in a direction that matters.
    Pass,
    /// The canary is significantly higher.
    High,
    /// The canary is significantly lower.
    Low,
    /// A sample was empty.
    NoData,
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Classification::Pass => "Pass",
            Classification::High => "High",
            Classification::Low => "Low",
            Classification::NoData => "NoData",
        })
    }
}

/// Result of [`classify`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierResult {
    /// The class.
    pub classification: Classification,
    /// Whether a critical metric failed beyond its critical thresholds.
    pub critical: bool,
    /// The effect size (`None` when undefined, e.g. a zero mean).
    pub effect_size: Option<f64>,
    /// The shift estimate and interval, when the test ran.
    pub shift: Option<ShiftEstimate>,
    /// Mann-Whitney two-sided p-value, when the test ran.
    pub p_value: Option<f64>,
    /// Why, when the class was decided without the test.
    pub reason: Option<String>,
}

impl ClassifierResult {
    fn early(classification: Classification, critical: bool, reason: Option<String>) -> Self {
        ClassifierResult {
            classification,
            critical,
            effect_size: None,
            shift: None,
            p_value: None,
            reason,
        }
    }
}

fn clean(values: &[f64], strategy: NanStrategy) -> Vec<f64> {
    match strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| !v.is_nan()).collect(),
        NanStrategy::Replace => values
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v })
            .collect(),
    }
}

/// Classifies `canary` against `baseline` like Kayenta's
/// `MannWhitneyClassifier`. Errors only for invalid parameters or infinite
/// values.
pub fn classify(
    canary: &[f64],
    baseline: &[f64],
    direction: Direction,
    config: &ClassifierConfig,
) -> Result<ClassifierResult, StatsError> {
    let x = clean(canary, config.nan_strategy);
    let y = clean(baseline, config.nan_strategy);
    if x.is_empty() || y.is_empty() {
        return Ok(empty_result(x.is_empty(), config));
    }
    let mut xs = x.clone();
    let mut ys = y.clone();
    xs.sort_by(f64::total_cmp);
    ys.sort_by(f64::total_cmp);
    if xs == ys {
        return Ok(identical());
    }
    let wx = Weighted::from_values(&x, Sample::Canary, 1)?;
    let wy = Weighted::from_values(&y, Sample::Baseline, 1)?;
    classify_prepared(&wx, &wy, direction, config)
}

/// [`classify`] on `(value, count)` pairs (e.g. latency histogram buckets).
pub fn classify_weighted(
    canary: &[(f64, u64)],
    baseline: &[(f64, u64)],
    direction: Direction,
    config: &ClassifierConfig,
) -> Result<ClassifierResult, StatsError> {
    let total = |s: &[(f64, u64)]| s.iter().map(|p| p.1).sum::<u64>();
    if total(canary) == 0 || total(baseline) == 0 {
        return Ok(empty_result(total(canary) == 0, config));
    }
    let wx = Weighted::from_counts(canary, Sample::Canary, 1)?;
    let wy = Weighted::from_counts(baseline, Sample::Baseline, 1)?;
    if wx.values == wy.values && wx.weights == wy.weights {
        return Ok(identical());
    }
    classify_prepared(&wx, &wy, direction, config)
}

/// The result for identical canary and baseline data: a pass, effect 1.
fn identical() -> ClassifierResult {
    let mut r = ClassifierResult::early(
        Classification::Pass,
        false,
        Some("the canary and baseline data are identical".to_owned()),
    );
    r.effect_size = Some(1.0);
    r
}

fn empty_result(canary_empty: bool, config: &ClassifierConfig) -> ClassifierResult {
    let which = if canary_empty { "canary" } else { "baseline" };
    match config.nan_strategy {
        NanStrategy::Remove => ClassifierResult::early(
            Classification::NoData,
            config.critical,
            Some(format!("missing data for the {which}")),
        ),
        NanStrategy::Replace => ClassifierResult::early(Classification::Pass, false, None),
    }
}

pub(crate) fn classify_prepared(
    x: &Weighted,
    y: &Weighted,
    direction: Direction,
    config: &ClassifierConfig,
) -> Result<ClassifierResult, StatsError> {
    if !(config.tolerance.is_finite() && config.tolerance >= 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "tolerance",
            value: config.tolerance,
            expected: "a non-negative fraction of the estimate, e.g. 0.25",
        });
    }
    // One distinct value across both samples: nothing to compare.
    if x.values.len() == 1 && y.values.len() == 1 && x.values[0] == y.values[0] {
        let mut r = ClassifierResult::early(Classification::Pass, false, None);
        r.effect_size = Some(1.0);
        return Ok(r);
    }
    // Two constant samples (different values): R cannot build an interval
    // and Kayenta adds random noise; the shift is known exactly, so use it.
    let shift = if x.values.len() == 1 && y.values.len() == 1 {
        let d = x.values[0] - y.values[0];
        ShiftEstimate {
            estimate: d,
            low: d,
            high: d,
        }
    } else {
        crate::stats::rank::shift_estimate(x, y, config.confidence)?
    };
    let mw = crate::stats::rank::mann_whitney(x, y)?;
    let effect = match config.effect_measure {
        EffectSizeMeasure::MeanRatio => {
            let (mx, my) = (x.mean(), y.mean());
            if mx == 0.0 || my == 0.0 {
                None
            } else {
                Some(mx / my).filter(|v| v.is_finite())
            }
        }
        EffectSizeMeasure::Cles => Some(mw.u / (x.total * y.total)),
    };
    let allowed = config.tolerance * shift.estimate.abs();
    let high_effect = effect.is_none_or(|e| e >= config.effect_thresholds[1]);
    let low_effect = effect.is_none_or(|e| e <= config.effect_thresholds[0]);
    let classification = if direction.allows_high() && shift.low > allowed && high_effect {
        Classification::High
    } else if direction.allows_low() && shift.high < -allowed && low_effect {
        Classification::Low
    } else {
        Classification::Pass
    };
    let critical = config.critical
        && match classification {
            Classification::High => effect.is_none_or(|e| e >= config.critical_thresholds[1]),
            Classification::Low => effect.is_none_or(|e| e <= config.critical_thresholds[0]),
            _ => false,
        };
    Ok(ClassifierResult {
        classification,
        critical,
        effect_size: effect,
        shift: Some(shift),
        p_value: Some(mw.p_value),
        reason: None,
    })
}

/// Kayenta's `MeanInequalityClassifier`: High when the canary mean is larger,
/// Low when smaller, Pass when equal.
pub fn mean_inequality(canary: &[f64], baseline: &[f64]) -> Result<Classification, StatsError> {
    crate::stats::mann_whitney_u(canary, baseline)?; // validates both samples
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (a, b) = (mean(canary), mean(baseline));
    Ok(if a > b {
        Classification::High
    } else if a < b {
        Classification::Low
    } else {
        Classification::Pass
    })
}
