//! Recording allocates nothing once warm: a counting global allocator
//! watches 40 000 latency/outcome records and 20 000 custom-metric records
//! (past the sample cap, so the reservoir path runs too), 20 000 numeric
//! outputs and 20 000 labels (known ones, and labels past `max_labels`,
//! which count as other), in two time slots.
//! Only this thread's allocations count (`allocation_counter::measure`), so the
//! test harness and other tests allocating meanwhile cannot fail it.

use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::{OutputSpec, Recorder, RecorderConfig};

#[test]
fn recording_allocates_nothing() {
    // The counter is live: a box on this thread is seen.
    let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(
        boxed.count_total, 1,
        "the counting allocator is not installed"
    );
    let recorder = Recorder::new(
        RecorderConfig::new(2)
            .slot(Duration::from_secs(1))
            .slots(4)
            .shards(2)
            .metric("abs_error")
            .metric_sample_cap(64)
            .output(OutputSpec::numeric("forecast"))
            .output(OutputSpec::categorical("category").max_labels(4)),
    )
    .expect("valid config");
    let metric = recorder.metric_id("abs_error").expect("declared");
    let forecast = recorder.output_id("forecast").expect("declared");
    let category = recorder.output_id("category").expect("declared");
    let labels = ["a", "b", "c", "d", "e", "f"];
    // Registering a label allocates its copy, once per label: warm up.
    for l in labels {
        recorder.record_label(0, category, l);
    }
    let t0 = Timestamp::from_millis(1_800_000_000_000);
    recorder.advance(t0);
    // First use on this thread: claim a shard hint.
    recorder.record(0, Duration::from_micros(100), false);
    recorder.record_metric(0, metric, 1.0);

    for slot in 1..=2u64 {
        let change = allocation_counter::measure(|| {
            for i in 0..10_000u64 {
                let latency = Duration::from_micros(50 + i % 5_000);
                recorder.record(0, latency, i % 97 == 0);
                recorder.record(1, latency * 2, i % 13 == 0);
                recorder.record_metric(0, metric, (i % 10) as f64);
                recorder.record_metric(1, metric, (i % 7) as f64);
                recorder.record_output(0, forecast, 100.0 + (i % 50) as f64 * 0.37);
                recorder.record_output(1, forecast, -3.0e3 + i as f64);
                recorder.record_label(0, category, labels[(i % 6) as usize]);
                recorder.record_label(1, category, labels[(i % 5) as usize]);
            }
            // Out-of-range calls are dropped, still without allocating.
            recorder.record(2, Duration::from_micros(1), false);
            recorder.record_metric(0, metric, f64::NAN);
            recorder.record_output(0, forecast, f64::INFINITY);
            recorder.record_output(0, category, 1.0);
        });
        assert_eq!(change.count_total, 0, "slot {slot}: {change:?}");
        // The control path moves to the next slot (outside the region).
        recorder.advance(t0 + Duration::from_secs(slot));
    }
    assert_eq!(recorder.dropped(), 8);
    assert_eq!(recorder.labels(category).map(|l| l.len()), Some(4));
    let totals = recorder.totals(0).expect("version 0");
    assert_eq!(totals.requests, 20_001);
    assert_eq!(totals.metric("abs_error").map(|m| m.count), Some(20_001));
}
