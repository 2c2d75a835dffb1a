//! Check specs (serde, validation) and the judge's verdicts.

use std::time::Duration;

use fledge_gate::check::{CheckKind, SpecError};
use fledge_gate::clock::Timestamp;
use fledge_gate::{
    CheckSpec, Judge, JudgeSpec, MetricRef, Outcome, Recorder, RecorderConfig, Test, Verdict,
};

const BASELINE: usize = 0;
const CANARY: usize = 1;

fn spec(toml_text: &str) -> Result<JudgeSpec, toml::de::Error> {
    toml::from_str(toml_text)
}

fn windows(r: &Recorder, t: u64) -> (fledge_gate::Window, fledge_gate::Window) {
    let now = Timestamp::from_millis(1_700_000_000_000 + t);
    (
        r.window(CANARY, now, Duration::from_secs(60)).unwrap(),
        r.window(BASELINE, now, Duration::from_secs(60)).unwrap(),
    )
}

#[test]
fn metric_names_parse_and_print() {
    for (s, m) in [
        ("error_rate", MetricRef::ErrorRate),
        ("latency", MetricRef::Latency),
        ("latency_mean", MetricRef::LatencyMean),
        ("latency_p99", MetricRef::LatencyQuantile(0.99)),
        ("latency_p50", MetricRef::LatencyQuantile(0.5)),
        ("abs_error", MetricRef::Custom("abs_error".into())),
    ] {
        assert_eq!(s.parse::<MetricRef>().unwrap(), m);
        assert_eq!(m.to_string(), s);
    }
    let p999: MetricRef = "latency_p999".parse().unwrap();
    assert!(matches!(p999, MetricRef::LatencyQuantile(q) if (q - 0.999).abs() < 1e-12));
    assert_eq!(p999.to_string(), "latency_p99.9");
    assert!("latency_p99.9".parse::<MetricRef>().is_ok());
    for bad in [
        "latency_p",
        "latency_p100",
        "latency_p0",
        "latency_max",
        "errors",
        "a b",
        "",
    ] {
        assert!(bad.parse::<MetricRef>().is_err(), "{bad}");
    }
}

#[test]
fn toml_round_trip_and_defaults() {
    let s = spec(
        r#"
        pass_score = 90
        [[checks]]
        kind = "threshold"
        metric = "latency_p99"
        max = 50.0
        critical = true

        [[checks]]
        kind = "relative"
        metric = "error_rate"
        max_increase = 0.005

        [[checks]]
        kind = "relative"
        metric = "latency_p99"
        max_ratio = 1.2
        name = "p99 vs baseline"

        [[checks]]
        kind = "mann_whitney"
        metric = "latency"
        tolerance = 0.1
        effect_thresholds = [0.8, 1.2]

        [[checks]]
        kind = "proportion"
        metric = "error_rate"
        alpha = 0.01

        [[checks]]
        kind = "t_test"
        metric = "abs_error"
        direction = "increase"

        [[checks]]
        kind = "sequential"
        metric = "error_rate"
        tau = 0.01
        weight = 2.0
        min_samples = 500
        "#,
    )
    .unwrap();
    assert_eq!(s.pass_score, 90.0);
    assert_eq!(s.marginal_score, 75.0);
    assert_eq!(s.checks.len(), 7);
    assert_eq!(
        s.checks[0].test,
        Test::Threshold {
            max: Some(50.0),
            min: None
        }
    );
    assert!(s.checks[0].critical);
    assert_eq!(s.checks[1].min_samples, 100);
    assert_eq!(s.checks[2].label(), "p99 vs baseline");
    assert_eq!(s.checks[1].label(), "error_rate relative");
    assert_eq!(s.checks[6].weight, 2.0);
    s.validate().unwrap();
    // Round trip through TOML and JSON.
    let text = toml::to_string(&s).unwrap();
    assert_eq!(toml::from_str::<JudgeSpec>(&text).unwrap(), s);
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<JudgeSpec>(&json).unwrap(), s);
}

fn err(text: &str) -> String {
    spec(text).unwrap_err().to_string()
}

