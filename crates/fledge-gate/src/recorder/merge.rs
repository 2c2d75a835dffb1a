//! [`Merged`]: the slots of one version summed across shards, what a window
//! is built from (and what the control path caches for complete slots).

use hdrhistogram::Histogram;

use super::histogram::new_histogram;
use super::shard::{OutputSlot, SlotData};
use super::state::OutputMeta;
use crate::output::{LabelCounts, NumericOutput, OutputData, OutputWindow};
use crate::stats::Moments;
use crate::window::MetricWindow;

/// Slots of one version summed across shards.
#[derive(Clone)]
pub(super) struct Merged {
    pub(super) latency: Histogram<u32>,
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) metrics: Vec<MetricWindow>,
    pub(super) outputs: Vec<OutputWindow>,
    /// Per categorical output: counts per label index (other last), turned
    /// into named [`LabelCounts`] by [`Merged::finish_outputs`].
    pub(super) label_counts: Vec<Vec<u64>>,
}

impl Merged {
    /// Nothing merged yet, for these custom metrics and outputs.
    pub(super) fn empty(metric_names: &[String], outputs: &[OutputMeta]) -> Merged {
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
            outputs: outputs
                .iter()
                .map(|o| {
                    let data = match (o.layout, &o.labels) {
                        (Some(layout), _) => OutputData::Numeric(NumericOutput::empty(layout)),
                        (None, labels) => OutputData::Categorical(LabelCounts::new(
                            labels.as_ref().map_or(0, |t| t.other()),
                        )),
                    };
                    OutputWindow::new(o.spec.name(), data)
                })
                .collect(),
            label_counts: outputs
                .iter()
                .map(|o| {
                    o.labels
                        .as_ref()
                        .map_or_else(Vec::new, |t| vec![0; t.other() + 1])
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
        for ((acc, counts), o) in self
            .outputs
            .iter_mut()
            .zip(self.label_counts.iter_mut())
            .zip(&s.outputs)
        {
            if o.is_empty() {
                continue;
            }
            match (&mut acc.data, &**o) {
                (
                    OutputData::Numeric(n),
                    OutputSlot::Numeric {
                        pos,
                        neg,
                        moments,
                        min,
                        max,
                        clamped,
                    },
                ) => {
                    n.sketch.add_slot(pos, neg);
                    n.moments.merge(moments);
                    n.min = n.min.min(*min);
                    n.max = n.max.max(*max);
                    n.clamped += clamped;
                }
                (OutputData::Categorical(_), OutputSlot::Categorical { counts: c, .. }) => {
                    for (a, b) in counts.iter_mut().zip(c) {
                        *a += b;
                    }
                }
                // Slots are built from the same specs: kinds always agree.
                _ => {}
            }
        }
    }

    /// Names the label counts: each categorical output's window gets its
    /// labels (from the registry) and `other`.
    pub(super) fn finish_outputs(&mut self, outputs: &[OutputMeta]) {
        for ((acc, counts), meta) in self.outputs.iter_mut().zip(&self.label_counts).zip(outputs) {
            let (OutputData::Categorical(lc), Some(table)) = (&mut acc.data, &meta.labels) else {
                continue;
            };
            let mut out = LabelCounts::new(table.other());
            for (i, &c) in counts.iter().enumerate() {
                if c == 0 {
                    continue;
                }
                match table.name(i).filter(|_| i < table.other()) {
                    Some(name) => {
                        let _ = out.add(name, c);
                    }
                    None => out.other += c,
                }
            }
            *lc = out;
        }
    }
}
