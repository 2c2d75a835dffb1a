//! Arbitrary bytes as a replica's window summary (what a fleet leader reads
//! from Redis): an error or a summary, never a panic, and no allocation
//! beyond what the bytes can hold. A summary that decodes re-encodes to
//! bytes that decode to the same windows, and merges with a real summary
//! (overflow is an error, not a panic) into windows the judge's accessors
//! read without panicking.
//!
//! Random bytes rarely pass the magic and version, so byte 0 chooses raw
//! mode or edit mode: an edit splices the rest into a real summary (two
//! versions, latency spread over many buckets, a custom metric with
//! samples) at a position and length taken from bytes 1–4.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::summary::{WindowSummary, merge_windows};
use fledge_gate::{Recorder, RecorderConfig};
use libfuzzer_sys::fuzz_target;

fn seed() -> &'static [u8] {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let recorder = Recorder::new(RecorderConfig::new(2).metric("abs_error"))
            .expect("a valid recorder");
        let id = recorder.metric_id("abs_error").expect("declared");
        for i in 0..500u64 {
            let v = (i % 2) as usize;
            recorder.record(v, Duration::from_micros(300 + i * 97), i % 17 == 0);
            recorder.record_metric(v, id, (i % 13) as f64 / 4.0);
        }
        WindowSummary::from_recorder(
            &recorder,
            "replica-a",
            3,
            Timestamp::from_millis(1_800_000_000_000),
            Duration::from_secs(60),
            16,
        )
        .expect("windows")
        .encode()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 4 == 0 {
        rest.to_vec()
    } else {
        let seed = seed();
        let word = |i: usize| {
            u16::from_le_bytes([*rest.get(i).unwrap_or(&0), *rest.get(i + 1).unwrap_or(&0)])
        };
        let at = usize::from(word(0)) % (seed.len() + 1);
        let len = usize::from(word(2) % 64).min(seed.len() - at);
        let patch = rest.get(4..).unwrap_or(&[]);
        let mut edited = Vec::with_capacity(seed.len() + patch.len());
        edited.extend_from_slice(&seed[..at]);
        edited.extend_from_slice(patch);
        edited.extend_from_slice(&seed[at + len..]);
        edited
    };

    let Ok(summary) = WindowSummary::decode(&bytes) else {
        return;
    };
    let again = WindowSummary::decode(&summary.encode()).expect("a decoded summary re-encodes");
    assert_eq!(again.windows().len(), summary.windows().len());
    for (a, b) in summary.windows().iter().zip(again.windows()) {
        assert_eq!(a.requests(), b.requests());
        assert_eq!(a.errors(), b.errors());
        assert_eq!(a.latency().buckets(), b.latency().buckets());
        assert_eq!(a.totals().requests, b.totals().requests);
    }
    let real = WindowSummary::decode(seed()).expect("the seed decodes");
    for version in 0..2 {
        let parts = [summary.window(version), real.window(version)];
        if let Ok(merged) = merge_windows(parts.into_iter().flatten(), 64) {
            let _ = merged.error_rate();
            let _ = merged.latency().quantile_ms(0.99);
            let _ = merged.latency().count_above_ms(50.0);
            for m in merged.metrics() {
                let _ = (m.mean(), m.variance(), m.samples().len());
            }
        }
    }
});
