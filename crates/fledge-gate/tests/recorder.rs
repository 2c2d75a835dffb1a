//! Recorder and windows: slots, sliding, sharding, custom metrics, totals.

use std::time::Duration;

use fledge_gate::clock::{Clock, ManualClock, Timestamp};
use fledge_gate::{Recorder, RecorderConfig, RecorderError};

const T0: u64 = 1_700_000_000_000; // slot-aligned for 10 s slots

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn config_is_validated() {
    assert_eq!(
        Recorder::new(RecorderConfig::new(0)).unwrap_err(),
        RecorderError::NoVariants
    );
    assert_eq!(
        Recorder::new(RecorderConfig::new(1).slots(0)).unwrap_err(),
        RecorderError::NoSlots
    );
    assert_eq!(
        Recorder::new(RecorderConfig::new(1).slot(Duration::from_micros(10))).unwrap_err(),
        RecorderError::SlotTooShort
    );
    assert_eq!(
        Recorder::new(RecorderConfig::new(1).metric("a").metric("a")).unwrap_err(),
        RecorderError::DuplicateMetric("a".into())
    );
    let e = Recorder::new(RecorderConfig::new(1).metric("latency_x")).unwrap_err();
    assert!(e.to_string().contains("reserved"), "{e}");
    let e = Recorder::new(RecorderConfig::new(1).metric("a b")).unwrap_err();
    assert!(matches!(e, RecorderError::InvalidMetricName { .. }));
    // Sizes that would overflow (or could never be allocated) are errors,
    // not panics.
    for config in [
        RecorderConfig::new(usize::MAX),
        RecorderConfig::new(2).slots(usize::MAX),
        RecorderConfig::new(1)
            .metric("a")
            .metric_sample_cap(usize::MAX),
    ] {
        let e = Recorder::new(config).unwrap_err();
        assert!(matches!(e, RecorderError::TooLarge { .. }), "{e}");
    }
}

#[test]
fn window_counts_latency_and_errors() {
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    for i in 0..1000u64 {
        r.record(1, Duration::from_micros(1000 + i * 10), i % 100 == 0);
    }
    r.record(0, Duration::from_millis(5), false);
    let w = r.window(1, Timestamp::from_millis(T0), secs(60)).unwrap();
    assert_eq!(w.requests(), 1000);
    assert_eq!(w.errors(), 10);
    assert_eq!(w.error_rate(), Some(0.01));
    let p50 = w.latency().quantile_ms(0.5).unwrap();
    assert!((p50 - 6.0).abs() < 0.01, "{p50}");
    let p99 = w.latency().quantile_ms(0.99).unwrap();
    assert!((p99 - 10.9).abs() < 0.02, "{p99}");
    assert_eq!(w.latency().buckets().iter().map(|b| b.1).sum::<u64>(), 1000);
    assert_eq!(w.latency().samples_ms(100).len(), 100);
    let b = r.window(0, Timestamp::from_millis(T0), secs(60)).unwrap();
    assert_eq!(b.requests(), 1);
    assert!(r.window(2, Timestamp::from_millis(T0), secs(60)).is_err());
}

#[test]
fn out_of_range_is_dropped_not_panicking() {
    let r = Recorder::new(RecorderConfig::new(1).metric("m")).unwrap();
    r.record(5, Duration::from_millis(1), false);
    let id = r.metric_id("m").unwrap();
    r.record_metric(0, id, f64::NAN);
    r.record_metric(3, id, 1.0);
    assert_eq!(r.dropped(), 3);
    assert!(matches!(
        r.record_feedback(0, "nope", 1.0),
        Err(RecorderError::UnknownMetric(_))
    ));
    assert!(matches!(
        r.record_feedback(0, "m", f64::INFINITY),
        Err(RecorderError::NotFinite(_))
    ));
    // Latencies beyond 60 s are clamped in the histogram, exact in totals.
    r.record(0, Duration::from_secs(600), false);
    let w = r.window(0, Timestamp::from_millis(T0), secs(60)).unwrap();
    assert!(w.latency().max_ms().unwrap() <= 60_100.0);
    assert_eq!(w.totals().latency_ms.sum, 600_000.0);
}

