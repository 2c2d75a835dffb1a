//! Exposition: fledge's live figures in a `prometheus-client` registry.
//!
//! [`FledgeCollector`] implements prometheus-client's
//! [`Collector`]: nothing is recorded twice and the request path gains no
//! work. At each scrape it reads the gate recorder's cumulative
//! [`Totals`] (one uncontended lock per shard, no
//! histogram merge), the controller's state and event log, and — unless
//! quantiles are turned off — one latency window per version (a merge of
//! the window's time slots, the same work as a control-path tick).
//!
//! The metric names and labels are listed in the [crate docs](crate#metrics).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use fledge_gate::clock::{Clock, SystemClock};
use fledge_gate::{Recorder, Totals};
use fledge_rollout::Controller;
use fledge_rollout::log::{kind_name, phase_name};
use fledge_rollout::machine::{EventKind, Outcome, PhaseName};

/// The content type of [`render`]'s output (OpenMetrics text 1.0.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why a registry could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A metric or collector in the registry failed to encode itself (a
    /// collector of another crate; fledge's own cannot fail).
    #[error(
        "a metric in the registry failed to encode: check the collectors registered next to fledge's"
    )]
    Encode,
}

/// Renders `registry` as OpenMetrics text (serve it with [`CONTENT_TYPE`]).
///
/// ```
/// use prometheus_client::registry::Registry;
///
/// let registry = Registry::default();
/// let text = fledge_prometheus::render(&registry)?;
/// assert!(text.ends_with("# EOF\n"));
/// # Ok::<(), fledge_prometheus::RenderError>(())
/// ```
pub fn render(registry: &Registry) -> Result<String, RenderError> {
    let mut out = String::with_capacity(4096);
    prometheus_client::encoding::text::encode(&mut out, registry)
        .map_err(|_| RenderError::Encode)?;
    Ok(out)
}

/// The default latency quantiles.
const DEFAULT_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The quantile window when no step is in effect.
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

enum Source {
    Controller(Arc<Controller>),
    Recorder {
        rollout: String,
        recorder: Arc<Recorder>,
        versions: Vec<String>,
        clock: Arc<dyn Clock>,
    },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Controller(c) => f.debug_tuple("Controller").field(c).finish(),
            Source::Recorder {
                rollout, versions, ..
            } => f
                .debug_struct("Recorder")
                .field("rollout", rollout)
                .field("versions", versions)
                .finish_non_exhaustive(),
        }
    }
}

/// Reads fledge's controllers and recorders at scrape time.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use prometheus_client::registry::Registry;
/// use fledge_prometheus::FledgeCollector;
/// use fledge_rollout::{Controller, plan::PlanBuilder};
///
/// let plan = PlanBuilder::canary("checkout", "v1", "v2").build()?;
/// let controller = Arc::new(Controller::builder(plan).build()?);
/// let mut registry = Registry::default();
/// FledgeCollector::new()
///     .controller(controller.clone())
///     .quantiles([0.5, 0.99])
///     .register(&mut registry);
///
/// let routing = controller.routing();
/// routing.recorder().record(routing.candidate().get(), Duration::from_millis(12), false);
/// let text = fledge_prometheus::render(&registry)?;
/// assert!(text.contains(r#"fledge_requests_total{rollout="checkout",version="v2"} 1"#));
/// assert!(text.contains(r#"fledge_traffic_weight_ratio{rollout="checkout",version="v2"} 0.05"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FledgeCollector {
    sources: Vec<Source>,
    quantiles: Vec<(f64, String)>,
    window: Option<Duration>,
    buckets: Vec<Duration>,
}

