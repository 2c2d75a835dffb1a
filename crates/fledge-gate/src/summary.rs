//! Window summaries: one process's per-version [`Window`]s in a compact,
//! versioned binary form, to be merged with other processes' into the
//! windows of a whole fleet.
//!
//! A replica of a serving fleet takes a [`WindowSummary`] of its recorder
//! ([`WindowSummary::from_recorder`]) and publishes its
//! [`encode`](WindowSummary::encode)d bytes; whoever judges the fleet
//! [`decode`](WindowSummary::decode)s every replica's summary and
//! [`merge`](merge_windows)s them version by version into one [`Window`]
//! per version, which the same checks and [`Judge`](crate::Judge) read as
//! if one process had served all the traffic.
//!
//! # What merges exactly, and what does not
//!
//! - Request and error counts, cumulative [`Totals`] and every custom
//!   metric's count, sum, sum of squares, minimum and maximum: exact sums.
//! - The latency histogram: exact. It is carried in HdrHistogram's V2
//!   encoding (the one every HdrHistogram library reads: zig-zag LEB128
//!   counts, runs of zeros folded), and the counts of equal buckets add up.
//! - Custom metrics' raw samples (read by rank tests on custom metrics):
//!   each summary carries at most a bounded number per version and metric,
//!   thinned evenly; the merge takes from each summary a share proportional
//!   to its metric's count, so the merged sample is weighted like the
//!   traffic, not by replica.
//! - Model outputs ([`OutputWindow`]s: numeric sketches and label counts):
//!   exact, merged by name with [`OutputWindow::merge`]. An output whose
//!   parts cannot merge (replicas declaring it differently) is left out of
//!   the merged window, so a drift gate reading it is Inconclusive, never
//!   Pass.
//! - Time: a merged window covers from the earliest start to the latest end
//!   of its parts.
//!
//! # Format (version 1)
//!
//! Little-endian; `varint` is unsigned LEB128, `f64` IEEE-754 in 8 bytes,
//! `str` a varint length and UTF-8 bytes.
//!
//! ```text
//! "FLWS" u8:format-version(1)
//! str:source varint:seq varint:taken_at_ms varint:span_ms varint:window-count
//! per window:
//!   varint:version varint:start_ms varint:end_ms varint:requests varint:errors
//!   varint:latency-bytes [HdrHistogram V2 bytes, 0 when empty]
//!   varint:metric-count, per metric:
//!     str:name varint:count f64:sum f64:sum_sq f64:min f64:max
//!     varint:sample-count f64*
//!   totals: varint:requests varint:errors varint:count f64:sum f64:sum_sq
//!     varint:metric-count, per metric: str:name varint:count f64:sum f64:sum_sq
//!   varint:output-count, per output: varint:length [OutputWindow::encode bytes]
//! ```
//!
//! Decoding never panics on outside input: anything it cannot read is a
//! [`SummaryError`] naming what, and every length is checked against the
//! bytes left before anything is allocated.
//!
//! ```
//! use std::time::Duration;
//! use fledge_gate::clock::Timestamp;
//! use fledge_gate::summary::{WindowSummary, merge_windows};
//! use fledge_gate::{Recorder, RecorderConfig};
//!
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let span = Duration::from_secs(60);
//! let mut parts = Vec::new();
//! for (replica, errors_every) in [("replica-a", 10), ("replica-b", 50)] {
//!     let recorder = Recorder::new(RecorderConfig::new(2))?;
//!     for i in 0..1_000u64 {
//!         recorder.record(1, Duration::from_millis(10 + i % 7), i % errors_every == 0);
//!     }
//!     let summary = WindowSummary::from_recorder(&recorder, replica, 1, now, span, 64)?;
//!     let bytes = summary.encode(); // what a replica publishes
//!     parts.push(WindowSummary::decode(&bytes)?);
//! }
//! let canary = merge_windows(parts.iter().filter_map(|s| s.window(1)), 256)?;
//! assert_eq!(canary.requests(), 2_000);
//! assert_eq!(canary.errors(), 100 + 20);
//! assert_eq!(canary.latency().count(), 2_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::LazyLock;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::clock::Timestamp;
use crate::codec::{Reader, from_read_error, put_f64, put_str, put_varint};
use crate::output::{MAX_OUTPUT_BYTES, OutputWindow};
use crate::recorder::{Recorder, RecorderError, new_histogram};
use crate::stats::Moments;
use crate::window::{Latency, MetricWindow, Totals, Window};

/// The first bytes of every encoded summary.
pub const SUMMARY_MAGIC: [u8; 4] = *b"FLWS";
/// The format version this build writes and reads.
pub const SUMMARY_FORMAT_VERSION: u8 = 1;
/// The largest encoded summary [`WindowSummary::decode`] accepts (16 MiB).
pub const MAX_SUMMARY_BYTES: usize = 16 << 20;
/// Samples per version and custom metric a summary keeps by default.
pub const DEFAULT_SUMMARY_SAMPLES: usize = 64;

/// The most windows (versions) one summary holds.
const MAX_WINDOWS: u64 = 1_024;
/// The most custom metrics per window.
const MAX_METRICS: u64 = 1_024;
/// The most model outputs per window.
const MAX_OUTPUTS: u64 = 256;
/// The longest source name.
const MAX_SOURCE_LEN: u64 = 256;
/// The longest metric name (the recorder's limit).
const MAX_NAME_LEN: u64 = 64;

/// HdrHistogram's V2 cookie (uncompressed), as its serializers write it.
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
/// The V2 header: cookie, payload length, normalizing offset, significant
/// digits (u32 each), lowest and highest trackable value (u64 each), and
/// the integer-to-double ratio (f64), all big-endian.
const V2_HEADER_LEN: usize = 40;

