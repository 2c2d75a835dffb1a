//! Comparing variants on a metric: lift, interval, p-value, correction and
//! decision. Shared by the A/B test and champion / challenger.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::stats::{self, AlwaysValid, Moments};
use fledge_select::VersionId;

use crate::metric::{Correction, MetricKind, MetricSpec, Stopping};

/// What one variant has for one metric.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ArmData {
    /// Exposures counted for the variant.
    pub(crate) exposures: u64,
    /// The metric's recorded values.
    pub(crate) moments: Moments,
}

/// One variant's numbers for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// The variant.
    pub variant: VersionId,
    /// Exposures counted.
    pub exposures: u64,
    /// Values recorded for the metric (events, for a conversion).
    pub values: u64,
    /// The metric: a rate (conversion), a mean, or a sum per exposure;
    /// `None` without data.
    pub value: Option<f64>,
}

/// The decision about one variant against the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Significantly worse than the control.
    Loser,
    /// No significant difference (yet): keep running.
    NoDifferenceYet,
    /// Significantly better than the control.
    Winner,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Loser => "loser",
            Decision::NoDifferenceYet => "no difference yet",
            Decision::Winner => "winner",
        })
    }
}

/// One variant against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The variant's numbers.
    pub arm: ArmSummary,
    /// Absolute lift: variant − control, in the metric's units.
    pub lift: Option<f64>,
    /// Relative lift: (variant − control) / control.
    pub relative_lift: Option<f64>,
    /// Confidence interval of the absolute lift (always-valid when
    /// sequential; simultaneous across variants, see [`Correction`]).
    pub interval: Option<[f64; 2]>,
    /// The interval divided by the control's value (the control's value taken
    /// as known).
    pub relative_interval: Option<[f64; 2]>,
    /// The interval's confidence level, e.g. `0.975`.
    pub confidence: f64,
    /// The test's p-value (always-valid when sequential), before correction.
    pub p_value: Option<f64>,
    /// The p-value after the multiple-comparison correction: this decides.
    pub adjusted_p_value: Option<f64>,
    /// The decision.
    pub decision: Decision,
    /// Why there is no decision yet, or why there is no test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every variant against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    /// The metric.
    pub metric: MetricSpec,
    /// Whether this metric decides (the first one) or is only reported.
    pub primary: bool,
    /// The control's numbers.
    pub control: ArmSummary,
    /// Each other variant against the control.
    pub comparisons: Vec<Comparison>,
}

impl MetricReport {
    /// The exposures of the smallest arm (control included).
    pub(crate) fn least_exposures(&self) -> u64 {
        std::iter::once(&self.control)
            .chain(self.comparisons.iter().map(|c| &c.arm))
            .map(|a| a.exposures)
            .min()
            .unwrap_or(0)
    }
}

/// How to compare: level, correction, stopping rule and sample floor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) alpha: f64,
    pub(crate) correction: Correction,
    pub(crate) stopping: Stopping,
    pub(crate) min_exposures: u64,
}

/// A metric's value for one arm: the sample size, mean and variance of the
/// per-unit values the test compares.
#[derive(Debug, Clone, Copy)]
struct Unit {
    n: u64,
    mean: f64,
    variance: f64,
    /// Events, for conversions.
    events: u64,
    /// The moments the t-test and the sequential test read.
    moments: Moments,
}

fn unit(kind: MetricKind, data: &ArmData) -> Result<Option<Unit>, String> {
    let m = data.moments;
    match kind {
        MetricKind::Conversion => {
            let n = data.exposures;
            let events = m.count;
            if events > n {
                return Err(format!(
                    "{events} events for {n} exposures: a conversion counts at most one event per exposure (count exposures with expose(), or use kind = per_exposure)"
                ));
            }
            if n == 0 {
                return Ok(None);
            }
            let p = events as f64 / n as f64;
            Ok(Some(Unit {
                n,
                mean: p,
                variance: p * (1.0 - p),
                events,
                moments: Moments {
                    count: n,
                    sum: events as f64,
                    sum_sq: events as f64,
                },
            }))
        }
        MetricKind::Mean => {
            if m.count == 0 {
                return Ok(None);
            }
            Ok(Some(Unit {
                n: m.count,
                mean: m.sum / m.count as f64,
                variance: m.variance().unwrap_or(0.0),
                events: 0,
                moments: m,
            }))
        }
        MetricKind::PerExposure => {
            let n = data.exposures;
            if n == 0 {
                return Ok(None);
            }
            let moments = Moments {
                count: n,
                sum: m.sum,
                sum_sq: m.sum_sq,
            };
            Ok(Some(Unit {
                n,
                mean: m.sum / n as f64,
                variance: moments.variance().unwrap_or(0.0),
                events: 0,
                moments,
            }))
        }
    }
}

