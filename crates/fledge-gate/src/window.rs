//! Window snapshots: what the control path reads from a [`Recorder`](crate::Recorder).

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::clock::Timestamp;
use crate::output::OutputWindow;
use crate::stats::Moments;

/// Latency distribution of a window, in microsecond resolution (1 µs to
/// 60 s, 3 significant figures; slower requests count as 60 s).
///
/// Values are reported in milliseconds as `f64`, the unit of latency checks.
#[derive(Clone)]
pub struct Latency {
    /// `None` for an empty distribution (no allocation).
    pub(crate) hist: Option<Histogram<u32>>,
}

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latency")
            .field("count", &self.count())
            .field("p50_ms", &self.quantile_ms(0.5))
            .field("p99_ms", &self.quantile_ms(0.99))
            .field("max_ms", &self.max_ms())
            .finish()
    }
}

impl Latency {
    pub(crate) fn empty() -> Latency {
        Latency { hist: None }
    }

    fn hist(&self) -> Option<&Histogram<u32>> {
        self.hist.as_ref().filter(|h| !h.is_empty())
    }

    /// Number of recorded requests.
    pub fn count(&self) -> u64 {
        self.hist().map_or(0, Histogram::len)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist().is_none()
    }

    /// The latency at quantile `q` (`0.99` for p99) in milliseconds, or `None`
    /// when empty or `q` is not in `[0, 1]`.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let h = self.hist().filter(|_| (0.0..=1.0).contains(&q))?;
        Some(us_to_ms(h.value_at_quantile(q)))
    }

    /// The latency at quantile `q` as a [`Duration`].
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let h = self.hist().filter(|_| (0.0..=1.0).contains(&q))?;
        Some(Duration::from_micros(h.value_at_quantile(q)))
    }

    /// Mean latency in milliseconds (from the histogram's buckets).
    pub fn mean_ms(&self) -> Option<f64> {
        self.hist().map(|h| h.mean() / 1_000.0)
    }

    /// Smallest recorded latency in milliseconds.
    pub fn min_ms(&self) -> Option<f64> {
        self.hist().map(|h| us_to_ms(h.min()))
    }

    /// Largest recorded latency in milliseconds.
    pub fn max_ms(&self) -> Option<f64> {
        self.hist().map(|h| us_to_ms(h.max()))
    }

    /// Number of requests certainly slower than `ms` milliseconds: those in
    /// histogram buckets whose every value is above `ms`. A bucket holding
    /// `ms` itself counts as not above, so at 3 significant figures the
    /// count may miss requests within 0.1 % above `ms`, never include one
    /// at or below it (a threshold check fails on this count, so it errs
    /// towards not failing). `NaN` counts nothing.
    pub fn count_above_ms(&self, ms: f64) -> u64 {
        let Some(h) = self.hist() else { return 0 };
        if ms.is_nan() {
            return 0;
        }
        let us = ms * 1_000.0;
        h.iter_recorded()
            .filter(|v| h.lowest_equivalent(v.value_iterated_to()) as f64 > us)
            .map(|v| u64::from(v.count_at_value()))
            .sum()
    }

    /// Number of requests certainly faster than `ms` milliseconds: those in
    /// histogram buckets whose every value is below `ms` (see
    /// [`count_above_ms`](Self::count_above_ms)).
    pub fn count_below_ms(&self, ms: f64) -> u64 {
        let Some(h) = self.hist() else { return 0 };
        if ms.is_nan() {
            return 0;
        }
        let us = ms * 1_000.0;
        h.iter_recorded()
            .filter(|v| (v.value_iterated_to() as f64) < us)
            .map(|v| u64::from(v.count_at_value()))
            .sum()
    }

    /// Recorded values with their counts, ascending: `(latency_ms, count)`
    /// per non-empty histogram bucket. This is the input of rank tests
    /// ([`crate::stats::mann_whitney_u_weighted`]).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.hist().map_or_else(Vec::new, |h| {
            h.iter_recorded()
                .map(|v| {
                    (
                        us_to_ms(v.value_iterated_to()),
                        u64::from(v.count_at_value()),
                    )
                })
                .collect()
        })
    }

    /// Expands the buckets into at most `limit` sample values (in
    /// milliseconds), thinning evenly when there are more; for tests that need
    /// plain slices.
    pub fn samples_ms(&self, limit: usize) -> Vec<f64> {
        let total = self.count();
        if total == 0 || limit == 0 {
            return Vec::new();
        }
        let step = (total as f64 / limit as f64).max(1.0);
        let mut out = Vec::with_capacity(limit.min(usize::try_from(total).unwrap_or(limit)));
        let mut next = step / 2.0;
        let mut seen = 0u64;
        for (value, count) in self.buckets() {
            let end = seen + count;
            while (next as u64) < end && out.len() < limit {
                out.push(value);
                next += step;
            }
            seen = end;
        }
        out
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

/// A custom metric's samples in a window (fed through
/// [`Recorder::record_metric`](crate::Recorder::record_metric)).
///
/// `count`, `mean`, `variance`, `min` and `max` are exact; `samples` holds up
/// to the configured cap per recorder shard and time slot, chosen uniformly
/// at random (reservoir sampling) when more arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricWindow {
    pub(crate) name: String,
    pub(crate) moments: Moments,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) samples: Vec<f64>,
}

