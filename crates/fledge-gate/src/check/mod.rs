//! Checks: what to compare ([`CheckSpec`]) and what came out ([`CheckResult`]).
//!
//! A check reads one metric from the canary's and the baseline's
//! [`Window`]s and answers Pass, Fail or Inconclusive, with an explanation.
//! Checks are combined by the [`Judge`](crate::Judge).

mod spec;

pub use crate::metric::{MetricParseError, MetricRef};
pub use spec::{
    CheckKind, CheckSpec, DEFAULT_MIN_SAMPLES, DEFAULT_THRESHOLD_CONFIDENCE, SpecError, Test,
};

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::explain::{self, fixed, number, p_value, percent};
use crate::kayenta::{self, Classification, ClassifierConfig, Direction};
use crate::stats::{self, AlwaysValid, Moments};
use crate::window::{Totals, Window};

/// Pass, Fail or Inconclusive: the answer of a check, and the kind of a
/// [`Verdict`](crate::Verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No evidence against the canary, with enough data.
    Pass,
    /// Evidence against the canary.
    Fail,
    /// Not enough data (or the test could not run).
    Inconclusive,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        })
    }
}

/// The result of one check, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's label.
    pub name: String,
    /// The metric, as written in the spec (e.g. `latency_p99`).
    pub metric: String,
    /// The test that ran.
    pub kind: CheckKind,
    /// Pass, Fail or Inconclusive.
    pub outcome: Outcome,
    /// Whether this failure fails the verdict at once (a critical check that
    /// failed; for `mann_whitney`, also beyond its critical thresholds).
    pub critical: bool,
    /// The check's weight in the score.
    pub weight: f64,
    /// The canary's value (ms for latency; the median for `mann_whitney`;
    /// since the step started for `sequential`).
    #[serde(default, with = "crate::float_serde::option")]
    pub canary: Option<f64>,
    /// The baseline's value, likewise.
    #[serde(default, with = "crate::float_serde::option")]
    pub baseline: Option<f64>,
    /// Samples on the canary side.
    pub canary_samples: u64,
    /// Samples on the baseline side.
    pub baseline_samples: u64,
    /// The test's p-value (always-valid for `sequential`).
    #[serde(default, with = "crate::float_serde::option")]
    pub p_value: Option<f64>,
    /// The limit the canary was held to (thresholds, relative bounds) or the
    /// significance level (statistical tests).
    #[serde(default, with = "crate::float_serde::option")]
    pub bound: Option<f64>,
    /// Confidence interval of the difference `canary − baseline`
    /// (`mann_whitney`: the shift; `sequential`: the always-valid interval).
    #[serde(default, with = "crate::float_serde::option_pair")]
    pub interval: Option<[f64; 2]>,
    /// Kayenta's class, for `mann_whitney`.
    pub classification: Option<Classification>,
    /// A one-line human-readable explanation.
    pub detail: String,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} ({} on {}): {}",
            self.outcome, self.name, self.kind, self.metric, self.detail
        )?;
        if self.critical && self.outcome == Outcome::Fail {
            f.write_str(" [critical]")?;
        }
        Ok(())
    }
}

/// Per-check state kept by the judge across evaluations.
#[derive(Debug, Clone)]
pub(crate) struct CheckState {
    pub(crate) sequential: Option<AlwaysValid>,
    /// Sequential error-rate checks: the running minimum, over this step's
    /// looks, of the exact always-valid test's p-values
    /// ([`stats::conditional_binomial_msprt`]), `[greater, less]`.
    pub(crate) exact: [f64; 2],
}

impl CheckState {
    pub(crate) fn new(spec: &CheckSpec) -> CheckState {
        CheckState {
            sequential: match spec.test {
                Test::Sequential { alpha, .. } => Some(AlwaysValid::new(alpha)),
                _ => None,
            },
            exact: [1.0, 1.0],
        }
    }

    pub(crate) fn reset(&mut self) {
        if let Some(s) = &mut self.sequential {
            s.reset();
        }
        self.exact = [1.0, 1.0];
    }
}

/// Number of samples a window holds for `metric`.
fn samples(window: &Window, metric: &MetricRef) -> u64 {
    match metric {
        MetricRef::Custom(name) => window.metric(name).map_or(0, |m| m.count()),
        _ => window.requests(),
    }
}

