//! GrowthBook's own test cases (JS SDK `cases.json`, specVersion 0.8.0):
//! `hash`, `getBucketRange`, `chooseVariation`, `inNamespace`, and the `run`
//! cases decided by hashing, weights, coverage, namespaces and filters alone.
//! Also checks that the GrowthBook bucketer modes give the SDK's decision.

use fledge_sticky::{Bucketer, HashMode, growthbook};
use serde_json::Value;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/conformance/growthbook/cases.json"
);
const RUN_SUBSET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/conformance/growthbook/run_bucketing_subset.json"
);

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn cases(name: &str) -> Vec<Value> {
    load(CASES)[name]
        .as_array()
        .expect("array of cases")
        .clone()
}

fn f(value: &Value) -> f64 {
    value.as_f64().expect("number")
}

fn s(value: &Value) -> &str {
    value.as_str().expect("string")
}

fn range(value: &Value) -> (f64, f64) {
    let pair = value.as_array().expect("[start, end]");
    (f(&pair[0]), f(&pair[1]))
}

fn ranges(value: &Value) -> Vec<(f64, f64)> {
    value
        .as_array()
        .expect("ranges")
        .iter()
        .map(range)
        .collect()
}

/// The comparison the GrowthBook tests use: `floor(x * 1e8) / 1e8`.
fn round8(x: f64) -> f64 {
    (x * 1e8).floor() / 1e8
}

#[test]
fn hash() {
    let cases = cases("hash");
    assert_eq!(cases.len(), 15);
    for case in cases {
        let seed = s(&case[0]);
        let value = s(&case[1]);
        let version = u32::try_from(case[2].as_u64().expect("version")).expect("small");
        let expected = case[3].as_f64();
        assert_eq!(
            growthbook::hash(seed, value, version),
            expected,
            "hash({seed:?}, {value:?}, {version})"
        );
        // Every id here is ASCII: the UTF-8 variant agrees.
        assert_eq!(growthbook::utf8::hash(seed, value, version), expected);
        // The bucketer modes give the same number in basis points.
        if let Some(n) = expected {
            let modes = if version == 1 {
                [HashMode::GrowthBookV1, HashMode::GrowthBookV1Utf8]
            } else {
                [HashMode::GrowthBookV2, HashMode::GrowthBookV2Utf8]
            };
            for mode in modes {
                let bucket = Bucketer::new(mode, seed).bucket_str(value);
                assert_eq!(f64::from(bucket) / 10_000.0, n, "{mode} {seed:?} {value:?}");
            }
        }
    }
}

#[test]
fn get_bucket_range() {
    let cases = cases("getBucketRange");
    assert_eq!(cases.len(), 13);
    for case in cases {
        let name = s(&case[0]);
        let args = case[1].as_array().expect("args");
        let n = usize::try_from(args[0].as_u64().expect("count")).expect("small");
        let coverage = f(&args[1]);
        let weights: Option<Vec<f64>> = args[2].as_array().map(|w| w.iter().map(f).collect());
        let got = growthbook::get_bucket_ranges(n, coverage, weights.as_deref());
        let expected = ranges(&case[2]);
        assert_eq!(got.len(), expected.len(), "{name}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(
                (round8(g.0), round8(g.1)),
                (round8(e.0), round8(e.1)),
                "{name}"
            );
        }
    }
}

