//! The rollout's history per version: a compact summary of every tick.
//!
//! Each [`Controller::tick`](super::Controller::tick) adds one point on the
//! control path, at its start (never on the request path): for the candidate and the
//! baseline, the requests and errors recorded since the previous point, the
//! p50 and p99 latency, and the count and mean of every feedback metric
//! the plan declares. [`Controller::series`](super::Controller::series)
//! reads it back, from a given time on, for charts.
//!
//! # Resolution and memory
//!
//! The newest points (by default the last hour, at most 3,600 points) keep
//! tick resolution. Older points are merged into one point per minute
//! ([`SeriesConfig::bucket`]) and kept for a day ([`SeriesConfig::keep`]);
//! anything older is dropped. So the history never grows beyond
//! [`SeriesConfig::max_points`] points, about
//! [`SeriesConfig::memory_bound`] bytes: with the defaults, 3,600 recent
//! points and 1,381 merged ones (23 h of minutes and one partial), of 168
//! bytes plus 32 bytes per declared metric: 0.84 MB for a plan without
//! feedback metrics, 1.16 MB with two.
//!
//! # What a point holds
//!
//! - `requests`, `errors` and each metric's `count` and `mean` are exact for
//!   the point's span: differences of the recorder's cumulative totals
//!   between two ticks.
//! - `p50_ms` and `p99_ms` come from the recorder's window over the span,
//!   the same kind of window the gates read. Windows are aligned on the
//!   recorder's slots, so a quantile may include up to one slot before the
//!   span. They are `null` when the span holds no request.
//! - `step` and `weight_bps` are those in effect when the span ended, before
//!   the tick's own decisions: what the span's requests were served under.
//!
//! Taking a point reads two recorder windows over the tick's span: about
//! 0.05 to 0.25 ms a tick in release builds on a 2-core machine, before the
//! gates read theirs (so the recorder's cached merge for the gates' longer
//! window is not evicted).
//!
//! Merging points into a coarser one sums the counts (requests, errors,
//! metric counts and sums, so metric means stay exact), takes the p50 as the
//! request-weighted mean of the merged p50s and the p99 as their maximum
//! (the worst tick stays visible in old history), and keeps the step and
//! weight of the latest merged tick. A merged point's `at` is its latest
//! tick's, its `span_ms` the sum of the merged spans.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::stats::Moments;
use fledge_gate::{Test, Totals};
use serde::{Deserialize, Serialize};

/// How much history the controller keeps; see the [module docs](crate::control::series).
///
/// ```
/// use std::time::Duration;
/// use fledge_rollout::control::SeriesConfig;
///
/// let config = SeriesConfig::default()
///     .recent(Duration::from_secs(30 * 60))
///     .keep(Duration::from_secs(6 * 3600));
/// // 30 min of 1 s ticks, then 5.5 h of minutes (and a partial one).
/// assert_eq!(config.max_points(), 1_800 + 331);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesConfig {
    recent: Duration,
    recent_points: usize,
    bucket: Duration,
    keep: Duration,
}

impl Default for SeriesConfig {
    /// The last hour at tick resolution (at most 3,600 points), older ticks
    /// merged per minute, a day in all.
    fn default() -> Self {
        SeriesConfig {
            recent: Duration::from_secs(3600),
            recent_points: 3600,
            bucket: Duration::from_secs(60),
            keep: Duration::from_secs(24 * 3600),
        }
    }
}

impl SeriesConfig {
    /// No history: ticks take no sample and [`Controller::series`](super::Controller::series)
    /// answers no points.
    pub fn off() -> Self {
        SeriesConfig {
            recent: Duration::ZERO,
            recent_points: 0,
            bucket: Duration::from_secs(60),
            keep: Duration::ZERO,
        }
    }

    /// How long points keep tick resolution (default 1 h); at most one
    /// point per second of it is kept (a faster tick keeps a shorter time
    /// at full resolution).
    pub fn recent(mut self, recent: Duration) -> Self {
        self.recent = recent;
        self.recent_points = usize::try_from(recent.as_secs()).unwrap_or(usize::MAX);
        self
    }

