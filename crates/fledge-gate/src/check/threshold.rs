//! `threshold` checks: absolute bounds on the canary's value, failed only
//! when the data shows the bound crossed with the spec's confidence (see
//! [`CheckSpec::confidence`]).

use super::decide::too_few;
use super::read;
use super::result::{CheckResult, Outcome};
use super::spec::CheckSpec;
use crate::explain::{self, number, p_value, percent};
use crate::metric::MetricRef;
use crate::stats;
use crate::window::Window;

/// Evaluates a `threshold` check with bounds `max` and `min` on the
/// canary's window (the baseline plays no part).
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    canary: &Window,
    max: Option<f64>,
    min: Option<f64>,
) {
    if too_few(r, spec.min_samples, false) {
        return;
    }
    let Some(value) = r.canary else {
        r.detail = "no value in the window".to_owned();
        return;
    };
    decide(r, spec, canary, value, max, min);
}

/// Which side of a threshold a value crossed.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Above,
    Below,
}

/// How strongly a window shows the canary beyond a threshold: the p-value
/// of "the value is within `limit`" and the evidence, for the detail.
struct Beyond {
    p_value: f64,
    evidence: String,
}

/// The exact or small-sample test of "the canary's `metric` is within
/// `limit`" (see [`CheckSpec::confidence`]), or `None` when it cannot run
/// (a mean from fewer than two values).
fn beyond(
    window: &Window,
    metric: &MetricRef,
    limit: f64,
    side: Side,
    confidence: f64,
) -> Option<Beyond> {
    let (word, unit) = match side {
        Side::Above => ("above", metric.unit()),
        Side::Below => ("below", metric.unit()),
    };
    match metric {
        MetricRef::LatencyQuantile(q) => {
            let latency = window.latency();
            let n = latency.count();
            let (k, p) = match side {
                Side::Above => (latency.count_above_ms(limit), 1.0 - q),
                Side::Below => (latency.count_below_ms(limit), *q),
            };
            let tail = stats::binomial_tail(k, n, p).ok()?;
            Some(Beyond {
                p_value: tail.at_least,
                evidence: format!(
                    "{k} of {n} samples {word} {}",
                    explain::value(Some(limit), unit)
                ),
            })
        }
        MetricRef::ErrorRate => {
            let (k, n) = (window.errors(), window.requests());
            let tail = stats::binomial_tail(k, n, limit.clamp(0.0, 1.0)).ok()?;
            Some(Beyond {
                p_value: match side {
                    Side::Above => tail.at_least,
                    Side::Below => tail.at_most,
                },
                evidence: format!("{k} errors in {n} requests"),
            })
        }
        MetricRef::LatencyMean | MetricRef::Custom(_) => {
            let moments = read::moments(window, metric)?;
            let t = stats::one_sample_t_test(&moments, limit).ok()?;
            let (p_value, bound, end) = match side {
                Side::Above => (t.p_greater, t.lower_bound(confidence), "lower"),
                Side::Below => (t.p_less, t.upper_bound(confidence), "upper"),
            };
            Some(Beyond {
                p_value,
                evidence: format!(
                    "{end} {} bound {} over {} samples",
                    percent(confidence),
                    explain::value(Some(bound), unit),
                    moments.count
                ),
            })
        }
        MetricRef::Latency => None,
    }
}

/// A threshold check on `value` (the canary's, with enough samples): Fail
/// when beyond a limit with the spec's confidence, Inconclusive when beyond
/// without it, Pass within the limits.
fn decide(
    r: &mut CheckResult,
    spec: &CheckSpec,
    canary: &Window,
    value: f64,
    max: Option<f64>,
    min: Option<f64>,
) {
    let unit = spec.metric.unit();
    let shown = explain::value(Some(value), unit);
    let confidence = spec.threshold_confidence();
    let alpha = 1.0 - confidence;
    let crossed = max
        .filter(|hi| value > *hi)
        .map(|hi| (hi, Side::Above))
        .or_else(|| min.filter(|lo| value < *lo).map(|lo| (lo, Side::Below)));
    let Some((limit, side)) = crossed else {
        r.outcome = Outcome::Pass;
        r.bound = max.or(min);
        r.detail = match (max, min) {
            (Some(hi), Some(lo)) => format!(
                "canary {shown} within [{}, {}]",
                explain::value(Some(lo), unit),
                explain::value(Some(hi), unit)
            ),
            (Some(hi), None) => format!("canary {shown} <= max {}", explain::value(Some(hi), unit)),
            (None, Some(lo)) => format!("canary {shown} >= min {}", explain::value(Some(lo), unit)),
            (None, None) => format!("canary {shown}"),
        };
        return;
    };
    r.bound = Some(limit);
    let (op, name, not_op) = match side {
        Side::Above => (">", "max", "<="),
        Side::Below => ("<", "min", ">="),
    };
    let what = match &spec.metric {
        MetricRef::LatencyQuantile(_) => spec
            .metric
            .to_string()
            .trim_start_matches("latency_")
            .to_owned(),
        MetricRef::LatencyMean => "mean latency".to_owned(),
        MetricRef::Custom(name) => format!("mean {name}"),
        _ => "error rate".to_owned(),
    };
    let lim = explain::value(Some(limit), unit);
    if confidence == 0.0 {
        r.outcome = Outcome::Fail;
        r.detail =
            format!("canary {shown} {op} {name} {lim} (confidence 0: the value alone decides)");
        return;
    }
    let percent = percent(confidence);
    match beyond(canary, &spec.metric, limit, side, confidence) {
        Some(b) if b.p_value <= alpha => {
            r.outcome = Outcome::Fail;
            r.p_value = Some(b.p_value);
            r.detail = format!(
                "canary {shown} {op} {name} {lim}: {what} {op} {lim} with {percent} confidence: {} (p = {} were {what} {not_op} {lim})",
                b.evidence,
                p_value(b.p_value)
            );
        }
        Some(b) => {
            r.outcome = Outcome::Inconclusive;
            r.p_value = Some(b.p_value);
            r.detail = format!(
                "canary {shown} {op} {name} {lim}, but not with {percent} confidence: {} (p = {} > {}): waiting for more data",
                b.evidence,
                p_value(b.p_value),
                number(alpha)
            );
        }
        None => {
            r.outcome = Outcome::Inconclusive;
            r.detail = format!(
                "canary {shown} {op} {name} {lim}, but too few values to bound it with {percent} confidence"
            );
        }
    }
}