#[test]
fn spec_errors_name_the_field() {
    let e = err("[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax_ms = 50\n");
    assert!(e.contains("unknown field `max_ms`"), "{e}");
    let e = err("[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax_ratio = 1.2\n");
    assert!(e.contains("field `max_ratio` does not apply"), "{e}");
    let e = err("[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\n");
    assert!(e.contains("missing field `max`"), "{e}");
    let e = err("[[checks]]\nkind = \"sequential\"\nmetric = \"error_rate\"\n");
    assert!(e.contains("missing field `tau`"), "{e}");
    let e = err("[[checks]]\nkind = \"sequential\"\nmetric = \"error_rate\"\ntau = -1\n");
    assert!(e.contains("`tau`"), "{e}");
    let e = err("[[checks]]\nkind = \"proportion\"\nmetric = \"latency_p99\"\n");
    assert!(
        e.contains("field `metric` = `latency_p99` does not work with kind `proportion`"),
        "{e}"
    );
    let e = err("[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p9x\"\nmax = 1\n");
    assert!(e.contains("invalid metric `latency_p9x`"), "{e}");
    let e = err("[[checks]]\nkind = \"proportion\"\nmetric = \"error_rate\"\nalpha = 1.5\n");
    assert!(e.contains("`alpha` = 1.5"), "{e}");
    let e = err("[[checks]]\nkind = \"mann_whitney\"\nmetric = \"latency_p99\"\n");
    assert!(e.contains("mann_whitney compares distributions"), "{e}");
    let e = err("pass_scor = 3\nchecks = []\n");
    assert!(e.contains("unknown field `pass_scor`"), "{e}");
    let e = err("[[checks]]\nkind = \"bogus\"\nmetric = \"error_rate\"\n");
    assert!(e.contains("bogus"), "{e}");

    let s = JudgeSpec::new(vec![]);
    assert!(matches!(
        Judge::new(s),
        Err(SpecError::Judge {
            field: "checks",
            ..
        })
    ));
    let mut s = JudgeSpec::new(vec![CheckSpec::new(
        MetricRef::ErrorRate,
        Test::Threshold {
            max: Some(0.01),
            min: None,
        },
    )]);
    s.marginal_score = 99.0;
    assert!(matches!(
        Judge::new(s.clone()),
        Err(SpecError::Judge {
            field: "marginal_score",
            ..
        })
    ));
    s.marginal_score = 75.0;
    s.checks.push(s.checks[0].clone());
    assert!(matches!(Judge::new(s), Err(SpecError::DuplicateName(_))));
    let bad = CheckSpec::new(
        MetricRef::ErrorRate,
        Test::Threshold {
            max: None,
            min: None,
        },
    );
    assert!(matches!(
        bad.validate(),
        Err(SpecError::Missing {
            kind: CheckKind::Threshold,
            ..
        })
    ));
}

fn recorder_with(canary_ms: u64, canary_err_every: u64, n: u64) -> Recorder {
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    for i in 0..n {
        let jitter = i % 7;
        r.record(BASELINE, Duration::from_millis(20 + jitter), i % 200 == 0);
        r.record(
            CANARY,
            Duration::from_millis(canary_ms + jitter),
            canary_err_every > 0 && i % canary_err_every == 0,
        );
    }
    r
}

fn gate() -> JudgeSpec {
    spec(
        r#"
        [[checks]]
        kind = "threshold"
        metric = "latency_p99"
        max = 50.0
        critical = true

        [[checks]]
        kind = "relative"
        metric = "error_rate"
        max_increase = 0.005

        [[checks]]
        kind = "mann_whitney"
        metric = "latency"
        "#,
    )
    .unwrap()
}

#[test]
fn too_little_data_is_inconclusive_never_pass() {
    let mut judge = Judge::new(gate()).unwrap();
    let r = recorder_with(20, 0, 50);
    let (c, b) = windows(&r, 0);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_inconclusive(), "{v}");
    assert!(
        v.report()
            .checks
            .iter()
            .all(|c| c.outcome == Outcome::Inconclusive)
    );
    assert!(
        v.to_string()
            .contains("too little data: 50 of 100 canary samples"),
        "{v}"
    );
}

#[test]
fn healthy_canary_passes() {
    let mut judge = Judge::new(gate()).unwrap();
    let r = recorder_with(20, 0, 2_000);
    let (c, b) = windows(&r, 0);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_pass(), "{v}");
    assert_eq!(v.report().score, Some(100.0));
}

#[test]
fn critical_failure_fails_at_once() {
    let mut judge = Judge::new(gate()).unwrap();
    let r = recorder_with(60, 0, 2_000);
    let (c, b) = windows(&r, 0);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_fail(), "{v}");
    assert_eq!(v.report().score, Some(0.0));
    assert!(
        v.report()
            .summary
            .contains("critical check `latency_p99 threshold`"),
        "{v}"
    );
    let mw = &v.report().checks[2];
    assert_eq!(
        mw.classification,
        Some(fledge_gate::kayenta::Classification::High)
    );
    assert!(mw.p_value.unwrap() < 1e-6);
    // Serde: tagged by verdict, round-trips.
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["checks"][0]["metric"], "latency_p99");
    assert_eq!(json["checks"][0]["outcome"], "fail");
    let back: Verdict = serde_json::from_value(json).unwrap();
    assert_eq!(back, v);
}

