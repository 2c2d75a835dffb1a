//! [`RecorderConfig`]: what a [`Recorder`](crate::Recorder) holds, checked into the sizes it
//! allocates; [`RecorderError`].

use std::time::Duration;

use crate::metric::validate_custom_name;
use crate::output::OutputSpec;

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
    /// An output is declared with an invalid name or size.
    #[error("output `{name}`: field `{field}`: {problem}")]
    InvalidOutput {
        /// The output's name.
        name: String,
        /// The field at fault (`name`, `resolution`, `max_abs`, `max_labels`, `labels`).
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Two outputs, or an output and a custom metric, share a name.
    #[error("output `{0}` is declared twice (outputs and custom metrics share one namespace)")]
    DuplicateOutput(String),
    /// The output name was not declared at construction.
    #[error("unknown output `{0}`: declare it in RecorderConfig::output before recording")]
    UnknownOutput(String),
    /// A numeric value for a categorical output, or a label for a numeric one.
    #[error("output `{name}` is {kind}: use {use_instead}")]
    WrongOutputKind {
        /// The output.
        name: String,
        /// Its kind.
        kind: crate::output::OutputKind,
        /// The call that records it.
        use_instead: &'static str,
    },
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

/// Construction parameters of a [`Recorder`](crate::Recorder).
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
    outputs: Vec<OutputSpec>,
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
            outputs: Vec::new(),
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

    /// Declares a custom metric fed through [`Recorder::record_metric`](crate::Recorder::record_metric).
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

    /// Declares a model output recorded per request at response time
    /// ([`Recorder::record_output`](crate::Recorder::record_output) for a
    /// numeric one, [`Recorder::record_label`](crate::Recorder::record_label)
    /// for a categorical one). Outputs and custom metrics share one
    /// namespace.
    ///
    /// Memory per (shard, slot, version): a numeric output's sketch
    /// (45 KB with the default range, see [`crate::output::OutputSketch`]),
    /// a categorical output's `8 × (max_labels + 1)` bytes.
    pub fn output(mut self, output: OutputSpec) -> Self {
        self.outputs.push(output);
        self
    }

    /// Declares several model outputs.
    pub fn outputs<I>(mut self, outputs: I) -> Self
    where
        I: IntoIterator<Item = OutputSpec>,
    {
        self.outputs.extend(outputs);
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

/// The sizes of a checked [`RecorderConfig`]: what [`Recorder::new`](crate::Recorder::new) allocates.
pub(super) struct Layout {
    /// Number of versions.
    pub(super) versions: usize,
    /// Time slots per version and shard: `slots + 1` (the current one).
    pub(super) ring: usize,
    /// `versions × ring`, at most [`MAX_CELLS`].
    pub(super) cells: usize,
    /// Number of shards: a power of two.
    pub(super) shards: usize,
    /// Slot length in ms, at least 1.
    pub(super) slot_ms: u64,
    /// The declared custom metrics, valid and distinct.
    pub(super) metric_names: Vec<String>,
    /// Raw samples kept per (shard, slot, version, metric).
    pub(super) sample_cap: usize,
    /// The declared outputs, valid and distinct from each other and from
    /// the metrics.
    pub(super) outputs: Vec<OutputSpec>,
}

impl RecorderConfig {
    /// Checks the configuration and computes its sizes.
    pub(super) fn layout(&self) -> Result<Layout, RecorderError> {
        if self.versions == 0 {
            return Err(RecorderError::NoVariants);
        }
        if self.slot < Duration::from_millis(1) {
            return Err(RecorderError::SlotTooShort);
        }
        if self.slots == 0 {
            return Err(RecorderError::NoSlots);
        }
        for (i, name) in self.metrics.iter().enumerate() {
            validate_custom_name(name).map_err(|reason| RecorderError::InvalidMetricName {
                name: name.clone(),
                reason,
            })?;
            if self.metrics[..i].contains(name) {
                return Err(RecorderError::DuplicateMetric(name.clone()));
            }
        }
        for (i, output) in self.outputs.iter().enumerate() {
            output
                .validate()
                .map_err(|(field, problem)| RecorderError::InvalidOutput {
                    name: output.name().to_owned(),
                    field,
                    problem,
                })?;
            let name = output.name();
            if self.outputs[..i].iter().any(|o| o.name() == name)
                || self.metrics.iter().any(|m| m == name)
            {
                return Err(RecorderError::DuplicateOutput(name.to_owned()));
            }
        }
        let shards = self
            .shards
            .unwrap_or_else(|| {
                let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                (2 * n).min(16)
            })
            .clamp(1, 64)
            .next_power_of_two();
        let ring = self.slots.saturating_add(1);
        let too_large = |what, value| RecorderError::TooLarge {
            what,
            value,
            limit: MAX_CELLS,
        };
        let cells = self
            .versions
            .checked_mul(ring)
            .filter(|c| *c <= MAX_CELLS)
            .ok_or_else(|| {
                too_large("versions × (slots + 1)", self.versions.saturating_mul(ring))
            })?;
        if self.metric_sample_cap > MAX_CELLS {
            return Err(too_large("metric_sample_cap", self.metric_sample_cap));
        }
        Ok(Layout {
            versions: self.versions,
            ring,
            cells,
            shards,
            slot_ms: u64::try_from(self.slot.as_millis()).unwrap_or(u64::MAX),
            metric_names: self.metrics.clone(),
            sample_cap: self.metric_sample_cap,
            outputs: self.outputs.clone(),
        })
    }
}
