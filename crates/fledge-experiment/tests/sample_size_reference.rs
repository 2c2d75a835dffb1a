//! The sample-size calculator against reference values computed
//! independently with SciPy (the pooled closed form) and statsmodels
//! (`NormalIndPower` for Cohen's h and for means): see
//! `testdata/make_sample_size.py` and `testdata/sample_size.json`.

use fledge_experiment::{Mde, Method, SampleSize};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample_size.json");
    let text = std::fs::read_to_string(path).expect("testdata/sample_size.json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    doc["cases"].as_array().expect("cases").clone()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn matches_scipy_and_statsmodels() {
    let cases = cases();
    assert!(cases.len() > 150, "{} cases", cases.len());
    let mut worst: f64 = 0.0;
    for case in &cases {
        let mde = match case["mde_kind"].as_str() {
            Some("absolute") => Mde::Absolute(f(case, "mde")),
            _ => Mde::Relative(f(case, "mde")),
        };
        let calc = match case["kind"].as_str() {
            Some("proportions") => {
                let method = match case["method"].as_str() {
                    Some("pooled") => Method::Pooled,
                    _ => Method::ArcSine,
                };
                SampleSize::proportions(f(case, "baseline"), mde).method(method)
            }
            _ => SampleSize::means(f(case, "std_dev"), f(case, "baseline"), mde),
        };
        let calc = calc
            .alpha(f(case, "alpha"))
            .power(f(case, "power"))
            .comparisons(case["comparisons"].as_u64().expect("comparisons") as usize);
        let got = calc
            .per_variant_exact()
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let want = f(case, "n");
        let rel = (got - want).abs() / want;
        worst = worst.max(rel);
        assert!(
            rel < 1e-6,
            "{case}: got {got}, want {want} (relative error {rel:e})"
        );
        assert_eq!(
            calc.per_variant().expect("rounded"),
            want.ceil() as u64,
            "{case}"
        );
    }
    eprintln!("worst relative error: {worst:e}");
}
