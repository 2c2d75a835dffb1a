//! Netflix Kayenta's Mann-Whitney and classifier suites
//! (`testdata/conformance/kayenta/*.json`, spinnaker/kayenta a69573be).

use fledge_gate::kayenta::{
    self, Classification, ClassifierConfig, Direction, EffectSizeMeasure, NanStrategy,
};
use fledge_gate::stats;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../testdata/conformance/kayenta/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("conformance file");
    serde_json::from_str(&text).expect("valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| match x {
            Value::Null => f64::NAN,
            Value::String(s) if s == "NaN" => f64::NAN,
            Value::String(s) if s == "Infinity" => f64::INFINITY,
            Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
            other => other.as_f64().expect("number"),
        })
        .collect()
}

fn tol(case: &Value, key: &str) -> f64 {
    match &case["abs_tol"] {
        Value::Object(m) => m[key].as_f64().expect("tolerance"),
        v => v.as_f64().expect("tolerance"),
    }
}

#[test]
fn mann_whitney_suite() {
    let data = load("kayenta_mannwhitney_vectors.json");
    let mut intervals = 0;
    for case in data["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap_or("?");
        match case["kind"].as_str() {
            Some("wilcoxonDiff") => {
                let x = floats(&case["x"]);
                let y = floats(&case["y"]);
                for e in case["expected"].as_array().expect("expected") {
                    let mu = e["mu"].as_f64().expect("mu");
                    let zq = e["quantile"].as_f64().expect("quantile");
                    let v = e["value"].as_f64().expect("value");
                    let got = stats::wilcoxon_diff(&x, &y, mu, zq, true).expect("valid");
                    assert!((got - v).abs() <= tol(case, ""), "{name}: {got} vs {v}");
                }
            }
            Some("normalQuantile") => {
                let p = case["p"].as_f64().expect("p");
                let z = stats::normal_quantile(p);
                let expected = case["expected"].as_f64().expect("expected");
                assert!((z - expected).abs() < 1e-6, "{name}: {z} vs {expected}");
            }
            Some("mannWhitneyUTest") => {
                let x = floats(&case["x_experiment"]);
                let y = floats(&case["y_control"]);
                let conf = case["confidenceLevel"].as_f64().expect("confidence");
                let r = stats::hodges_lehmann(&x, &y, conf).expect("valid");
                let e = &case["expected"];
                let (lo, hi) = (
                    e["ciLow"].as_f64().expect("ciLow"),
                    e["ciHigh"].as_f64().expect("ciHigh"),
                );
                let est = e["estimate"].as_f64().expect("estimate");
                let ci_tol = tol(case, "ci");
                let est_tol = tol(case, "estimate");
                assert!(
                    (r.low - lo).abs() <= ci_tol,
                    "{name}: low {} vs {lo}",
                    r.low
                );
                assert!(
                    (r.high - hi).abs() <= ci_tol,
                    "{name}: high {} vs {hi}",
                    r.high
                );
                assert!(
                    (r.estimate - est).abs() <= est_tol,
                    "{name}: estimate {} vs {est}",
                    r.estimate
                );
                intervals += 1;
            }
            Some("intermediates") => {
                let x = floats(&case["x"]);
                let y = floats(&case["y"]);
                let conf = case["confidenceLevel"].as_f64().expect("confidence");
                let e = &case["expected"];
                let r = stats::hodges_lehmann(&x, &y, conf).expect("valid");
                let a = e["rCil"].as_f64().expect("rCil");
                let b = e["rCiu"].as_f64().expect("rCiu");
                let est = e["rEst"].as_f64().expect("rEst");
                // R's raw roots: rCil (at +z) is above rCiu (at -z) here.
                assert!((r.low - a).abs() <= 1e-6, "{name}: low {}", r.low);
                assert!((r.high - b).abs() <= 1e-6, "{name}: high {}", r.high);
                assert!(
                    (r.estimate - est).abs() <= 1e-4,
                    "{name}: est {}",
                    r.estimate
                );
                let f1 = stats::wilcoxon_diff(
                    &x,
                    &y,
                    e["rMumin"].as_f64().expect("mumin"),
                    e["rZqLower"].as_f64().expect("zq"),
                    true,
                )
                .expect("valid");
                assert!(
                    (f1 - e["rFlower1"].as_f64().expect("f")).abs() <= 1e-6,
                    "{name}: f_lower {f1}"
                );
                let f2 = stats::wilcoxon_diff(
                    &x,
                    &y,
                    e["rMumax"].as_f64().expect("mumax"),
                    e["rZqLower"].as_f64().expect("zq"),
                    true,
                )
                .expect("valid");
                assert!(
                    (f2 - e["rFupper1"].as_f64().expect("f")).abs() <= 1e-6,
                    "{name}: f_upper {f2}"
                );
            }
            other => panic!("unknown case kind {other:?}"),
        }
    }
    assert!(intervals >= 4);
}