#[test]
fn window_slides_with_slots() {
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    let r = Recorder::new(RecorderConfig::new(1).slot(secs(10)).slots(6)).unwrap();
    r.advance(clock.now());
    // One request per second for 120 s, ticking every second.
    for _ in 0..120 {
        r.record(0, Duration::from_millis(1), false);
        clock.advance(secs(1));
        r.advance(clock.now());
    }
    let now = clock.now();
    let w = r.window(0, now, secs(60)).unwrap();
    // Slot-aligned: the last 60 s plus the current (empty) slot.
    assert_eq!(w.requests(), 60, "{w:?}");
    assert_eq!(w.start(), Timestamp::from_millis(T0 + 60_000));
    let w = r.window(0, now, secs(30)).unwrap();
    assert_eq!(w.requests(), 30);
    // Longer than the capacity: cut to the 6 slots + current.
    let w = r.window(0, now, secs(600)).unwrap();
    assert_eq!(w.requests(), 60);
    // Totals keep everything.
    assert_eq!(w.totals().requests, 120);
    // Later, the old slots have expired.
    clock.advance(secs(300));
    let w = r.window(0, clock.now(), secs(60)).unwrap();
    assert_eq!(w.requests(), 0);
}

#[test]
fn partial_slot_is_included() {
    let r = Recorder::new(RecorderConfig::new(1)).unwrap();
    r.advance(Timestamp::from_millis(T0));
    r.record(0, Duration::from_millis(1), true);
    let w = r
        .window(0, Timestamp::from_millis(T0 + 4_000), secs(10))
        .unwrap();
    assert_eq!((w.requests(), w.errors()), (1, 1));
    // Asking again (cached complete slots) gives the same answer.
    let w2 = r
        .window(0, Timestamp::from_millis(T0 + 15_000), secs(20))
        .unwrap();
    assert_eq!(w2.requests(), 1);
    let w3 = r
        .window(0, Timestamp::from_millis(T0 + 15_500), secs(20))
        .unwrap();
    assert_eq!(w3.requests(), 1);
}

#[test]
fn custom_metrics_keep_exact_moments_and_capped_samples() {
    let r = Recorder::new(
        RecorderConfig::new(2)
            .metric("abs_error")
            .metric("click")
            .metric_sample_cap(64)
            .shards(1),
    )
    .unwrap();
    let id = r.metric_id("abs_error").unwrap();
    for i in 0..1000 {
        r.record_metric(1, id, f64::from(i));
    }
    r.record_feedback(1, "click", 1.0).unwrap();
    r.record_feedback(1, "click", 0.0).unwrap();
    let w = r.window(1, Timestamp::from_millis(T0), secs(60)).unwrap();
    let m = w.metric("abs_error").unwrap();
    assert_eq!(m.count(), 1000);
    assert_eq!(m.mean(), Some(499.5));
    assert_eq!((m.min(), m.max()), (Some(0.0), Some(999.0)));
    assert_eq!(m.samples().len(), 64);
    // The reservoir is spread over the whole range, not the first 64.
    assert!(m.samples().iter().any(|&v| v > 500.0));
    assert_eq!(w.metric("click").unwrap().mean(), Some(0.5));
    assert_eq!(w.totals().metric("abs_error").unwrap().count, 1000);
    assert_eq!(
        r.window(0, Timestamp::from_millis(T0), secs(60))
            .unwrap()
            .metric("abs_error")
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn threads_record_concurrently_without_loss() {
    let r = Recorder::new(RecorderConfig::new(2).shards(4)).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let r = r.clone();
            s.spawn(move || {
                for i in 0..10_000u64 {
                    r.record(t % 2, Duration::from_micros(100 + i), i % 50 == 0);
                }
            });
        }
        // The control path advances while recorders run.
        let r = r.clone();
        s.spawn(move || {
            for k in 0..50 {
                let _ = r.window(0, Timestamp::from_millis(T0 + k * 1_000), secs(60));
            }
        });
    });
    let now = Timestamp::from_millis(T0 + 50_000);
    let a = r.window(0, now, secs(60)).unwrap();
    let b = r.window(1, now, secs(60)).unwrap();
    assert_eq!(a.requests() + b.requests(), 40_000);
    assert_eq!(a.errors() + b.errors(), 800);
    assert_eq!(a.totals().requests + b.totals().requests, 40_000);
}