/// The latency histogram's default bucket bounds (`le`), in seconds: 1 ms to
/// 10 s, with 50 ms (a typical p99 budget) among them.
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for FledgeCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl FledgeCollector {
    /// A collector with no sources yet, quantiles 0.5, 0.9 and 0.99.
    pub fn new() -> Self {
        FledgeCollector {
            sources: Vec::new(),
            quantiles: Vec::new(),
            window: None,
            buckets: DEFAULT_LATENCY_BUCKETS
                .iter()
                .map(|s| Duration::from_secs_f64(*s))
                .collect(),
        }
        .quantiles(DEFAULT_QUANTILES)
    }

    /// The latency histogram's bucket bounds (default
    /// [`DEFAULT_LATENCY_BUCKETS`]); sorted, duplicates and zero dropped. An
    /// empty list leaves only the `+Inf` bucket (and the scrape skips
    /// merging the recorder's histograms).
    pub fn latency_buckets(mut self, buckets: impl IntoIterator<Item = Duration>) -> Self {
        let mut b: Vec<Duration> = buckets.into_iter().filter(|d| !d.is_zero()).collect();
        b.sort_unstable();
        b.dedup();
        self.buckets = b;
        self
    }

    /// Exposes a controller's rollout: traffic, phase, step, events,
    /// judgement, and its recorder's figures per version. Its rollout label
    /// is the plan's name; windows are taken at the controller's clock.
    pub fn controller(mut self, controller: Arc<Controller>) -> Self {
        self.sources.push(Source::Controller(controller));
        self
    }

    /// Exposes a recorder that no controller owns (an A/B test, a bandit,
    /// static routes): requests, errors, latency and custom metrics, under
    /// `rollout`, with `versions[i]` naming variant `i` (variants without a
    /// name are labelled by their index). Windows use the system clock.
    pub fn recorder<I, S>(
        self,
        rollout: impl Into<String>,
        recorder: Arc<Recorder>,
        versions: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.recorder_with_clock(rollout, recorder, versions, Arc::new(SystemClock))
    }

    /// [`recorder`](Self::recorder) with the clock the recorder's windows
    /// are taken at (the one its control loop uses).
    pub fn recorder_with_clock<I, S>(
        mut self,
        rollout: impl Into<String>,
        recorder: Arc<Recorder>,
        versions: I,
        clock: Arc<dyn Clock>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut versions: Vec<String> = versions.into_iter().map(Into::into).collect();
        for i in versions.len()..recorder.versions() {
            versions.push(i.to_string());
        }
        versions.truncate(recorder.versions());
        self.sources.push(Source::Recorder {
            rollout: rollout.into(),
            recorder,
            versions,
            clock,
        });
        self
    }

    /// The latency quantiles exposed (values outside `[0, 1]` are dropped).
    /// An empty list turns the windows off: scrapes then read totals only.
    pub fn quantiles(mut self, quantiles: impl IntoIterator<Item = f64>) -> Self {
        self.quantiles = quantiles
            .into_iter()
            .filter(|q| (0.0..=1.0).contains(q))
            .map(|q| (q, q.to_string()))
            .collect();
        self
    }

    /// The window the quantiles cover (default: a controller's current step
    /// bake time, which lets the scrape reuse the tick's merged slots, else
    /// 60 s; cut to the recorder's capacity).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Registers the collector in `registry`.
    pub fn register(self, registry: &mut Registry) {
        registry.register_collector(Box::new(self));
    }

    fn snapshot(&self) -> Vec<Snap> {
        self.sources.iter().map(|s| self.snap(s)).collect()
    }

    fn snap(&self, source: &Source) -> Snap {
        match source {
            Source::Controller(c) => {
                let routing = c.routing();
                let recorder = routing.recorder();
                let state = c.state();
                let checked = c.checked_plan();
                let plan = checked.plan();
                let now = c.now();
                let span = self
                    .window
                    .or_else(|| state.step.and_then(|i| checked.step(i)).map(|s| s.interval))
                    .unwrap_or(DEFAULT_WINDOW);
                let weight = f64::from(state.traffic.candidate.bps()) / 10_000.0;
                let sides = [
                    (routing.candidate(), plan.candidate.as_str(), weight),
                    (routing.baseline(), plan.baseline.as_str(), 1.0 - weight),
                ];
                let versions = sides
                    .iter()
                    .map(|&(index, name, weight)| VersionSnap {
                        name: name.to_owned(),
                        totals: recorder.totals(index.get()).unwrap_or_default(),
                        buckets: self.buckets_of(recorder, index.get()),
                        quantiles: self.quantiles_of(recorder, index.get(), now, span),
                        weight: Some(weight),
                    })
                    .collect();
                let mut events = [0u64; EVENT_KINDS.len()];
                for event in c.events() {
                    if let Some(i) = EVENT_KINDS.iter().position(|k| *k == event.kind) {
                        events[i] += 1;
                    }
                }
                Snap {
                    rollout: plan.name.clone(),
                    versions,
                    dropped: recorder.dropped(),
                    control: Some(ControlSnap {
                        baseline: plan.baseline.as_str().to_owned(),
                        candidate: plan.candidate.as_str().to_owned(),
                        phase: state.phase.name(),
                        step: state.step,
                        steps: checked.steps().len(),
                        attempt: state.attempt,
                        mirror: f64::from(state.traffic.mirror.bps()) / 10_000.0,
                        events,
                        judgement: c.last_judgement().map(|j| j.outcome),
                    }),
                }
            }
            Source::Recorder {
                rollout,
                recorder,
                versions,
                clock,
            } => {
                let now = clock.now();
                let span = self.window.unwrap_or(DEFAULT_WINDOW);
                Snap {
                    rollout: rollout.clone(),
                    versions: versions
                        .iter()
                        .enumerate()
                        .map(|(i, name)| VersionSnap {
                            name: name.clone(),
                            totals: recorder.totals(i).unwrap_or_default(),
                            buckets: self.buckets_of(recorder, i),
                            quantiles: self.quantiles_of(recorder, i, now, span),
                            weight: None,
                        })
                        .collect(),
                    dropped: recorder.dropped(),
                    control: None,
                }
            }
        }
    }

    fn buckets_of(&self, recorder: &Recorder, variant: usize) -> Vec<(f64, u64)> {
        if self.buckets.is_empty() {
            return Vec::new();
        }
        let Ok(latency) = recorder.cumulative_latency(variant) else {
            return Vec::new();
        };
        self.buckets
            .iter()
            .map(|b| (b.as_secs_f64(), latency.count_at_or_below(*b)))
            .collect()
    }

    fn quantiles_of(
        &self,
        recorder: &Recorder,
        variant: usize,
        now: fledge_gate::clock::Timestamp,
        span: Duration,
    ) -> Vec<f64> {
        if self.quantiles.is_empty() {
            return Vec::new();
        }
        let window = recorder.window(variant, now, span).ok();
        self.quantiles
            .iter()
            .map(|(q, _)| {
                window
                    .as_ref()
                    .and_then(|w| w.latency().quantile(*q))
                    .map_or(f64::NAN, |d| d.as_secs_f64())
            })
            .collect()
    }
}

