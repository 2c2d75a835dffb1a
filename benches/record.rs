//! The request path's recording: one latency + outcome for one variant.
//!
//! Group `record`, all in one run:
//!
//! - `fledge_record`: `fledge_gate::Recorder::record` (sharded per thread,
//!   one uncontended shard lock, histogram + counters + totals, no clock read,
//!   no allocation).
//! - `baseline_mutex_histogram`: the common way: one shared
//!   `parking_lot::Mutex` over an `hdrhistogram::Histogram` (1 µs .. 60 s,
//!   3 significant figures) and the request / error counters.
//! - The same two with `_2t`: two threads recording into the same recorder /
//!   the same mutex at once, reporting the time per record *per thread* (see
//!   `fledge_benches::per_thread`).
//!
//! Run with `cargo bench -p fledge-benches --bench record`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fledge_benches::per_thread;
use fledge_gate::{Recorder, RecorderConfig};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

const CANARY: usize = 1;

/// Latencies cycled through: 0.1 ms .. 102.4 ms, so records hit many buckets.
#[inline]
fn latency(i: u64) -> Duration {
    Duration::from_micros(100 + (i.wrapping_mul(0x9E37_79B9) % 102_400))
}

#[inline]
fn is_error(i: u64) -> bool {
    i.is_multiple_of(100)
}

struct Baseline {
    inner: Mutex<(Histogram<u64>, u64, u64)>,
}

impl Baseline {
    fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        Baseline {
            inner: Mutex::new((histogram, 0, 0)),
        }
    }

    #[inline]
    fn record(&self, latency: Duration, error: bool) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut guard = self.inner.lock();
        guard.0.saturating_record(us);
        guard.1 += 1;
        guard.2 += u64::from(error);
    }
}

fn record(c: &mut Criterion) {
    let recorder = Recorder::new(RecorderConfig::new(2)).expect("valid recorder");
    let baseline = Baseline::new();

    let mut group = c.benchmark_group("record");

    group.bench_function("fledge_record", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            recorder.record(black_box(CANARY), latency(i), is_error(i));
        })
    });
    group.bench_function("baseline_mutex_histogram", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            baseline.record(latency(black_box(i)), is_error(i));
        })
    });
    group.bench_function("fledge_record_2t", |b| {
        b.iter_custom(|iters| {
            per_thread(2, iters, |i| {
                recorder.record(black_box(CANARY), latency(i), is_error(i));
            })
        })
    });
    group.bench_function("baseline_mutex_histogram_2t", |b| {
        b.iter_custom(|iters| {
            per_thread(2, iters, |i| {
                baseline.record(latency(black_box(i)), is_error(i));
            })
        })
    });

    group.finish();

    // Every record landed: the benchmark measured the whole write.
    let totals = recorder.totals(CANARY).expect("variant exists");
    assert!(totals.requests > 0 && totals.errors > 0 && recorder.dropped() == 0);
    assert!(baseline.inner.lock().1 > 0);
}

criterion_group!(benches, record);
criterion_main!(benches);
