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
//!   until the cache key changes. [`Totals`](crate::Totals) always count it.)
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
//!
//! # Model outputs
//!
//! Outputs are fixed at construction too ([`RecorderConfig::output`]). Each
//! (shard, slot, version, output) keeps, for a numeric output, two
//! HdrHistograms of magnitudes in units of the output's resolution (2
//! significant digits) and exact count / sum / sum of squares / min / max;
//! for a categorical output, a count per label index (`max_labels` and
//! other), the index found in a label registry shared by every shard and
//! version. Windows merge them across shards and slots exactly, like the
//! latency histograms; moving to a new slot swaps a non-empty output slot
//! for a cleared one under the shard lock and clears it outside.
//!
//! # Files
//!
//! One job per file; the request path touches only `write.rs` and the
//! `shard.rs` data it writes.
//!
//! | file | job |
//! |---|---|
//! | `config.rs` | [`RecorderConfig`], [`RecorderError`]: what to hold, checked into the sizes to allocate |
//! | `state.rs` | [`Recorder`] (the shared handle), its state, construction and accessors; [`MetricId`] |
//! | `shard.rs` | a shard's slots, counters, reservoirs and totals; the thread's shard hint |
//! | `write.rs` | the request path: [`Recorder::record`], [`Recorder::record_metric`], [`Recorder::record_feedback`], [`Recorder::record_output`], [`Recorder::record_label`] |
//! | `read.rs` | the control path: [`Recorder::advance`], [`Recorder::window`], [`Recorder::totals`], [`Recorder::cumulative_latency`] |
//! | `merge.rs` | slots of one version summed across shards (what windows are built from) |
//! | `histogram.rs` | the latency histograms' bounds, construction and folding |

mod config;
mod histogram;
pub(crate) use histogram::new_histogram;
mod merge;
mod read;
mod shard;
mod state;
mod write;

pub use config::{RecorderConfig, RecorderError};
pub use state::{MetricId, OutputId, Recorder};