/// Why a summary could not be decoded or merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// The bytes end before the field.
    #[error("the summary is truncated: it ends inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The bytes do not start with [`SUMMARY_MAGIC`].
    #[error("not a window summary: it does not start with \"FLWS\"")]
    BadMagic,
    /// A format version this build cannot read.
    #[error(
        "window summary format version {found} is not supported (this build reads version {supported}): upgrade the replica that reads it"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u8,
        /// The version this build reads.
        supported: u8,
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
    #[error("{count} unexpected byte(s) after the end of the summary")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A model output's encoding cannot be read.
    #[error("model output {index} of a window: {source}")]
    Output {
        /// Its position in the window.
        index: usize,
        /// Why it cannot be read.
        #[source]
        source: crate::output::OutputDecodeError,
    },
    /// Adding the parts up overflows a counter.
    #[error("merging overflows {what}")]
    Overflow {
        /// The counter.
        what: &'static str,
    },
}

/// One process's windows, one per version, taken at one time: what a
/// replica publishes for the fleet to be judged as a whole.
///
/// See the [module docs](self) for the format and what merges exactly.
#[derive(Debug, Clone)]
pub struct WindowSummary {
    source: String,
    seq: u64,
    taken_at: Timestamp,
    span: Duration,
    windows: Vec<Window>,
}

impl WindowSummary {
    /// A summary of `windows` (one per version, any order) taken by
    /// `source` (a replica's name, at most 256 bytes when encoded) as its
    /// `seq`-th summary at `taken_at`, over windows of `span`.
    pub fn new(
        source: impl Into<String>,
        seq: u64,
        taken_at: Timestamp,
        span: Duration,
        windows: Vec<Window>,
    ) -> WindowSummary {
        WindowSummary {
            source: source.into(),
            seq,
            taken_at,
            span,
            windows,
        }
    }

    /// The windows of every version of `recorder` over `span` at `now`
    /// (see [`Recorder::window`]), keeping at most `samples` raw samples per
    /// version and custom metric (thinned evenly).
    pub fn from_recorder(
        recorder: &Recorder,
        source: impl Into<String>,
        seq: u64,
        now: Timestamp,
        span: Duration,
        samples: usize,
    ) -> Result<WindowSummary, RecorderError> {
        let windows = (0..recorder.versions())
            .map(|v| {
                let mut w = recorder.window(v, now, span)?;
                for m in &mut w.metrics {
                    m.samples = thin(&m.samples, samples);
                }
                Ok(w)
            })
            .collect::<Result<Vec<_>, RecorderError>>()?;
        Ok(WindowSummary::new(source, seq, now, span, windows))
    }

    /// Who took it (a replica's name).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Its sequence number at its source (one more per summary taken).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When its source took it, by its source's clock.
    pub fn taken_at(&self) -> Timestamp {
        self.taken_at
    }

    /// The span its windows were asked for.
    pub fn span(&self) -> Duration {
        self.span
    }

    /// Its windows.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The window of version index `version`, if it holds one.
    pub fn window(&self, version: usize) -> Option<&Window> {
        self.windows.iter().find(|w| w.version == version)
    }

    /// Requests in all its windows.
    pub fn requests(&self) -> u64 {
        self.windows
            .iter()
            .fold(0u64, |n, w| n.saturating_add(w.requests))
    }

    /// The encoded bytes (see the [module docs](self) for the format).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 512 * self.windows.len());
        out.extend_from_slice(&SUMMARY_MAGIC);
        out.push(SUMMARY_FORMAT_VERSION);
        // Longer names are cut (on a character boundary) rather than
        // written unreadable.
        put_str(&mut out, truncate(&self.source, MAX_SOURCE_LEN as usize));
        put_varint(&mut out, self.seq);
        put_varint(&mut out, self.taken_at.as_millis());
        put_varint(
            &mut out,
            u64::try_from(self.span.as_millis()).unwrap_or(u64::MAX),
        );
        put_varint(&mut out, self.windows.len() as u64);
        for w in &self.windows {
            encode_window(&mut out, w);
        }
        out
    }

    /// Reads an encoded summary; any input that is not one is a
    /// [`SummaryError`], never a panic.
    pub fn decode(bytes: &[u8]) -> Result<WindowSummary, SummaryError> {
        let mut r = Reader::new(bytes);
        let (source, seq, taken_at, span) = decode_head(&mut r)?;
        let raw = decode_rest(&mut r)?;
        let windows = raw
            .into_iter()
            .map(|(mut w, pairs)| {
                w.latency = Latency {
                    hist: histogram_of(&pairs),
                };
                w
            })
            .collect();
        Ok(WindowSummary {
            source,
            seq,
            taken_at,
            span,
            windows,
        })
    }
}

/// The magic, the format version, the source, sequence number, time and
/// span.
fn decode_head(r: &mut Reader<'_>) -> Result<(String, u64, Timestamp, Duration), SummaryError> {
    if r.size() > MAX_SUMMARY_BYTES {
        return Err(SummaryError::TooLarge {
            what: "the encoded summary's size",
            value: r.size() as u64,
            limit: MAX_SUMMARY_BYTES as u64,
        });
    }
    let magic = r.take(4, "the magic bytes")?;
    if magic != SUMMARY_MAGIC {
        return Err(SummaryError::BadMagic);
    }
    let version = r.u8("the format version")?;
    if version != SUMMARY_FORMAT_VERSION {
        return Err(SummaryError::UnsupportedVersion {
            found: version,
            supported: SUMMARY_FORMAT_VERSION,
        });
    }
    let source = r.string("the source", MAX_SOURCE_LEN)?;
    let seq = r.varint("the sequence number")?;
    let taken_at = Timestamp::from_millis(r.varint("the time taken")?);
    let span = Duration::from_millis(r.varint("the span")?);
    Ok((source, seq, taken_at, span))
}

/// The windows, up to the end of the bytes.
fn decode_rest(r: &mut Reader<'_>) -> Result<Vec<RawWindow>, SummaryError> {
    let count = r.count("the window count", MAX_WINDOWS, 8)?;
    let mut windows = Vec::with_capacity(count);
    for _ in 0..count {
        windows.push(decode_window(r)?);
    }
    if r.left() != 0 {
        return Err(SummaryError::TrailingBytes { count: r.left() });
    }
    Ok(windows)
}

