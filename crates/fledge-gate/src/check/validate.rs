//! [`CheckSpec::validate`]: the metric suits the test, and every number is
//! in range.

use super::error::SpecError;
use super::kind::{CheckKind, Test};
use super::spec::CheckSpec;
use crate::metric::MetricRef;

impl CheckSpec {
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
        if let Some(name) = &self.name
            && name.trim().is_empty()
        {
            return Err(SpecError::Invalid {
                check: check.clone(),
                field: "name",
                value: format!("{name:?}"),
                expected: "a non-empty label",
            });
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
        let output_metric = || -> Result<(), SpecError> {
            if self.metric.is_custom() {
                Ok(())
            } else {
                Err(metric_err(
                    "output checks read a model output: set metric to the name of a declared output (e.g. metric = \"forecast\")",
                ))
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
                if let (Some(hi), Some(lo)) = (max, min)
                    && lo > hi
                {
                    return Err(invalid("min", *lo, "a lower bound not above `max`"));
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
            Test::Ks { alpha } | Test::ChiSquare { alpha } => {
                output_metric()?;
                alpha_ok(*alpha)?;
            }
            Test::Psi {
                bins,
                threshold,
                alpha,
            } => {
                output_metric()?;
                alpha_ok(*alpha)?;
                if !(2..=100).contains(bins) {
                    return Err(SpecError::Invalid {
                        check: check.clone(),
                        field: "bins",
                        value: bins.to_string(),
                        expected: "a number of bins from 2 to 100, e.g. 10",
                    });
                }
                if !(threshold.is_finite() && *threshold > 0.0) {
                    return Err(invalid(
                        "threshold",
                        *threshold,
                        "a positive PSI, e.g. 0.2 (a significant shift) or 0.1 (a moderate one)",
                    ));
                }
            }
            Test::OutputMean {
                tolerance, alpha, ..
            } => {
                output_metric()?;
                alpha_ok(*alpha)?;
                if !(*tolerance > 0.0 && *tolerance < 1.0) {
                    return Err(invalid(
                        "tolerance",
                        *tolerance,
                        "a relative difference strictly between 0 and 1, e.g. 0.05 for ±5 %",
                    ));
                }
            }
        }
        Ok(())
    }
}
