//! The request-path recorder: sharded latency histograms, counters and custom
//! metrics, read as sliding windows by the control path.
//!
//! # Design
//!
//! * **Shards.** The recorder holds a power-of-two number of shards, each a
//!   cache-padded `parking_lot::Mutex` over its own histograms and counters. A
//!   thread picks its shard once (a thread-local index handed out round-robin),
//!   so threads on different shards never touch the same cache line and each
//!   lock is, in practice, uncontended. There is no global lock.
//! * **Time slots.** Each shard keeps a ring of `slots + 1` time slots per
//!   version. Recorders never read a clock: they write into the *current* slot,
//!   an index in an atomic that the control path moves forward when it asks
//!   for a window at `now` (or calls [`Recorder::advance`]). Moving to a new
//!   slot clears the oldest one under each shard's lock, once per slot length.
//! * **Windows.** [`Recorder::window`] merges, across shards, the slots that
//!   overlap `(now − span, now]`. Merged complete slots are cached, so a
//!   control loop ticking every second merges each slot once. (A record that
//!   read the slot index just before the switch lands in the previous slot;
//!   if that slot was already merged into the cache, the window misses it
//!   until the cache key changes. [`Totals`] always count it.)
//! * **Slots close when the control path ticks.** A slot covers the time
//!   from one advance to the next that crosses a slot boundary, so a control
//!   loop that stops ticking makes its current slot grow.
//! * **No allocation after construction.** Histograms (1 µs to 60 s, 3
//!   significant figures, clamping outside that range) and sample buffers are
//!   allocated up front.
//!
//! # Custom metrics
//!
//! Metric names are fixed at construction. Each (shard, slot, version, metric)
//! keeps exact count / sum / sum of squares / min / max and up to
//! [`RecorderConfig::metric_sample_cap`] raw samples, replaced by reservoir
//! sampling (Algorithm R) once full. A window's samples are the union of its
//! slots' reservoirs; when a slot saw more values than the cap, the merged
//! sample is uniform within each (shard, slot) but not weighted across them.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::metric::validate_custom_name;
use crate::stats::Moments;
use crate::window::{CumulativeLatency, Latency, MetricWindow, Totals, Window};

/// Highest latency tracked, in microseconds (60 s).
const MAX_LATENCY_US: u64 = 60_000_000;

pub(crate) fn new_histogram() -> Histogram<u32> {
    // 1 µs .. 60 s with 3 significant figures is a valid configuration; the
    // fallback is unreachable but keeps this free of panics.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

fn new_histogram_u64() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

/// Adds `slot`'s counts to `into` (same bounds; wider counts).
fn fold(into: &mut Histogram<u64>, slot: &Histogram<u32>) {
    for v in slot.iter_recorded() {
        // Same bounds as the slot: every value fits.
        let _ = into.record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
    }
}

#[allow(clippy::panic)]
fn unreachable_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    panic!("hdrhistogram rejected a constant, valid configuration")
}

/// Why a [`RecorderConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// `versions` was 0.
    #[error("a recorder needs at least one version")]
    NoVariants,
    /// `slot` was shorter than 1 ms.
    #[error("the slot length must be at least 1 ms")]
    SlotTooShort,
    /// `slots` was 0.
    #[error("a recorder needs at least one time slot")]
    NoSlots,
    /// Two metrics share a name.
    #[error("metric `{0}` is declared twice")]
    DuplicateMetric(String),
    /// A metric name is empty, too long or uses characters other than ASCII
    /// letters, digits, `_`, `-` and `.`.
    #[error("invalid metric name `{name}`: {reason}")]
    InvalidMetricName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The requested version index does not exist.
    #[error("version index {index} is out of range: this recorder has {versions} version(s)")]
    NoSuchVariant {
        /// The index asked for.
        index: usize,
        /// The number of versions.
        versions: usize,
    },
    /// The metric name was not declared at construction.
    #[error("unknown metric `{0}`: declare it in RecorderConfig::metric before recording")]
    UnknownMetric(String),
    /// A metric value was NaN or infinite.
    #[error("metric value {0} is not finite")]
    NotFinite(f64),
    /// The configuration asks for more than a recorder can hold.
    #[error("{what} is {value}, above the limit of {limit}")]
    TooLarge {
        /// What is too large: `versions × (slots + 1)` or the sample cap.
        what: &'static str,
        /// The requested size.
        value: usize,
        /// The largest accepted.
        limit: usize,
    },
}

