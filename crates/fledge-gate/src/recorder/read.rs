//! The control path: [`Recorder::advance`] moves the current time slot
//! (retiring the slot it reuses), [`Recorder::window`] merges the slots of a
//! window across shards (caching complete ones), [`Recorder::totals`] and
//! [`Recorder::cumulative_latency`] sum every shard.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::config::RecorderError;
use super::histogram::{fold, new_histogram_u64};
use super::merge::Merged;
use super::shard::VariantTotals;
use super::state::{Control, Recorder};
use crate::clock::Timestamp;
use crate::stats::Moments;
use crate::window::{CumulativeLatency, Latency, Totals, Window};

impl Recorder {
    fn epoch(&self, now: Timestamp) -> u64 {
        now.as_millis() / self.inner.slot_ms
    }

    /// Moves the current time slot to the one containing `now` (the control
    /// path; [`Recorder::window`] calls it). Time never goes back: an earlier
    /// `now` than the current slot's start is ignored.
    pub fn advance(&self, now: Timestamp) {
        let mut control = self.inner.control.lock();
        self.advance_locked(&mut control, now);
    }

    fn advance_locked(&self, control: &mut Control, now: Timestamp) {
        let inner = &*self.inner;
        let epoch = self.epoch(now);
        if !control.started {
            control.started = true;
            control.generation = 0;
            control.start_epoch[0] = epoch;
            return;
        }
        let current = (control.generation % inner.ring as u64) as usize;
        if epoch <= control.start_epoch[current] {
            return;
        }
        let next_gen = control.generation + 1;
        let next = (next_gen % inner.ring as u64) as usize;
        for shard in &inner.shards {
            for v in 0..inner.versions {
                {
                    let mut data = shard.lock();
                    let Some(s) = data.slots.get_mut(v * inner.ring + next) else {
                        continue;
                    };
                    std::mem::swap(&mut s.latency, &mut control.spare);
                    s.clear_counts();
                    // Non-empty outputs swap with cleared spares (a pointer
                    // swap under the lock); the spares are cleared below.
                    for (o, spare) in s.outputs.iter_mut().zip(&mut control.spare_outputs) {
                        if !o.is_empty() {
                            std::mem::swap(&mut **o, spare);
                        }
                    }
                }
                if let Some(retired) = control.retired.get_mut(v) {
                    fold(retired, &control.spare);
                }
                control.spare.reset();
                for spare in &mut control.spare_outputs {
                    if !spare.is_empty() {
                        spare.clear();
                    }
                }
            }
        }
        control.start_epoch[next] = epoch;
        control.generation = next_gen;
        inner.current.store(next, Ordering::Release);
    }

    /// A snapshot of `version` over the slots overlapping `(now − span, now]`,
    /// merged across shards. Advances the current slot to `now` first.
    ///
    /// Windows are slot-aligned: the result may start up to one slot before
    /// `now − span` ([`Window::start`] tells). A `span` longer than the
    /// recorder's capacity (`slots × slot`) is cut to it.
    pub fn window(
        &self,
        version: usize,
        now: Timestamp,
        span: Duration,
    ) -> Result<Window, RecorderError> {
        self.check_version(version)?;
        let inner = &*self.inner;
        let mut control = inner.control.lock();
        self.advance_locked(&mut control, now);
        let ring = inner.ring as u64;
        let g = control.generation;
        let oldest = g.saturating_sub(ring - 1);
        let lower_ms = now
            .as_millis()
            .saturating_sub(u64::try_from(span.as_millis()).unwrap_or(u64::MAX));
        // The first generation whose end is after `lower_ms`.
        let mut first = g;
        while first > oldest {
            let prev = first - 1;
            let end_ms = control.start_epoch[(first % ring) as usize].saturating_mul(inner.slot_ms);
            if end_ms > lower_ms {
                first = prev;
            } else {
                break;
            }
        }
        let start_ms = control.start_epoch[(first % ring) as usize].saturating_mul(inner.slot_ms);

        // Complete generations first..g-1, cached.
        let mut merged = if first < g {
            let cached = match &control.cache[version] {
                Some((a, b, m)) if *a == first && *b == g - 1 => Some(m.clone()),
                _ => None,
            };
            match cached {
                Some(m) => m,
                None => {
                    let m = self.merge(version, first, g - 1);
                    control.cache[version] = Some((first, g - 1, m.clone()));
                    m
                }
            }
        } else {
            Merged::empty(&inner.metric_names, &inner.outputs)
        };
        drop(control);
        // The current generation, fresh.
        let mut totals = self.empty_totals();
        let current = (g % ring) as usize;
        for shard in &inner.shards {
            let data = shard.lock();
            if let Some(s) = data.slots.get(version * inner.ring + current) {
                merged.add_slot(s);
            }
            if let Some(t) = data.totals.get(version) {
                totals.add(t);
            }
        }
        merged.finish_outputs(&inner.outputs);
        Ok(Window {
            version,
            start: Timestamp::from_millis(start_ms.min(now.as_millis())),
            end: now,
            requests: merged.requests,
            errors: merged.errors,
            latency: Latency {
                hist: Some(merged.latency),
            },
            metrics: merged.metrics,
            outputs: merged.outputs,
            totals: self.public_totals(totals),
        })
    }