#[test]
fn non_critical_failure_scores() {
    // Error rate 5 % vs 0.5 %: the relative check fails, latency passes:
    // score 67 < 75 → Fail.
    let mut judge = Judge::new(gate()).unwrap();
    let r = recorder_with(20, 20, 2_000);
    let (c, b) = windows(&r, 0);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_fail(), "{v}");
    let score = v.report().score.unwrap();
    assert!((score - 200.0 / 3.0).abs() < 1e-9, "{score}");
    let text = v.to_string();
    assert!(text.starts_with("fail (score 66.7)"), "{text}");
    assert!(text.contains("[fail] error_rate relative"), "{text}");
    // With a lower marginal threshold the same data is marginal → Inconclusive.
    let mut lenient = gate();
    lenient.marginal_score = 50.0;
    let v = Judge::new(lenient).unwrap().evaluate(&c, &b);
    assert!(v.is_inconclusive(), "{v}");
}

#[test]
fn sequential_check_counts_since_the_step_started() {
    let s = spec(
        r#"
        [[checks]]
        kind = "sequential"
        metric = "error_rate"
        tau = 0.02
        alpha = 0.05
        min_samples = 200
        "#,
    )
    .unwrap();
    let mut judge = Judge::new(s).unwrap();
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    // A bad first step: 10 % errors on the canary.
    for i in 0..2_000u64 {
        r.record(BASELINE, Duration::from_millis(5), i % 200 == 0);
        r.record(CANARY, Duration::from_millis(5), i % 10 == 0);
    }
    let (c, b) = windows(&r, 0);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_fail(), "{v}");
    let check = &v.report().checks[0];
    assert!(check.p_value.unwrap() <= 0.05);
    assert!(check.interval.unwrap()[0] > 0.0);
    // New step: the old errors no longer count.
    judge.reset_from(&c, &b);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_inconclusive(), "{v}");
    for i in 0..2_000u64 {
        r.record(BASELINE, Duration::from_millis(5), i % 200 == 0);
        r.record(CANARY, Duration::from_millis(5), i % 200 == 0);
    }
    let (c, b) = windows(&r, 1_000);
    let v = judge.evaluate(&c, &b);
    assert!(v.is_pass(), "{v}");
    assert_eq!(v.report().checks[0].canary_samples, 2_000);
    // reset(): the next evaluation is the origin.
    judge.reset();
    let v = judge.evaluate(&c, &b);
    assert!(v.is_inconclusive(), "{v}");
}

#[test]
fn custom_metric_checks() {
    let s = spec(
        r#"
        [[checks]]
        kind = "t_test"
        metric = "abs_error"
        min_samples = 50

        [[checks]]
        kind = "mann_whitney"
        metric = "abs_error"
        min_samples = 50

        [[checks]]
        kind = "threshold"
        metric = "abs_error"
        max = 2.0
        min_samples = 50
        "#,
    )
    .unwrap();
    let r = Recorder::new(RecorderConfig::new(2).metric("abs_error")).unwrap();
    for i in 0..500u32 {
        let noise = f64::from(i % 10) / 10.0;
        r.record_feedback(BASELINE, "abs_error", 1.0 + noise)
            .unwrap();
        r.record_feedback(CANARY, "abs_error", 1.5 + noise).unwrap();
    }
    let (c, b) = windows(&r, 0);
    let v = Judge::new(s).unwrap().evaluate(&c, &b);
    let checks = &v.report().checks;
    assert_eq!(checks[0].outcome, Outcome::Fail, "{v}");
    assert_eq!(checks[1].outcome, Outcome::Fail, "{v}");
    assert_eq!(checks[2].outcome, Outcome::Pass, "{v}");
    assert!((checks[0].canary.unwrap() - 1.95).abs() < 1e-9);
}

fn single_check(text: &str) -> Judge {
    Judge::new(spec(&format!("[[checks]]\n{text}")).unwrap()).unwrap()
}

/// `slow` of `n` canary requests take 80 ms, the rest 20 ms.
fn recorder_with_slow(slow: u64, n: u64) -> Recorder {
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    for i in 0..n {
        r.record(BASELINE, Duration::from_millis(20), false);
        let ms = if i < slow { 80 } else { 20 };
        r.record(CANARY, Duration::from_millis(ms), false);
    }
    r
}