    /// The span of a merged point (default 1 min, at least 1 s).
    pub fn bucket(mut self, bucket: Duration) -> Self {
        self.bucket = bucket.max(Duration::from_secs(1));
        self
    }

    /// How long any point is kept (default 24 h).
    pub fn keep(mut self, keep: Duration) -> Self {
        self.keep = keep;
        self
    }

    /// Whether ticks record history.
    pub fn is_on(&self) -> bool {
        !self.keep.is_zero()
    }

    /// The most points kept: those at tick resolution, plus one merged
    /// point per bucket of the rest of [`keep`](Self::keep) (and one for a
    /// partial bucket).
    pub fn max_points(&self) -> usize {
        if !self.is_on() {
            return 0;
        }
        self.recent_points.max(1) + self.max_merged()
    }

    fn max_merged(&self) -> usize {
        let rest = self.keep.saturating_sub(self.recent).as_millis();
        let bucket = self.bucket.as_millis().max(1);
        usize::try_from(rest.div_ceil(bucket)).unwrap_or(usize::MAX) + 1
    }

    /// An upper bound of the memory the history takes, in bytes, for a plan
    /// declaring `metrics` feedback metrics (the points themselves and their
    /// metric sums; allocator overhead aside).
    pub fn memory_bound(&self, metrics: usize) -> usize {
        self.max_points()
            .saturating_mul(Point::SIZE + 2 * metrics * std::mem::size_of::<MetricSum>())
    }

    fn bucket_ms(&self) -> u64 {
        u64::try_from(self.bucket.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// `GET /rollouts/{name}/series` in `fledge-admin`: the history of a
/// rollout from some time on. Serializes to the admin API's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The rollout's name.
    pub rollout: String,
    /// The versions, in the order of each point's `versions`: the candidate,
    /// then the baseline.
    pub versions: Vec<String>,
    /// The version being rolled out.
    pub candidate: String,
    /// The version serving today.
    pub baseline: String,
    /// The bounds of the plan's threshold gates, to draw on charts.
    pub limits: Vec<SeriesLimit>,
    /// The points after `since`, oldest first.
    pub points: Vec<SeriesPoint>,
    /// The `since` to ask for next: the last point's `at` (or the `since`
    /// asked for, when no point is newer).
    pub next: Timestamp,
}

/// A threshold gate's bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesLimit {
    /// The gate's label.
    pub gate: String,
    /// Its metric (`latency_p99`, `error_rate`, a feedback metric).
    pub metric: String,
    /// The most the candidate may have (ms for latency, a fraction for the error rate).
    pub max: Option<f64>,
    /// The least the candidate may have.
    pub min: Option<f64>,
}

/// One point of the history: what each version served over `span_ms`
/// milliseconds up to `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// The end of the span (ms since the Unix epoch).
    pub at: Timestamp,
    /// How long the span is, in milliseconds.
    pub span_ms: u64,
    /// The step in effect (from 0; `null` before the first step).
    pub step: Option<usize>,
    /// The candidate's weight in effect, in basis points (500 = 5 %).
    pub weight_bps: u32,
    /// One entry per version, in [`Series::versions`] order.
    pub versions: Vec<VersionPoint>,
}

/// One version over one point's span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionPoint {
    /// The version.
    pub id: String,
    /// Requests recorded in the span.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Median latency in ms (`null` without requests).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency in ms (`null` without requests).
    pub p99_ms: Option<f64>,
    /// Every feedback metric the plan declares, by name.
    pub metrics: BTreeMap<String, MetricMean>,
}

/// A feedback metric over one point's span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricMean {
    /// Values recorded.
    pub count: u64,
    /// Their mean (`null` when none).
    pub mean: Option<f64>,
}

/// The limits of a plan's threshold gates.
pub(crate) fn limits_of(plan: &crate::plan::Plan) -> Vec<SeriesLimit> {
    plan.gates
        .iter()
        .filter_map(|gate| match gate.test {
            Test::Threshold { max, min } => Some(SeriesLimit {
                gate: gate.label(),
                metric: gate.metric.to_string(),
                max,
                min,
            }),
            _ => None,
        })
        .collect()
}

/// What a tick read for one version: cumulative totals and the span's quantiles.
#[derive(Debug, Clone)]
pub(crate) struct VersionSample {
    pub(crate) totals: Totals,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
}

