//! [`OutputSketch`]: the distribution of a numeric output, as two
//! HdrHistograms (magnitudes of negative and of non-negative values, in
//! units of the output's resolution, 2 significant digits), and
//! [`SketchLayout`], the buckets every sketch of one output shares.
//!
//! # Accuracy
//!
//! A value `v` is first rounded to a multiple of the resolution `r`
//! (`|v|` above `max_abs` is clamped to it), then counted in an HdrHistogram
//! bucket of its magnitude in units: buckets are one unit wide below 256
//! units and at most `1/128` of their lower end wide above, so a bucket's
//! representative (its middle) is within `r + |v| / 128` of every value it
//! holds. Counts are exact: a bucket's count is the number of values
//! recorded in its range, so CDFs at bucket edges are exact, and sketches of
//! one layout merge exactly (counts add: associative and commutative).
//!
//! # Memory
//!
//! `2 × (⌈log2(max_abs / r)⌉ − 6) × 128` counters: with the default range
//! (`r = 1e-6`, `max_abs = 1e9`) about 11,000, i.e. 45 KB per recorder
//! cell (4-byte counters) and 90 KB per window (8-byte counters), the size
//! of a latency histogram; a coarser range is smaller (`r = 1e-3`,
//! `max_abs = 1e6`: 25 KB per cell).

use hdrhistogram::{Counter, Histogram};

/// Significant digits of the sketches' HdrHistograms.
pub const SKETCH_SIGNIFICANT_DIGITS: u8 = 2;

/// Why two sketches or outputs could not be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputMergeError {
    /// The sketches do not share a layout (resolution and range).
    #[error(
        "output `{name}`: sketch layouts differ (resolution {a_resolution} / max_abs {a_max_abs} vs {b_resolution} / {b_max_abs}): declare the output alike everywhere"
    )]
    Layout {
        /// The output.
        name: String,
        /// One side's resolution.
        a_resolution: f64,
        /// One side's range.
        a_max_abs: f64,
        /// The other side's resolution.
        b_resolution: f64,
        /// The other side's range.
        b_max_abs: f64,
    },
    /// The outputs differ in name or kind.
    #[error("cannot merge output `{a}` with output `{b}`: {why}")]
    Mismatch {
        /// One side.
        a: String,
        /// The other side.
        b: String,
        /// What differs.
        why: &'static str,
    },
    /// A count overflows.
    #[error("merging output `{0}` overflows a count")]
    Overflow(String),
}

/// The buckets of a numeric output's sketches: its resolution and range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchLayout {
    resolution: f64,
    max_abs: f64,
    /// `1 / resolution`: a multiplication on the request path, not a division.
    inverse: f64,
    /// `ceil(max_abs / resolution)`: the largest magnitude, in units.
    high: u64,
}

impl SketchLayout {
    /// The layout for a validated `(resolution, max_abs)` (see
    /// [`OutputSpec::validate`](super::OutputSpec::validate)).
    pub(crate) fn new(resolution: f64, max_abs: f64) -> SketchLayout {
        let high = (max_abs / resolution)
            .ceil()
            .clamp(2.0, super::spec::MAX_RANGE) as u64;
        SketchLayout {
            resolution,
            max_abs,
            inverse: 1.0 / resolution,
            high,
        }
    }

    /// The layout of a numeric output's sketches; `None` for a categorical
    /// or invalid spec.
    pub fn for_output(spec: &super::OutputSpec) -> Option<SketchLayout> {
        spec.validate().ok()?;
        spec.numeric_range().map(|(r, m)| SketchLayout::new(r, m))
    }

    /// Values are counted as multiples of this.
    pub fn resolution(&self) -> f64 {
        self.resolution
    }

    /// Larger magnitudes are clamped to this.
    pub fn max_abs(&self) -> f64 {
        self.max_abs
    }

    /// An empty histogram of magnitudes, in units.
    pub(crate) fn histogram<T: Counter>(&self) -> Histogram<T> {
        // 1 ..= high (≥ 2) at 2 digits is a valid configuration; `high`
        // is at most 4e18 < 2^63.
        Histogram::new_with_bounds(1, self.high, SKETCH_SIGNIFICANT_DIGITS)
            .or_else(|_| Histogram::new_with_bounds(1, 1 << 62, SKETCH_SIGNIFICANT_DIGITS))
            .unwrap_or_else(|_| unreachable_histogram())
    }

    /// `v` (finite) as `(negative, units, clamped)`: its magnitude rounded
    /// to units and clamped to the range. Values that round to 0 count as
    /// non-negative.
    #[inline]
    pub(crate) fn quantize(&self, v: f64) -> (bool, u64, bool) {
        // Round half up (the value is non-negative) without a libm call;
        // `as` truncates and saturates; non-finite values never reach here.
        let units = (v.abs() * self.inverse + 0.5) as u64;
        let clamped = units > self.high;
        let units = units.min(self.high);
        (v < 0.0 && units > 0, units, clamped)
    }