#[test]
fn quantile_threshold_fails_only_on_evidence() {
    let check = "kind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50.0\nmin_samples = 50\n";
    // One slow request in 60: the sample p99 is 80 ms, but were p99 exactly
    // 50 ms, one of 60 above would happen 45 % of the time.
    let r = recorder_with_slow(1, 60);
    let (c, b) = windows(&r, 0);
    let v = single_check(check).evaluate(&c, &b);
    let result = &v.report().checks[0];
    assert_eq!(result.outcome, Outcome::Inconclusive, "{v}");
    assert!(result.p_value.unwrap() > 0.4, "{v}");
    assert!(result.detail.contains("1 of 60 samples above 50 ms"), "{v}");
    assert!(result.detail.contains("not with 99 % confidence"), "{v}");
    // Seven in 60: P(Binomial(60, 0.01) >= 7) < 1e-5.
    let r = recorder_with_slow(7, 60);
    let (c, b) = windows(&r, 0);
    let v = single_check(check).evaluate(&c, &b);
    let result = &v.report().checks[0];
    assert_eq!(result.outcome, Outcome::Fail, "{v}");
    assert!(result.p_value.unwrap() < 1e-5, "{v}");
    // A lower confidence fails on less: 2 of 60 has p = 0.12.
    let r = recorder_with_slow(2, 60);
    let (c, b) = windows(&r, 0);
    let strict = single_check(check).evaluate(&c, &b);
    assert_eq!(strict.report().checks[0].outcome, Outcome::Inconclusive);
    let lenient = single_check(&format!("{check}confidence = 0.85\n")).evaluate(&c, &b);
    assert_eq!(
        lenient.report().checks[0].outcome,
        Outcome::Fail,
        "{lenient}"
    );
    // Confidence 0 is Flagger's rule: the value alone decides.
    let r = recorder_with_slow(1, 60);
    let (c, b) = windows(&r, 0);
    let raw = single_check(&format!("{check}confidence = 0\n")).evaluate(&c, &b);
    assert_eq!(raw.report().checks[0].outcome, Outcome::Fail, "{raw}");
    assert!(
        raw.report().checks[0].detail.contains("value alone"),
        "{raw}"
    );
    // Within the limit passes, however few samples above it.
    let r = recorder_with_slow(0, 60);
    let (c, b) = windows(&r, 0);
    assert!(single_check(check).evaluate(&c, &b).is_pass());
}

#[test]
fn error_rate_threshold_and_mean_threshold_use_exact_bounds() {
    let check = "kind = \"threshold\"\nmetric = \"error_rate\"\nmax = 0.01\nmin_samples = 50\n";
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    // 2 errors in 100: 2 % > 1 %, but P(Binomial(100, 0.01) >= 2) = 0.26.
    for i in 0..100u64 {
        r.record(BASELINE, Duration::from_millis(5), false);
        r.record(CANARY, Duration::from_millis(5), i < 2);
    }
    let (c, b) = windows(&r, 0);
    let v = single_check(check).evaluate(&c, &b);
    assert_eq!(v.report().checks[0].outcome, Outcome::Inconclusive, "{v}");
    assert!(
        v.report().checks[0]
            .detail
            .contains("2 errors in 100 requests")
    );
    // 10 errors in the next 100: 12 in 200 is far above 1 %.
    for i in 0..100u64 {
        r.record(BASELINE, Duration::from_millis(5), false);
        r.record(CANARY, Duration::from_millis(5), i < 10);
    }
    let (c, b) = windows(&r, 0);
    let v = single_check(check).evaluate(&c, &b);
    assert_eq!(v.report().checks[0].outcome, Outcome::Fail, "{v}");

    // A mean over a limit with a one-sided t bound.
    let mean = "kind = \"threshold\"\nmetric = \"abs_error\"\nmax = 2.0\nmin_samples = 5\n";
    let r = Recorder::new(RecorderConfig::new(2).metric("abs_error")).unwrap();
    // Mean 2.2 with a spread of ±2: not clearly above 2.
    for x in [0.2, 4.2, 0.2, 4.2, 2.2, 2.2] {
        r.record_feedback(CANARY, "abs_error", x).unwrap();
        r.record_feedback(BASELINE, "abs_error", 1.0).unwrap();
    }
    let (c, b) = windows(&r, 0);
    let v = single_check(mean).evaluate(&c, &b);
    assert_eq!(v.report().checks[0].outcome, Outcome::Inconclusive, "{v}");
    assert!(
        v.report().checks[0].detail.contains("lower 99 % bound"),
        "{v}"
    );
    // Mean 3 with almost no spread: clearly above.
    let r2 = Recorder::new(RecorderConfig::new(2).metric("abs_error")).unwrap();
    for x in [3.0, 3.01, 2.99, 3.0, 3.02, 2.98] {
        r2.record_feedback(CANARY, "abs_error", x).unwrap();
        r2.record_feedback(BASELINE, "abs_error", 1.0).unwrap();
    }
    let (c, b) = windows(&r2, 0);
    let v = single_check(mean).evaluate(&c, &b);
    assert_eq!(v.report().checks[0].outcome, Outcome::Fail, "{v}");
}

