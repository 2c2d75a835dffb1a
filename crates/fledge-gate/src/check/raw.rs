//! The serde form of a [`CheckSpec`]: a flat table ([`RawCheck`]) whose
//! fields are checked against the kind, converted to and from the typed spec.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::SpecError;
use super::kind::{CheckKind, Test};
use super::spec::{CheckSpec, DEFAULT_MIN_SAMPLES, DEFAULT_PSI_BINS, DEFAULT_PSI_THRESHOLD};
use crate::kayenta::{Direction, EffectSizeMeasure};
use crate::metric::MetricRef;

impl Serialize for CheckSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawCheck::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CheckSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CheckSpec::try_from(RawCheck::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The flat serde form of a [`CheckSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bins: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
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
        add("bins", self.bins.is_some());
        add("threshold", self.threshold.is_some());
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
        CheckKind::Ks | CheckKind::ChiSquare => &["alpha"],
        CheckKind::Psi => &["bins", "threshold", "alpha"],
        CheckKind::OutputMean => &["tolerance", "alpha", "direction"],
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
            CheckKind::Ks => Test::Ks { alpha },
            CheckKind::Psi => Test::Psi {
                bins: raw.bins.unwrap_or(DEFAULT_PSI_BINS),
                threshold: raw.threshold.unwrap_or(DEFAULT_PSI_THRESHOLD),
                alpha,
            },
            CheckKind::ChiSquare => Test::ChiSquare { alpha },
            CheckKind::OutputMean => Test::OutputMean {
                tolerance: raw.tolerance.ok_or(SpecError::Missing {
                    check: label,
                    kind: raw.kind,
                    field: "tolerance",
                    hint: "the relative difference allowed between the means, e.g. tolerance = 0.05 for ±5 %",
                })?,
                alpha,
                direction: raw.direction.unwrap_or(Direction::Either),
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
            bins: None,
            threshold: None,
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
            Test::Ks { alpha } | Test::ChiSquare { alpha } => raw.alpha = Some(alpha),
            Test::Psi {
                bins,
                threshold,
                alpha,
            } => {
                raw.bins = Some(bins);
                raw.threshold = Some(threshold);
                raw.alpha = Some(alpha);
            }
            Test::OutputMean {
                tolerance,
                alpha,
                direction,
            } => {
                raw.tolerance = Some(tolerance);
                raw.alpha = Some(alpha);
                raw.direction = Some(direction);
            }
        }
        raw
    }
}
