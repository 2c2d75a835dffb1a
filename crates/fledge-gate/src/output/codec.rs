//! The binary form of an [`OutputWindow`]: what a replica publishes so that
//! a fleet's windows can be merged ([`OutputWindow::encode`],
//! [`OutputWindow::decode`]).
//!
//! # Format (version 1)
//!
//! Little-endian; `varint` is unsigned LEB128 in its shortest form (at
//! most 10 bytes; an overlong one is refused), `f64`
//! IEEE-754 in 8 bytes, `str` a varint length and UTF-8 bytes.
//!
//! ```text
//! "FLOW" u8:format-version(1) str:name u8:kind (0 numeric, 1 categorical)
//! numeric:
//!   f64:resolution f64:max_abs
//!   varint:count f64:sum f64:sum_sq f64:min f64:max varint:clamped
//!   twice (negative magnitudes, then non-negative):
//!     varint:buckets, per bucket: varint:units-delta varint:count
//! categorical:
//!   varint:max_labels varint:labels, per label: str:label varint:count
//!   varint:other
//! ```
//!
//! A bucket is named by the largest magnitude it holds, in units of the
//! resolution (what HdrHistogram iterates to), as the difference from the
//! previous bucket's (from 0 for the first): strictly increasing, so each
//! bucket is written once. Labels are sorted and distinct. So an encoding
//! is canonical: `encode(decode(b)) == b` for every `b` that decodes.
//!
//! Decoding never panics and allocates nothing it has not checked against
//! the bytes left or the format's limits: anything it cannot read is an
//! [`OutputDecodeError`] naming the field.

use super::labels::LabelCounts;
use super::sketch::{OutputSketch, SketchLayout};
use super::spec::{MAX_LABEL_LEN, MAX_LABELS_LIMIT, MAX_RANGE};
use super::window::{NumericOutput, OutputData, OutputWindow};
use crate::codec::{Reader, from_read_error, put_f64, put_str, put_varint};
use crate::metric::validate_custom_name;
use crate::stats::Moments;

/// The first bytes of every encoded output window.
pub const OUTPUT_MAGIC: [u8; 4] = *b"FLOW";
/// The format version this build writes and reads.
pub const OUTPUT_FORMAT_VERSION: u8 = 1;
/// The largest encoding [`OutputWindow::decode`] accepts (4 MiB).
pub const MAX_OUTPUT_BYTES: usize = 4 << 20;
/// The most labels one encoded window may hold (merged windows hold the
/// union of their parts' labels).
pub const MAX_ENCODED_LABELS: u64 = 65_536;