/// The scalar value of `metric` in `window`.
pub(crate) fn scalar(window: &Window, metric: &MetricRef) -> Option<f64> {
    match metric {
        MetricRef::ErrorRate => window.error_rate(),
        MetricRef::Latency => window.latency().quantile_ms(0.5),
        MetricRef::LatencyMean => window.latency().mean_ms(),
        MetricRef::LatencyQuantile(q) => window.latency().quantile_ms(*q),
        MetricRef::Custom(name) => window.metric(name).and_then(|m| m.mean()),
    }
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Sets the outcome from a p-value: Fail when significant at `alpha` and
/// the canary moved in the bad `direction`, else Pass. Returns how `p`
/// compares with `alpha` (`<=` or `>`), for the detail.
fn significance(r: &mut CheckResult, p: f64, alpha: f64, direction: Direction) -> &'static str {
    r.p_value = Some(p);
    let diff = r.canary.unwrap_or(0.0) - r.baseline.unwrap_or(0.0);
    let significant = p <= alpha;
    r.outcome = if significant && direction.is_bad(diff) {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    if significant { "<=" } else { ">" }
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
            let moments = match metric {
                MetricRef::Custom(name) => window.metric(name).map(|m| *m.moments())?,
                _ => latency_moments(window),
            };
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
fn threshold(
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

fn latency_moments(window: &Window) -> Moments {
    let mut m = Moments::default();
    for (value, count) in window.latency().buckets() {
        let c = count as f64;
        m.count += count;
        m.sum += value * c;
        m.sum_sq += value * value * c;
    }
    m
}

/// Evaluates one check. `origin` holds the canary's and baseline's totals at
/// the start of the step (for `sequential`).
pub(crate) fn evaluate(
    spec: &CheckSpec,
    state: &mut CheckState,
    canary: &Window,
    baseline: &Window,
    origin: Option<&(Totals, Totals)>,
) -> CheckResult {
    let metric = &spec.metric;
    let unit = metric.unit();
    let mut r = CheckResult {
        name: spec.label(),
        metric: metric.to_string(),
        kind: spec.test.kind(),
        outcome: Outcome::Inconclusive,
        critical: false,
        weight: spec.weight,
        canary: scalar(canary, metric),
        baseline: scalar(baseline, metric),
        canary_samples: samples(canary, metric),
        baseline_samples: samples(baseline, metric),
        p_value: None,
        bound: None,
        interval: None,
        classification: None,
        detail: String::new(),
    };
    let n = spec.min_samples;
    let too_few = |r: &mut CheckResult, both: bool| -> bool {
        let short_canary = r.canary_samples < n;
        let short_baseline = both && r.baseline_samples < n;
        if short_canary || short_baseline {
            r.outcome = Outcome::Inconclusive;
            r.detail = if short_canary {
                format!(
                    "too little data: {} of {n} canary samples",
                    r.canary_samples
                )
            } else {
                format!(
                    "too little data: {} of {n} baseline samples",
                    r.baseline_samples
                )
            };
            true
        } else {
            false
        }
    };

    match &spec.test {
        Test::Threshold { max, min } => {
            if too_few(&mut r, false) {
                return r;
            }
            let Some(value) = r.canary else {
                r.detail = "no value in the window".to_owned();
                return r;
            };
            threshold(&mut r, spec, canary, value, *max, *min);
        }
        Test::Relative {
            max_ratio,
            min_ratio,
            max_increase,
            max_decrease,
        } => {
            if too_few(&mut r, true) {
                return r;
            }
            let (Some(c), Some(b)) = (r.canary, r.baseline) else {
                r.detail = "no value in a window".to_owned();
                return r;
            };
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
        Test::MannWhitney {
            direction,
            tolerance,
            confidence,
            effect_measure,
            effect_thresholds,
            critical_thresholds,
        } => {
            if too_few(&mut r, true) {
                return r;
            }
            let config = ClassifierConfig {
                tolerance: *tolerance,
                confidence: *confidence,
                effect_measure: *effect_measure,
                effect_thresholds: *effect_thresholds,
                critical_thresholds: *critical_thresholds,
                critical: spec.critical,
                nan_strategy: kayenta::NanStrategy::Remove,
            };
            let result = match metric {
                MetricRef::Custom(name) => {
                    let cs = canary.metric(name).map(|m| m.samples()).unwrap_or(&[]);
                    let bs = baseline.metric(name).map(|m| m.samples()).unwrap_or(&[]);
                    r.canary = median(cs);
                    r.baseline = median(bs);
                    kayenta::classify(cs, bs, *direction, &config)
                }
                _ => kayenta::classify_weighted(
                    &canary.latency().buckets(),
                    &baseline.latency().buckets(),
                    *direction,
                    &config,
                ),
            };
            match result {
                Ok(c) => {
                    r.classification = Some(c.classification);
                    r.p_value = c.p_value;
                    r.bound = Some(*tolerance);
                    r.interval = c.shift.map(|s| [s.low, s.high]);
                    let shift = c
                        .shift
                        .map(|s| {
                            format!(
                                ", shift {} [{}, {}]",
                                explain::value(Some(s.estimate), unit),
                                number(s.low),
                                number(s.high)
                            )
                        })
                        .unwrap_or_default();
                    let p = c
                        .p_value
                        .map(|p| format!(", p = {}", p_value(p)))
                        .unwrap_or_default();
                    let effect = c
                        .effect_size
                        .map(|e| format!(", effect {}", number(e)))
                        .unwrap_or_default();
                    let head = format!(
                        "{} (direction {direction}): canary median {} vs baseline {}",
                        c.classification,
                        explain::value(r.canary, unit),
                        explain::value(r.baseline, unit)
                    );
                    r.detail = format!("{head}{shift}{effect}{p}");
                    match c.classification {
                        Classification::High | Classification::Low => {
                            r.outcome = Outcome::Fail;
                            r.critical = c.critical;
                        }
                        Classification::Pass => r.outcome = Outcome::Pass,
                        Classification::NoData => {
                            r.outcome = Outcome::Inconclusive;
                            if let Some(reason) = c.reason {
                                r.detail = reason;
                            }
                        }
                    }
                }
                Err(e) => {
                    r.detail = format!("test could not run: {e}");
                }
            }
            return r;
        }
        Test::Proportion { alpha, direction } => {
            if too_few(&mut r, true) {
                return r;
            }
            r.bound = Some(*alpha);
            match stats::two_proportion_z_test(
                canary.errors(),
                canary.requests(),
                baseline.errors(),
                baseline.requests(),
            ) {
                Ok(z) => {
                    let sign = significance(&mut r, z.p_value, *alpha, *direction);
                    r.detail = format!(
                        "canary {} vs baseline {} ({}/{} vs {}/{}), z = {}, p = {} {} alpha {}",
                        explain::value(r.canary, ""),
                        explain::value(r.baseline, ""),
                        canary.errors(),
                        canary.requests(),
                        baseline.errors(),
                        baseline.requests(),
                        fixed(z.z, 2),
                        p_value(z.p_value),
                        sign,
                        alpha
                    );
                    // The z-test is anti-conservative on a handful of
                    // events: fail only when the exact conditional binomial
                    // test agrees, one-sided at alpha / 2 on the canary's
                    // side (the z-test's two-sided alpha, halved).
                    if r.outcome == Outcome::Fail {
                        if let Ok(e) = stats::conditional_binomial_test(
                            canary.errors(),
                            canary.requests(),
                            baseline.errors(),
                            baseline.requests(),
                        ) {
                            let higher = z.z > 0.0;
                            let p = if higher { e.p_greater } else { e.p_less };
                            let agrees = p <= alpha / 2.0;
                            r.p_value = Some(z.p_value.max(2.0 * p).min(1.0));
                            r.detail.push_str(&format!(
                                "; exact conditional binomial p = {} ({} of {} errors on the canary, share {}) {} {}",
                                p_value(p),
                                canary.errors(),
                                e.events,
                                number(e.share),
                                if agrees { "<=" } else { ">" },
                                number(alpha / 2.0)
                            ));
                            if !agrees {
                                r.outcome = Outcome::Pass;
                                r.detail.push_str(": too few errors to tell, not failed");
                            }
                        }
                    }
                }
                Err(e) => r.detail = format!("test could not run: {e}"),
            }
        }
        Test::TTest { alpha, direction } => {
            if too_few(&mut r, true) {
                return r;
            }
            r.bound = Some(*alpha);
            let (cm, bm) = match metric {
                MetricRef::Custom(name) => (
                    canary
                        .metric(name)
                        .map(|m| *m.moments())
                        .unwrap_or_default(),
                    baseline
                        .metric(name)
                        .map(|m| *m.moments())
                        .unwrap_or_default(),
                ),
                _ => (latency_moments(canary), latency_moments(baseline)),
            };
            r.canary = cm.mean();
            r.baseline = bm.mean();
            match stats::welch_t_test_moments(&cm, &bm) {
                Ok(t) => {
                    let sign = significance(&mut r, t.p_value, *alpha, *direction);
                    r.detail = format!(
                        "canary mean {} vs baseline {}, t = {} (df {}), p = {} {} alpha {}",
                        explain::value(r.canary, unit),
                        explain::value(r.baseline, unit),
                        fixed(t.t, 2),
                        fixed(t.df, 1),
                        p_value(t.p_value),
                        sign,
                        alpha
                    );
                }
                Err(e) => r.detail = format!("test could not run: {e}"),
            }
        }
        Test::Sequential {
            alpha,
            tau,
            direction,
        } => {
            let empty = Totals::default();
            let (oc, ob) = origin.map_or((&empty, &empty), |(c, b)| (c, b));
            let (tc, tb) = (canary.totals().since(oc), baseline.totals().since(ob));
            r.bound = Some(*alpha);
            let mut exact = None;
            let look = match metric {
                MetricRef::ErrorRate => {
                    r.canary_samples = tc.requests;
                    r.baseline_samples = tb.requests;
                    r.canary = (tc.requests > 0).then(|| tc.errors as f64 / tc.requests as f64);
                    r.baseline = (tb.requests > 0).then(|| tb.errors as f64 / tb.requests as f64);
                    if too_few(&mut r, true) {
                        return r;
                    }
                    exact = stats::conditional_binomial_msprt(
                        tc.errors,
                        tc.requests,
                        tb.errors,
                        tb.requests,
                    )
                    .ok();
                    stats::msprt_proportions(tc.errors, tc.requests, tb.errors, tb.requests, *tau)
                }
                _ => {
                    let (cm, bm) = match metric {
                        MetricRef::Custom(name) => (
                            tc.metric(name).copied().unwrap_or_default(),
                            tb.metric(name).copied().unwrap_or_default(),
                        ),
                        _ => (tc.latency_ms, tb.latency_ms),
                    };
                    r.canary_samples = cm.count;
                    r.baseline_samples = bm.count;
                    r.canary = cm.mean();
                    r.baseline = bm.mean();
                    if too_few(&mut r, true) {
                        return r;
                    }
                    stats::msprt_means(&cm, &bm, *tau)
                }
            };
            let exact_min = &mut state.exact;
            let Some(av) = state.sequential.as_mut() else {
                r.detail = "internal: missing sequential state".to_owned();
                return r;
            };
            match look {
                Ok(look) => {
                    av.observe(&look);
                    r.p_value = Some(av.p_value);
                    r.interval = Some([av.low, av.high]);
                    let up = av.low > 0.0
                        && matches!(direction, Direction::Increase | Direction::Either);
                    let down = av.high < 0.0
                        && matches!(direction, Direction::Decrease | Direction::Either);
                    let mut bad = up || down;
                    let mut confirmation = String::new();
                    if let Some(e) = &exact {
                        // Fail only when the exact always-valid test has
                        // rejected too, on the side the mSPRT rejected
                        // (two-sided: alpha / 2 per side).
                        exact_min[0] = exact_min[0].min(e.p_greater);
                        exact_min[1] = exact_min[1].min(e.p_less);
                        let level = match direction {
                            Direction::Either => alpha / 2.0,
                            _ => *alpha,
                        };
                        bad = (up && exact_min[0] <= level) || (down && exact_min[1] <= level);
                        let p_exact = match direction {
                            Direction::Increase => exact_min[0],
                            Direction::Decrease => exact_min[1],
                            Direction::Either => exact_min[0].min(exact_min[1]),
                        };
                        confirmation = format!(
                            "; exact always-valid test p = {} ({} of {} errors on the canary, share {})",
                            p_value(p_exact),
                            tc.errors,
                            e.events,
                            number(e.share)
                        );
                        if (up || down) && !bad {
                            confirmation.push_str(&format!(
                                " > {}: too few errors to confirm the mSPRT's rejection, not failed",
                                number(level)
                            ));
                        }
                        r.p_value = Some(av.p_value.max(p_exact));
                    }
                    r.outcome = if bad { Outcome::Fail } else { Outcome::Pass };
                    r.detail = format!(
                        "since step start canary {} vs baseline {} ({} vs {} samples), difference {} with always-valid {} interval [{}, {}], p = {} (alpha {alpha}, tau {tau}, {} looks){confirmation}",
                        explain::value(r.canary, unit),
                        explain::value(r.baseline, unit),
                        r.canary_samples,
                        r.baseline_samples,
                        number(look.difference),
                        percent(1.0 - alpha),
                        number(av.low),
                        number(av.high),
                        p_value(av.p_value),
                        av.looks
                    );
                }
                Err(e) => r.detail = format!("test could not run: {e}"),
            }
        }
    }
    if r.outcome == Outcome::Fail {
        r.critical = spec.critical;
    }
    r
}