/// What [`SummaryMerge::add_encoded`] read about one summary.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedPart {
    /// Its source.
    pub source: String,
    /// Its sequence number.
    pub seq: u64,
    /// When its source took it.
    pub taken_at: Timestamp,
    /// Requests in its windows.
    pub requests: u64,
}

/// Merges many encoded summaries version by version, without building
/// each one's histograms: each summary is decoded whole (a summary that
/// does not decode changes nothing), then its buckets are added into one
/// histogram per version. The fast path of a fleet leader reading a
/// thousand replicas; the result equals [`merge_windows`] of the decoded
/// summaries.
#[derive(Debug)]
pub struct SummaryMerge {
    sample_cap: usize,
    parts: usize,
    versions: Vec<Option<Accumulated>>,
}

#[derive(Debug)]
struct Accumulated {
    window: Window,
    /// Latency counts by bucket index of the recorder's layout (empty
    /// until a part has latencies).
    counts: Vec<u64>,
    /// Per metric (in `window.metrics` order): each part's count and samples.
    samples: Vec<Vec<(u64, Vec<f64>)>>,
    /// Outputs whose parts could not merge: left out of the result.
    conflicted: Vec<String>,
}

impl SummaryMerge {
    /// An empty merge keeping at most `sample_cap` custom-metric samples
    /// per merged window.
    pub fn new(sample_cap: usize) -> SummaryMerge {
        SummaryMerge {
            sample_cap,
            parts: 0,
            versions: Vec::new(),
        }
    }

    /// Summaries added so far.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// Decodes `bytes` and adds its windows; on error nothing is added.
    pub fn add_encoded(&mut self, bytes: &[u8]) -> Result<MergedPart, SummaryError> {
        let mut r = Reader::new(bytes);
        let (source, seq, taken_at, _span) = decode_head(&mut r)?;
        let raw = decode_rest(&mut r)?;
        let requests = raw
            .iter()
            .fold(0u64, |n, (w, _)| n.saturating_add(w.requests));
        for (window, pairs) in raw {
            self.add_raw(window, &pairs);
        }
        self.parts += 1;
        Ok(MergedPart {
            source,
            seq,
            taken_at,
            requests,
        })
    }

    /// Adds a decoded summary's windows.
    pub fn add(&mut self, summary: &WindowSummary) {
        for w in &summary.windows {
            let pairs: Vec<(u32, u32)> = w.latency.hist.as_ref().map_or_else(Vec::new, |h| {
                h.iter_all()
                    .enumerate()
                    .filter(|(_, v)| v.count_at_value() > 0)
                    .map(|(i, v)| (i as u32, v.count_at_value()))
                    .collect()
            });
            let mut window = w.clone();
            window.latency = Latency::empty();
            self.add_raw(window, &pairs);
        }
        self.parts += 1;
    }

    fn add_raw(&mut self, w: Window, pairs: &[(u32, u32)]) {
        let v = w.version;
        if self.versions.len() <= v {
            self.versions.resize_with(v + 1, || None);
        }
        let slot = &mut self.versions[v];
        let Some(acc) = slot else {
            let samples = w
                .metrics
                .iter()
                .map(|m| vec![(m.moments.count, m.samples.clone())])
                .collect();
            let mut acc = Accumulated {
                counts: Vec::new(),
                samples,
                window: w,
                conflicted: Vec::new(),
            };
            add_counts(&mut acc.counts, pairs);
            *slot = Some(acc);
            return;
        };
        let into = &mut acc.window;
        into.start = into.start.min(w.start);
        into.end = into.end.max(w.end);
        into.requests = into.requests.saturating_add(w.requests);
        into.errors = into.errors.saturating_add(w.errors);
        add_counts(&mut acc.counts, pairs);
        for m in w.metrics {
            let at = match into.metrics.iter().position(|x| x.name == m.name) {
                Some(i) => i,
                None => {
                    into.metrics.push(MetricWindow {
                        name: m.name.clone(),
                        moments: Moments::default(),
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        samples: Vec::new(),
                    });
                    acc.samples.push(Vec::new());
                    into.metrics.len() - 1
                }
            };
            let x = &mut into.metrics[at];
            x.moments.count = x.moments.count.saturating_add(m.moments.count);
            x.moments.sum += m.moments.sum;
            x.moments.sum_sq += m.moments.sum_sq;
            if m.moments.count > 0 {
                x.min = x.min.min(m.min);
                x.max = x.max.max(m.max);
            }
            acc.samples[at].push((m.moments.count, m.samples));
        }
        merge_outputs(&mut into.outputs, &mut acc.conflicted, &w.outputs);
        let t = &mut into.totals;
        t.requests = t.requests.saturating_add(w.totals.requests);
        t.errors = t.errors.saturating_add(w.totals.errors);
        t.latency_ms.count = t.latency_ms.count.saturating_add(w.totals.latency_ms.count);
        t.latency_ms.sum += w.totals.latency_ms.sum;
        t.latency_ms.sum_sq += w.totals.latency_ms.sum_sq;
        for (name, m) in w.totals.metrics {
            match t.metrics.iter_mut().find(|(n, _)| *n == name) {
                Some((_, acc)) => {
                    acc.count = acc.count.saturating_add(m.count);
                    acc.sum += m.sum;
                    acc.sum_sq += m.sum_sq;
                }
                None => t.metrics.push((name, m)),
            }
        }
    }

    /// The merged window of each version index up to the highest seen (an
    /// empty window, ending at `now`, for an index no part had).
    pub fn finish(self, now: Timestamp) -> Vec<Window> {
        let cap = self.sample_cap;
        self.versions
            .into_iter()
            .enumerate()
            .map(|(v, acc)| match acc {
                None => Window::empty(v, now),
                Some(acc) => {
                    let mut w = acc.window;
                    w.latency = Latency {
                        hist: histogram_of_counts(&acc.counts),
                    };
                    for (m, parts) in w.metrics.iter_mut().zip(acc.samples) {
                        let parts: Vec<(u64, &[f64])> =
                            parts.iter().map(|(n, s)| (*n, s.as_slice())).collect();
                        m.samples = draw(&parts, cap);
                    }
                    w.outputs
                        .retain(|o| !acc.conflicted.iter().any(|c| c == o.name()));
                    w
                }
            })
            .collect()
    }
}