#[test]
fn totals_since_measures_a_step() {
    let r = Recorder::new(RecorderConfig::new(1)).unwrap();
    for _ in 0..10 {
        r.record(0, Duration::from_millis(2), false);
    }
    let start = r.window(0, Timestamp::from_millis(T0), secs(60)).unwrap();
    for _ in 0..5 {
        r.record(0, Duration::from_millis(4), true);
    }
    let later = r
        .window(0, Timestamp::from_millis(T0 + 1_000), secs(60))
        .unwrap();
    let step = later.totals().since(start.totals());
    assert_eq!((step.requests, step.errors), (5, 5));
    assert_eq!(step.latency_ms.mean(), Some(4.0));
}

#[test]
fn totals_are_cheap_and_match_windows() {
    let r = Recorder::new(RecorderConfig::new(2).metric("m")).unwrap();
    for i in 0..100u64 {
        r.record(1, Duration::from_millis(i), i % 10 == 0);
        r.record_feedback(1, "m", 2.0).unwrap();
    }
    let t = r.totals(1).unwrap();
    let w = r.window(1, Timestamp::from_millis(T0), secs(60)).unwrap();
    assert_eq!(&t, w.totals());
    assert_eq!((t.requests, t.errors), (100, 10));
    assert_eq!(t.metric("m").unwrap().mean(), Some(2.0));
    assert!(r.totals(2).is_err());
    let only = fledge_gate::Window::from_totals(1, Timestamp::from_millis(T0), t);
    assert_eq!(only.requests(), 0);
    assert!(only.latency().is_empty());
    assert_eq!(only.totals().requests, 100);
}

#[test]
fn cumulative_latency_keeps_every_request_after_the_window_slides() {
    // 3 slots of 10 s, 2 shards: after 20 slots most data left the window,
    // none left the cumulative distribution.
    let r = Recorder::new(RecorderConfig::new(2).slot(secs(10)).slots(3).shards(2)).unwrap();
    let mut now = Timestamp::from_millis(T0);
    r.advance(now);
    let mut at_or_below_20ms = 0u64;
    let mut total = 0u64;
    for slot in 0..20u64 {
        for i in 0..100u64 {
            let ms = 1 + (slot * 7 + i) % 40; // 1..=40 ms
            r.record(1, Duration::from_millis(ms), false);
            total += 1;
            at_or_below_20ms += u64::from(ms <= 20);
        }
        // Another thread writes to the other shard.
        std::thread::scope(|s| {
            s.spawn(|| r.record(1, Duration::from_millis(30), false));
        });
        total += 1;
        now = now + secs(10);
        r.advance(now);
    }
    let window = r.window(1, now, secs(30)).unwrap();
    assert!(
        window.requests() < total / 4,
        "the window slid: {}",
        window.requests()
    );
    let cumulative = r.cumulative_latency(1).unwrap();
    assert_eq!(cumulative.count(), total);
    assert_eq!(r.totals(1).unwrap().requests, total);
    assert_eq!(
        cumulative.count_at_or_below(Duration::from_millis(20)),
        at_or_below_20ms
    );
    assert_eq!(cumulative.count_at_or_below(Duration::from_secs(60)), total);
    assert_eq!(cumulative.count_at_or_below(Duration::ZERO), 0);
    let p50 = cumulative.quantile(0.5).unwrap();
    assert!(
        p50 >= Duration::from_millis(19) && p50 <= Duration::from_millis(22),
        "{p50:?}"
    );
    // The other version saw nothing; an unknown one is an error.
    assert_eq!(r.cumulative_latency(0).unwrap().count(), 0);
    assert!(r.cumulative_latency(0).unwrap().quantile(0.5).is_none());
    assert!(r.cumulative_latency(2).is_err());
}