/// Why bytes could not be decoded into an [`OutputWindow`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputDecodeError {
    /// The bytes end inside a field.
    #[error("the output window is truncated: it ends inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The bytes do not start with [`OUTPUT_MAGIC`].
    #[error("not an output window: it does not start with \"FLOW\"")]
    BadMagic,
    /// A format version this build cannot read.
    #[error(
        "output window format version {found} is not supported (this build reads version {OUTPUT_FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// A count or length above the format's limits.
    #[error("{what} is {value}, above the limit of {limit}")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The largest accepted.
        limit: u64,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Bytes are left after the last field.
    #[error("{count} unexpected byte(s) after the end of the output window")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl OutputWindow {
    /// The window in the binary form described in [`crate::output`]'s
    /// codec notes: about 2–4 bytes per non-empty sketch bucket, the label
    /// bytes plus a varint per label.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&OUTPUT_MAGIC);
        out.push(OUTPUT_FORMAT_VERSION);
        put_str(&mut out, &self.name);
        match &self.data {
            OutputData::Numeric(n) => {
                out.push(0);
                let layout = n.sketch.layout();
                put_f64(&mut out, layout.resolution());
                put_f64(&mut out, layout.max_abs());
                put_varint(&mut out, n.moments.count);
                put_f64(&mut out, n.moments.sum);
                put_f64(&mut out, n.moments.sum_sq);
                put_f64(&mut out, n.min);
                put_f64(&mut out, n.max);
                put_varint(&mut out, n.clamped);
                let (neg, pos) = n.sketch.parts();
                for side in [neg, pos] {
                    let buckets: Vec<(u64, u64)> = side
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect();
                    put_varint(&mut out, buckets.len() as u64);
                    let mut prev = 0u64;
                    for (units, count) in buckets {
                        put_varint(&mut out, units - prev);
                        put_varint(&mut out, count);
                        prev = units;
                    }
                }
            }
            OutputData::Categorical(c) => {
                out.push(1);
                put_varint(&mut out, c.max_labels as u64);
                put_varint(&mut out, c.labels.len() as u64);
                for (label, count) in &c.labels {
                    put_str(&mut out, label);
                    put_varint(&mut out, *count);
                }
                put_varint(&mut out, c.other);
            }
        }
        out
    }

    /// Reads bytes written by [`OutputWindow::encode`] (by this or another
    /// replica), checking every field: see [`OutputDecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<OutputWindow, OutputDecodeError> {
        if bytes.len() > MAX_OUTPUT_BYTES {
            return Err(OutputDecodeError::TooLarge {
                what: "the encoding's length",
                value: bytes.len() as u64,
                limit: MAX_OUTPUT_BYTES as u64,
            });
        }
        let mut r = Reader::canonical(bytes);
        if r.take(4, "the magic")? != OUTPUT_MAGIC {
            return Err(OutputDecodeError::BadMagic);
        }
        let version = r.u8("the format version")?;
        if version != OUTPUT_FORMAT_VERSION {
            return Err(OutputDecodeError::UnsupportedVersion { found: version });
        }
        let name = r.string("the output name", 64)?;
        validate_custom_name(&name).map_err(|reason| invalid("output name", reason))?;
        let data = match r.u8("the kind")? {
            0 => OutputData::Numeric(numeric(&mut r)?),
            1 => OutputData::Categorical(categorical(&mut r)?),
            k => return Err(invalid("kind", format!("{k} (0 numeric, 1 categorical)"))),
        };
        if r.left() != 0 {
            return Err(OutputDecodeError::TrailingBytes { count: r.left() });
        }
        Ok(OutputWindow { name, data })
    }
}

from_read_error!(OutputDecodeError);

fn invalid(what: &'static str, detail: impl Into<String>) -> OutputDecodeError {
    OutputDecodeError::Invalid {
        what,
        detail: detail.into(),
    }
}

fn numeric(r: &mut Reader<'_>) -> Result<NumericOutput, OutputDecodeError> {
    let resolution = r.f64("the resolution")?;
    let max_abs = r.f64("max_abs")?;
    if !(resolution.is_finite() && resolution > 0.0) {
        return Err(invalid("resolution", format!("{resolution}")));
    }
    if !(max_abs.is_finite() && max_abs >= 2.0 * resolution && max_abs / resolution <= MAX_RANGE) {
        return Err(invalid(
            "max_abs",
            format!("{max_abs} with resolution {resolution}"),
        ));
    }
    let count = r.varint("the count")?;
    let sum = r.f64("the sum")?;
    let sum_sq = r.f64("the sum of squares")?;
    let min = r.f64("the minimum")?;
    let max = r.f64("the maximum")?;
    let clamped = r.varint("the clamped count")?;
    if !(sum.is_finite() && sum_sq.is_finite() && sum_sq >= 0.0) {
        return Err(invalid(
            "moments",
            format!("sum {sum}, sum of squares {sum_sq}"),
        ));
    }
    if count > 0 && !(min.is_finite() && max.is_finite() && min <= max) {
        return Err(invalid("min/max", format!("{min} / {max}")));
    }
    if count == 0 && (min != f64::INFINITY || max != f64::NEG_INFINITY || sum != 0.0) {
        return Err(invalid("moments", "an empty output with values"));
    }
    if clamped > count {
        return Err(invalid("clamped count", format!("{clamped} of {count}")));
    }
    let layout = SketchLayout::new(resolution, max_abs);
    let mut sketch = OutputSketch::new(layout);
    let limit = sketch.counters_per_side() as u64;
    let high = sketch.high_units();
    let mut counted: u64 = 0;
    for negative in [true, false] {
        let what = if negative {
            "negative buckets"
        } else {
            "non-negative buckets"
        };
        let buckets = r.varint(what)?;
        if buckets > limit {
            return Err(OutputDecodeError::TooLarge {
                what,
                value: buckets,
                limit,
            });
        }
        let mut prev: Option<u64> = None;
        for _ in 0..buckets {
            let delta = r.varint("a bucket's units")?;
            let n = r.varint("a bucket's count")?;
            let units = prev.unwrap_or(0).checked_add(delta).filter(|&u| u <= high);
            let Some(units) = units else {
                return Err(invalid("bucket", format!("beyond {high} units")));
            };
            if (prev.is_some() && delta == 0) || n == 0 || (negative && units == 0) {
                return Err(invalid(
                    "bucket",
                    "repeated, empty, or a negative bucket at 0",
                ));
            }
            // Canonical: the largest magnitude of its bucket.
            if sketch.highest_equivalent(negative, units) != units {
                return Err(invalid(
                    "bucket",
                    format!("{units} is not the top of its bucket"),
                ));
            }
            if !sketch.record_units(negative, units, n) {
                return Err(invalid("bucket", format!("{units} units out of range")));
            }
            counted = counted
                .checked_add(n)
                .ok_or_else(|| invalid("bucket counts", "overflow"))?;
            prev = Some(units);
        }
    }
    if counted != count {
        return Err(invalid(
            "bucket counts",
            format!("they add up to {counted}, the count is {count}"),
        ));
    }
    Ok(NumericOutput {
        sketch,
        moments: Moments { count, sum, sum_sq },
        min,
        max,
        clamped,
    })
}