/// Adds `(index, count)` pairs into dense counts by bucket index.
fn add_counts(counts: &mut Vec<u64>, pairs: &[(u32, u32)]) {
    if pairs.is_empty() {
        return;
    }
    if counts.is_empty() {
        counts.resize(LAYOUT.1.len(), 0);
    }
    for &(index, count) in pairs {
        if let Some(c) = counts.get_mut(index as usize) {
            *c = c.saturating_add(u64::from(count));
        }
    }
}

/// A histogram of the recorder's layout from dense counts by bucket index.
fn histogram_of_counts(counts: &[u64]) -> Option<Histogram<u32>> {
    if counts.iter().all(|&c| c == 0) {
        return None;
    }
    let (template, values) = &*LAYOUT;
    let mut h = template.clone();
    for (&count, &value) in counts.iter().zip(values) {
        if count > 0 {
            h.saturating_record_n(value, u32::try_from(count).unwrap_or(u32::MAX));
        }
    }
    Some(h)
}

/// Merges windows of one version from several sources into one: counts,
/// totals, moments and the latency histogram add up exactly; custom
/// metrics' samples are drawn from each part in proportion to its count, at
/// most `sample_cap` in all. The merged window takes the version of the
/// first part (0 without parts) and covers from the earliest start to the
/// latest end.
pub fn merge_windows<'a>(
    parts: impl IntoIterator<Item = &'a Window>,
    sample_cap: usize,
) -> Result<Window, SummaryError> {
    let parts: Vec<&Window> = parts.into_iter().collect();
    let Some(first) = parts.first() else {
        return Ok(Window::empty(0, Timestamp::from_millis(0)));
    };
    let mut merged = Window::from_totals(first.version, first.end, Totals::default());
    merged.start = first.start;
    let mut hist: Option<Histogram<u32>> = None;
    // Each metric's merged window and its parts' (count, samples).
    type Parts<'w> = Vec<(u64, &'w [f64])>;
    let mut metrics: Vec<(MetricWindow, Parts<'_>)> = Vec::new();
    let mut outputs: Vec<OutputWindow> = Vec::new();
    let mut conflicted: Vec<String> = Vec::new();
    for w in &parts {
        merged.start = merged.start.min(w.start);
        merged.end = merged.end.max(w.end);
        merged.requests = add(merged.requests, w.requests, "the request count")?;
        merged.errors = add(merged.errors, w.errors, "the error count")?;
        if let Some(h) = w.latency.hist.as_ref().filter(|h| !h.is_empty()) {
            match &mut hist {
                Some(acc) => acc.add(h).map_err(|_| SummaryError::Overflow {
                    what: "a latency bucket",
                })?,
                None => hist = Some(h.clone()),
            }
        }
        for m in &w.metrics {
            let at = match metrics.iter().position(|(x, _)| x.name == m.name) {
                Some(i) => i,
                None => {
                    metrics.push((
                        MetricWindow {
                            name: m.name.clone(),
                            moments: Moments::default(),
                            min: f64::INFINITY,
                            max: f64::NEG_INFINITY,
                            samples: Vec::new(),
                        },
                        Vec::new(),
                    ));
                    metrics.len() - 1
                }
            };
            let (acc, samples) = &mut metrics[at];
            merge_moments(&mut acc.moments, &m.moments, "a metric's count")?;
            if m.moments.count > 0 {
                acc.min = acc.min.min(m.min);
                acc.max = acc.max.max(m.max);
            }
            samples.push((m.moments.count, &m.samples));
        }
        merge_totals(&mut merged.totals, &w.totals)?;
        merge_outputs(&mut outputs, &mut conflicted, &w.outputs);
    }
    outputs.retain(|o| !conflicted.iter().any(|c| c == o.name()));
    merged.outputs = outputs;
    merged.latency = Latency { hist };
    merged.metrics = metrics
        .into_iter()
        .map(|(mut m, parts)| {
            m.samples = draw(&parts, sample_cap);
            m
        })
        .collect();
    Ok(merged)
}

/// Merges a part's outputs into `into` by name; an output whose parts do
/// not merge (declared differently on two replicas) is named in
/// `conflicted` and dropped from the result by the caller.
fn merge_outputs(
    into: &mut Vec<OutputWindow>,
    conflicted: &mut Vec<String>,
    from: &[OutputWindow],
) {
    for o in from {
        if conflicted.iter().any(|c| c == o.name()) {
            continue;
        }
        match into.iter_mut().find(|x| x.name() == o.name()) {
            Some(acc) => {
                if acc.merge(o).is_err() {
                    conflicted.push(o.name().to_owned());
                }
            }
            None => into.push(o.clone()),
        }
    }
}

fn add(a: u64, b: u64, what: &'static str) -> Result<u64, SummaryError> {
    a.checked_add(b).ok_or(SummaryError::Overflow { what })
}

fn merge_moments(
    into: &mut Moments,
    from: &Moments,
    what: &'static str,
) -> Result<(), SummaryError> {
    into.count = add(into.count, from.count, what)?;
    into.sum += from.sum;
    into.sum_sq += from.sum_sq;
    Ok(())
}

fn merge_totals(into: &mut Totals, from: &Totals) -> Result<(), SummaryError> {
    into.requests = add(into.requests, from.requests, "the total request count")?;
    into.errors = add(into.errors, from.errors, "the total error count")?;
    merge_moments(
        &mut into.latency_ms,
        &from.latency_ms,
        "the total latency count",
    )?;
    for (name, m) in &from.metrics {
        match into.metrics.iter_mut().find(|(n, _)| n == name) {
            Some((_, acc)) => merge_moments(acc, m, "a metric's total count")?,
            None => into.metrics.push((name.clone(), *m)),
        }
    }
    Ok(())
}

