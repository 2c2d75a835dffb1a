//! Model outputs in the recorder: numeric sketches and label counts per
//! window, merged across shards and slots, labels past `max_labels` as
//! other, slots cleared on reuse, the binary form, configuration errors.

use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::output::{OutputData, OutputKind, OutputSpec, OutputWindow};
use fledge_gate::{Recorder, RecorderConfig, RecorderError};

const T0: u64 = 1_700_000_000_000;

fn recorder(shards: usize) -> Recorder {
    Recorder::new(
        RecorderConfig::new(2)
            .slot(Duration::from_secs(10))
            .slots(3)
            .shards(shards)
            .metric("abs_error")
            .output(
                OutputSpec::numeric("forecast")
                    .resolution(1e-3)
                    .max_abs(1e6),
            )
            .output(
                OutputSpec::categorical("category")
                    .max_labels(3)
                    .labels(["books"]),
            ),
    )
    .expect("valid config")
}

#[test]
fn windows_hold_the_output_distribution() {
    let r = recorder(4);
    let forecast = r.output_id("forecast").unwrap();
    let category = r.output_id("category").unwrap();
    assert_eq!(r.output_kind(forecast), Some(OutputKind::Numeric));
    r.advance(Timestamp::from_millis(T0));
    // Four threads, so several shards take part.
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let r = &r;
            s.spawn(move || {
                for i in 0..250u32 {
                    r.record_output(1, forecast, f64::from(t * 250 + i) / 10.0);
                    r.record_label(
                        1,
                        category,
                        ["books", "garden", "toys", "food"][(i % 4) as usize],
                    );
                }
            });
        }
    });
    let w = r
        .window(
            1,
            Timestamp::from_millis(T0 + 5_000),
            Duration::from_secs(30),
        )
        .unwrap();
    let out = w.output("forecast").unwrap().numeric().unwrap();
    assert_eq!(out.count(), 1_000);
    assert!((out.mean().unwrap() - 49.95).abs() < 1e-9);
    assert_eq!(out.min(), Some(0.0));
    assert_eq!(out.max(), Some(99.9));
    let median = out.quantile(0.5).unwrap();
    assert!((median - 49.95).abs() < 0.1 + 50.0 / 128.0, "{median}");
    assert_eq!(out.bins().iter().map(|b| b.count).sum::<u64>(), 1_000);
    // Exact CDF at a bucket edge below 256 units (0.256): one unit wide.
    assert_eq!(out.cdf(0.0505), Some(1.0 / 1_000.0));

    let labels = w.output("category").unwrap().categorical().unwrap();
    assert_eq!(labels.total(), 1_000);
    // i % 4 over 0..250: 63, 63, 62, 62 per thread.
    assert_eq!(labels.count("books"), 4 * 63);
    // "books" was declared; garden and toys (seen before food by every
    // thread) fill max_labels = 3; food is other.
    assert_eq!(labels.labels().len(), 3);
    assert_eq!(labels.count("toys"), 4 * 62);
    assert_eq!(labels.other(), 4 * 62, "{labels:?}");
    assert_eq!(r.labels(category).unwrap().len(), 3);
    assert_eq!(r.labels(category).unwrap()[0], "books");
    // The baseline recorded nothing.
    let b = r
        .window(
            0,
            Timestamp::from_millis(T0 + 5_000),
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(b.output("forecast").unwrap().count(), 0);
    assert_eq!(b.output("category").unwrap().count(), 0);
    assert!(b.output("nope").is_none());
}

#[test]
fn slots_slide_and_clear() {
    let r = recorder(2);
    let forecast = r.output_id("forecast").unwrap();
    let category = r.output_id("category").unwrap();
    for slot in 0..6u64 {
        r.advance(Timestamp::from_millis(T0 + slot * 10_000));
        for _ in 0..10 {
            r.record_output(0, forecast, slot as f64);
            r.record_label(0, category, "books");
        }
    }
    // 30 s window at 55 s: the slots overlapping (25 s, 55 s], from 20 s.
    let w = r
        .window(
            0,
            Timestamp::from_millis(T0 + 55_000),
            Duration::from_secs(30),
        )
        .unwrap();
    let n = w.output("forecast").unwrap().numeric().unwrap();
    assert_eq!(n.count(), 40);
    assert_eq!(n.min(), Some(2.0));
    assert_eq!(n.sketch().count(), 40);
    assert_eq!(
        w.output("category")
            .unwrap()
            .categorical()
            .unwrap()
            .count("books"),
        40
    );
    // Slots 0 and 1 were reused: nothing of them is left anywhere.
    let all = r
        .window(
            0,
            Timestamp::from_millis(T0 + 55_000),
            Duration::from_secs(600),
        )
        .unwrap();
    assert_eq!(all.output("forecast").unwrap().count(), 40);
}

