//! `relative` checks: bounds on the canary's value set by the baseline's.

use super::decide::too_few;
use super::result::{CheckResult, Outcome};
use super::spec::CheckSpec;
use crate::explain;

/// Evaluates a `relative` check: the canary's value (already in `r`) must
/// stay within `max_ratio × b`, `min_ratio × b`, `b + max_increase` and
/// `b − max_decrease`, `b` the baseline's value.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    max_ratio: Option<f64>,
    min_ratio: Option<f64>,
    max_increase: Option<f64>,
    max_decrease: Option<f64>,
) {
    if too_few(r, spec.min_samples, true) {
        return;
    }
    let (Some(c), Some(b)) = (r.canary, r.baseline) else {
        r.detail = "no value in a window".to_owned();
        return;
    };
    let unit = spec.metric.unit();
    let upper = [max_ratio.map(|k| k * b), max_increase.map(|d| b + d)]
        .into_iter()
        .flatten()
        .reduce(f64::min);
    let lower = [min_ratio.map(|k| k * b), max_decrease.map(|d| b - d)]
        .into_iter()
        .flatten()
        .reduce(f64::max);
    let (cs, bs) = (explain::value(Some(c), unit), explain::value(Some(b), unit));
    if let Some(u) = upper.filter(|u| c > *u) {
        r.outcome = Outcome::Fail;
        r.bound = Some(u);
        r.detail = format!(
            "canary {cs} > limit {} (baseline {bs})",
            explain::value(Some(u), unit)
        );
    } else if let Some(l) = lower.filter(|l| c < *l) {
        r.outcome = Outcome::Fail;
        r.bound = Some(l);
        r.detail = format!(
            "canary {cs} < limit {} (baseline {bs})",
            explain::value(Some(l), unit)
        );
    } else {
        r.outcome = Outcome::Pass;
        r.bound = upper.or(lower);
        r.detail = format!(
            "canary {cs} within limits [{}, {}] (baseline {bs})",
            explain::value(lower, unit),
            explain::value(upper, unit)
        );
    }
}
