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
use super::shard::ShardData;

/// Index of a declared custom metric (see [`Recorder::metric_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricId(pub(super) usize);

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
}

/// What every clone of a [`Recorder`] shares.
pub(super) struct Inner {
    pub(super) versions: usize,
    pub(super) ring: usize,
    pub(super) slot_ms: u64,
    pub(super) shard_mask: usize,
    pub(super) metric_names: Vec<String>,
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
                }),
                metric_names: layout.metric_names,
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