/// The most time-slot cells (`versions × (slots + 1)`) and samples per cell
/// a recorder accepts: far beyond what fits in memory (every cell holds a
/// histogram of tens of kilobytes), so only a mistaken configuration meets it,
/// and it keeps the sizes free of arithmetic overflow.
const MAX_CELLS: usize = 1 << 24;

/// Construction parameters of a [`Recorder`].
///
/// ```
/// use std::time::Duration;
/// use fledge_gate::{Recorder, RecorderConfig};
///
/// let recorder = Recorder::new(
///     RecorderConfig::new(2)
///         .slot(Duration::from_secs(10))
///         .slots(6)
///         .metric("abs_error"),
/// )?;
/// # Ok::<(), fledge_gate::RecorderError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    versions: usize,
    slot: Duration,
    slots: usize,
    shards: Option<usize>,
    metrics: Vec<String>,
    metric_sample_cap: usize,
}

impl RecorderConfig {
    /// A configuration for `versions` versions (indices `0..versions`), with
    /// 6 slots of 10 s, automatic shard count, no custom metrics and a sample
    /// cap of 1,024.
    pub fn new(versions: usize) -> RecorderConfig {
        RecorderConfig {
            versions,
            slot: Duration::from_secs(10),
            slots: 6,
            shards: None,
            metrics: Vec::new(),
            metric_sample_cap: 1_024,
        }
    }

    /// Length of one time slot (default 10 s); windows are slot-aligned.
    pub fn slot(mut self, slot: Duration) -> Self {
        self.slot = slot;
        self
    }

    /// Number of complete slots kept (default 6): the longest window is
    /// `slots × slot`.
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = slots;
        self
    }

    /// Number of shards (rounded up to a power of two, at most 64). Default:
    /// twice the available parallelism, at most 16.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Declares a custom metric fed through [`Recorder::record_metric`].
    pub fn metric(mut self, name: impl Into<String>) -> Self {
        self.metrics.push(name.into());
        self
    }

    /// Declares several custom metrics.
    pub fn metrics<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.metrics.extend(names.into_iter().map(Into::into));
        self
    }

    /// Raw samples kept per (shard, slot, version, metric) (default 1,024).
    pub fn metric_sample_cap(mut self, cap: usize) -> Self {
        self.metric_sample_cap = cap;
        self
    }

    /// The longest window this configuration can answer: `slots × slot`.
    pub fn capacity(&self) -> Duration {
        self.slot
            .saturating_mul(u32::try_from(self.slots).unwrap_or(u32::MAX))
    }
}

/// Index of a declared custom metric (see [`Recorder::metric_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricId(usize);

#[derive(Clone)]
struct MetricSlot {
    moments: Moments,
    min: f64,
    max: f64,
    seen: u64,
    samples: Vec<f64>,
}

impl MetricSlot {
    fn new(cap: usize) -> MetricSlot {
        MetricSlot {
            moments: Moments::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            seen: 0,
            samples: Vec::with_capacity(cap),
        }
    }

    fn clear(&mut self) {
        self.moments = Moments::default();
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
        self.seen = 0;
        self.samples.clear();
    }
}

/// Hot per-(shard, version, slot) data. Every element that a record writes
/// sits in its own cache-padded cell, so two shards' allocations never share
/// a cache line even when the allocator places them side by side.
struct SlotData {
    latency: Histogram<u32>,
    requests: u64,
    errors: u64,
    metrics: Vec<CachePadded<MetricSlot>>,
}