/// Every event kind, in the order counters are written; its `kind` label is
/// [`kind_name`] (its serde name).
const EVENT_KINDS: [EventKind; 14] = [
    EventKind::Started,
    EventKind::StepTaken,
    EventKind::AwaitingApproval,
    EventKind::Paused,
    EventKind::Resumed,
    EventKind::Frozen,
    EventKind::Promoted,
    EventKind::RolledBack,
    EventKind::Aborted,
    EventKind::Restarted,
    EventKind::WeightSet,
    EventKind::FailureCounted,
    EventKind::InconclusiveCounted,
    EventKind::Rejected,
];

/// Every phase; its `phase` label is [`phase_name`] (its serde name).
const PHASES: [PhaseName; 7] = [
    PhaseName::Progressing,
    PhaseName::Paused,
    PhaseName::AwaitingApproval,
    PhaseName::Frozen,
    PhaseName::Promoted,
    PhaseName::RolledBack,
    PhaseName::Aborted,
];

const OUTCOMES: [(Outcome, &str); 3] = [
    (Outcome::Pass, "pass"),
    (Outcome::Fail, "fail"),
    (Outcome::Inconclusive, "inconclusive"),
];

struct VersionSnap {
    name: String,
    totals: Totals,
    /// `(le in seconds, requests at or below)` per configured bucket.
    buckets: Vec<(f64, u64)>,
    /// Seconds, one per configured quantile (NaN without data).
    quantiles: Vec<f64>,
    /// The share of traffic (controllers only).
    weight: Option<f64>,
}

struct ControlSnap {
    baseline: String,
    candidate: String,
    phase: PhaseName,
    step: Option<usize>,
    steps: usize,
    attempt: u32,
    mirror: f64,
    events: [u64; EVENT_KINDS.len()],
    judgement: Option<Outcome>,
}

struct Snap {
    rollout: String,
    versions: Vec<VersionSnap>,
    dropped: u64,
    control: Option<ControlSnap>,
}

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

