//! [`Recorder`]: the handle, the state its clones share ([`Inner`], the
//! control path's [`Control`]), construction and accessors. The request
//! path's writes are in `write.rs`, the control path's reads in `read.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::config::{RecorderConfig, RecorderError};
use super::histogram::{new_histogram, new_histogram_u64};
use super::merge::Merged;
use super::shard::{OutputSlot, ShardData};
use crate::output::labels::LabelTable;
use crate::output::{OutputKind, OutputSpec, SketchLayout};

/// Index of a declared custom metric (see [`Recorder::metric_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricId(pub(super) usize);

/// Index of a declared model output (see [`Recorder::output_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputId(pub(super) usize);

/// A declared output: its spec, and its sketch layout (numeric) or label
/// registry (categorical).
pub(super) struct OutputMeta {
    pub(super) spec: OutputSpec,
    pub(super) layout: Option<SketchLayout>,
    pub(super) labels: Option<LabelTable>,
}

impl OutputMeta {
    fn new(spec: OutputSpec) -> OutputMeta {
        let layout = spec.numeric_range().map(|(r, m)| SketchLayout::new(r, m));
        let labels = spec
            .label_capacity()
            .map(|max| LabelTable::new(max, spec.initial_labels()));
        OutputMeta {
            spec,
            layout,
            labels,
        }
    }
}

/// The control path's state, behind one lock.
pub(super) struct Control {
    /// Whether `advance` has been called once (slot 0 is anchored then).
    pub(super) started: bool,
    /// Current generation; its ring index is `generation % ring`.
    pub(super) generation: u64,
    /// Start epoch (in slots since the Unix epoch) of the generation held in
    /// each ring index: `ring` entries, always indexed modulo `ring`.
    pub(super) start_epoch: Vec<u64>,
    /// Per version: merged complete generations `(first, last)`; `versions`
    /// entries, indexed after `check_version`.
    pub(super) cache: Vec<Option<(u64, u64, Merged)>>,
    /// Per version: the latencies of every slot reused so far (folded in on
    /// the control path just before the slot is cleared), so that with the
    /// live slots they give the distribution since the recorder was created.
    /// `u64` counts: they only grow.
    pub(super) retired: Vec<Histogram<u64>>,
    /// A cleared histogram, swapped into a slot being reused so that the
    /// slot's old data is folded into `retired` and cleared outside the
    /// shard lock (the lock is held for a pointer swap, not a merge).
    pub(super) spare: Histogram<u32>,
    /// Cleared output slots, one per output, swapped in like `spare`.
    pub(super) spare_outputs: Vec<OutputSlot>,
}

/// What every clone of a [`Recorder`] shares.
pub(super) struct Inner {
    pub(super) versions: usize,
    pub(super) ring: usize,
    pub(super) slot_ms: u64,
    pub(super) shard_mask: usize,
    pub(super) metric_names: Vec<String>,
    pub(super) outputs: Vec<OutputMeta>,
    pub(super) shards: Vec<CachePadded<Mutex<ShardData>>>,
    /// Ring index of the current slot: the only shared word recorders read.
    pub(super) current: CachePadded<AtomicUsize>,
    pub(super) dropped: CachePadded<AtomicU64>,
    pub(super) control: Mutex<Control>,
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
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("versions", &self.inner.versions)
            .field("slot_ms", &self.inner.slot_ms)
            .field("slots", &(self.inner.ring - 1))
            .field("shards", &self.inner.shards.len())
            .field("metrics", &self.inner.metric_names)
            .field(
                "outputs",
                &self
                    .inner
                    .outputs
                    .iter()
                    .map(|o| o.spec.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Recorder {
    /// Builds a recorder, allocating every histogram and buffer up front.
    pub fn new(config: RecorderConfig) -> Result<Recorder, RecorderError> {
        let layout = config.layout()?;
        Ok(Recorder {
            inner: Arc::new(Inner {
                versions: layout.versions,
                ring: layout.ring,
                slot_ms: layout.slot_ms,
                shard_mask: layout.shards - 1,
                shards: (0..layout.shards as u64)
                    .map(|seed| CachePadded::new(Mutex::new(ShardData::new(&layout, seed))))
                    .collect(),
                current: CachePadded::new(AtomicUsize::new(0)),
                dropped: CachePadded::new(AtomicU64::new(0)),
                control: Mutex::new(Control {
                    started: false,
                    generation: 0,
                    start_epoch: vec![0; layout.ring],
                    cache: vec![None; layout.versions],
                    retired: (0..layout.versions).map(|_| new_histogram_u64()).collect(),
                    spare: new_histogram(),
                    spare_outputs: layout.outputs.iter().map(OutputSlot::new).collect(),
                }),
                metric_names: layout.metric_names,
                outputs: layout.outputs.into_iter().map(OutputMeta::new).collect(),
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

    /// The declared outputs, in order.
    pub fn outputs(&self) -> impl ExactSizeIterator<Item = &OutputSpec> {
        self.inner.outputs.iter().map(|o| &o.spec)
    }

    /// The id of a declared output, for [`Recorder::record_output`] and
    /// [`Recorder::record_label`]: resolve it once, record with it.
    pub fn output_id(&self, name: &str) -> Option<OutputId> {
        self.inner
            .outputs
            .iter()
            .position(|o| o.spec.name() == name)
            .map(OutputId)
    }

    /// The kind of an output, `None` for an unknown id.
    pub fn output_kind(&self, id: OutputId) -> Option<OutputKind> {
        self.inner.outputs.get(id.0).map(|o| o.spec.kind())
    }

    /// Labels registered so far for a categorical output (at most its
    /// `max_labels`), in registration order; `None` for an unknown id or a
    /// numeric output.
    pub fn labels(&self, id: OutputId) -> Option<Vec<String>> {
        let table = self.inner.outputs.get(id.0)?.labels.as_ref()?;
        Some(
            (0..table.len())
                .filter_map(|i| table.name(i).map(str::to_owned))
                .collect(),
        )
    }

    /// Records calls that could not be recorded: out-of-range version
    /// indices, unknown metric or output ids, non-finite values, values of
    /// the wrong kind for their output.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// `Ok` when `version` exists.
    pub(super) fn check_version(&self, version: usize) -> Result<(), RecorderError> {
        if version < self.inner.versions {
            Ok(())
        } else {
            Err(RecorderError::NoSuchVariant {
                index: version,
                versions: self.inner.versions,
            })
        }
    }
}