impl SlotData {
    /// Clears everything but the latency histogram (which
    /// `Recorder::advance_locked` swaps for a cleared one).
    fn clear_counts(&mut self) {
        self.requests = 0;
        self.errors = 0;
        for m in &mut self.metrics {
            m.clear();
        }
    }
}

#[derive(Clone, Default)]
struct VariantTotals {
    requests: u64,
    errors: u64,
    latency_us: Moments,
    metrics: Vec<CachePadded<Moments>>,
}

struct ShardData {
    /// `version * ring + slot`.
    slots: Vec<CachePadded<SlotData>>,
    totals: Vec<CachePadded<VariantTotals>>,
    rng: u64,
}

/// xorshift64*: the per-shard generator for reservoir sampling.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

struct Control {
    /// Whether `advance` has been called once (slot 0 is anchored then).
    started: bool,
    /// Current generation; its ring index is `generation % ring`.
    generation: u64,
    /// Start epoch (in slots since the Unix epoch) of the generation held in
    /// each ring index: `ring` entries, always indexed modulo `ring`.
    start_epoch: Vec<u64>,
    /// Per version: merged complete generations `(first, last)`; `versions`
    /// entries, indexed after `check_version`.
    cache: Vec<Option<(u64, u64, Merged)>>,
    /// Per version: the latencies of every slot reused so far (folded in on
    /// the control path just before the slot is cleared), so that with the
    /// live slots they give the distribution since the recorder was created.
    /// `u64` counts: they only grow.
    retired: Vec<Histogram<u64>>,
    /// A cleared histogram, swapped into a slot being reused so that the
    /// slot's old data is folded into `retired` and cleared outside the
    /// shard lock (the lock is held for a pointer swap, not a merge).
    spare: Histogram<u32>,
}

#[derive(Clone)]
struct Merged {
    latency: Histogram<u32>,
    requests: u64,
    errors: u64,
    metrics: Vec<MetricWindow>,
}

struct Inner {
    versions: usize,
    ring: usize,
    slot_ms: u64,
    shard_mask: usize,
    metric_names: Vec<String>,
    shards: Vec<CachePadded<Mutex<ShardData>>>,
    /// Ring index of the current slot: the only shared word recorders read.
    current: CachePadded<AtomicUsize>,
    dropped: CachePadded<AtomicU64>,
    control: Mutex<Control>,
}

/// Per-version recorder of latency, outcome and custom metrics.
///
/// Cheap to clone (clones share the data); `Send + Sync`. See the
/// [module docs](crate::recorder) for the design.
///
/// ```
/// use std::time::Duration;
/// use fledge_gate::{Recorder, RecorderConfig, clock::Timestamp};
///
/// let recorder = Recorder::new(RecorderConfig::new(2))?;
/// recorder.record(0, Duration::from_millis(12), false);
/// recorder.record(1, Duration::from_millis(30), true);
///
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let canary = recorder.window(1, now, Duration::from_secs(60))?;
/// assert_eq!(canary.requests(), 1);
/// assert_eq!(canary.error_rate(), Some(1.0));
/// # Ok::<(), fledge_gate::RecorderError>(())
/// ```
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("versions", &self.inner.versions)
            .field("slot_ms", &self.inner.slot_ms)
            .field("slots", &(self.inner.ring - 1))
            .field("shards", &self.inner.shards.len())
            .field("metrics", &self.inner.metric_names)
            .finish()
    }
}

static NEXT_SHARD_HINT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD_HINT: Cell<Option<usize>> = const { Cell::new(None) };
}

#[inline]
fn shard_hint() -> usize {
    SHARD_HINT.with(|h| match h.get() {
        Some(v) => v,
        None => {
            let v = NEXT_SHARD_HINT.fetch_add(1, Ordering::Relaxed);
            h.set(Some(v));
            v
        }
    })
}