fn direction(v: &Value) -> Direction {
    match v.as_str() {
        Some("Increase") => Direction::Increase,
        Some("Decrease") => Direction::Decrease,
        _ => Direction::Either,
    }
}

fn pair(v: &Value, default: [f64; 2]) -> [f64; 2] {
    match v.as_array() {
        Some(a) => [a[0].as_f64().expect("low"), a[1].as_f64().expect("high")],
        None => default,
    }
}

#[test]
fn classifier_suite() {
    let data = load("kayenta_classifier_vectors.json");
    let mut checked = 0;
    for case in data["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap_or("?");
        let x = floats(&case["experiment"]);
        let y = floats(&case["control"]);
        let dir = direction(&case["direction"]);
        let expected = &case["expected"];
        if case["classifier"] == "MeanInequalityClassifier" {
            let got = kayenta::mean_inequality(&x, &y).expect("valid");
            assert_eq!(
                got.to_string(),
                expected["classification"].as_str().expect("label"),
                "{name}"
            );
            checked += 1;
            continue;
        }
        let p = &case["params"];
        let config = ClassifierConfig {
            tolerance: p["tolerance"].as_f64().unwrap_or(0.25),
            confidence: p["confLevel"].as_f64().unwrap_or(0.95),
            effect_measure: if p["effectSizeMeasure"] == "cles" {
                EffectSizeMeasure::Cles
            } else {
                EffectSizeMeasure::MeanRatio
            },
            effect_thresholds: pair(&p["effectSizeThresholds"], [1.0, 1.0]),
            critical_thresholds: pair(&p["criticalThresholds"], [1.0, 1.0]),
            critical: case["isCriticalMetric"] == true,
            nan_strategy: if case["nanStrategy"] == "Replace" {
                NanStrategy::Replace
            } else {
                NanStrategy::Remove
            },
        };
        let r = kayenta::classify(&x, &y, dir, &config).expect("valid");
        if let Some(label) = expected["classification"].as_str() {
            let want = match label {
                "Pass" => Classification::Pass,
                "High" => Classification::High,
                "Low" => Classification::Low,
                "Nodata" => Classification::NoData,
                other => panic!("unknown label {other}"),
            };
            assert_eq!(r.classification, want, "{name}: {r:?}");
        }
        if let Some(critical) = expected["critical"].as_bool() {
            assert_eq!(r.critical, critical, "{name}: {r:?}");
        }
        if expected["reason_non_empty"] == true {
            assert!(r.reason.as_deref().is_some_and(|s| !s.is_empty()), "{name}");
        }
        match &expected["deviation"] {
            Value::String(s) if s == "NaN" => assert_eq!(r.effect_size, None, "{name}"),
            Value::Number(n) => assert_eq!(r.effect_size, n.as_f64(), "{name}"),
            _ => {}
        }
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
}
