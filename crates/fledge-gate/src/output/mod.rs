//! Model outputs: what a model answered, recorded per request at response
//! time, so that a canary can be judged on its outputs before any ground
//! truth arrives (output drift).
//!
//! * [`OutputSpec`]: a numeric output (a forecast, a score) or a categorical
//!   one (a class, the top item's category), declared on the
//!   [`RecorderConfig`](crate::RecorderConfig) and resolved once to an
//!   [`OutputId`](crate::recorder::OutputId).
//! * [`OutputSketch`]: a numeric output's distribution as HdrHistogram
//!   buckets of its magnitude in units of a resolution: bounded memory,
//!   allocation-free recording, exact merges (see its accuracy notes).
//! * [`LabelCounts`]: a categorical output's count per label, the labels past
//!   `max_labels` in one `other` count (see `labels.rs` for how labels are
//!   registered without a lock on the request path).
//! * [`OutputWindow`]: one output of one version over a window
//!   ([`Window::output`](crate::Window::output)), mergeable across replicas
//!   and encoded in a compact binary form ([`OutputWindow::encode`],
//!   [`OutputWindow::decode`]).
//!
//! The checks that read outputs (`ks`, `psi`, `chi_square`,
//! `output_mean`) are in [`crate::check`]; the crate docs' *Output drift
//! gates* section explains them.
//!
//! | file | job |
//! |---|---|
//! | `spec.rs` | [`OutputSpec`], [`OutputKind`], limits and defaults, serde form |
//! | `sketch.rs` | [`OutputSketch`], [`SketchLayout`], [`SketchBucket`], [`OutputMergeError`] |
//! | `labels.rs` | the recorder's label registry; [`LabelCounts`] |
//! | `window.rs` | [`OutputWindow`], [`OutputData`], [`NumericOutput`] |
//! | `codec.rs` | the binary form; [`OutputDecodeError`] |

mod codec;
pub(crate) mod labels;
mod sketch;
mod spec;
mod window;

pub use codec::{
    MAX_ENCODED_LABELS, MAX_OUTPUT_BYTES, OUTPUT_FORMAT_VERSION, OUTPUT_MAGIC, OutputDecodeError,
};
pub use labels::LabelCounts;
pub use sketch::{
    OutputMergeError, OutputSketch, SKETCH_SIGNIFICANT_DIGITS, SketchBucket, SketchLayout,
};
pub use spec::{
    DEFAULT_MAX_ABS, DEFAULT_MAX_LABELS, DEFAULT_RESOLUTION, MAX_LABEL_LEN, MAX_LABELS_LIMIT,
    MAX_RANGE, OutputKind, OutputSpec,
};
pub use window::{NumericOutput, OutputData, OutputWindow};