fn summary(variant: &VersionId, kind: MetricKind, data: &ArmData) -> ArmSummary {
    ArmSummary {
        variant: variant.clone(),
        exposures: data.exposures,
        values: data.moments.count,
        value: unit(kind, data).ok().flatten().map(|u| u.mean),
    }
}

/// The two-sided `1 − a` quantile of Student's t with `df` degrees of
/// freedom (the normal's for huge or unknown `df`).
fn t_quantile(a: f64, df: f64) -> f64 {
    let p = 1.0 - a / 2.0;
    let df = if df.is_finite() && df < 1e7 {
        df
    } else {
        f64::INFINITY
    };
    let q = stats::t_quantile(p, df);
    if q.is_finite() {
        q
    } else {
        stats::normal_quantile(p)
    }
}

/// The raw test of one comparison: (p-value, interval) at interval level
/// `1 − a`; sequential looks update `look`.
fn test(
    kind: MetricKind,
    t: &Unit,
    c: &Unit,
    a: f64,
    stopping: Stopping,
    look: Option<&mut AlwaysValid>,
) -> Result<(f64, [f64; 2]), String> {
    let diff = t.mean - c.mean;
    match stopping {
        Stopping::FixedHorizon { .. } => {
            let se = (t.variance / t.n as f64 + c.variance / c.n as f64).sqrt();
            let (p, q) = match kind {
                MetricKind::Conversion => {
                    let z = stats::two_proportion_z_test(t.events, t.n, c.events, c.n)
                        .map_err(|e| e.to_string())?;
                    (z.p_value, stats::normal_quantile(1.0 - a / 2.0))
                }
                MetricKind::Mean | MetricKind::PerExposure => {
                    let w = stats::welch_t_test_moments(&t.moments, &c.moments)
                        .map_err(|e| e.to_string())?;
                    (w.p_value, t_quantile(a, w.df))
                }
            };
            Ok((p, [diff - q * se, diff + q * se]))
        }
        Stopping::Sequential { tau, .. } => {
            let m = match kind {
                MetricKind::Conversion => {
                    stats::msprt_proportions(t.events, t.n, c.events, c.n, tau)
                }
                MetricKind::Mean | MetricKind::PerExposure => {
                    stats::msprt_means(&t.moments, &c.moments, tau)
                }
            }
            .map_err(|e| e.to_string())?;
            let mut fresh = AlwaysValid::new(a);
            let av = look.unwrap_or(&mut fresh);
            av.alpha = a;
            av.observe(&m);
            Ok((av.p_value, [av.low, av.high]))
        }
    }
}