/// What a tick read: the candidate's and the baseline's samples.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) at: Timestamp,
    pub(crate) step: Option<usize>,
    pub(crate) weight_bps: u32,
    /// Candidate, baseline.
    pub(crate) versions: [VersionSample; 2],
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MetricSum {
    count: u64,
    sum: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct Stats {
    requests: u64,
    errors: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// In the ring's metric order.
    metrics: Box<[MetricSum]>,
}

impl Stats {
    fn merge(&mut self, other: &Stats) {
        let total = self.requests + other.requests;
        self.p50_ms = match (self.p50_ms, other.p50_ms) {
            (Some(a), Some(b)) if total > 0 => {
                Some((a * self.requests as f64 + b * other.requests as f64) / total as f64)
            }
            (a, b) => a.or(b),
        };
        self.p99_ms = match (self.p99_ms, other.p99_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.requests = total;
        self.errors += other.errors;
        for (a, b) in self.metrics.iter_mut().zip(other.metrics.iter()) {
            a.count += b.count;
            a.sum += b.sum;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Point {
    at: Timestamp,
    span_ms: u64,
    step: Option<usize>,
    weight_bps: u32,
    /// Candidate, baseline.
    versions: [Stats; 2],
}

impl Point {
    /// Bytes of one point, its metric sums aside.
    const SIZE: usize = std::mem::size_of::<Point>();

    fn merge(&mut self, later: &Point) {
        self.at = later.at;
        self.span_ms = self.span_ms.saturating_add(later.span_ms);
        self.step = later.step;
        self.weight_bps = later.weight_bps;
        for (a, b) in self.versions.iter_mut().zip(later.versions.iter()) {
            a.merge(b);
        }
    }
}

/// The bounded history: points at tick resolution, then merged ones.
#[derive(Debug)]
pub(crate) struct SeriesRing {
    config: SeriesConfig,
    metrics: Vec<String>,
    /// Merged points, oldest first, each at most one bucket.
    merged: VecDeque<Point>,
    /// Points at tick resolution, oldest first, all newer than `merged`.
    recent: VecDeque<Point>,
    /// The previous sample's time and cumulative totals.
    last_at: Timestamp,
    last: [Totals; 2],
}

impl SeriesRing {
    /// An empty history for `metrics`, starting at `start` (the first point
    /// spans from there).
    pub(crate) fn new(config: SeriesConfig, metrics: Vec<String>, start: Timestamp) -> Self {
        SeriesRing {
            config,
            metrics,
            merged: VecDeque::new(),
            recent: VecDeque::new(),
            last_at: start,
            last: [Totals::default(), Totals::default()],
        }
    }

    pub(crate) fn config(&self) -> &SeriesConfig {
        &self.config
    }

    /// The previous sample's time (the controller's start before the first).
    pub(crate) fn last_at(&self) -> Timestamp {
        self.last_at
    }

    /// Points held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.merged.len() + self.recent.len()
    }

    /// Adds the point from the previous sample to `sample`. A sample not
    /// after the previous one is ignored (time never goes back).
    pub(crate) fn push(&mut self, sample: Sample) {
        if !self.config.is_on() || sample.at <= self.last_at {
            return;
        }
        let span_ms = sample.at.as_millis() - self.last_at.as_millis();
        let mut versions = sample.versions.into_iter();
        let stats: [Stats; 2] = std::array::from_fn(|i| {
            let v = versions.next().unwrap_or_else(|| VersionSample {
                totals: Totals::default(),
                p50_ms: None,
                p99_ms: None,
            });
            let stats = self.stats(&self.last[i], &v);
            self.last[i] = v.totals;
            stats
        });
        self.last_at = sample.at;
        self.recent.push_back(Point {
            at: sample.at,
            span_ms,
            step: sample.step,
            weight_bps: sample.weight_bps,
            versions: stats,
        });
        self.compact(sample.at);
    }

    /// The span's figures: totals now minus totals at the previous sample.
    fn stats(&self, before: &Totals, now: &VersionSample) -> Stats {
        let delta = now.totals.since(before);
        let finite = |x: Option<f64>| x.filter(|v| v.is_finite());
        let served = delta.requests > 0;
        Stats {
            requests: delta.requests,
            errors: delta.errors,
            p50_ms: finite(now.p50_ms).filter(|_| served),
            p99_ms: finite(now.p99_ms).filter(|_| served),
            metrics: self
                .metrics
                .iter()
                .map(|name| {
                    let m = delta.metric(name).copied().unwrap_or_default();
                    MetricSum {
                        count: m.count,
                        sum: m.sum,
                    }
                })
                .collect(),
        }
    }

    /// Merges points older than `recent` (or beyond its count) into
    /// buckets, and drops what is older than `keep`.
    fn compact(&mut self, now: Timestamp) {
        let config = self.config;
        let fine_from = now.saturating_sub(config.recent);
        // The newest point stays at tick resolution: a client's `since` is
        // always a recent point's `at`, never a merged one's.
        while self.recent.len() > 1
            && (self.recent.len() > config.recent_points.max(1)
                || self.recent.front().is_some_and(|p| p.at <= fine_from))
        {
            let Some(point) = self.recent.pop_front() else {
                break;
            };
            let bucket = config.bucket_ms();
            let key = |p: &Point| p.at.as_millis().saturating_sub(1) / bucket;
            match self.merged.back_mut() {
                Some(last) if key(last) == key(&point) => last.merge(&point),
                _ => self.merged.push_back(point),
            }
        }
        let keep_from = now.saturating_sub(config.keep);
        let max_merged = config.max_merged();
        while self.merged.len() > max_merged
            || self.merged.front().is_some_and(|p| p.at <= keep_from)
        {
            self.merged.pop_front();
        }
        while self.recent.len() > 1 && self.recent.front().is_some_and(|p| p.at <= keep_from) {
            self.recent.pop_front();
        }
    }

    /// The points after `since`, oldest first.
    pub(crate) fn points(
        &self,
        since: Timestamp,
        ids: &[String; 2],
    ) -> (Vec<SeriesPoint>, Timestamp) {
        let points: Vec<SeriesPoint> = self
            .merged
            .iter()
            .chain(self.recent.iter())
            .filter(|p| p.at > since)
            .map(|p| self.view(p, ids))
            .collect();
        let next = points.last().map_or(since, |p| p.at);
        (points, next)
    }

    fn view(&self, point: &Point, ids: &[String; 2]) -> SeriesPoint {
        SeriesPoint {
            at: point.at,
            span_ms: point.span_ms,
            step: point.step,
            weight_bps: point.weight_bps,
            versions: point
                .versions
                .iter()
                .zip(ids)
                .map(|(s, id)| VersionPoint {
                    id: id.clone(),
                    requests: s.requests,
                    errors: s.errors,
                    p50_ms: s.p50_ms,
                    p99_ms: s.p99_ms,
                    metrics: self
                        .metrics
                        .iter()
                        .zip(s.metrics.iter())
                        .map(|(name, m)| {
                            let moments = Moments {
                                count: m.count,
                                sum: m.sum,
                                sum_sq: 0.0,
                            };
                            let mean = moments.mean().filter(|x| x.is_finite());
                            (
                                name.clone(),
                                MetricMean {
                                    count: m.count,
                                    mean,
                                },
                            )
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_733_490_000_000;

    fn totals(requests: u64, errors: u64, metric: Option<(u64, f64)>) -> Totals {
        Totals {
            requests,
            errors,
            latency_ms: Moments::default(),
            metrics: metric
                .map(|(count, sum)| {
                    vec![(
                        "abs_error".to_owned(),
                        Moments {
                            count,
                            sum,
                            sum_sq: 0.0,
                        },
                    )]
                })
                .unwrap_or_default(),
        }
    }

    fn sample(at_ms: u64, candidate: Totals, baseline: Totals, p: (f64, f64)) -> Sample {
        Sample {
            at: Timestamp::from_millis(at_ms),
            step: Some(0),
            weight_bps: 500,
            versions: [
                VersionSample {
                    totals: candidate,
                    p50_ms: Some(p.0),
                    p99_ms: Some(p.1),
                },
                VersionSample {
                    totals: baseline,
                    p50_ms: Some(p.0),
                    p99_ms: Some(p.1),
                },
            ],
        }
    }

    fn ids() -> [String; 2] {
        ["v2".to_owned(), "v1".to_owned()]
    }

    fn ring(config: SeriesConfig) -> SeriesRing {
        SeriesRing::new(
            config,
            vec!["abs_error".to_owned()],
            Timestamp::from_millis(T0),
        )
    }

    #[test]
    fn a_point_holds_the_differences_since_the_previous_tick() {
        let mut r = ring(SeriesConfig::default());
        r.push(sample(
            T0 + 1000,
            totals(10, 1, Some((4, 8.0))),
            totals(100, 0, None),
            (3.0, 9.0),
        ));
        r.push(sample(
            T0 + 2000,
            totals(25, 1, Some((6, 14.0))),
            totals(100, 0, None),
            (4.0, 12.0),
        ));
        let (points, next) = r.points(Timestamp::EPOCH, &ids());
        assert_eq!(points.len(), 2);
        assert_eq!(next, Timestamp::from_millis(T0 + 2000));
        let second = &points[1];
        assert_eq!(second.span_ms, 1000);
        assert_eq!(second.versions[0].id, "v2");
        assert_eq!(second.versions[0].requests, 15);
        assert_eq!(second.versions[0].errors, 0);
        assert_eq!(second.versions[0].p99_ms, Some(12.0));
        assert_eq!(
            second.versions[0].metrics["abs_error"],
            MetricMean {
                count: 2,
                mean: Some(3.0)
            }
        );
        // No request in the span: no quantiles, whatever the window said.
        assert_eq!(second.versions[1].requests, 0);
        assert_eq!(second.versions[1].p50_ms, None);
        assert_eq!(
            second.versions[1].metrics["abs_error"],
            MetricMean {
                count: 0,
                mean: None
            }
        );
    }

    #[test]
    fn since_filters_and_next_follows() {
        let mut r = ring(SeriesConfig::default());
        for i in 1..=5 {
            r.push(sample(
                T0 + i * 1000,
                totals(i, 0, None),
                totals(i, 0, None),
                (1.0, 2.0),
            ));
        }
        let (points, next) = r.points(Timestamp::from_millis(T0 + 3000), &ids());
        let ats: Vec<u64> = points.iter().map(|p| p.at.as_millis()).collect();
        assert_eq!(ats, [T0 + 4000, T0 + 5000]);
        assert_eq!(next, Timestamp::from_millis(T0 + 5000));
        let (points, next) = r.points(next, &ids());
        assert!(points.is_empty());
        assert_eq!(next, Timestamp::from_millis(T0 + 5000));
        // A time going back is ignored.
        r.push(sample(
            T0 + 4500,
            totals(9, 0, None),
            totals(9, 0, None),
            (1.0, 2.0),
        ));
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn merged_points_sum_counts_weight_p50_and_keep_the_worst_p99() {
        let mut a = Stats {
            requests: 10,
            errors: 1,
            p50_ms: Some(2.0),
            p99_ms: Some(10.0),
            metrics: vec![MetricSum { count: 2, sum: 4.0 }].into(),
        };
        let b = Stats {
            requests: 30,
            errors: 2,
            p50_ms: Some(4.0),
            p99_ms: Some(8.0),
            metrics: vec![MetricSum { count: 2, sum: 8.0 }].into(),
        };
        a.merge(&b);
        assert_eq!((a.requests, a.errors), (40, 3));
        assert_eq!(a.p50_ms, Some(3.5));
        assert_eq!(a.p99_ms, Some(10.0));
        assert_eq!(
            a.metrics[0],
            MetricSum {
                count: 4,
                sum: 12.0
            }
        );
        // A side without data leaves the other's quantiles.
        let mut empty = Stats {
            requests: 0,
            errors: 0,
            p50_ms: None,
            p99_ms: None,
            metrics: vec![MetricSum::default()].into(),
        };
        empty.merge(&a);
        assert_eq!((empty.p50_ms, empty.p99_ms), (Some(3.5), Some(10.0)));
    }

    #[test]
    fn old_ticks_merge_per_bucket_and_counts_are_kept() {
        let config = SeriesConfig::default()
            .recent(Duration::from_secs(10))
            .bucket(Duration::from_secs(60))
            .keep(Duration::from_secs(3600));
        let mut r = ring(config);
        // 3 minutes of 1 s ticks, 2 requests per tick on each side.
        for i in 1..=180 {
            r.push(sample(
                T0 + i * 1000,
                totals(2 * i, 0, Some((i, i as f64))),
                totals(2 * i, 0, None),
                (1.0, i as f64),
            ));
        }
        let (points, _) = r.points(Timestamp::EPOCH, &ids());
        assert_eq!(r.recent.len(), 10);
        // T0 is on a minute boundary: minutes 1 and 2 whole, minute 3 partial.
        assert_eq!(r.merged.len(), 3);
        assert_eq!(points.len(), 13);
        let total: u64 = points.iter().map(|p| p.versions[0].requests).sum();
        assert_eq!(total, 360);
        let span: u64 = points.iter().map(|p| p.span_ms).sum();
        assert_eq!(span, 180_000);
        let first = &points[0];
        assert_eq!(first.at, Timestamp::from_millis(T0 + 60_000));
        assert_eq!(first.span_ms, 60_000);
        assert_eq!(first.versions[0].requests, 120);
        assert_eq!(first.versions[0].p99_ms, Some(60.0));
        assert_eq!(first.versions[0].metrics["abs_error"].count, 60);
        // Times are increasing.
        assert!(points.windows(2).all(|w| w[0].at < w[1].at));
    }

    #[test]
    fn the_ring_is_bounded_by_count_too() {
        let config = SeriesConfig::default()
            .recent(Duration::from_secs(100))
            .keep(Duration::from_secs(600));
        let mut r = ring(config);
        // 100 ms ticks: 1,000 ticks in 100 s, but at most 100 recent points.
        for i in 1..=1000 {
            r.push(sample(
                T0 + i * 100,
                totals(i, 0, None),
                totals(i, 0, None),
                (1.0, 2.0),
            ));
        }
        assert_eq!(r.recent.len(), 100);
        assert!(r.len() <= config.max_points());
        let total: u64 = r
            .points(Timestamp::EPOCH, &ids())
            .0
            .iter()
            .map(|p| p.versions[0].requests)
            .sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn forty_eight_hours_of_ticks_stay_within_the_bound() {
        let config = SeriesConfig::default();
        let mut r = ring(config);
        let mut most = 0;
        let hours = 48;
        for i in 1..=hours * 3600 {
            r.push(sample(
                T0 + i * 1000,
                totals(i, 0, Some((i, 1.5 * i as f64))),
                totals(3 * i, 0, None),
                (1.0, 2.0),
            ));
            most = most.max(r.len());
        }
        assert_eq!(config.max_points(), 3600 + 1381);
        assert!(most <= config.max_points(), "{most} points");
        assert_eq!(r.recent.len(), 3600);
        // The oldest point kept is less than 24 h old.
        let (points, _) = r.points(Timestamp::EPOCH, &ids());
        let now = T0 + hours * 3600 * 1000;
        assert!(points[0].at.as_millis() > now - 24 * 3600 * 1000);
        assert!(points[0].at.as_millis() <= now - 23 * 3600 * 1000);
        assert_eq!(points[0].versions[0].metrics["abs_error"].mean, Some(1.5));
        // Capacity does not creep either.
        assert!(r.recent.capacity() < 2 * 3600 + 64);
        assert!(r.merged.capacity() < 2 * 1381 + 64);
    }

    #[test]
    fn memory_bound_is_stated_in_bytes() {
        let config = SeriesConfig::default();
        assert_eq!(Point::SIZE, 168, "update the module docs");
        assert_eq!(config.memory_bound(0), config.max_points() * 168);
        assert!(config.memory_bound(2) < 1_300_000);
        assert_eq!(SeriesConfig::off().max_points(), 0);
    }

    #[test]
    fn off_records_nothing() {
        let mut r = ring(SeriesConfig::off());
        r.push(sample(
            T0 + 1000,
            totals(1, 0, None),
            totals(1, 0, None),
            (1.0, 2.0),
        ));
        assert_eq!(r.len(), 0);
    }
}
