//! The request path: [`Recorder::record`] and [`Recorder::record_metric`]
//! (and [`Recorder::record_feedback`], which checks its input first), and
//! the model's outputs: [`Recorder::record_output`] (numeric) and
//! [`Recorder::record_label`] (categorical).
//!
//! Each write reads the current slot index (one atomic load), takes this
//! thread's shard lock (uncontended in practice: threads are spread over
//! the shards) and updates that shard's slot and totals in place: no clock
//! read, no allocation, no global lock.

use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;

use super::config::RecorderError;
use super::histogram::MAX_LATENCY_US;
use super::shard::{OutputSlot, ShardData, next_random, shard_hint};
use super::state::{MetricId, OutputId, Recorder};

impl Recorder {
    #[inline]
    fn shard(&self) -> &Mutex<ShardData> {
        // `shards` has `shard_mask + 1` entries (a power of two): in range.
        &self.inner.shards[shard_hint() & self.inner.shard_mask]
    }

    /// Records one request of `version`: its latency and whether it failed.
    ///
    /// The request path: no clock read, no allocation, one uncontended shard
    /// lock. An out-of-range `version` is ignored and counted in
    /// [`Recorder::dropped`]. Latencies are clamped to 1 µs .. 60 s in the
    /// histogram (the exact value still goes into [`Totals`](crate::Totals)).
    #[inline]
    pub fn record(&self, version: usize, latency: Duration, error: bool) {
        let inner = &*self.inner;
        if version >= inner.versions {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Cheaper than `as_micros` (a u128 product); saturates past ~584,000 years.
        let us = latency
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(latency.subsec_micros()));
        let slot = inner.current.load(Ordering::Acquire);
        let mut shard = self.shard().lock();
        let data = &mut *shard;
        // version < versions and slot < ring: the index is below
        // versions × ring, which `RecorderConfig::layout` checked against
        // MAX_CELLS.
        if let Some(s) = data.slots.get_mut(version * inner.ring + slot) {
            s.latency.saturating_record(us.min(MAX_LATENCY_US));
            s.requests += 1;
            s.errors += u64::from(error);
        }
        if let Some(t) = data.totals.get_mut(version) {
            t.requests += 1;
            t.errors += u64::from(error);
            let v = us as f64;
            t.latency_us.count += 1;
            t.latency_us.sum += v;
            t.latency_us.sum_sq += v * v;
        }
    }