#[test]
fn choose_variation() {
    let cases = cases("chooseVariation");
    assert_eq!(cases.len(), 13);
    for case in cases {
        let name = s(&case[0]);
        let expected = case[3].as_i64().expect("index");
        let got = growthbook::choose_variation(f(&case[1]), &ranges(&case[2]));
        let got = got.map_or(-1, |i| i64::try_from(i).expect("small"));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn in_namespace() {
    let cases = cases("inNamespace");
    assert_eq!(cases.len(), 16);
    for case in cases {
        let name = s(&case[0]);
        let ns = case[2].as_array().expect("[id, start, end]");
        let got = growthbook::in_namespace(s(&case[1]), s(&ns[0]), f(&ns[1]), f(&ns[2]));
        assert_eq!(got, case[3].as_bool().expect("bool"), "{name}");
        let utf8 = growthbook::utf8::in_namespace(s(&case[1]), s(&ns[0]), f(&ns[1]), f(&ns[2]));
        assert_eq!(utf8, got, "{name}: ASCII ids, same in UTF-8");
    }
}

/// The bucketing part of GrowthBook's `run`, as the subset's notes describe
/// it: filters (hash version 2 by default) take precedence over the
/// namespace; then `n = hash(seed || key, attribute, hashVersion || 1)` and the
/// first range holding `n` wins (explicit `ranges`, or `getBucketRanges`).
fn run(experiment: &Value, attributes: &Value) -> Option<usize> {
    let attribute =
        |name: Option<&str>| attributes[name.unwrap_or("id")].as_str().map(String::from);
    if let Some(filters) = experiment["filters"].as_array() {
        for filter in filters {
            let value = attribute(filter["attribute"].as_str())?;
            let version = filter["hashVersion"].as_u64().map_or(2, |v| v as u32);
            let n = growthbook::hash(s(&filter["seed"]), &value, version)?;
            if !ranges(&filter["ranges"])
                .iter()
                .any(|&r| growthbook::in_range(n, r))
            {
                return None;
            }
        }
    } else if let Some(ns) = experiment["namespace"].as_array() {
        let id = attribute(None)?;
        if !growthbook::in_namespace(&id, s(&ns[0]), f(&ns[1]), f(&ns[2])) {
            return None;
        }
    }
    let value = attribute(experiment["hashAttribute"].as_str())?;
    let seed = experiment["seed"]
        .as_str()
        .unwrap_or_else(|| s(&experiment["key"]));
    let version = experiment["hashVersion"].as_u64().map_or(1, |v| v as u32);
    let n = growthbook::hash(seed, &value, version)?;
    let variations = experiment["variations"]
        .as_array()
        .expect("variations")
        .len();
    let ranges = if experiment["ranges"].is_array() {
        ranges(&experiment["ranges"])
    } else {
        let weights: Option<Vec<f64>> = experiment["weights"]
            .as_array()
            .map(|w| w.iter().map(f).collect());
        let coverage = experiment["coverage"].as_f64().unwrap_or(1.0);
        growthbook::get_bucket_ranges(variations, coverage, weights.as_deref())
    };
    growthbook::choose_variation(n, &ranges)
}

#[test]
fn run_bucketing_subset() {
    let data = load(RUN_SUBSET);
    let cases = data["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 51);
    for case in cases {
        let name = s(&case["name"]);
        let experiment = &case["experiment"];
        let got = run(experiment, &case["attributes"]);
        assert_eq!(
            got.is_some(),
            case["expected_inExperiment"].as_bool().expect("bool"),
            "{name}"
        );
        let variations = experiment["variations"].as_array().expect("variations");
        let value = &variations[got.unwrap_or(0)];
        assert_eq!(value, &case["expected_value"], "{name}");
    }
}

/// A two-variant GrowthBook experiment with weights `[w, 1 - w]` (w in basis
/// points) puts a user on variation 0 exactly when the GrowthBook bucketer's
/// bucket is below `w`: "canary owns [0, w)" is GrowthBook's decision.
#[test]
fn bucketer_modes_reproduce_two_variant_decisions_at_every_weight() {
    for (version, step) in [(1u32, 10u32), (2, 1)] {
        for w in 0..=10_000u32 {
            let weight = f64::from(w) / 10_000.0;
            let ranges = growthbook::get_bucket_ranges(2, 1.0, Some(&[weight, 1.0 - weight]));
            // Check the buckets around the boundary; the layout is monotone.
            let lowest = w.saturating_sub(2 * step) / step * step;
            for bucket in (lowest..(w + 2 * step).min(10_000)).step_by(step as usize) {
                let n = if version == 1 {
                    f64::from(bucket / 10) / 1_000.0
                } else {
                    f64::from(bucket) / 10_000.0
                };
                let sdk = growthbook::choose_variation(n, &ranges);
                let fledge = Some(usize::from(bucket >= w));
                assert_eq!(sdk, fledge, "v{version} w={w} bucket={bucket}");
            }
        }
    }
}