#[test]
fn shards_merge_like_one() {
    // The same values through 1 shard and through 8 give equal windows.
    let values: Vec<f64> = (0..2_000)
        .map(|i| ((i * 7919) % 1000) as f64 - 300.5)
        .collect();
    let windows: Vec<OutputWindow> = [1usize, 8]
        .iter()
        .map(|&shards| {
            let r = recorder(shards);
            let id = r.output_id("forecast").unwrap();
            r.advance(Timestamp::from_millis(T0));
            std::thread::scope(|s| {
                for chunk in values.chunks(500) {
                    let r = &r;
                    s.spawn(move || chunk.iter().for_each(|&v| r.record_output(0, id, v)));
                }
            });
            r.window(0, Timestamp::from_millis(T0 + 1), Duration::from_secs(10))
                .unwrap()
                .output("forecast")
                .unwrap()
                .clone()
        })
        .collect();
    let (a, b) = (&windows[0], &windows[1]);
    let (na, nb) = (a.numeric().unwrap(), b.numeric().unwrap());
    assert_eq!(na.sketch(), nb.sketch());
    assert_eq!(na.count(), nb.count());
    assert!((na.moments().sum - nb.moments().sum).abs() < 1e-6);
}

#[test]
fn encoded_windows_merge_like_one_recorder() {
    // Two replicas' windows, encoded, decoded and merged, equal one
    // recorder that saw all the values.
    let all = recorder(1);
    let parts: Vec<OutputWindow> = (0..2)
        .map(|replica| {
            let r = recorder(1);
            for rec in [&r, &all] {
                let f = rec.output_id("forecast").unwrap();
                let c = rec.output_id("category").unwrap();
                for i in 0..300 {
                    rec.record_output(0, f, f64::from(i * (replica + 1)) * 0.25 - 20.0);
                    rec.record_label(0, c, if i % 3 == 0 { "garden" } else { "books" });
                }
            }
            let w = r
                .window(0, Timestamp::from_millis(T0), Duration::from_secs(30))
                .unwrap();
            let bytes = w.output("forecast").unwrap().encode();
            OutputWindow::decode(&bytes).unwrap()
        })
        .collect();
    let mut merged = parts[0].clone();
    merged.merge(&parts[1]).unwrap();
    let one = all
        .window(0, Timestamp::from_millis(T0), Duration::from_secs(30))
        .unwrap();
    let one = one.output("forecast").unwrap();
    assert_eq!(
        merged.numeric().unwrap().sketch(),
        one.numeric().unwrap().sketch()
    );
    assert_eq!(merged.count(), 600);
    // Merging a categorical window into a numeric one is refused.
    let cat = one.clone();
    let mut wrong = OutputWindow::new("forecast", OutputData::Categorical(Default::default()));
    assert!(wrong.merge(&cat).is_err());
}

#[test]
fn config_and_calls_are_checked() {
    let err = Recorder::new(
        RecorderConfig::new(1)
            .metric("forecast")
            .output(OutputSpec::numeric("forecast")),
    )
    .unwrap_err();
    assert_eq!(err, RecorderError::DuplicateOutput("forecast".into()));
    let err =
        Recorder::new(RecorderConfig::new(1).output(OutputSpec::numeric("f").resolution(0.0)))
            .unwrap_err();
    assert!(
        matches!(
            err,
            RecorderError::InvalidOutput {
                field: "resolution",
                ..
            }
        ),
        "{err}"
    );
    let err =
        Recorder::new(RecorderConfig::new(1).output(OutputSpec::categorical("c").max_labels(0)))
            .unwrap_err();
    assert!(err.to_string().contains("max_labels"), "{err}");
    let err = Recorder::new(
        RecorderConfig::new(1).output(OutputSpec::numeric("f").resolution(1e-12).max_abs(1e9)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_abs"), "{err}");

    let r = recorder(1);
    assert!(r.record_output_named(0, "forecast", 1.0).is_ok());
    assert!(matches!(
        r.record_output_named(0, "category", 1.0),
        Err(RecorderError::WrongOutputKind { .. })
    ));
    assert!(matches!(
        r.record_label_named(0, "nope", "x"),
        Err(RecorderError::UnknownOutput(_))
    ));
    assert!(r.record_label_named(0, "category", "x").is_ok());
    assert!(r.record_output_named(5, "forecast", 1.0).is_err());
    // Wrong kinds by id are dropped and counted.
    let f = r.output_id("forecast").unwrap();
    let c = r.output_id("category").unwrap();
    r.record_label(0, f, "x");
    r.record_output(0, c, 1.0);
    r.record_output(9, f, 1.0);
    assert_eq!(r.dropped(), 3);
}

#[test]
fn serde_specs_reject_fields_of_the_other_kind() {
    let e =
        serde_json::from_str::<OutputSpec>(r#"{"name": "f", "kind": "numeric", "max_labels": 3}"#)
            .unwrap_err();
    assert!(e.to_string().contains("max_labels"), "{e}");
    let e =
        serde_json::from_str::<OutputSpec>(r#"{"name": "f", "kind": "categorical", "bogus": 3}"#)
            .unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    let spec: OutputSpec =
        toml::from_str("name = \"c\"\nkind = \"categorical\"\nlabels = [\"a\", \"b\"]").unwrap();
    assert_eq!(spec.initial_labels(), ["a", "b"]);
    let back: OutputSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);
}