impl Collector for FledgeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let snaps = self.snapshot();
        if snaps.is_empty() {
            return Ok(());
        }
        let versions = || {
            snaps
                .iter()
                .flat_map(|s| s.versions.iter().map(move |v| (s.rollout.as_str(), v)))
        };
        let controls = || {
            snaps
                .iter()
                .filter_map(|s| s.control.as_ref().map(|c| (s.rollout.as_str(), c)))
        };
        let has_controls = controls().next().is_some();

        {
            let mut m = encoder.encode_descriptor(
                "fledge_requests",
                "Requests recorded per version.",
                None,
                MetricType::Counter,
            )?;
            for (rollout, v) in versions() {
                let labels: Labels<'_, 2> = [("rollout", rollout), ("version", &v.name)];
                ConstCounter::new(v.totals.requests).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_request_errors",
                "Requests recorded as failed per version.",
                None,
                MetricType::Counter,
            )?;
            for (rollout, v) in versions() {
                let labels: Labels<'_, 2> = [("rollout", rollout), ("version", &v.name)];
                ConstCounter::new(v.totals.errors).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_request_duration",
                "Request latency per version since start: buckets, sum and count (histogram_quantile gives fleet-wide quantiles).",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for (rollout, v) in versions() {
                let labels: Labels<'_, 2> = [("rollout", rollout), ("version", &v.name)];
                let count = v.totals.latency_ms.count;
                let sum = v.totals.latency_ms.sum / 1_000.0;
                // prometheus-client takes each bucket's own count and
                // accumulates them; ours are cumulative ("at or below"), and
                // never above the total (the histogram and the totals are
                // read moments apart).
                let mut below = 0;
                let mut buckets: Vec<(f64, u64)> = v
                    .buckets
                    .iter()
                    .map(|&(le, n)| {
                        let n = n.clamp(below, count);
                        let own = n - below;
                        below = n;
                        (le, own)
                    })
                    .collect();
                buckets.push((f64::INFINITY, count - below));
                m.encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        if !self.quantiles.is_empty() {
            let mut m = encoder.encode_descriptor(
                "fledge_request_duration_window",
                "Request latency quantiles per version over the recent window (NaN without requests).",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?;
            for (rollout, v) in versions() {
                for ((_, q), value) in self.quantiles.iter().zip(&v.quantiles) {
                    let labels: Labels<'_, 3> =
                        [("rollout", rollout), ("version", &v.name), ("q", q)];
                    ConstGauge::new(*value).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        if versions().any(|(_, v)| !v.totals.metrics.is_empty()) {
            let mut m = encoder.encode_descriptor(
                "fledge_feedback_value",
                "Custom (feedback) metric values per version: sum and count since start.",
                None,
                MetricType::Histogram,
            )?;
            for (rollout, v) in versions() {
                for (metric, moments) in &v.totals.metrics {
                    let labels: Labels<'_, 3> = [
                        ("rollout", rollout),
                        ("version", &v.name),
                        ("metric", metric),
                    ];
                    m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                        moments.sum,
                        moments.count,
                        &[(f64::INFINITY, moments.count)],
                        None,
                    )?;
                }
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_recorder_dropped",
                "Records ignored by the recorder (unknown variant or metric, non-finite value).",
                None,
                MetricType::Counter,
            )?;
            for s in &snaps {
                let labels: Labels<'_, 1> = [("rollout", &s.rollout)];
                ConstCounter::new(s.dropped).encode(m.encode_family(&labels)?)?;
            }
        }
        if !has_controls {
            return Ok(());
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_traffic_weight_ratio",
                "Share of traffic published for each version (0 to 1).",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, v) in versions() {
                if let Some(w) = v.weight {
                    let labels: Labels<'_, 2> = [("rollout", rollout), ("version", &v.name)];
                    ConstGauge::new(w).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_mirror_weight_ratio",
                "Share of requests mirrored to the candidate (shadow traffic, 0 to 1).",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, c) in controls() {
                let labels: Labels<'_, 1> = [("rollout", rollout)];
                ConstGauge::new(c.mirror).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout",
                "The rollout's versions.",
                None,
                MetricType::Info,
            )?;
            for (rollout, c) in controls() {
                let labels: Labels<'_, 3> = [
                    ("rollout", rollout),
                    ("baseline", &c.baseline),
                    ("candidate", &c.candidate),
                ];
                m.encode_info(&labels)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout_phase",
                "1 for the rollout's current phase, 0 for the others.",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, c) in controls() {
                for phase in PHASES {
                    let labels: Labels<'_, 2> =
                        [("rollout", rollout), ("phase", phase_name(phase))];
                    ConstGauge::new(i64::from(c.phase == phase))
                        .encode(m.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout_step",
                "The step in effect, from 0 (-1 before the first step).",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, c) in controls() {
                let labels: Labels<'_, 1> = [("rollout", rollout)];
                let step = c.step.map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX));
                ConstGauge::new(step).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout_steps",
                "Number of steps in the rollout's plan.",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, c) in controls() {
                let labels: Labels<'_, 1> = [("rollout", rollout)];
                let steps = i64::try_from(c.steps).unwrap_or(i64::MAX);
                ConstGauge::new(steps).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout_attempt",
                "The rollout's attempt (0 for the first run, +1 per restart).",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, c) in controls() {
                let labels: Labels<'_, 1> = [("rollout", rollout)];
                ConstGauge::new(i64::from(c.attempt)).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout_events",
                "Events in the rollout's log, by kind (promotions, rollbacks, ...).",
                None,
                MetricType::Counter,
            )?;
            for (rollout, c) in controls() {
                for (kind, count) in EVENT_KINDS.iter().zip(c.events) {
                    let labels: Labels<'_, 2> = [("rollout", rollout), ("kind", kind_name(*kind))];
                    ConstCounter::new(count).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        if controls().any(|(_, c)| c.judgement.is_some()) {
            let mut m = encoder.encode_descriptor(
                "fledge_rollout_judgement",
                "1 for the outcome of the gates' last judgement, 0 for the others.",
                None,
                MetricType::Gauge,
            )?;
            for (rollout, c) in controls() {
                let Some(last) = c.judgement else { continue };
                for (outcome, label) in OUTCOMES {
                    let labels: Labels<'_, 2> = [("rollout", rollout), ("outcome", label)];
                    ConstGauge::new(i64::from(last == outcome))
                        .encode(m.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}
