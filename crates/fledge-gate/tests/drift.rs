//! Output drift checks through the judge: `ks`, `psi`, `chi_square` and
//! `output_mean` on recorder windows; specs, defaults and errors naming the
//! field; too little data is Inconclusive; alpha spent per look.

use std::time::Duration;

use fledge_gate::check::{CheckKind, Test};
use fledge_gate::clock::Timestamp;
use fledge_gate::kayenta::Direction;
use fledge_gate::{
    CheckSpec, Judge, JudgeSpec, Outcome, OutputSpec, Recorder, RecorderConfig, Window,
};

const T0: u64 = 1_700_000_000_000;
const BASELINE: usize = 0;
const CANARY: usize = 1;

fn spec(text: &str) -> JudgeSpec {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn recorder() -> Recorder {
    Recorder::new(
        RecorderConfig::new(2)
            .shards(1)
            .output(OutputSpec::numeric("forecast").resolution(1e-3))
            .output(OutputSpec::categorical("category")),
    )
    .unwrap()
}

/// A deterministic "normal-ish" stream: the sum of three uniforms.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..3 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            s += (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        }
        s - 1.5
    }
}

/// Records `n` canary and `20 n` baseline forecasts (mean 100, sd about
/// 10; the canary's scaled by `scale`) and labels (the canary's top label
/// taking `extra` more of the mix).
fn feed(r: &Recorder, n: usize, scale: f64, extra: f64, seed: u64) {
    let f = r.output_id("forecast").unwrap();
    let c = r.output_id("category").unwrap();
    let mut s = Stream(seed | 1);
    let labels = ["a", "b", "c", "d", "e"];
    for (version, count, scale, extra) in [(CANARY, n, scale, extra), (BASELINE, 20 * n, 1.0, 0.0)]
    {
        for _ in 0..count {
            r.record_output(version, f, (100.0 + 20.0 * s.next()) * scale);
            let u = s.next() / 3.0 + 0.5; // in [0, 1)
            let label = if u < 0.3 + extra {
                "a"
            } else {
                labels[1 + ((u * 1000.0) as usize % 4)]
            };
            r.record_label(version, c, label);
        }
    }
}

fn windows(r: &Recorder) -> (Window, Window) {
    let now = Timestamp::from_millis(T0);
    (
        r.window(CANARY, now, Duration::from_secs(60)).unwrap(),
        r.window(BASELINE, now, Duration::from_secs(60)).unwrap(),
    )
}

const ALL: &str = r#"
    [[checks]]
    kind = "ks"
    metric = "forecast"
    alpha = 0.01
    [[checks]]
    kind = "psi"
    metric = "forecast"
    threshold = 0.1
    [[checks]]
    kind = "chi_square"
    metric = "category"
    [[checks]]
    kind = "output_mean"
    metric = "forecast"
    tolerance = 0.02
"#;

fn outcomes(judge: &mut Judge, r: &Recorder) -> Vec<(CheckKind, Outcome)> {
    let (c, b) = windows(r);
    judge
        .evaluate(&c, &b)
        .report()
        .checks
        .iter()
        .map(|x| (x.kind, x.outcome))
        .collect()
}

#[test]
fn same_outputs_pass() {
    let r = recorder();
    feed(&r, 2_000, 1.0, 0.0, 7);
    let mut judge = Judge::new(spec(ALL)).unwrap();
    let (c, b) = windows(&r);
    let verdict = judge.evaluate(&c, &b);
    assert!(verdict.is_pass(), "{verdict}");
}

#[test]
fn shifted_outputs_fail_each_check() {
    let r = recorder();
    // +15 %: a shift of 1.5 standard deviations.
    feed(&r, 1_000, 1.15, 0.2, 11);
    let mut judge = Judge::new(spec(ALL)).unwrap();
    let got = outcomes(&mut judge, &r);
    assert!(got.iter().all(|(_, o)| *o == Outcome::Fail), "{got:?}");
    let (c, b) = windows(&r);
    println!("{}", judge.evaluate(&c, &b));
}

