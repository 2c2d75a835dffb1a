//! Reading a check's metric from a [`Window`]: its value, its sample count,
//! its moments.

use super::result::CheckResult;
use crate::metric::MetricRef;
use crate::output::{LabelCounts, NumericOutput, OutputKind};
use crate::stats::Moments;
use crate::window::Window;

/// Number of samples a window holds for `metric`.
pub(super) fn samples(window: &Window, metric: &MetricRef) -> u64 {
    match metric {
        MetricRef::Custom(name) => window.metric(name).map_or(0, |m| m.count()),
        _ => window.requests(),
    }
}

/// The scalar value of `metric` in `window`.
pub(super) fn scalar(window: &Window, metric: &MetricRef) -> Option<f64> {
    match metric {
        MetricRef::ErrorRate => window.error_rate(),
        MetricRef::Latency => window.latency().quantile_ms(0.5),
        MetricRef::LatencyMean => window.latency().mean_ms(),
        MetricRef::LatencyQuantile(q) => window.latency().quantile_ms(*q),
        MetricRef::Custom(name) => window.metric(name).and_then(|m| m.mean()),
    }
}

/// The moments of a mean-valued `metric`: a custom metric's, or `None` when
/// the window does not hold it; for built-in metrics (`latency_mean`), the
/// latencies' in ms.
pub(super) fn moments(window: &Window, metric: &MetricRef) -> Option<Moments> {
    match metric {
        MetricRef::Custom(name) => window.metric(name).map(|m| *m.moments()),
        _ => Some(latency_moments(window)),
    }
}

/// The moments of the window's latencies, in ms, from the histogram's buckets.
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

/// The median of `values`, or `None` when empty.
pub(super) fn median(values: &[f64]) -> Option<f64> {
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

/// The output `metric` names, of `kind`, in both windows; `Err` says what
/// is missing (the check is then Inconclusive).
fn outputs<'a, T>(
    canary: &'a Window,
    baseline: &'a Window,
    metric: &MetricRef,
    kind: OutputKind,
    get: impl Fn(&'a crate::output::OutputWindow) -> Option<&'a T>,
) -> Result<(&'a T, &'a T), String> {
    let name = metric.to_string();
    let mut found = [None, None];
    for (slot, w) in found.iter_mut().zip([canary, baseline]) {
        let Some(o) = w.output(&name) else {
            return Err(format!(
                "no output `{name}` in the windows: declare it on the recorder (RecorderConfig::output, or `outputs` in the plan) and record it"
            ));
        };
        *slot = Some(get(o).ok_or_else(|| {
            format!(
                "output `{name}` is {}, this check needs a {kind} output",
                o.kind()
            )
        })?);
    }
    match found {
        [Some(c), Some(b)] => Ok((c, b)),
        _ => Err(format!("no output `{name}` in the windows")),
    }
}

/// A numeric output in both windows, with their value counts set as `r`'s
/// samples; `None` (why in `r.detail`) when a window lacks it.
pub(super) fn numeric_outputs<'a>(
    r: &mut CheckResult,
    canary: &'a Window,
    baseline: &'a Window,
    metric: &MetricRef,
) -> Option<(&'a NumericOutput, &'a NumericOutput)> {
    let (c, b) = reported(
        r,
        outputs(canary, baseline, metric, OutputKind::Numeric, |o| {
            o.numeric()
        }),
    )?;
    r.canary_samples = c.count();
    r.baseline_samples = b.count();
    Some((c, b))
}

/// A categorical output in both windows, with their value counts set as
/// `r`'s samples; `None` (why in `r.detail`) when a window lacks it.
pub(super) fn categorical_outputs<'a>(
    r: &mut CheckResult,
    canary: &'a Window,
    baseline: &'a Window,
    metric: &MetricRef,
) -> Option<(&'a LabelCounts, &'a LabelCounts)> {
    let (c, b) = reported(
        r,
        outputs(canary, baseline, metric, OutputKind::Categorical, |o| {
            o.categorical()
        }),
    )?;
    r.canary_samples = c.total();
    r.baseline_samples = b.total();
    Some((c, b))
}

/// The pair, or `None` with the reason in `r.detail`.
fn reported<T>(r: &mut CheckResult, pair: Result<T, String>) -> Option<T> {
    pair.map_err(|why| r.detail = why).ok()
}