    /// The latency distribution of `version` since the recorder was created:
    /// every slot that was reused, plus the live ones, merged across shards
    /// (the control path; the request path does nothing more for it). What a
    /// Prometheus histogram's buckets need, so that `histogram_quantile` can
    /// give a fleet-wide p99.
    pub fn cumulative_latency(&self, version: usize) -> Result<CumulativeLatency, RecorderError> {
        self.check_version(version)?;
        let inner = &*self.inner;
        // The control lock keeps `advance` from retiring a slot while it is read.
        let control = inner.control.lock();
        let mut hist = control
            .retired
            .get(version)
            .cloned()
            .unwrap_or_else(new_histogram_u64);
        for shard in &inner.shards {
            let data = shard.lock();
            for slot in 0..inner.ring {
                if let Some(s) = data.slots.get(version * inner.ring + slot) {
                    fold(&mut hist, &s.latency);
                }
            }
        }
        Ok(CumulativeLatency { hist })
    }

    /// Cumulative counters of `version` since the recorder was created: cheap
    /// (no histogram merge), for sequential checks every tick (see
    /// [`Window::from_totals`]).
    pub fn totals(&self, version: usize) -> Result<Totals, RecorderError> {
        self.check_version(version)?;
        let inner = &*self.inner;
        let mut totals = self.empty_totals();
        for shard in &inner.shards {
            if let Some(t) = shard.lock().totals.get(version) {
                totals.add(t);
            }
        }
        Ok(self.public_totals(totals))
    }

    fn empty_totals(&self) -> VariantTotals {
        VariantTotals::empty(self.inner.metric_names.len())
    }

    fn public_totals(&self, totals: VariantTotals) -> Totals {
        Totals {
            requests: totals.requests,
            errors: totals.errors,
            latency_ms: Moments {
                count: totals.latency_us.count,
                sum: totals.latency_us.sum / 1e3,
                sum_sq: totals.latency_us.sum_sq / 1e6,
            },
            metrics: self
                .inner
                .metric_names
                .iter()
                .cloned()
                .zip(totals.metrics.iter().map(|m| **m))
                .collect(),
        }
    }

    /// [`Recorder::window`] for every version, in index order.
    pub fn windows(&self, now: Timestamp, span: Duration) -> Vec<Window> {
        (0..self.inner.versions)
            .filter_map(|v| self.window(v, now, span).ok())
            .collect()
    }

    fn merge(&self, version: usize, first: u64, last: u64) -> Merged {
        let inner = &*self.inner;
        let ring = inner.ring as u64;
        let mut merged = Merged::empty(&inner.metric_names, &inner.outputs);
        for shard in &inner.shards {
            let data = shard.lock();
            for g in first..=last {
                let idx = (g % ring) as usize;
                if let Some(s) = data.slots.get(version * inner.ring + idx) {
                    merged.add_slot(s);
                }
            }
        }
        merged
    }
}