    /// Records one value of a custom metric for `version` (the feedback path:
    /// an absolute forecast error, a click as 1.0 / 0.0, ...).
    ///
    /// Non-finite values, unknown ids and out-of-range versions are ignored
    /// and counted in [`Recorder::dropped`].
    pub fn record_metric(&self, version: usize, metric: MetricId, value: f64) {
        let inner = &*self.inner;
        if version >= inner.versions || metric.0 >= inner.metric_names.len() || !value.is_finite() {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let slot = inner.current.load(Ordering::Acquire);
        let mut shard = self.shard().lock();
        let ShardData { slots, totals, rng } = &mut *shard;
        // As in `record`: below versions × ring, no overflow.
        if let Some(m) = slots
            .get_mut(version * inner.ring + slot)
            .and_then(|s| s.metrics.get_mut(metric.0))
        {
            m.moments.push(value);
            m.min = m.min.min(value);
            m.max = m.max.max(value);
            m.seen += 1;
            if m.samples.len() < m.samples.capacity() {
                m.samples.push(value);
            } else if !m.samples.is_empty() {
                // Algorithm R: keep the value with probability cap / seen, in
                // a uniform position (multiply-shift instead of a division).
                let j = ((u128::from(next_random(rng)) * u128::from(m.seen)) >> 64) as usize;
                if let Some(s) = m.samples.get_mut(j) {
                    *s = value;
                }
            }
        }
        if let Some(t) = totals
            .get_mut(version)
            .and_then(|t| t.metrics.get_mut(metric.0))
        {
            t.push(value);
        }
    }

    /// [`Recorder::record_metric`] by name: the feedback call for ground
    /// truth that arrives after the response.
    pub fn record_feedback(
        &self,
        version: usize,
        metric: &str,
        value: f64,
    ) -> Result<(), RecorderError> {
        self.check_version(version)?;
        if !value.is_finite() {
            return Err(RecorderError::NotFinite(value));
        }
        let id = self
            .metric_id(metric)
            .ok_or_else(|| RecorderError::UnknownMetric(metric.to_owned()))?;
        self.record_metric(version, id, value);
        Ok(())
    }

    /// Records one numeric model output of `version` (a forecast, a score)
    /// at response time, for drift checks (`ks`, `psi`, `output_mean`).
    ///
    /// The request path, like [`Recorder::record`]: one atomic load, one
    /// uncontended shard lock, a histogram increment and four arithmetic
    /// updates; no clock read, no allocation. Non-finite values, unknown
    /// ids, categorical outputs and out-of-range versions are ignored and
    /// counted in [`Recorder::dropped`]. Magnitudes above the output's
    /// `max_abs` are counted at `max_abs` (exact in the moments).
    #[inline]
    pub fn record_output(&self, version: usize, output: OutputId, value: f64) {
        let inner = &*self.inner;
        let layout = inner.outputs.get(output.0).and_then(|o| o.layout);
        let Some(layout) = layout.filter(|_| version < inner.versions && value.is_finite()) else {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (negative, units, was_clamped) = layout.quantize(value);
        let slot = inner.current.load(Ordering::Acquire);
        let mut shard = self.shard().lock();
        // As in `record`: below versions × ring, no overflow.
        if let Some(OutputSlot::Numeric {
            pos,
            neg,
            moments,
            min,
            max,
            clamped,
        }) = shard
            .slots
            .get_mut(version * inner.ring + slot)
            .and_then(|s| s.outputs.get_mut(output.0))
            .map(|o| &mut **o)
        {
            if negative {
                neg.saturating_record(units);
            } else {
                pos.saturating_record(units);
            }
            moments.push(value);
            *min = min.min(value);
            *max = max.max(value);
            *clamped += u64::from(was_clamped);
        }
    }

    /// Records one categorical model output of `version` (a class, the top
    /// item's category) at response time, for `chi_square` checks.
    ///
    /// The label is looked up in the output's shared registry without a
    /// lock or an allocation; a label seen for the first time is registered
    /// (one mutex and one copy of the label, at most `max_labels` times per
    /// output in the recorder's life) while there is room, and counts as
    /// `other` after that (see `crate::output::LabelCounts`). Unknown ids,
    /// numeric outputs and out-of-range versions are ignored and counted
    /// in [`Recorder::dropped`].
    #[inline]
    pub fn record_label(&self, version: usize, output: OutputId, label: &str) {
        let inner = &*self.inner;
        let table = inner.outputs.get(output.0).and_then(|o| o.labels.as_ref());
        let Some(table) = table.filter(|_| version < inner.versions) else {
            inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let index = table.index(label);
        let slot = inner.current.load(Ordering::Acquire);
        let mut shard = self.shard().lock();
        if let Some(OutputSlot::Categorical { counts, total }) = shard
            .slots
            .get_mut(version * inner.ring + slot)
            .and_then(|s| s.outputs.get_mut(output.0))
            .map(|o| &mut **o)
            && let Some(c) = counts.get_mut(index)
        {
            *c += 1;
            *total += 1;
        }
    }

    /// [`Recorder::record_output`] by name, checking its input (for tools
    /// and tests; the request path resolves the id once).
    pub fn record_output_named(
        &self,
        version: usize,
        output: &str,
        value: f64,
    ) -> Result<(), RecorderError> {
        self.check_version(version)?;
        if !value.is_finite() {
            return Err(RecorderError::NotFinite(value));
        }
        let id = self.output_named(output, crate::output::OutputKind::Numeric)?;
        self.record_output(version, id, value);
        Ok(())
    }

    /// [`Recorder::record_label`] by name, checking its input.
    pub fn record_label_named(
        &self,
        version: usize,
        output: &str,
        label: &str,
    ) -> Result<(), RecorderError> {
        self.check_version(version)?;
        let id = self.output_named(output, crate::output::OutputKind::Categorical)?;
        self.record_label(version, id, label);
        Ok(())
    }

    fn output_named(
        &self,
        name: &str,
        kind: crate::output::OutputKind,
    ) -> Result<OutputId, RecorderError> {
        let id = self
            .output_id(name)
            .ok_or_else(|| RecorderError::UnknownOutput(name.to_owned()))?;
        match self.output_kind(id) {
            Some(k) if k == kind => Ok(id),
            Some(k) => Err(RecorderError::WrongOutputKind {
                name: name.to_owned(),
                kind: k,
                use_instead: match k {
                    crate::output::OutputKind::Numeric => "record_output",
                    crate::output::OutputKind::Categorical => "record_label",
                },
            }),
            None => Err(RecorderError::UnknownOutput(name.to_owned())),
        }
    }
}