    /// The value range and representative of a bucket of magnitudes
    /// `lo ..= hi` (units): `(low, high, middle)` in the output's unit.
    fn bucket(&self, negative: bool, lo: u64, hi: u64) -> (f64, f64, f64) {
        let r = self.resolution;
        let (lo, hi) = (lo as f64, hi as f64);
        let mid = (lo + hi) / 2.0 * r;
        if negative {
            (-(hi + 0.5) * r, -(lo - 0.5) * r, -mid)
        } else {
            ((lo - 0.5) * r, (hi + 0.5) * r, mid)
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_histogram<T: Counter>() -> Histogram<T> {
    panic!("hdrhistogram rejected a constant, valid configuration")
}

/// One bucket of an [`OutputSketch`]: the values in `[low, high)` (the
/// zero bucket is `(−r/2, r/2)`), represented by `middle`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchBucket {
    /// Lower edge (inclusive, but for the zero bucket).
    pub low: f64,
    /// Upper edge (exclusive).
    pub high: f64,
    /// The value the bucket's counts stand for in statistics.
    pub middle: f64,
    /// Values in the bucket.
    pub count: u64,
}

/// The distribution of a numeric output in a window: exact counts per
/// bucket.
///
/// A value is rounded to a multiple of the layout's resolution `r` (and
/// clamped at `max_abs`), then counted in an HdrHistogram bucket of its
/// magnitude (2 significant digits): a bucket's middle is within
/// `r + |v| / 128` of every value `v` it holds. Counts are exact, so CDFs
/// at bucket edges are exact and sketches of one layout merge exactly.
/// About 5,600 counters per sign with the default range.
#[derive(Clone)]
pub struct OutputSketch {
    pub(crate) layout: SketchLayout,
    /// Magnitudes of values ≥ 0 (and of those that round to 0), in units.
    pub(crate) pos: Histogram<u64>,
    /// Magnitudes of negative values, in units (≥ 1).
    pub(crate) neg: Histogram<u64>,
}

impl std::fmt::Debug for OutputSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSketch")
            .field("layout", &self.layout)
            .field("count", &self.count())
            .finish()
    }
}

impl PartialEq for OutputSketch {
    fn eq(&self, other: &Self) -> bool {
        self.layout == other.layout && self.buckets() == other.buckets()
    }
}

impl OutputSketch {
    /// An empty sketch of this layout.
    pub fn new(layout: SketchLayout) -> OutputSketch {
        OutputSketch {
            layout,
            pos: layout.histogram(),
            neg: layout.histogram(),
        }
    }

    /// The bucket layout.
    pub fn layout(&self) -> SketchLayout {
        self.layout
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.pos.len().saturating_add(self.neg.len())
    }

    /// Counts one finite value (`record_n` of its bucket); returns whether
    /// it was clamped to the range. Non-finite values are ignored.
    pub fn record(&mut self, value: f64, count: u64) -> bool {
        if !value.is_finite() || count == 0 {
            return false;
        }
        let (negative, units, clamped) = self.layout.quantize(value);
        let h = if negative {
            &mut self.neg
        } else {
            &mut self.pos
        };
        h.saturating_record_n(units, count);
        clamped
    }

    /// The non-empty buckets, in ascending order of value.
    pub fn buckets(&self) -> Vec<SketchBucket> {
        let mut out = Vec::new();
        let mut neg: Vec<SketchBucket> = self
            .neg
            .iter_recorded()
            .map(|v| {
                let hi = v.value_iterated_to();
                let lo = self.neg.lowest_equivalent(hi);
                let (low, high, middle) = self.layout.bucket(true, lo, hi);
                SketchBucket {
                    low,
                    high,
                    middle,
                    count: v.count_at_value(),
                }
            })
            .collect();
        neg.reverse();
        out.append(&mut neg);
        out.extend(self.pos.iter_recorded().map(|v| {
            let hi = v.value_iterated_to();
            let lo = self.pos.lowest_equivalent(hi);
            let (low, high, middle) = self.layout.bucket(false, lo, hi);
            SketchBucket {
                low,
                high,
                middle,
                count: v.count_at_value(),
            }
        }));
        out
    }

    /// `(middle, count)` per non-empty bucket, ascending: the input of the
    /// weighted tests ([`crate::stats::ks_2samp_weighted`],
    /// [`crate::stats::psi_weighted`]). Two sketches of one layout give
    /// equal middles for equal buckets, so ties are exact.
    pub fn weighted(&self) -> Vec<(f64, u64)> {
        self.buckets()
            .into_iter()
            .map(|b| (b.middle, b.count))
            .collect()
    }

