//! Reading a check's metric from a [`Window`]: its value, its sample count,
//! its moments.

use crate::metric::MetricRef;
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
