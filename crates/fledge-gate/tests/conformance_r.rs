//! R values published in SciPy's test suite (`testdata/conformance/stats/r_published.json`):
//! Mann-Whitney U (two-sided, asymptotic, continuity-corrected) and Welch's t-test.

use fledge_gate::stats;
use serde_json::Value;

fn load() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/conformance/stats/r_published.json"
    );
    let text = std::fs::read_to_string(path).expect("conformance file");
    serde_json::from_str(&text).expect("valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(actual: f64, expected: f64, rtol: f64) -> bool {
    (actual - expected).abs() <= rtol * expected.abs().max(1e-300)
}

#[test]
fn mann_whitney_matches_r() {
    let data = load();
    let mut checked = 0;
    for case in data["mannwhitneyu"].as_array().expect("cases") {
        let x = floats(&case["x"]);
        let y = floats(&case["y"]);
        let expected_u = case["expected_U1"].as_f64().expect("U1");
        let r = stats::mann_whitney_u(&x, &y).expect("valid input");
        // U of the first sample holds for every case.
        assert_eq!(r.u, expected_u, "{}", case["source"]);
        let default_test = case["alternative"] == "two-sided"
            && case["method"] == "asymptotic"
            && case["use_continuity"] == true;
        if default_test {
            let expected_p = case["expected_p"].as_f64().expect("p");
            assert!(
                close(r.p_value, expected_p, 1e-7),
                "{}: p {} vs R {}",
                case["source"],
                r.p_value,
                expected_p
            );
            // Swapping the samples keeps p and mirrors U.
            let s = stats::mann_whitney_u(&y, &x).expect("valid input");
            assert_eq!(s.u, (x.len() * y.len()) as f64 - r.u);
            assert!(close(s.p_value, r.p_value, 1e-12));
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} default cases");
}

#[test]
fn welch_matches_r() {
    let data = load();
    let cases = data["welch_ttest"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let x = floats(&case["x"]);
        let y = floats(&case["y"]);
        let r = stats::welch_t_test(&x, &y).expect("valid input");
        let t = case["expected_t"].as_f64().expect("t");
        let df = case["df"].as_f64().expect("df");
        let p = case["expected_p"].as_f64().expect("p");
        assert!(close(r.t, t, 1e-10), "t {} vs {}", r.t, t);
        assert!(close(r.df, df, 1e-10), "df {} vs {}", r.df, df);
        assert!(close(r.p_value, p, 1e-7), "p {} vs {}", r.p_value, p);
    }
}
