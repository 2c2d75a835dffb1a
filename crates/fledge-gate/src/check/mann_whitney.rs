//! `mann_whitney` checks: Kayenta's Mann-Whitney classifier on the latency
//! distribution (histogram buckets) or a custom metric's samples.

use super::decide::too_few;
use super::read::median;
use super::result::{CheckResult, Outcome};
use super::spec::CheckSpec;
use crate::explain::{self, number, p_value};
use crate::kayenta::{self, Classification, ClassifierConfig, Direction};
use crate::metric::MetricRef;
use crate::window::Window;

/// Evaluates a `mann_whitney` check with Kayenta's classifier `config`.
/// Sets [`CheckResult::critical`] itself: the classifier decides it (a
/// critical check, or a failure beyond the critical thresholds).
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    canary: &Window,
    baseline: &Window,
    direction: Direction,
    config: &ClassifierConfig,
) {
    if too_few(r, spec.min_samples, true) {
        return;
    }
    let unit = spec.metric.unit();
    let result = match &spec.metric {
        MetricRef::Custom(name) => {
            let cs = canary.metric(name).map(|m| m.samples()).unwrap_or(&[]);
            let bs = baseline.metric(name).map(|m| m.samples()).unwrap_or(&[]);
            r.canary = median(cs);
            r.baseline = median(bs);
            kayenta::classify(cs, bs, direction, config)
        }
        _ => kayenta::classify_weighted(
            &canary.latency().buckets(),
            &baseline.latency().buckets(),
            direction,
            config,
        ),
    };
    let c = match result {
        Ok(c) => c,
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    r.classification = Some(c.classification);
    r.p_value = c.p_value;
    r.bound = Some(config.tolerance);
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