impl MetricWindow {
    /// The metric's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of values recorded (exact).
    pub fn count(&self) -> u64 {
        self.moments.count
    }
    /// Count, sum and sum of squares (exact).
    pub fn moments(&self) -> &Moments {
        &self.moments
    }
    /// Mean of all recorded values.
    pub fn mean(&self) -> Option<f64> {
        self.moments.mean()
    }
    /// Sample variance of all recorded values.
    pub fn variance(&self) -> Option<f64> {
        self.moments.variance()
    }
    /// Smallest value.
    pub fn min(&self) -> Option<f64> {
        (self.moments.count > 0).then_some(self.min)
    }
    /// Largest value.
    pub fn max(&self) -> Option<f64> {
        (self.moments.count > 0).then_some(self.max)
    }
    /// Retained samples (all of them up to the cap, then a uniform reservoir).
    pub fn samples(&self) -> &[f64] {
        &self.samples
    }
}

/// The latency distribution of one version since its recorder was created
/// ([`Recorder::cumulative_latency`](crate::Recorder::cumulative_latency)):
/// 1 µs to 60 s at 3 significant figures, counts that only grow.
#[derive(Clone)]
pub struct CumulativeLatency {
    pub(crate) hist: Histogram<u64>,
}

impl std::fmt::Debug for CumulativeLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CumulativeLatency")
            .field("count", &self.count())
            .finish()
    }
}

impl CumulativeLatency {
    /// Requests recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Requests whose latency was at most `upper` (to the histogram's
    /// resolution, 0.1 %): a Prometheus bucket's `le` count.
    pub fn count_at_or_below(&self, upper: Duration) -> u64 {
        let us = upper.as_micros().min(u128::from(u64::MAX)) as u64;
        if self.hist.is_empty() || us == 0 {
            return 0;
        }
        self.hist.count_between(0, us)
    }

    /// The `q`-quantile (`q` in `[0, 1]`), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.hist.is_empty() || !(0.0..=1.0).contains(&q) {
            return None;
        }
        Some(Duration::from_micros(self.hist.value_at_quantile(q)))
    }
}

/// Counters since the recorder was created (not windowed): the input of the
/// sequential test, which measures "since the step started" as the
/// difference of two `Totals` (see [`Totals::since`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Requests recorded.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Latency moments in milliseconds (exact, unclamped up to 60 s).
    pub latency_ms: Moments,
    /// Custom metrics' moments, by name, in the recorder's metric order.
    pub metrics: Vec<(String, Moments)>,
}

impl Totals {
    /// `self − earlier`: what was recorded after `earlier` was taken.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency_ms: self.latency_ms.since(&earlier.latency_ms),
            metrics: self
                .metrics
                .iter()
                .map(|(name, m)| {
                    let before = earlier.metric(name).copied().unwrap_or_default();
                    (name.clone(), m.since(&before))
                })
                .collect(),
        }
    }

    /// A custom metric's moments by name.
    pub fn metric(&self, name: &str) -> Option<&Moments> {
        self.metrics.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }
}

/// A snapshot of one version over a sliding window, merged across shards.
///
/// Built by [`Recorder::window`](crate::Recorder::window); owns its data, so
/// it can be kept, compared and sent to another thread.
#[derive(Debug, Clone)]
pub struct Window {
    pub(crate) version: usize,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latency: Latency,
    pub(crate) metrics: Vec<MetricWindow>,
    pub(crate) outputs: Vec<OutputWindow>,
    pub(crate) totals: Totals,
}

impl Window {
    /// An empty window (no data) for `version` ending at `end`.
    pub fn empty(version: usize, end: Timestamp) -> Window {
        Window::from_totals(version, end, Totals::default())
    }

    /// A window holding only cumulative `totals` (see
    /// [`Recorder::totals`](crate::Recorder::totals)) and no windowed data:
    /// enough for a judge whose checks are all `sequential`, at a fraction of
    /// the cost of [`Recorder::window`](crate::Recorder::window). Windowed
    /// checks see no data (Inconclusive).
    pub fn from_totals(version: usize, end: Timestamp, totals: Totals) -> Window {
        Window {
            version,
            start: end,
            end,
            requests: 0,
            errors: 0,
            latency: Latency::empty(),
            metrics: Vec::new(),
            outputs: Vec::new(),
            totals,
        }
    }

    /// The version index this window describes.
    pub fn version(&self) -> usize {
        self.version
    }
    /// Start of the time covered (slot-aligned, so possibly before `end − span`).
    pub fn start(&self) -> Timestamp {
        self.start
    }
    /// End of the time covered (the `now` the window was taken at).
    pub fn end(&self) -> Timestamp {
        self.end
    }
    /// Requests recorded in the window.
    pub fn requests(&self) -> u64 {
        self.requests
    }
    /// Of which errors.
    pub fn errors(&self) -> u64 {
        self.errors
    }
    /// `errors / requests`, or `None` without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
    /// The latency distribution.
    pub fn latency(&self) -> &Latency {
        &self.latency
    }
    /// A custom metric by name (`None` if the recorder has no such metric).
    pub fn metric(&self, name: &str) -> Option<&MetricWindow> {
        self.metrics.iter().find(|m| m.name == name)
    }
    /// All custom metrics, in the recorder's order.
    pub fn metrics(&self) -> &[MetricWindow] {
        &self.metrics
    }
    /// A model output by name: its distribution (numeric: quantiles, mean,
    /// count, buckets) or its label counts (categorical); `None` if the
    /// recorder has no such output.
    pub fn output(&self, name: &str) -> Option<&OutputWindow> {
        self.outputs.iter().find(|o| o.name == name)
    }
    /// All model outputs, in the recorder's order.
    pub fn outputs(&self) -> &[OutputWindow] {
        &self.outputs
    }
    /// Adds an output window (e.g. one decoded from another replica and
    /// merged), replacing the one of the same name.
    pub fn set_output(&mut self, output: OutputWindow) {
        match self.outputs.iter_mut().find(|o| o.name == output.name) {
            Some(o) => *o = output,
            None => self.outputs.push(output),
        }
    }
    /// Cumulative counters since the recorder was created, as of `end`.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }
}