impl Recorder {
    /// Builds a recorder, allocating every histogram and buffer up front.
    pub fn new(config: RecorderConfig) -> Result<Recorder, RecorderError> {
        if config.versions == 0 {
            return Err(RecorderError::NoVariants);
        }
        if config.slot < Duration::from_millis(1) {
            return Err(RecorderError::SlotTooShort);
        }
        if config.slots == 0 {
            return Err(RecorderError::NoSlots);
        }
        for (i, name) in config.metrics.iter().enumerate() {
            validate_custom_name(name).map_err(|reason| RecorderError::InvalidMetricName {
                name: name.clone(),
                reason,
            })?;
            if config.metrics[..i].contains(name) {
                return Err(RecorderError::DuplicateMetric(name.clone()));
            }
        }
        let shards = config
            .shards
            .unwrap_or_else(|| {
                let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                (2 * n).min(16)
            })
            .clamp(1, 64)
            .next_power_of_two();
        let ring = config.slots.saturating_add(1);
        let too_large = |what, value| RecorderError::TooLarge {
            what,
            value,
            limit: MAX_CELLS,
        };
        let cells = config
            .versions
            .checked_mul(ring)
            .filter(|c| *c <= MAX_CELLS)
            .ok_or_else(|| {
                too_large(
                    "versions × (slots + 1)",
                    config.versions.saturating_mul(ring),
                )
            })?;
        if config.metric_sample_cap > MAX_CELLS {
            return Err(too_large("metric_sample_cap", config.metric_sample_cap));
        }
        let slot_ms = u64::try_from(config.slot.as_millis()).unwrap_or(u64::MAX);
        let metric_count = config.metrics.len();
        let cap = config.metric_sample_cap;
        let make_shard = |seed: u64| {
            let slots = (0..cells)
                .map(|_| {
                    CachePadded::new(SlotData {
                        latency: new_histogram(),
                        requests: 0,
                        errors: 0,
                        metrics: (0..metric_count)
                            .map(|_| CachePadded::new(MetricSlot::new(cap)))
                            .collect(),
                    })
                })
                .collect();
            let totals = (0..config.versions)
                .map(|_| {
                    CachePadded::new(VariantTotals {
                        metrics: vec![CachePadded::new(Moments::default()); metric_count],
                        ..VariantTotals::default()
                    })
                })
                .collect();
            CachePadded::new(Mutex::new(ShardData {
                slots,
                totals,
                rng: (0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9)) | 1,
            }))
        };
        Ok(Recorder {
            inner: Arc::new(Inner {
                versions: config.versions,
                ring,
                slot_ms,
                shard_mask: shards - 1,
                metric_names: config.metrics.clone(),
                shards: (0..shards as u64).map(make_shard).collect(),
                current: CachePadded::new(AtomicUsize::new(0)),
                dropped: CachePadded::new(AtomicU64::new(0)),
                control: Mutex::new(Control {
                    started: false,
                    generation: 0,
                    start_epoch: vec![0; ring],
                    cache: vec![None; config.versions],
                    retired: (0..config.versions).map(|_| new_histogram_u64()).collect(),
                    spare: new_histogram(),
                }),
            }),
        })
    }

    /// Number of versions.
    pub fn versions(&self) -> usize {
        self.inner.versions
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.inner.shards.len()
    }

    /// The declared custom metric names, in order.
    pub fn metric_names(&self) -> &[String] {
        &self.inner.metric_names
    }

    /// The id of a declared custom metric, for [`Recorder::record_metric`].
    pub fn metric_id(&self, name: &str) -> Option<MetricId> {
        self.inner
            .metric_names
            .iter()
            .position(|n| n == name)
            .map(MetricId)
    }

    /// Records calls that could not be recorded: out-of-range version
    /// indices, unknown metric ids, non-finite metric values.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    #[inline]
    fn shard(&self) -> &Mutex<ShardData> {
        // `shards` has `shard_mask + 1` entries (a power of two): in range.
        &self.inner.shards[shard_hint() & self.inner.shard_mask]
    }

    /// Records one request of `version`: its latency and whether it failed.
    ///
    /// The request path: no clock read, no allocation, one uncontended shard
    /// lock. An out-of-range `version` is ignored and counted in
    /// [`Recorder::dropped`]. Latencies are clamped to 1 µs .. 60 s in the
    /// histogram (the exact value still goes into [`Totals`]).
    #[inline]
    pub fn record(&self, version: usize, latency: Duration, error: bool) {
        let inner = &*self.inner;
        if version >= inner.versions {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Cheaper than `as_micros` (a u128 product); saturates past ~584,000 years.
        let us = latency
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(latency.subsec_micros()));
        let slot = inner.current.load(Ordering::Acquire);
        let mut shard = self.shard().lock();
        let data = &mut *shard;
        // version < versions and slot < ring: the index is below
        // versions × ring, which `new` checked against MAX_CELLS.
        if let Some(s) = data.slots.get_mut(version * inner.ring + slot) {
            s.latency.saturating_record(us.min(MAX_LATENCY_US));
            s.requests += 1;
            s.errors += u64::from(error);
        }
        if let Some(t) = data.totals.get_mut(version) {
            t.requests += 1;
            t.errors += u64::from(error);
            let v = us as f64;
            t.latency_us.count += 1;
            t.latency_us.sum += v;
            t.latency_us.sum_sq += v * v;
        }
    }

    /// Records one value of a custom metric for `version` (the feedback path:
    /// an absolute forecast error, a click as 1.0 / 0.0, ...).
    ///
    /// Non-finite values, unknown ids and out-of-range versions are ignored
    /// and counted in [`Recorder::dropped`].
    pub fn record_metric(&self, version: usize, metric: MetricId, value: f64) {
        let inner = &*self.inner;
        if version >= inner.versions || metric.0 >= inner.metric_names.len() || !value.is_finite() {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let slot = inner.current.load(Ordering::Acquire);
        let mut shard = self.shard().lock();
        let ShardData { slots, totals, rng } = &mut *shard;
        // As in `record`: below versions × ring, no overflow.
        if let Some(m) = slots
            .get_mut(version * inner.ring + slot)
            .and_then(|s| s.metrics.get_mut(metric.0))
        {
            m.moments.push(value);
            m.min = m.min.min(value);
            m.max = m.max.max(value);
            m.seen += 1;
            if m.samples.len() < m.samples.capacity() {
                m.samples.push(value);
            } else if !m.samples.is_empty() {
                // Algorithm R: keep the value with probability cap / seen, in
                // a uniform position (multiply-shift instead of a division).
                let j = ((u128::from(next_random(rng)) * u128::from(m.seen)) >> 64) as usize;
                if let Some(s) = m.samples.get_mut(j) {
                    *s = value;
                }
            }
        }
        if let Some(t) = totals
            .get_mut(version)
            .and_then(|t| t.metrics.get_mut(metric.0))
        {
            t.push(value);
        }
    }

    fn check_version(&self, version: usize) -> Result<(), RecorderError> {
        if version < self.inner.versions {
            Ok(())
        } else {
            Err(RecorderError::NoSuchVariant {
                index: version,
                versions: self.inner.versions,
            })
        }
    }

    /// [`Recorder::record_metric`] by name: the feedback call for ground
    /// truth that arrives after the response.
    pub fn record_feedback(
        &self,
        version: usize,
        metric: &str,
        value: f64,
    ) -> Result<(), RecorderError> {
        self.check_version(version)?;
        if !value.is_finite() {
            return Err(RecorderError::NotFinite(value));
        }
        let id = self
            .metric_id(metric)
            .ok_or_else(|| RecorderError::UnknownMetric(metric.to_owned()))?;
        self.record_metric(version, id, value);
        Ok(())
    }

    fn epoch(&self, now: Timestamp) -> u64 {
        now.as_millis() / self.inner.slot_ms
    }

    /// Moves the current time slot to the one containing `now` (the control
    /// path; [`Recorder::window`] calls it). Time never goes back: an earlier
    /// `now` than the current slot's start is ignored.
    pub fn advance(&self, now: Timestamp) {
        let mut control = self.inner.control.lock();
        self.advance_locked(&mut control, now);
    }

    fn advance_locked(&self, control: &mut Control, now: Timestamp) {
        let inner = &*self.inner;
        let epoch = self.epoch(now);
        if !control.started {
            control.started = true;
            control.generation = 0;
            control.start_epoch[0] = epoch;
            return;
        }
        let current = (control.generation % inner.ring as u64) as usize;
        if epoch <= control.start_epoch[current] {
            return;
        }
        let next_gen = control.generation + 1;
        let next = (next_gen % inner.ring as u64) as usize;
        for shard in &inner.shards {
            for v in 0..inner.versions {
                {
                    let mut data = shard.lock();
                    let Some(s) = data.slots.get_mut(v * inner.ring + next) else {
                        continue;
                    };
                    std::mem::swap(&mut s.latency, &mut control.spare);
                    s.clear_counts();
                }
                if let Some(retired) = control.retired.get_mut(v) {
                    fold(retired, &control.spare);
                }
                control.spare.reset();
            }
        }
        control.start_epoch[next] = epoch;
        control.generation = next_gen;
        inner.current.store(next, Ordering::Release);
    }

    /// A snapshot of `version` over the slots overlapping `(now − span, now]`,
    /// merged across shards. Advances the current slot to `now` first.
    ///
    /// Windows are slot-aligned: the result may start up to one slot before
    /// `now − span` ([`Window::start`] tells). A `span` longer than the
    /// recorder's capacity (`slots × slot`) is cut to it.
    pub fn window(
        &self,
        version: usize,
        now: Timestamp,
        span: Duration,
    ) -> Result<Window, RecorderError> {
        self.check_version(version)?;
        let inner = &*self.inner;
        let mut control = inner.control.lock();
        self.advance_locked(&mut control, now);
        let ring = inner.ring as u64;
        let g = control.generation;
        let oldest = g.saturating_sub(ring - 1);
        let lower_ms = now
            .as_millis()
            .saturating_sub(u64::try_from(span.as_millis()).unwrap_or(u64::MAX));
        // The first generation whose end is after `lower_ms`.
        let mut first = g;
        while first > oldest {
            let prev = first - 1;
            let end_ms = control.start_epoch[(first % ring) as usize].saturating_mul(inner.slot_ms);
            if end_ms > lower_ms {
                first = prev;
            } else {
                break;
            }
        }
        let start_ms = control.start_epoch[(first % ring) as usize].saturating_mul(inner.slot_ms);

        // Complete generations first..g-1, cached.
        let mut merged = if first < g {
            let cached = match &control.cache[version] {
                Some((a, b, m)) if *a == first && *b == g - 1 => Some(m.clone()),
                _ => None,
            };
            match cached {
                Some(m) => m,
                None => {
                    let m = self.merge(version, first, g - 1);
                    control.cache[version] = Some((first, g - 1, m.clone()));
                    m
                }
            }
        } else {
            self.empty_merged()
        };
        drop(control);
        // The current generation, fresh.
        let mut totals = self.empty_totals();
        let current = (g % ring) as usize;
        for shard in &inner.shards {
            let data = shard.lock();
            if let Some(s) = data.slots.get(version * inner.ring + current) {
                merge_slot(&mut merged, s);
            }
            if let Some(t) = data.totals.get(version) {
                add_totals(&mut totals, t);
            }
        }
        Ok(Window {
            version,
            start: Timestamp::from_millis(start_ms.min(now.as_millis())),
            end: now,
            requests: merged.requests,
            errors: merged.errors,
            latency: Latency {
                hist: Some(merged.latency),
            },
            metrics: merged.metrics,
            totals: self.public_totals(totals),
        })
    }

    /// The latency distribution of `version` since the recorder was created:
    /// every slot that was reused, plus the live ones, merged across shards
    /// (the control path; the request path does nothing more for it). What a
    /// Prometheus histogram's buckets need, so that `histogram_quantile` can
    /// give a fleet-wide p99.
    pub fn cumulative_latency(&self, version: usize) -> Result<CumulativeLatency, RecorderError> {
        self.check_version(version)?;
        let inner = &*self.inner;
        // The control lock keeps `advance` from retiring a slot while it is read.
        let control = inner.control.lock();
        let mut hist = control
            .retired
            .get(version)
            .cloned()
            .unwrap_or_else(new_histogram_u64);
        for shard in &inner.shards {
            let data = shard.lock();
            for slot in 0..inner.ring {
                if let Some(s) = data.slots.get(version * inner.ring + slot) {
                    fold(&mut hist, &s.latency);
                }
            }
        }
        Ok(CumulativeLatency { hist })
    }

    /// Cumulative counters of `version` since the recorder was created: cheap
    /// (no histogram merge), for sequential checks every tick (see
    /// [`Window::from_totals`]).
    pub fn totals(&self, version: usize) -> Result<Totals, RecorderError> {
        self.check_version(version)?;
        let inner = &*self.inner;
        let mut totals = self.empty_totals();
        for shard in &inner.shards {
            if let Some(t) = shard.lock().totals.get(version) {
                add_totals(&mut totals, t);
            }
        }
        Ok(self.public_totals(totals))
    }

    fn empty_totals(&self) -> VariantTotals {
        VariantTotals {
            metrics: vec![CachePadded::new(Moments::default()); self.inner.metric_names.len()],
            ..VariantTotals::default()
        }
    }

    fn public_totals(&self, totals: VariantTotals) -> Totals {
        Totals {
            requests: totals.requests,
            errors: totals.errors,
            latency_ms: Moments {
                count: totals.latency_us.count,
                sum: totals.latency_us.sum / 1e3,
                sum_sq: totals.latency_us.sum_sq / 1e6,
            },
            metrics: self
                .inner
                .metric_names
                .iter()
                .cloned()
                .zip(totals.metrics.iter().map(|m| **m))
                .collect(),
        }
    }

    /// [`Recorder::window`] for every version, in index order.
    pub fn windows(&self, now: Timestamp, span: Duration) -> Vec<Window> {
        (0..self.inner.versions)
            .filter_map(|v| self.window(v, now, span).ok())
            .collect()
    }

    fn empty_merged(&self) -> Merged {
        Merged {
            latency: new_histogram(),
            requests: 0,
            errors: 0,
            metrics: self
                .inner
                .metric_names
                .iter()
                .map(|name| MetricWindow {
                    name: name.clone(),
                    moments: Moments::default(),
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    samples: Vec::new(),
                })
                .collect(),
        }
    }

    fn merge(&self, version: usize, first: u64, last: u64) -> Merged {
        let inner = &*self.inner;
        let ring = inner.ring as u64;
        let mut merged = self.empty_merged();
        for shard in &inner.shards {
            let data = shard.lock();
            for g in first..=last {
                let idx = (g % ring) as usize;
                if let Some(s) = data.slots.get(version * inner.ring + idx) {
                    merge_slot(&mut merged, s);
                }
            }
        }
        merged
    }
}

fn add_totals(acc: &mut VariantTotals, t: &VariantTotals) {
    acc.requests += t.requests;
    acc.errors += t.errors;
    acc.latency_us.merge(&t.latency_us);
    for (a, m) in acc.metrics.iter_mut().zip(&t.metrics) {
        a.merge(m);
    }
}

fn merge_slot(merged: &mut Merged, s: &SlotData) {
    if s.requests > 0 {
        // Same configuration on both sides: cannot fail; on the impossible
        // error the slot's latencies are skipped rather than panicking.
        let _ = merged.latency.add(&s.latency);
        merged.requests += s.requests;
        merged.errors += s.errors;
    }
    for (acc, m) in merged.metrics.iter_mut().zip(&s.metrics) {
        if m.moments.count == 0 {
            continue;
        }
        acc.moments.merge(&m.moments);
        acc.min = acc.min.min(m.min);
        acc.max = acc.max.max(m.max);
        acc.samples.extend_from_slice(&m.samples);
    }
}