#[test]
fn too_few_values_are_inconclusive_never_pass() {
    let r = recorder();
    feed(&r, 50, 1.0, 0.0, 3);
    let mut judge = Judge::new(spec(ALL)).unwrap();
    let got = outcomes(&mut judge, &r);
    assert!(
        got.iter().all(|(_, o)| *o == Outcome::Inconclusive),
        "{got:?}"
    );
    let (c, b) = windows(&r);
    assert!(judge.evaluate(&c, &b).is_inconclusive());
}

#[test]
fn a_missing_or_wrong_output_is_inconclusive_and_says_why() {
    let r = recorder();
    feed(&r, 500, 1.0, 0.0, 5);
    let mut judge = Judge::new(spec(
        r#"
        [[checks]]
        kind = "ks"
        metric = "nope"
        [[checks]]
        kind = "chi_square"
        metric = "forecast"
        "#,
    ))
    .unwrap();
    let (c, b) = windows(&r);
    let v = judge.evaluate(&c, &b);
    let checks = &v.report().checks;
    assert!(checks.iter().all(|x| x.outcome == Outcome::Inconclusive));
    assert!(
        checks[0].detail.contains("no output `nope`"),
        "{}",
        checks[0].detail
    );
    assert!(
        checks[1].detail.contains("is numeric"),
        "{}",
        checks[1].detail
    );
}

#[test]
fn looks_spend_alpha_and_reset_restores_it() {
    let r = recorder();
    feed(&r, 1_000, 1.0, 0.0, 9);
    let mut judge = Judge::new(spec(
        "[[checks]]\nkind = \"ks\"\nmetric = \"forecast\"\nalpha = 0.05",
    ))
    .unwrap();
    let (c, b) = windows(&r);
    let levels: Vec<f64> = (0..3)
        .map(|_| judge.evaluate(&c, &b).report().checks[0].bound.unwrap())
        .collect();
    let first = 0.05 * 6.0 / std::f64::consts::PI.powi(2);
    assert!((levels[0] - first).abs() < 1e-15);
    assert!((levels[1] - first / 4.0).abs() < 1e-15);
    assert!((levels[2] - first / 9.0).abs() < 1e-15);
    judge.reset();
    let again = judge.evaluate(&c, &b).report().checks[0].bound.unwrap();
    assert!((again - first).abs() < 1e-15);
}

#[test]
fn specs_have_defaults_and_name_bad_fields() {
    let s = spec(
        r#"
        [[checks]]
        kind = "psi"
        metric = "forecast"
        [[checks]]
        kind = "output_mean"
        metric = "forecast"
        tolerance = 0.05
        [[checks]]
        kind = "ks"
        metric = "forecast"
        [[checks]]
        kind = "chi_square"
        metric = "category"
        "#,
    );
    assert_eq!(
        s.checks[0].test,
        Test::Psi {
            bins: 10,
            threshold: 0.2,
            alpha: 0.05
        }
    );
    assert_eq!(
        s.checks[1].test,
        Test::OutputMean {
            tolerance: 0.05,
            alpha: 0.05,
            direction: Direction::Either
        }
    );
    assert_eq!(s.checks[2].min_samples, 100);
    assert_eq!(s.checks[3].label(), "category chi_square");
    // Round trip through serde.
    let back: JudgeSpec = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);

    for (text, field) in [
        ("kind = \"output_mean\"\nmetric = \"f\"", "tolerance"),
        (
            "kind = \"output_mean\"\nmetric = \"f\"\ntolerance = 1.5",
            "tolerance",
        ),
        ("kind = \"psi\"\nmetric = \"f\"\nbins = 1", "bins"),
        (
            "kind = \"psi\"\nmetric = \"f\"\nthreshold = -1.0",
            "threshold",
        ),
        ("kind = \"ks\"\nmetric = \"f\"\nalpha = 0.0", "alpha"),
        ("kind = \"ks\"\nmetric = \"f\"\ntau = 1.0", "tau"),
        ("kind = \"chi_square\"\nmetric = \"f\"\nbins = 4", "bins"),
        ("kind = \"ks\"\nmetric = \"latency\"", "metric"),
        ("kind = \"psi\"\nmetric = \"error_rate\"", "metric"),
    ] {
        let e = toml::from_str::<CheckSpec>(text).unwrap_err().to_string();
        assert!(e.contains(&format!("`{field}`")), "{text}: {e}");
    }
}