/// Compares every treatment with the control on `metric`. `looks` holds the
/// sequential state per treatment (taken only once both arms reach the
/// sample floor).
pub(crate) fn compare(
    metric: &MetricSpec,
    primary: bool,
    control: (&VersionId, &ArmData),
    treatments: &[(&VersionId, ArmData)],
    rules: &Rules,
    looks: &mut [AlwaysValid],
) -> MetricReport {
    let kind = metric.kind;
    let m = treatments.len();
    let a = rules.correction.interval_alpha(rules.alpha, m);
    let control_unit = unit(kind, control.1);
    let mut rows = Vec::with_capacity(m);
    let mut raw = Vec::with_capacity(m);
    for (i, (id, data)) in treatments.iter().enumerate() {
        let arm = summary(id, kind, data);
        let mut row = Comparison {
            arm,
            lift: None,
            relative_lift: None,
            interval: None,
            relative_interval: None,
            confidence: 1.0 - a,
            p_value: None,
            adjusted_p_value: None,
            decision: Decision::NoDifferenceYet,
            note: None,
        };
        let mut ready = false;
        match (unit(kind, data), &control_unit) {
            (Err(e), _) => row.note = Some(format!("{id}: {e}")),
            (_, Err(e)) => row.note = Some(format!("control: {e}")),
            (Ok(None), _) | (_, Ok(None)) => {
                row.note = Some("no data yet".to_owned());
            }
            (Ok(Some(t)), Ok(Some(c))) => {
                let diff = t.mean - c.mean;
                row.lift = Some(diff);
                row.relative_lift = (c.mean != 0.0).then(|| diff / c.mean.abs());
                let floor = rules.min_exposures.max(2);
                // The floor counts the units the test compares (values of a
                // mean, exposures otherwise); the horizon counts exposures.
                let units = t.n.min(c.n);
                let least = data.exposures.min(control.1.exposures);
                let sample_ok = units >= floor;
                let (horizon_ok, wait) = match rules.stopping {
                    Stopping::FixedHorizon { exposures } => (
                        least >= exposures,
                        format!(
                            "fixed horizon: {} more exposures on the smaller arm before deciding",
                            exposures.saturating_sub(least)
                        ),
                    ),
                    Stopping::Sequential { .. } => (
                        true,
                        format!(
                            "{} more samples on the smaller arm before the first look",
                            floor.saturating_sub(units)
                        ),
                    ),
                };
                let sequential = rules.stopping.is_sequential();
                if sequential && !sample_ok {
                    row.note = Some(wait);
                } else {
                    let look = if sequential { looks.get_mut(i) } else { None };
                    match test(kind, &t, c, a, rules.stopping, look) {
                        Ok((p, [lo, hi])) => {
                            row.p_value = Some(p);
                            if lo.is_finite() && hi.is_finite() {
                                row.interval = Some([lo, hi]);
                                if c.mean != 0.0 {
                                    let s = c.mean.abs();
                                    row.relative_interval = Some([lo / s, hi / s]);
                                }
                            }
                            ready = sample_ok && horizon_ok;
                            if !ready {
                                row.note = Some(if sample_ok {
                                    wait
                                } else {
                                    format!(
                                        "{} more samples on the smaller arm before deciding",
                                        floor.saturating_sub(units)
                                    )
                                });
                            }
                        }
                        Err(e) => row.note = Some(e),
                    }
                }
            }
        }
        raw.push(row.p_value);
        rows.push((row, ready));
    }
    let adjusted = rules.correction.adjust(&raw);
    let comparisons = rows
        .into_iter()
        .zip(adjusted)
        .map(|((mut row, ready), adj)| {
            row.adjusted_p_value = adj;
            if let (true, Some(p), Some(lift)) = (ready, adj, row.lift)
                && p <= rules.alpha
                && lift != 0.0
            {
                row.decision = if lift * metric.goal.sign() > 0.0 {
                    Decision::Winner
                } else {
                    Decision::Loser
                };
            }
            row
        })
        .collect();
    MetricReport {
        metric: metric.clone(),
        primary,
        control: summary(control.0, kind, control.1),
        comparisons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> VersionId {
        VersionId::new(s).unwrap()
    }

    fn conv(exposures: u64, events: u64) -> ArmData {
        ArmData {
            exposures,
            moments: Moments {
                count: events,
                sum: events as f64,
                sum_sq: events as f64,
            },
        }
    }

    fn rules(stopping: Stopping) -> Rules {
        Rules {
            alpha: 0.05,
            correction: Correction::Holm,
            stopping,
            min_exposures: 100,
        }
    }

    #[test]
    fn a_clear_conversion_winner_is_found() {
        let (a, b) = (id("a"), id("b"));
        let r = compare(
            &MetricSpec::conversion("buy"),
            true,
            (&a, &conv(10_000, 400)),
            &[(&b, conv(10_000, 520))],
            &rules(Stopping::FixedHorizon { exposures: 5_000 }),
            &mut [],
        );
        let c = &r.comparisons[0];
        assert_eq!(c.decision, Decision::Winner, "{c:?}");
        let [lo, hi] = c.interval.unwrap();
        assert!(lo > 0.0 && hi > lo && (c.lift.unwrap() - 0.012).abs() < 1e-12);
        assert!((c.relative_lift.unwrap() - 0.3).abs() < 1e-9);
        // Before the horizon: numbers, no decision.
        let early = compare(
            &MetricSpec::conversion("buy"),
            true,
            (&a, &conv(10_000, 400)),
            &[(&b, conv(10_000, 520))],
            &rules(Stopping::FixedHorizon { exposures: 20_000 }),
            &mut [],
        );
        assert_eq!(early.comparisons[0].decision, Decision::NoDifferenceYet);
        assert!(
            early.comparisons[0]
                .note
                .as_deref()
                .unwrap()
                .contains("10000 more")
        );
    }

    #[test]
    fn lower_is_better_flips_the_decision() {
        let (a, b) = (id("a"), id("b"));
        let r = compare(
            &MetricSpec::conversion("churn").lower_is_better(),
            true,
            (&a, &conv(10_000, 400)),
            &[(&b, conv(10_000, 520))],
            &rules(Stopping::FixedHorizon { exposures: 100 }),
            &mut [],
        );
        assert_eq!(r.comparisons[0].decision, Decision::Loser);
    }

    #[test]
    fn more_events_than_exposures_is_reported_not_panicked() {
        let (a, b) = (id("a"), id("b"));
        let r = compare(
            &MetricSpec::conversion("buy"),
            true,
            (&a, &conv(100, 10)),
            &[(&b, conv(100, 150))],
            &rules(Stopping::FixedHorizon { exposures: 10 }),
            &mut [],
        );
        assert_eq!(r.comparisons[0].decision, Decision::NoDifferenceYet);
        assert!(
            r.comparisons[0]
                .note
                .as_deref()
                .unwrap()
                .contains("at most one event")
        );
    }

    #[test]
    fn sequential_looks_accumulate() {
        let (a, b) = (id("a"), id("b"));
        let mut looks = [AlwaysValid::new(0.05)];
        let seq = Stopping::Sequential {
            tau: 0.01,
            max_exposures: None,
        };
        let r = compare(
            &MetricSpec::conversion("buy"),
            true,
            (&a, &conv(50, 2)),
            &[(&b, conv(50, 4))],
            &rules(seq),
            &mut looks,
        );
        assert_eq!(looks[0].looks, 0, "below the floor no look is taken");
        assert!(r.comparisons[0].p_value.is_none());
        let r = compare(
            &MetricSpec::conversion("buy"),
            true,
            (&a, &conv(20_000, 800)),
            &[(&b, conv(20_000, 1_000))],
            &rules(seq),
            &mut looks,
        );
        assert_eq!(looks[0].looks, 1);
        assert_eq!(r.comparisons[0].decision, Decision::Winner, "{r:?}");
    }

    #[test]
    fn welch_interval_for_means() {
        let (a, b) = (id("a"), id("b"));
        let ctl = ArmData {
            exposures: 500,
            moments: Moments::from_slice(&[3.0, 4.0, 5.0, 4.0, 3.5, 4.5, 4.0, 3.0, 5.0, 4.0]),
        };
        let trt = ArmData {
            exposures: 500,
            moments: Moments::from_slice(&[4.0, 5.0, 5.5, 4.5, 5.0, 4.5, 5.0, 4.0, 5.5, 5.0]),
        };
        let r = compare(
            &MetricSpec::mean("rating"),
            true,
            (&a, &ctl),
            &[(&b, trt)],
            &rules(Stopping::FixedHorizon { exposures: 100 }),
            &mut [],
        );
        let c = &r.comparisons[0];
        // SciPy: ttest_ind(trt, ctl, equal_var=False) → t = 2.8483, df = 16.797, p = 0.011212.
        assert!((c.p_value.unwrap() - 0.011212).abs() < 1e-5, "{c:?}");
        let [lo, hi] = c.interval.unwrap();
        assert!(lo > 0.0 && hi < 1.6, "{lo} {hi}");
    }
}