    /// Fraction of the values in buckets entirely at or below `x` (a lower
    /// bound of the CDF at `x`; exact at bucket edges). `None` when empty.
    pub fn cdf(&self, x: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || x.is_nan() {
            return None;
        }
        let below: u64 = self
            .buckets()
            .iter()
            .filter(|b| b.high <= x)
            .map(|b| b.count)
            .sum();
        Some(below as f64 / n as f64)
    }

    /// The middle of the bucket holding the `q`-quantile (the value of
    /// rank `max(1, ⌈q n⌉)`), `None` when empty or `q` is not in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for b in self.buckets() {
            seen += b.count;
            if seen >= rank {
                return Some(b.middle);
            }
        }
        None
    }

    /// Adds `other`'s counts (exact). Errors when the layouts differ.
    pub fn merge(&mut self, other: &OutputSketch) -> Result<(), OutputMergeError> {
        if self.layout != other.layout {
            return Err(self.layout_error(&other.layout));
        }
        // Same bounds on both sides: cannot fail but on overflow.
        self.pos
            .add(&other.pos)
            .and_then(|()| self.neg.add(&other.neg))
            .map_err(|_| OutputMergeError::Overflow(String::new()))
    }

    pub(crate) fn layout_error(&self, other: &SketchLayout) -> OutputMergeError {
        OutputMergeError::Layout {
            name: String::new(),
            a_resolution: self.layout.resolution,
            a_max_abs: self.layout.max_abs,
            b_resolution: other.resolution,
            b_max_abs: other.max_abs,
        }
    }

    /// Adds a recorder slot's counts.
    pub(crate) fn add_slot(&mut self, pos: &Histogram<u32>, neg: &Histogram<u32>) {
        for (into, from) in [(&mut self.pos, pos), (&mut self.neg, neg)] {
            if from.is_empty() {
                continue;
            }
            for v in from.iter_recorded() {
                into.saturating_record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
            }
        }
    }

    /// Magnitude histograms, for the codec: `(negative, non-negative)`.
    pub(crate) fn parts(&self) -> (&Histogram<u64>, &Histogram<u64>) {
        (&self.neg, &self.pos)
    }

    /// Counts `count` values of magnitude `units` (already in range) on a
    /// side, for the codec; `false` when out of range.
    pub(crate) fn record_units(&mut self, negative: bool, units: u64, count: u64) -> bool {
        let h = if negative {
            &mut self.neg
        } else {
            &mut self.pos
        };
        h.record_n(units, count).is_ok()
    }

    /// Counters per side (the memory a sketch takes is this × 2 × the
    /// counter's size).
    pub fn counters_per_side(&self) -> usize {
        self.pos.distinct_values()
    }

    /// The highest magnitude, in units, a bucket names (the top of the
    /// bucket holding the range's end).
    pub(crate) fn high_units(&self) -> u64 {
        self.pos.highest_equivalent(self.layout.high)
    }

    /// The top of the bucket holding `units` on a side.
    pub(crate) fn highest_equivalent(&self, negative: bool, units: u64) -> u64 {
        let h = if negative { &self.neg } else { &self.pos };
        h.highest_equivalent(units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_contiguous() {
        let layout = SketchLayout::new(0.01, 1e6);
        let mut s = OutputSketch::new(layout);
        for v in [-500.0, -3.0, -0.004, 0.0, 0.004, 2.0, 2.004, 99.0, 12_345.0] {
            s.record(v, 1);
        }
        let b = s.buckets();
        assert!(b.windows(2).all(|w| w[0].high <= w[1].low + 1e-9));
        assert!(b.iter().all(|x| x.low <= x.middle && x.middle < x.high));
        assert_eq!(s.count(), 9);
        // -0.004 and 0.004 round to 0: the zero bucket holds three values.
        let zero = b.iter().find(|x| x.middle == 0.0).unwrap();
        assert_eq!(zero.count, 3);
        let low = s.quantile(0.0).unwrap();
        assert!((low / -500.0 - 1.0).abs() < 1.0 / 128.0, "{low}");
        assert!((s.quantile(1.0).unwrap() / 12_345.0 - 1.0).abs() < 1.0 / 128.0);
    }

    #[test]
    fn clamps_beyond_the_range() {
        let mut s = OutputSketch::new(SketchLayout::new(1.0, 100.0));
        assert!(s.record(1e9, 1));
        assert!(s.record(-1e9, 1));
        assert!(!s.record(50.0, 1));
        assert_eq!(s.count(), 3);
    }

    #[test]
    fn default_memory() {
        let s = OutputSketch::new(SketchLayout::new(1e-6, 1e9));
        let n = s.counters_per_side();
        assert!(n > 5_000 && n < 6_000, "{n}");
    }
}
