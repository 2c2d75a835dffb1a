//! Unleash client-specification cases decided by hashing alone: the
//! flattened `unleash_hash_vectors.json`, cross-checked against the original
//! specs 03, 04, 08, 10, 12 and 16 it was drawn from. Also checks that the
//! Unleash bucketer mode gives Unleash's rollout decision.

use fledge_sticky::{Bucketer, HashMode, unleash};
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/conformance/unleash/"
);

const SPECS: [&str; 6] = [
    "03-gradual-rollout-user-id-strategy.json",
    "04-gradual-rollout-session-id-strategy.json",
    "08-variants.json",
    "10-flexible-rollout-strategy.json",
    "12-custom-stickiness.json",
    "16-strategy-variants.json",
];

fn load(file: &str) -> Value {
    let path = format!("{DIR}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn s(value: &Value) -> &str {
    value.as_str().expect("string")
}

fn u(value: &Value) -> u32 {
    u32::try_from(value.as_u64().expect("number")).expect("fits u32")
}

fn cases() -> Vec<Value> {
    load("unleash_hash_vectors.json")["cases"]
        .as_array()
        .expect("cases")
        .clone()
}

/// Unleash's decision for a strategy whose stickiness value is missing: with
/// default stickiness it falls back to a random value in 1..=100, so the
/// result must hold for every such value; with an explicit stickiness field
/// the strategy is off.
fn enabled_without_id(stickiness: &str, rollout: u32) -> Option<bool> {
    if stickiness != "default" {
        return Some(false);
    }
    let all = |v: u32| rollout > 0 && v <= rollout;
    let first = all(1);
    (1..=100).all(|v| all(v) == first).then_some(first)
}

#[test]
fn rollout_cases() {
    let mut count = 0;
    for case in cases().iter().filter(|c| c["kind"] == "isEnabled") {
        let what = format!("{} / {}", s(&case["spec"]), s(&case["description"]));
        let group = s(&case["groupId"]);
        let rollout = u(&case["rollout_percent"]);
        let expected = case["expected_enabled"].as_bool().expect("bool");
        assert_eq!(u(&case["seed"]), unleash::STRATEGY_SEED, "{what}");
        assert_eq!(
            u(&case["normalizer"]),
            unleash::ROLLOUT_NORMALIZER,
            "{what}"
        );
        match case["id"].as_str() {
            Some(id) => {
                let value = unleash::normalized_hash(group, id, 100);
                assert_eq!(value, u(&case["derived_normalized_value"]), "{what}");
                assert_eq!(unleash::in_rollout(group, id, rollout), expected, "{what}");
                // The bucketer: the canary owns [0, rollout% in bps). The
                // spec's ids and groups are ASCII: the Node mode agrees.
                for mode in [HashMode::Unleash, HashMode::UnleashNode] {
                    let bucket = Bucketer::new(mode, group).bucket_str(id);
                    assert_eq!(
                        bucket < rollout * 100,
                        expected,
                        "{what}: {mode} bucket {bucket}"
                    );
                }
                assert_eq!(
                    unleash::node::in_rollout(group, id, rollout),
                    expected,
                    "{what}"
                );
            }
            None => {
                let stickiness = s(&case["stickiness"]);
                assert_eq!(
                    enabled_without_id(stickiness, rollout),
                    Some(expected),
                    "{what}"
                );
            }
        }
        count += 1;
    }
    assert_eq!(count, 25);
}

#[test]
fn variant_cases() {
    let mut count = 0;
    for case in cases().iter().filter(|c| c["kind"] == "getVariant") {
        let what = format!("{} / {}", s(&case["spec"]), s(&case["description"]));
        let group = s(&case["groupId"]);
        let pairs = case["weights"].as_array().expect("weights");
        let names: Vec<&str> = pairs.iter().map(|p| s(&p[0])).collect();
        let weights: Vec<u32> = pairs.iter().map(|p| u(&p[1])).collect();
        let total: u32 = weights.iter().sum();
        let expected = s(&case["expected_variant"]);
        assert_eq!(u(&case["seed"]), unleash::VARIANT_SEED, "{what}");
        assert_eq!(u(&case["normalizer"]), total, "{what}");
        match case["id"].as_str() {
            Some(id) => {
                let target = unleash::normalized_variant_hash(group, id, total);
                assert_eq!(target, u(&case["derived_target"]), "{what}");
                let index = unleash::select_variant(group, id, &weights).expect("a variant");
                assert_eq!(names[index], expected, "{what}");
                let node = unleash::node::select_variant(group, id, &weights);
                assert_eq!(node, Some(index), "{what}: node");
            }
            None => {
                // No stickiness value: Unleash draws the target at random, so
                // every target must give the expected variant.
                for target in 1..=total {
                    let index = unleash::variant_for_target(&weights, target).expect("a variant");
                    assert_eq!(names[index], expected, "{what}: target {target}");
                }
            }
        }
        count += 1;
    }
    assert_eq!(count, 22);
}

/// Every flattened case matches a test of its original spec file: same
/// toggle, context id and expected result, and the group id, rollout and
/// weights come from that toggle's definition.
#[test]
fn flattened_cases_match_the_original_specs() {
    let cases = cases();
    assert_eq!(cases.len(), 47);
    for spec_file in SPECS {
        let spec = load(spec_file);
        let features = spec["state"]["features"].as_array().expect("features");
        let feature = |name: &str| {
            features
                .iter()
                .find(|f| f["name"] == name)
                .unwrap_or_else(|| panic!("{spec_file}: no feature {name}"))
        };
        let ours: Vec<&Value> = cases.iter().filter(|c| c["spec"] == spec_file).collect();
        assert!(!ours.is_empty(), "{spec_file}: no flattened case");
        for case in ours {
            let description = s(&case["description"]);
            let toggle = s(&case["toggleName"]);
            let list = if case["kind"] == "isEnabled" {
                "tests"
            } else {
                "variantTests"
            };
            let test = spec[list]
                .as_array()
                .expect("tests")
                .iter()
                .find(|t| t["description"] == description && t["toggleName"] == toggle)
                .unwrap_or_else(|| panic!("{spec_file}: no test {description:?}"));
            let feature = feature(toggle);
            if case["kind"] == "isEnabled" {
                assert_eq!(
                    test["expectedResult"], case["expected_enabled"],
                    "{description}"
                );
                let strategy = feature["strategies"]
                    .as_array()
                    .expect("strategies")
                    .iter()
                    .find(|st| st["name"] == case["strategy"])
                    .expect("the strategy");
                let params = &strategy["parameters"];
                let group = params["groupId"].as_str().unwrap_or(toggle);
                assert_eq!(group, s(&case["groupId"]), "{description}");
                let rollout = params["percentage"]
                    .as_str()
                    .or(params["rollout"].as_str())
                    .expect("rollout parameter");
                assert_eq!(
                    rollout.parse::<u32>().ok(),
                    Some(u(&case["rollout_percent"]))
                );
            } else {
                assert_eq!(
                    test["expectedResult"]["name"], case["expected_variant"],
                    "{description}"
                );
                let variants = if case["level"] == "strategy" {
                    feature["strategies"][0]["variants"].clone()
                } else {
                    feature["variants"].clone()
                };
                let weights: Vec<(String, u64)> = variants
                    .as_array()
                    .expect("variants")
                    .iter()
                    .map(|v| {
                        (
                            s(&v["name"]).to_owned(),
                            v["weight"].as_u64().expect("weight"),
                        )
                    })
                    .collect();
                let flattened: Vec<(String, u64)> = case["weights"]
                    .as_array()
                    .expect("weights")
                    .iter()
                    .map(|p| (s(&p[0]).to_owned(), p[1].as_u64().expect("weight")))
                    .collect();
                assert_eq!(weights, flattened, "{description}");
            }
            // The context value hashed is the one the test's context holds.
            if let Some(id) = case["id"].as_str() {
                let context = &test["context"];
                let held = [
                    context["userId"].as_str(),
                    context["sessionId"].as_str(),
                    context["properties"]["customField"].as_str(),
                    context["properties"]["clientId"].as_str(),
                    context["clientId"].as_str(),
                ];
                assert!(
                    held.contains(&Some(id)),
                    "{description}: {id} not in {context}"
                );
            }
        }
    }
}

/// The Unleash bucketer mode reproduces `in_rollout` for every whole
/// percentage, over many users.
#[test]
fn bucketer_matches_in_rollout_at_every_percentage() {
    let bucketer = Bucketer::new(HashMode::Unleash, "Feature.flexibleRollout.10");
    for i in 0..2_000 {
        let id = i.to_string();
        let bucket = bucketer.bucket_str(&id);
        for percent in 0..=100 {
            assert_eq!(
                bucket < percent * 100,
                unleash::in_rollout("Feature.flexibleRollout.10", &id, percent),
                "user {id} at {percent}%"
            );
        }
    }
}