/// At most `cap` values of `values`, evenly spaced (all of them if fewer).
fn thin(values: &[f64], cap: usize) -> Vec<f64> {
    if values.len() <= cap {
        return values.to_vec();
    }
    if cap == 0 {
        return Vec::new();
    }
    let step = values.len() as f64 / cap as f64;
    (0..cap)
        .filter_map(|i| values.get(((i as f64 + 0.5) * step) as usize).copied())
        .collect()
}

/// Up to `cap` samples from parts `(count, samples)`, each part giving a
/// share proportional to its count (at most what it has).
fn draw(parts: &[(u64, &[f64])], cap: usize) -> Vec<f64> {
    let available: usize = parts.iter().map(|(_, s)| s.len()).sum();
    if available <= cap {
        return parts.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    }
    let total: f64 = parts.iter().map(|(n, _)| *n as f64).sum();
    let mut out = Vec::with_capacity(cap);
    for (n, samples) in parts {
        let share = if total > 0.0 {
            *n as f64 / total
        } else {
            1.0 / parts.len() as f64
        };
        let want = ((cap as f64 * share).round() as usize).min(samples.len());
        out.extend(thin(samples, want));
    }
    out.truncate(cap);
    out
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ------------------------------------------------------------------ encoding

fn put_moments(out: &mut Vec<u8>, m: &Moments) {
    put_varint(out, m.count);
    put_f64(out, m.sum);
    put_f64(out, m.sum_sq);
}

fn encode_window(out: &mut Vec<u8>, w: &Window) {
    put_varint(out, w.version as u64);
    put_varint(out, w.start.as_millis());
    put_varint(out, w.end.as_millis());
    put_varint(out, w.requests);
    put_varint(out, w.errors);
    match w.latency.hist.as_ref().filter(|h| !h.is_empty()) {
        Some(h) => {
            let v2 = encode_v2(h);
            put_varint(out, v2.len() as u64);
            out.extend_from_slice(&v2);
        }
        None => put_varint(out, 0),
    }
    let metrics: Vec<&MetricWindow> = w
        .metrics
        .iter()
        .filter(|m| m.name.len() as u64 <= MAX_NAME_LEN)
        .collect();
    put_varint(out, metrics.len() as u64);
    for m in metrics {
        put_str(out, &m.name);
        put_moments(out, &m.moments);
        put_f64(out, m.min);
        put_f64(out, m.max);
        put_varint(out, m.samples.len() as u64);
        for s in &m.samples {
            put_f64(out, *s);
        }
    }
    let t = &w.totals;
    put_varint(out, t.requests);
    put_varint(out, t.errors);
    put_moments(out, &t.latency_ms);
    let metrics: Vec<&(String, Moments)> = t
        .metrics
        .iter()
        .filter(|(n, _)| n.len() as u64 <= MAX_NAME_LEN)
        .collect();
    put_varint(out, metrics.len() as u64);
    for (name, m) in metrics {
        put_str(out, name);
        put_moments(out, m);
    }
    let outputs: Vec<Vec<u8>> = w
        .outputs
        .iter()
        .take(MAX_OUTPUTS as usize)
        .map(OutputWindow::encode)
        .filter(|bytes| bytes.len() <= MAX_OUTPUT_BYTES)
        .collect();
    put_varint(out, outputs.len() as u64);
    for bytes in outputs {
        put_varint(out, bytes.len() as u64);
        out.extend_from_slice(&bytes);
    }
}

/// HdrHistogram's V2 encoding of `h` (uncompressed): the header, then the
/// counts from index 0 to the highest non-empty one as zig-zag LEB128
/// numbers, a run of two or more empty buckets written as minus its length.
fn encode_v2(h: &Histogram<u32>) -> Vec<u8> {
    let counts: Vec<u64> = h
        .iter_all()
        .map(|v| u64::from(v.count_at_value()))
        .collect();
    let last = counts.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
    let mut payload = Vec::with_capacity(64);
    let mut i = 0;
    while i < last {
        if counts[i] == 0 {
            let mut run = 1;
            while i + run < last && counts[i + run] == 0 {
                run += 1;
            }
            if run > 1 {
                put_zigzag(&mut payload, -(run as i64));
            } else {
                put_zigzag(&mut payload, 0);
            }
            i += run;
        } else {
            put_zigzag(&mut payload, counts[i] as i64);
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(V2_HEADER_LEN + payload.len());
    out.extend_from_slice(&V2_COOKIE.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&u32::from(h.sigfig()).to_be_bytes());
    out.extend_from_slice(&h.low().to_be_bytes());
    out.extend_from_slice(&h.high().to_be_bytes());
    out.extend_from_slice(&1.0f64.to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

// ------------------------------------------------------------------ decoding

from_read_error!(SummaryError);

impl Reader<'_> {
    fn moments(&mut self, what: &'static str) -> Result<Moments, SummaryError> {
        Ok(Moments {
            count: self.varint(what)?,
            sum: self.f64(what)?,
            sum_sq: self.f64(what)?,
        })
    }
}

/// A window as decoded: its latency histogram as `(bucket index, count)`
/// pairs of the recorder's layout (the window's own histogram is left
/// empty).
type RawWindow = (Window, Vec<(u32, u32)>);

fn decode_window(r: &mut Reader<'_>) -> Result<RawWindow, SummaryError> {
    let version = r.varint("a window's version")?;
    if version >= MAX_WINDOWS {
        return Err(SummaryError::TooLarge {
            what: "a window's version index",
            value: version,
            limit: MAX_WINDOWS - 1,
        });
    }
    let start = Timestamp::from_millis(r.varint("a window's start")?);
    let end = Timestamp::from_millis(r.varint("a window's end")?);
    let requests = r.varint("a window's request count")?;
    let errors = r.varint("a window's error count")?;
    if errors > requests {
        return Err(SummaryError::Invalid {
            what: "a window's error count",
            detail: format!("{errors} errors out of {requests} requests"),
        });
    }
    let len = r.count("a latency histogram's length", MAX_SUMMARY_BYTES as u64, 1)?;
    let latency = if len == 0 {
        Vec::new()
    } else {
        decode_v2_pairs(r.take(len, "a latency histogram")?)?
    };
    let n = r.count("a window's metric count", MAX_METRICS, 42)?;
    let mut metrics = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.string("a metric's name", MAX_NAME_LEN)?;
        let moments = r.moments("a metric's moments")?;
        let min = r.f64("a metric's minimum")?;
        let max = r.f64("a metric's maximum")?;
        let count = r.count("a metric's sample count", MAX_SUMMARY_BYTES as u64 / 8, 8)?;
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            samples.push(r.f64("a metric's samples")?);
        }
        metrics.push(MetricWindow {
            name,
            moments,
            min,
            max,
            samples,
        });
    }
    let requests_total = r.varint("the total request count")?;
    let errors_total = r.varint("the total error count")?;
    let latency_ms = r.moments("the total latency moments")?;
    let n = r.count("the totals' metric count", MAX_METRICS, 18)?;
    let mut total_metrics = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.string("a metric total's name", MAX_NAME_LEN)?;
        total_metrics.push((name, r.moments("a metric total's moments")?));
    }
    let n = r.count("a window's output count", MAX_OUTPUTS, 1)?;
    let mut outputs = Vec::with_capacity(n);
    for index in 0..n {
        let len = r.count("a model output's length", MAX_OUTPUT_BYTES as u64, 1)?;
        let bytes = r.take(len, "a model output")?;
        outputs.push(
            OutputWindow::decode(bytes).map_err(|source| SummaryError::Output { index, source })?,
        );
    }
    let window = Window {
        version: version as usize,
        start,
        end,
        requests,
        errors,
        latency: Latency::empty(),
        metrics,
        totals: Totals {
            requests: requests_total,
            errors: errors_total,
            latency_ms,
            metrics: total_metrics,
        },
        outputs,
    };
    Ok((window, latency))
}

/// A histogram of the recorder's layout holding `pairs` (bucket index,
/// count; every index is within the layout, as decoding checked).
fn histogram_of(pairs: &[(u32, u32)]) -> Option<Histogram<u32>> {
    if pairs.is_empty() {
        return None;
    }
    let (template, values) = &*LAYOUT;
    let mut h = template.clone();
    for &(index, count) in pairs {
        if let Some(&value) = values.get(index as usize) {
            h.saturating_record_n(value, count);
        }
    }
    Some(h)
}

/// The template every latency histogram of a recorder has (1 µs to 60 s,
/// 3 significant figures), and the value of each of its bucket indexes.
static LAYOUT: LazyLock<(Histogram<u32>, Vec<u64>)> = LazyLock::new(|| {
    let template = new_histogram();
    let values = template.iter_all().map(|v| v.value_iterated_to()).collect();
    (template, values)
});

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Reads HdrHistogram V2 bytes of a recorder's layout, adding each count
/// into a histogram of that layout: exact, and bounded by the layout
/// whatever the bytes claim.
#[cfg(test)]
fn decode_v2(bytes: &[u8]) -> Result<Histogram<u32>, SummaryError> {
    Ok(histogram_of(&decode_v2_pairs(bytes)?).unwrap_or_else(|| LAYOUT.0.clone()))
}

/// An unsigned LEB128 number at `*pos` (`None`: truncated or above
/// 2^64 - 1); the hot loop of histogram decoding.
#[inline]
fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// The `(bucket index, count)` of each non-empty bucket in HdrHistogram V2
/// bytes of a recorder's layout.
fn decode_v2_pairs(bytes: &[u8]) -> Result<Vec<(u32, u32)>, SummaryError> {
    let bad = |detail: String| SummaryError::Invalid {
        what: "a latency histogram",
        detail,
    };
    if bytes.len() < V2_HEADER_LEN {
        return Err(SummaryError::Truncated {
            what: "a latency histogram's header",
        });
    }
    let cookie = be_u32(bytes, 0);
    if cookie != V2_COOKIE {
        return Err(bad(format!(
            "cookie {cookie:#x} is not HdrHistogram V2's uncompressed {V2_COOKIE:#x}"
        )));
    }
    let payload_len = be_u32(bytes, 4) as usize;
    if payload_len != bytes.len() - V2_HEADER_LEN {
        return Err(bad(format!(
            "its header announces {payload_len} payload bytes, {} follow",
            bytes.len() - V2_HEADER_LEN
        )));
    }
    let (template, values) = &*LAYOUT;
    let offset = be_u32(bytes, 8);
    let digits = be_u32(bytes, 12);
    let low = be_u64(bytes, 16);
    let high = be_u64(bytes, 24);
    let ratio = f64::from_bits(be_u64(bytes, 32));
    if offset != 0
        || digits != u32::from(template.sigfig())
        || low != template.low()
        || high != template.high()
        || ratio != 1.0
    {
        return Err(bad(format!(
            "layout (offset {offset}, {digits} digits, {low}..{high}, ratio {ratio}) is not the recorder's ({} digits, {}..{})",
            template.sigfig(),
            template.low(),
            template.high()
        )));
    }
    let mut pairs = Vec::with_capacity(bytes.len() / 2);
    let payload = &bytes[V2_HEADER_LEN..];
    let (mut pos, mut index) = (0usize, 0usize);
    let layout = values.len();
    while pos < payload.len() {
        let zz = read_varint(payload, &mut pos)
            .ok_or_else(|| bad("a count is truncated or above 2^64 - 1".to_owned()))?;
        let v = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if v < 0 {
            let run = usize::try_from(v.unsigned_abs()).unwrap_or(usize::MAX);
            index = index.saturating_add(run);
            continue;
        }
        if v > 0 {
            if index >= layout {
                return Err(bad(format!(
                    "bucket index {index} is beyond the layout's {layout}"
                )));
            }
            let count =
                u32::try_from(v).map_err(|_| bad(format!("count {v} does not fit 32 bits")))?;
            pairs.push((index as u32, count));
        }
        index = index.saturating_add(1);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecorderConfig;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const SPAN: Duration = Duration::from_secs(60);

    fn recorder(seed: u64, n: u64) -> Recorder {
        let r = Recorder::new(
            RecorderConfig::new(2)
                .metric("abs_error")
                .metric_sample_cap(4_096),
        )
        .unwrap();
        let id = r.metric_id("abs_error").unwrap();
        for i in 0..n {
            let v = (i * 7 + seed) % 2;
            let us = 500 + (i * 7919 + seed * 13) % 400_000;
            r.record(
                v as usize,
                Duration::from_micros(us),
                (i + seed).is_multiple_of(23),
            );
            r.record_metric(v as usize, id, ((i + seed) % 100) as f64 / 10.0);
        }
        r
    }

    fn with_outputs(seed: u64, n: u64, resolution: f64) -> Recorder {
        let r = Recorder::new(
            RecorderConfig::new(2)
                .output(crate::OutputSpec::numeric("forecast").resolution(resolution))
                .output(crate::OutputSpec::categorical("class").max_labels(8)),
        )
        .unwrap();
        let forecast = r.output_id("forecast").unwrap();
        let class = r.output_id("class").unwrap();
        for i in 0..n {
            let v = ((i + seed) % 2) as usize;
            r.record(v, Duration::from_millis(5), false);
            r.record_output(v, forecast, 100.0 + ((i * 31 + seed) % 97) as f64 / 4.0);
            r.record_label(v, class, ["a", "b", "c"][((i + seed) % 3) as usize]);
        }
        r
    }

    /// Model outputs travel in summaries and merge exactly, by both merge
    /// paths; an output declared differently on two replicas is left out.
    #[test]
    fn outputs_travel_and_merge_exactly() {
        let (a, b) = (with_outputs(1, 3_000, 1e-6), with_outputs(2, 5_000, 1e-6));
        let parts: Vec<WindowSummary> = [(&a, "a"), (&b, "b")]
            .into_iter()
            .map(|(r, name)| {
                let s = WindowSummary::from_recorder(r, name, 1, NOW, SPAN, 64).unwrap();
                WindowSummary::decode(&s.encode()).unwrap()
            })
            .collect();
        let merged = merge_windows(parts.iter().filter_map(|s| s.window(0)), 64).unwrap();
        let mut fast = SummaryMerge::new(64);
        for p in &parts {
            fast.add_encoded(&p.encode()).unwrap();
        }
        let fast = fast.finish(NOW);
        for w in [&merged, &fast[0]] {
            let numeric = w.output("forecast").and_then(|o| o.numeric()).unwrap();
            assert_eq!(numeric.count(), 1_500 + 2_500);
            let labels = w.output("class").and_then(|o| o.categorical()).unwrap();
            assert_eq!(
                labels.count("a") + labels.count("b") + labels.count("c"),
                4_000
            );
        }
        let direct: f64 = [&a, &b]
            .iter()
            .map(|r| {
                let w = r.window(0, NOW, SPAN).unwrap();
                let n = w.output("forecast").and_then(|o| o.numeric()).unwrap();
                n.mean().unwrap() * n.count() as f64
            })
            .sum();
        let numeric = merged.output("forecast").and_then(|o| o.numeric()).unwrap();
        assert!((numeric.mean().unwrap() * 4_000.0 - direct).abs() < 1e-6 * direct);

        // Another resolution on one replica: the sketches do not merge.
        let odd = with_outputs(3, 1_000, 0.5);
        let odd = WindowSummary::from_recorder(&odd, "odd", 1, NOW, SPAN, 64).unwrap();
        let mixed =
            merge_windows([parts[0].window(0).unwrap(), odd.window(0).unwrap()], 64).unwrap();
        assert!(
            mixed.output("forecast").is_none(),
            "conflicting parts left out"
        );
        assert!(mixed.output("class").is_some());
        let mut fast = SummaryMerge::new(64);
        fast.add_encoded(&parts[0].encode()).unwrap();
        fast.add_encoded(&odd.encode()).unwrap();
        assert!(fast.finish(NOW)[0].output("forecast").is_none());
    }

    #[test]
    fn round_trips() {
        let r = recorder(1, 5_000);
        let s = WindowSummary::from_recorder(&r, "replica-a", 7, NOW, SPAN, 64).unwrap();
        let bytes = s.encode();
        let back = WindowSummary::decode(&bytes).unwrap();
        assert_eq!(back.source(), "replica-a");
        assert_eq!(back.seq(), 7);
        assert_eq!(back.taken_at(), NOW);
        assert_eq!(back.span(), SPAN);
        assert_eq!(back.requests(), 5_000);
        for (a, b) in s.windows().iter().zip(back.windows()) {
            assert_eq!(a.version(), b.version());
            assert_eq!(a.requests(), b.requests());
            assert_eq!(a.errors(), b.errors());
            assert_eq!(a.latency().buckets(), b.latency().buckets());
            assert_eq!(a.metrics(), b.metrics());
            assert_eq!(a.totals(), b.totals());
            assert_eq!(a.start(), b.start());
            assert_eq!(a.end(), b.end());
            assert!(b.metric("abs_error").unwrap().samples().len() <= 64);
        }
        // About 2,500 distinct latency buckets per version here (spread over
        // 0.5 to 400 ms): about 2.5 bytes each, plus 64 samples.
        assert!(bytes.len() < 16_000, "{} bytes", bytes.len());
        assert_eq!(back.encode(), bytes);
    }

    /// The histogram bytes are HdrHistogram V2 as its own serializer writes
    /// them, and its own deserializer reads ours.
    #[test]
    fn latency_is_hdrhistogram_v2() {
        use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
        let r = recorder(3, 2_000);
        let w = r.window(1, NOW, SPAN).unwrap();
        let h = w.latency.hist.clone().unwrap();
        let ours = encode_v2(&h);
        let mut theirs = Vec::new();
        V2Serializer::new().serialize(&h, &mut theirs).unwrap();
        assert_eq!(ours, theirs);
        let read: Histogram<u32> = Deserializer::new().deserialize(&mut &ours[..]).unwrap();
        assert_eq!(read, h);
        assert_eq!(decode_v2(&theirs).unwrap(), h);
    }

    #[test]
    fn merging_is_exact() {
        let parts: Vec<Recorder> = (0..3).map(|i| recorder(i, 3_000 + i * 500)).collect();
        let all = recorder(0, 0);
        // The same traffic in one recorder.
        let id = all.metric_id("abs_error").unwrap();
        for seed in 0..3 {
            let n = 3_000 + seed * 500;
            for i in 0..n {
                let v = (i * 7 + seed) % 2;
                let us = 500 + (i * 7919 + seed * 13) % 400_000;
                all.record(v as usize, Duration::from_micros(us), (i + seed) % 23 == 0);
                all.record_metric(v as usize, id, ((i + seed) % 100) as f64 / 10.0);
            }
        }
        let summaries: Vec<WindowSummary> = parts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let s = WindowSummary::from_recorder(r, format!("r{i}"), 1, NOW, SPAN, 64).unwrap();
                WindowSummary::decode(&s.encode()).unwrap()
            })
            .collect();
        for v in 0..2 {
            let merged = merge_windows(summaries.iter().filter_map(|s| s.window(v)), 100).unwrap();
            let one = all.window(v, NOW, SPAN).unwrap();
            assert_eq!(merged.version(), v);
            assert_eq!(merged.requests(), one.requests());
            assert_eq!(merged.errors(), one.errors());
            assert_eq!(merged.latency().buckets(), one.latency().buckets());
            assert_eq!(merged.totals().requests, one.totals().requests);
            assert_eq!(merged.totals().errors, one.totals().errors);
            let (m, o) = (
                merged.metric("abs_error").unwrap(),
                one.metric("abs_error").unwrap(),
            );
            assert_eq!(m.count(), o.count());
            assert!((m.mean().unwrap() - o.mean().unwrap()).abs() < 1e-9);
            assert_eq!(m.min(), o.min());
            assert_eq!(m.max(), o.max());
            assert!(m.samples().len() <= 100 && m.samples().len() >= 95);
        }
    }

    /// The streaming merge of encoded summaries equals merging the decoded
    /// windows; a summary that does not decode adds nothing.
    #[test]
    fn the_streaming_merge_equals_merge_windows() {
        let encoded: Vec<Vec<u8>> = (0..4)
            .map(|i| {
                let r = recorder(i, 1_000 + i * 300);
                WindowSummary::from_recorder(&r, format!("r{i}"), i, NOW, SPAN, 32)
                    .unwrap()
                    .encode()
            })
            .collect();
        let mut merge = SummaryMerge::new(50);
        for (i, bytes) in encoded.iter().enumerate() {
            let part = merge.add_encoded(bytes).unwrap();
            assert_eq!(part.source, format!("r{i}"));
            assert_eq!(part.requests, 1_000 + i as u64 * 300);
            let mut broken = bytes.clone();
            broken.truncate(bytes.len() - 3);
            assert!(merge.add_encoded(&broken).is_err());
        }
        assert_eq!(merge.parts(), 4);
        let fast = merge.finish(NOW);
        let decoded: Vec<WindowSummary> = encoded
            .iter()
            .map(|b| WindowSummary::decode(b).unwrap())
            .collect();
        for (v, f) in fast.iter().enumerate().take(2) {
            let slow = merge_windows(decoded.iter().filter_map(|s| s.window(v)), 50).unwrap();
            assert_eq!(f.version(), v);
            assert_eq!(f.requests(), slow.requests());
            assert_eq!(f.errors(), slow.errors());
            assert_eq!(f.latency().buckets(), slow.latency().buckets());
            assert_eq!(f.totals(), slow.totals());
            assert_eq!(f.start(), slow.start());
            assert_eq!(f.end(), slow.end());
            let (a, b) = (
                f.metric("abs_error").unwrap(),
                slow.metric("abs_error").unwrap(),
            );
            assert_eq!(a.moments(), b.moments());
            assert_eq!(a.samples(), b.samples());
        }
        let mut again = SummaryMerge::new(50);
        for s in &decoded {
            again.add(s);
        }
        assert_eq!(
            again.finish(NOW)[1].latency().buckets(),
            fast[1].latency().buckets()
        );
    }

    #[test]
    fn empty_windows_and_no_parts() {
        let r = Recorder::new(RecorderConfig::new(2)).unwrap();
        let s = WindowSummary::from_recorder(&r, "", 0, NOW, SPAN, 0).unwrap();
        let back = WindowSummary::decode(&s.encode()).unwrap();
        assert_eq!(back.requests(), 0);
        assert!(back.window(0).unwrap().latency().is_empty());
        let none = merge_windows(std::iter::empty(), 10).unwrap();
        assert_eq!(none.requests(), 0);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let r = recorder(5, 200);
        let good = WindowSummary::from_recorder(&r, "x", 1, NOW, SPAN, 8)
            .unwrap()
            .encode();
        assert_eq!(
            WindowSummary::decode(b"NOPE\x01").unwrap_err(),
            SummaryError::BadMagic
        );
        let mut future = good.clone();
        future[4] = 9;
        assert!(matches!(
            WindowSummary::decode(&future),
            Err(SummaryError::UnsupportedVersion { found: 9, .. })
        ));
        for cut in 0..good.len() {
            assert!(WindowSummary::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            WindowSummary::decode(&longer),
            Err(SummaryError::TrailingBytes { count: 1 })
        ));
        // Every single-byte change decodes or fails, never panics.
        for i in 0..good.len() {
            for b in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut m = good.clone();
                m[i] = b;
                let _ = WindowSummary::decode(&m);
            }
        }
        // A varint run of zeros that would overflow in HdrHistogram's own
        // decoder: zig-zag of u64::MAX is i64::MIN.
        let mut v2 = encode_v2(&new_histogram());
        let mut payload = Vec::new();
        put_varint(&mut payload, u64::MAX);
        v2.truncate(V2_HEADER_LEN);
        v2[4..8].copy_from_slice(&(payload.len() as u32).to_be_bytes());
        v2.extend_from_slice(&payload);
        assert!(decode_v2(&v2).is_ok());
        let mut huge = v2.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_v2(&huge).is_err());
    }
}