fn categorical(r: &mut Reader<'_>) -> Result<LabelCounts, OutputDecodeError> {
    let max_labels = r.varint("max_labels")?;
    if !(1..=MAX_LABELS_LIMIT as u64).contains(&max_labels) {
        return Err(invalid("max_labels", max_labels.to_string()));
    }
    let n = r.varint("the label count")?;
    if n > MAX_ENCODED_LABELS {
        return Err(OutputDecodeError::TooLarge {
            what: "the label count",
            value: n,
            limit: MAX_ENCODED_LABELS,
        });
    }
    // Each label takes at least 2 bytes: no allocation beyond the input.
    let mut labels: Vec<(String, u64)> = Vec::with_capacity((n as usize).min(r.left() / 2));
    for _ in 0..n {
        let label = r.string("a label", MAX_LABEL_LEN as u64)?;
        let count = r.varint("a label's count")?;
        if count == 0 {
            return Err(invalid(
                "label count",
                format!("label {label:?} has count 0"),
            ));
        }
        if labels.last().is_some_and(|(l, _)| *l >= label) {
            return Err(invalid("labels", "not sorted and distinct"));
        }
        labels.push((label, count));
    }
    let other = r.varint("the other count")?;
    let mut total = other;
    for (_, c) in &labels {
        total = total
            .checked_add(*c)
            .ok_or_else(|| invalid("label counts", "overflow"))?;
    }
    Ok(LabelCounts {
        labels,
        other,
        max_labels: max_labels as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_window() -> OutputWindow {
        let mut n = NumericOutput::empty(SketchLayout::new(1e-3, 1e6));
        for v in [-12.5, -0.0001, 0.0, 3.25, 3.25, 100.0, 2e6] {
            n.push(v);
        }
        OutputWindow::new("forecast", OutputData::Numeric(n))
    }

    fn labels_window() -> OutputWindow {
        let mut c = LabelCounts::new(10);
        c.add("books", 7).unwrap();
        c.add("garden", 2).unwrap();
        c.other = 3;
        OutputWindow::new("top_category", OutputData::Categorical(c))
    }

    #[test]
    fn round_trips() {
        for w in [numeric_window(), labels_window()] {
            let bytes = w.encode();
            let back = OutputWindow::decode(&bytes).unwrap();
            assert_eq!(back, w);
            assert_eq!(back.encode(), bytes);
        }
        let n = numeric_window();
        assert_eq!(n.numeric().unwrap().clamped(), 1);
        assert!(n.encode().len() < 120, "{}", n.encode().len());
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let good = numeric_window().encode();
        for cut in 0..good.len() {
            assert!(OutputWindow::decode(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(matches!(
            OutputWindow::decode(&extra),
            Err(OutputDecodeError::TrailingBytes { count: 1 })
        ));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(OutputWindow::decode(&bad), Err(OutputDecodeError::BadMagic));
        // Flip every byte in turn: decode either fails or gives a valid window.
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x5a;
            if let Ok(w) = OutputWindow::decode(&b) {
                assert_eq!(OutputWindow::decode(&w.encode()).unwrap(), w);
            }
        }
    }
}
