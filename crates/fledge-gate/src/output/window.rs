//! [`OutputWindow`]: one model output of one version over a window, numeric
//! ([`NumericOutput`]: sketch and exact moments) or categorical
//! ([`LabelCounts`]); merged exactly across time slots, shards and replicas.

use super::labels::LabelCounts;
use super::sketch::{OutputMergeError, OutputSketch, SketchBucket, SketchLayout};
use super::spec::OutputKind;
use crate::stats::Moments;

/// A numeric output's distribution in a window: the sketch (bucket counts,
/// see [`OutputSketch`] for the accuracy) and exact count, sum, sum of
/// squares, min and max of the raw values.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericOutput {
    pub(crate) sketch: OutputSketch,
    pub(crate) moments: Moments,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) clamped: u64,
}

impl NumericOutput {
    /// Nothing recorded, with this layout.
    pub fn empty(layout: SketchLayout) -> NumericOutput {
        NumericOutput {
            sketch: OutputSketch::new(layout),
            moments: Moments::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            clamped: 0,
        }
    }

    /// Records one value (as the recorder does), for building windows by
    /// hand (tests, simulations). Non-finite values are ignored.
    pub fn push(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.moments.push(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.sketch.record(value, 1) {
            self.clamped += 1;
        }
    }

    /// Values recorded (exact).
    pub fn count(&self) -> u64 {
        self.moments.count
    }
    /// Count, sum and sum of squares of the raw values (exact).
    pub fn moments(&self) -> &Moments {
        &self.moments
    }
    /// Mean of the raw values.
    pub fn mean(&self) -> Option<f64> {
        self.moments.mean()
    }
    /// Sample variance of the raw values.
    pub fn variance(&self) -> Option<f64> {
        self.moments.variance()
    }
    /// Smallest raw value.
    pub fn min(&self) -> Option<f64> {
        (self.moments.count > 0).then_some(self.min)
    }
    /// Largest raw value.
    pub fn max(&self) -> Option<f64> {
        (self.moments.count > 0).then_some(self.max)
    }
    /// Values whose magnitude was above the output's `max_abs` (counted at
    /// `max_abs` in the sketch; exact in the moments).
    pub fn clamped(&self) -> u64 {
        self.clamped
    }
    /// The `q`-quantile from the sketch (the middle of its bucket, kept
    /// within the exact min and max): within `resolution + |v| / 128` of a
    /// value of that rank.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let v = self.sketch.quantile(q)?;
        Some(v.clamp(self.min, self.max))
    }
    /// The non-empty buckets, ascending: the output's histogram.
    pub fn bins(&self) -> Vec<SketchBucket> {
        self.sketch.buckets()
    }
    /// Fraction of values in buckets entirely at or below `x`.
    pub fn cdf(&self, x: f64) -> Option<f64> {
        self.sketch.cdf(x)
    }
    /// The sketch.
    pub fn sketch(&self) -> &OutputSketch {
        &self.sketch
    }

    /// Adds another window's values of the same output (exact).
    pub fn merge(&mut self, other: &NumericOutput) -> Result<(), OutputMergeError> {
        self.sketch.merge(&other.sketch)?;
        self.moments.merge(&other.moments);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.clamped = self.clamped.saturating_add(other.clamped);
        Ok(())
    }
}

/// The data of an [`OutputWindow`].
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per output and window; the sketch's counts are on the heap
pub enum OutputData {
    /// A numeric output.
    Numeric(NumericOutput),
    /// A categorical output.
    Categorical(LabelCounts),
}

/// One model output of one version over a window
/// ([`Window::output`](crate::Window::output)).
///
/// Mergeable exactly ([`OutputWindow::merge`]) and serializable
/// ([`OutputWindow::encode`] / [`OutputWindow::decode`]), so replicas'
/// windows can be joined into a fleet's.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputWindow {
    pub(crate) name: String,
    pub(crate) data: OutputData,
}

impl OutputWindow {
    /// An output window from its parts.
    pub fn new(name: impl Into<String>, data: OutputData) -> OutputWindow {
        OutputWindow {
            name: name.into(),
            data,
        }
    }

    /// The output's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Numeric or categorical.
    pub fn kind(&self) -> OutputKind {
        match self.data {
            OutputData::Numeric(_) => OutputKind::Numeric,
            OutputData::Categorical(_) => OutputKind::Categorical,
        }
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        match &self.data {
            OutputData::Numeric(n) => n.count(),
            OutputData::Categorical(c) => c.total(),
        }
    }

    /// The data.
    pub fn data(&self) -> &OutputData {
        &self.data
    }

    /// The numeric distribution, if numeric.
    pub fn numeric(&self) -> Option<&NumericOutput> {
        match &self.data {
            OutputData::Numeric(n) => Some(n),
            OutputData::Categorical(_) => None,
        }
    }

    /// The label counts, if categorical.
    pub fn categorical(&self) -> Option<&LabelCounts> {
        match &self.data {
            OutputData::Categorical(c) => Some(c),
            OutputData::Numeric(_) => None,
        }
    }

    /// Adds `other` (the same output from another time, shard or replica):
    /// counts, moments and sketch buckets add up exactly, so merging is
    /// associative and commutative. Errors when the names, kinds or
    /// layouts differ, or a count overflows.
    pub fn merge(&mut self, other: &OutputWindow) -> Result<(), OutputMergeError> {
        if self.name != other.name {
            return Err(OutputMergeError::Mismatch {
                a: self.name.clone(),
                b: other.name.clone(),
                why: "different names",
            });
        }
        let name = self.name.clone();
        match (&mut self.data, &other.data) {
            (OutputData::Numeric(a), OutputData::Numeric(b)) => a.merge(b).map_err(|e| match e {
                OutputMergeError::Layout {
                    a_resolution,
                    a_max_abs,
                    b_resolution,
                    b_max_abs,
                    ..
                } => OutputMergeError::Layout {
                    name,
                    a_resolution,
                    a_max_abs,
                    b_resolution,
                    b_max_abs,
                },
                _ => OutputMergeError::Overflow(name),
            }),
            (OutputData::Categorical(a), OutputData::Categorical(b)) => {
                a.merge(b).map_err(|()| OutputMergeError::Overflow(name))
            }
            _ => Err(OutputMergeError::Mismatch {
                a: self.name.clone(),
                b: other.name.clone(),
                why: "one is numeric, the other categorical",
            }),
        }
    }
}
