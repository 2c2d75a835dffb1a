//! A shard's data: per (version, time slot) histograms, counters and custom
//! metric reservoirs, cumulative totals per version, and the thread-local
//! hint that picks a thread's shard. Written by the request path under the
//! shard's lock (see `write.rs`), read and cleared by the control path.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::config::Layout;
use super::histogram::new_histogram;
use crate::output::{OutputSpec, SketchLayout};
use crate::stats::Moments;

/// One custom metric in one (shard, slot, version): exact moments, min, max
/// and a reservoir of raw samples (Algorithm R once full).
#[derive(Clone)]
pub(super) struct MetricSlot {
    pub(super) moments: Moments,
    pub(super) min: f64,
    pub(super) max: f64,
    /// Values offered to the reservoir since the slot was cleared.
    pub(super) seen: u64,
    /// The reservoir: its capacity is the sample cap, allocated up front.
    pub(super) samples: Vec<f64>,
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

/// One model output in one (shard, slot, version): a numeric output's
/// magnitude histograms (u32 counts, see `crate::output::OutputSketch`) and
/// exact moments, or a categorical output's count per label index
/// (`max_labels` named, then other). Allocated up front.
#[allow(clippy::large_enum_variant)] // one per cell, cache-padded anyway; counts are on the heap
pub(super) enum OutputSlot {
    Numeric {
        /// Magnitudes of values ≥ 0, in units of the resolution.
        pos: Histogram<u32>,
        /// Magnitudes of negative values.
        neg: Histogram<u32>,
        moments: Moments,
        min: f64,
        max: f64,
        clamped: u64,
    },
    Categorical {
        /// `max_labels + 1` counts, other last.
        counts: Vec<u64>,
        /// Sum of `counts`.
        total: u64,
    },
}

impl OutputSlot {
    /// An empty slot for `spec` (validated).
    pub(super) fn new(spec: &OutputSpec) -> OutputSlot {
        match (spec.numeric_range(), spec.label_capacity()) {
            (Some((resolution, max_abs)), _) => {
                let layout = SketchLayout::new(resolution, max_abs);
                OutputSlot::Numeric {
                    pos: layout.histogram(),
                    neg: layout.histogram(),
                    moments: Moments::default(),
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    clamped: 0,
                }
            }
            (None, max_labels) => OutputSlot::Categorical {
                counts: vec![0; max_labels.unwrap_or(0) + 1],
                total: 0,
            },
        }
    }

    /// Whether nothing was recorded since the last clear.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            OutputSlot::Numeric { moments, .. } => moments.count == 0,
            OutputSlot::Categorical { total, .. } => *total == 0,
        }
    }

    /// Forgets everything recorded (O(size): done outside the shard lock,
    /// on a slot swapped out of it).
    pub(super) fn clear(&mut self) {
        match self {
            OutputSlot::Numeric {
                pos,
                neg,
                moments,
                min,
                max,
                clamped,
            } => {
                pos.reset();
                neg.reset();
                *moments = Moments::default();
                *min = f64::INFINITY;
                *max = f64::NEG_INFINITY;
                *clamped = 0;
            }
            OutputSlot::Categorical { counts, total } => {
                counts.iter_mut().for_each(|c| *c = 0);
                *total = 0;
            }
        }
    }
}

/// Hot per-(shard, version, slot) data. Every element that a record writes
/// sits in its own cache-padded cell, so two shards' allocations never share
/// a cache line even when the allocator places them side by side.
pub(super) struct SlotData {
    pub(super) latency: Histogram<u32>,
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) metrics: Vec<CachePadded<MetricSlot>>,
    /// Per declared output, in order.
    pub(super) outputs: Vec<CachePadded<OutputSlot>>,
}

impl SlotData {
    /// Clears everything but the latency histogram and the outputs (which
    /// `Recorder::advance_locked` swaps for cleared ones).
    pub(super) fn clear_counts(&mut self) {
        self.requests = 0;
        self.errors = 0;
        for m in &mut self.metrics {
            m.clear();
        }
    }
}

/// Cumulative counters of one version (in one shard, or summed over shards):
/// latency moments in µs, custom metrics' moments in declaration order.
#[derive(Clone, Default)]
pub(super) struct VariantTotals {
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) latency_us: Moments,
    pub(super) metrics: Vec<CachePadded<Moments>>,
}

impl VariantTotals {
    /// Zero totals for `metric_count` custom metrics.
    pub(super) fn empty(metric_count: usize) -> VariantTotals {
        VariantTotals {
            metrics: vec![CachePadded::new(Moments::default()); metric_count],
            ..VariantTotals::default()
        }
    }

    /// Adds another shard's totals.
    pub(super) fn add(&mut self, t: &VariantTotals) {
        self.requests += t.requests;
        self.errors += t.errors;
        self.latency_us.merge(&t.latency_us);
        for (a, m) in self.metrics.iter_mut().zip(&t.metrics) {
            a.merge(m);
        }
    }
}

/// What one shard's lock guards.
pub(super) struct ShardData {
    /// `version * ring + slot`.
    pub(super) slots: Vec<CachePadded<SlotData>>,
    /// Per version.
    pub(super) totals: Vec<CachePadded<VariantTotals>>,
    /// State of [`next_random`], for reservoir sampling.
    pub(super) rng: u64,
}

impl ShardData {
    /// A shard for `layout`, every histogram and buffer allocated; `seed`
    /// (the shard's index) seeds its generator.
    pub(super) fn new(layout: &Layout, seed: u64) -> ShardData {
        let metric_count = layout.metric_names.len();
        let slots = (0..layout.cells)
            .map(|_| {
                CachePadded::new(SlotData {
                    latency: new_histogram(),
                    requests: 0,
                    errors: 0,
                    metrics: (0..metric_count)
                        .map(|_| CachePadded::new(MetricSlot::new(layout.sample_cap)))
                        .collect(),
                    outputs: layout
                        .outputs
                        .iter()
                        .map(|o| CachePadded::new(OutputSlot::new(o)))
                        .collect(),
                })
            })
            .collect();
        let totals = (0..layout.versions)
            .map(|_| CachePadded::new(VariantTotals::empty(metric_count)))
            .collect();
        ShardData {
            slots,
            totals,
            rng: (0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9)) | 1,
        }
    }
}

/// xorshift64*: the per-shard generator for reservoir sampling.
#[inline]
pub(super) fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

static NEXT_SHARD_HINT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD_HINT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// This thread's shard hint: handed out round-robin on first use, then
/// fixed (the recorder masks it to its shard count).
#[inline]
pub(super) fn shard_hint() -> usize {
    SHARD_HINT.with(|h| match h.get() {
        Some(v) => v,
        None => {
            let v = NEXT_SHARD_HINT.fetch_add(1, Ordering::Relaxed);
            h.set(Some(v));
            v
        }
    })
}