#[test]
fn error_rate_tests_need_exact_agreement_on_few_errors() {
    // 1 error in 54 canary requests, none in 746 baseline: the pooled z-test
    // says p < 0.05, but the exact conditional test says p = 6.75 %.
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    for i in 0..746u64 {
        r.record(BASELINE, Duration::from_millis(5), false);
        if i < 54 {
            r.record(CANARY, Duration::from_millis(5), i == 0);
        }
    }
    let (c, b) = windows(&r, 0);
    let proportion = "kind = \"proportion\"\nmetric = \"error_rate\"\nmin_samples = 50\n";
    let v = single_check(proportion).evaluate(&c, &b);
    let result = &v.report().checks[0];
    assert_eq!(result.outcome, Outcome::Pass, "{v}");
    assert!(result.detail.contains("too few errors to tell"), "{v}");
    let z = fledge_gate::stats::two_proportion_z_test(1, 54, 0, 746).unwrap();
    assert!(z.p_value < 0.05, "the z-test alone would have failed");
    let sequential = "kind = \"sequential\"\nmetric = \"error_rate\"\ntau = 0.01\nalpha = 0.05\nmin_samples = 50\n";
    let v = single_check(sequential).evaluate(&c, &b);
    assert_ne!(v.report().checks[0].outcome, Outcome::Fail, "{v}");

    // Six errors in 60 against none in 740 is evidence for both.
    for i in 0..6u64 {
        r.record(CANARY, Duration::from_millis(5), i < 5);
    }
    let (c, b) = windows(&r, 0);
    let v = single_check(proportion).evaluate(&c, &b);
    assert_eq!(v.report().checks[0].outcome, Outcome::Fail, "{v}");
    let v = single_check(sequential).evaluate(&c, &b);
    assert_eq!(v.report().checks[0].outcome, Outcome::Fail, "{v}");
    assert!(
        v.report().checks[0]
            .detail
            .contains("exact always-valid test"),
        "{v}"
    );
}

#[test]
fn confidence_is_validated() {
    let e = err(
        "[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50\nconfidence = 0.3\n",
    );
    assert!(e.contains("confidence"), "{e}");
    let e = err(
        "[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50\nconfidence = 1.0\n",
    );
    assert!(e.contains("confidence"), "{e}");
    let e = err(
        "[[checks]]\nkind = \"sequential\"\nmetric = \"error_rate\"\ntau = 0.01\nconfidence = 0.9\n",
    );
    assert!(e.contains("confidence"), "{e}");
    let ok = spec(
        "[[checks]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50\nconfidence = 0.95\n",
    )
    .unwrap();
    assert_eq!(ok.checks[0].threshold_confidence(), 0.95);
}

#[test]
fn verdicts_with_infinite_intervals_round_trip_through_json() {
    // Before any data, a sequential check's always-valid interval is
    // [-inf, inf]: it must survive JSON (an admin API, a snapshot).
    let s = spec("[[checks]]\nkind = \"sequential\"\nmetric = \"latency_mean\"\ntau = 1.0\nmin_samples = 2\n").unwrap();
    let mut judge = Judge::new(s).unwrap();
    let r = Recorder::new(RecorderConfig::new(2)).unwrap();
    for _ in 0..3 {
        r.record(BASELINE, Duration::from_millis(5), false);
        r.record(CANARY, Duration::from_millis(5), false);
    }
    let (c, b) = windows(&r, 0);
    let v = judge.evaluate(&c, &b);
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.contains(r#""interval":["-inf","inf"]"#), "{json}");
    let back: Verdict = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back.to_string(), v.to_string());
    assert_eq!(
        back.report().checks[0].interval,
        Some([f64::NEG_INFINITY, f64::INFINITY])
    );
}
