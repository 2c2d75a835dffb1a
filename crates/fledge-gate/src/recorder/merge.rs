//! [`Merged`]: the slots of one version summed across shards, what a window
//! is built from (and what the control path caches for complete slots).

use hdrhistogram::Histogram;

use super::histogram::new_histogram;
use super::shard::SlotData;
use crate::stats::Moments;
use crate::window::MetricWindow;

/// Slots of one version summed across shards.
#[derive(Clone)]
pub(super) struct Merged {
    pub(super) latency: Histogram<u32>,
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) metrics: Vec<MetricWindow>,
}

impl Merged {
    /// Nothing merged yet, for these custom metrics.
    pub(super) fn empty(metric_names: &[String]) -> Merged {
        Merged {
            latency: new_histogram(),
            requests: 0,
            errors: 0,
            metrics: metric_names
                .iter()
                .map(|name| MetricWindow {
                    name: name.clone(),
                    moments: Moments::default(),
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    samples: Vec::new(),
                })
                .collect(),
        }
    }

    /// Adds one (shard, slot)'s data.
    pub(super) fn add_slot(&mut self, s: &SlotData) {
        if s.requests > 0 {
            // Same configuration on both sides: cannot fail; on the impossible
            // error the slot's latencies are skipped rather than panicking.
            let _ = self.latency.add(&s.latency);
            self.requests += s.requests;
            self.errors += s.errors;
        }
        for (acc, m) in self.metrics.iter_mut().zip(&s.metrics) {
            if m.moments.count == 0 {
                continue;
            }
            acc.moments.merge(&m.moments);
            acc.min = acc.min.min(m.min);
            acc.max = acc.max.max(m.max);
            acc.samples.extend_from_slice(&m.samples);
        }
    }
}
