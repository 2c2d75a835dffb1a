//! Gate-quality simulator: how often does each kind of gate roll back a good
//! canary, how often does it catch a bad one, and how many canary requests
//! does a bad canary serve before it is rolled back?
//!
//! Run with `cargo run --release --example gate_sim` (seeded; about half a
//! minute on two cores). `GATE_SIM_RUNS=200` makes a quick run.
//!
//! Each simulated rollout is one analysis step of 30 minutes at a 5 % canary
//! share: 100 requests/s in total (so about 5/s on the canary), every request
//! recorded into a real [`fledge_gate::Recorder`] (latency, error) with its
//! absolute forecast error fed back as a custom metric. Time is a simulated
//! clock; nothing sleeps. Three gates watch the *same* traffic:
//!
//! * `flagger`: fixed thresholds per 1-minute interval (p99 ≤ 80 ms, error
//!   rate ≤ 1 %, mean absolute error ≤ 1.1), rollback after 5 failed
//!   intervals, as Flagger's `threshold` does: the value alone decides
//!   (`confidence = 0`);
//! * `kayenta`: the Kayenta-style judge on fixed 5-minute windows (Mann-Whitney
//!   classification of latency and absolute error, two-proportion test of the
//!   error rate, score 0–100, pass 95 / marginal 75), rollback on the first
//!   failing window;
//! * `sequential`: mSPRT always-valid tests on error rate, mean latency and
//!   mean absolute error since the step started, evaluated every 10-second
//!   tick, rollback on the first rejection (α = 0.0033 per check, so about
//!   0.01 for the gate). The error-rate check fails only when the exact
//!   always-valid conditional binomial test agrees, so it needs no large
//!   sample floor (100 canary requests, as the other checks' default).
//!
//! The table adds three variants shown in the table only: two stricter
//! fixed-window gates (`flagger (limit 10)`, `kayenta (99%)`: 99 % intervals
//! and α = 0.01) to show what their false rollbacks cost in detection, and
//! `threshold (99% conf.)`, the Flagger gate with fledge's default threshold
//! rule (fail only when the minute's samples show the limit crossed with
//! 99 % confidence), which removes the false rollbacks but is too weak on one
//! minute of canary traffic to catch small regressions: per-interval
//! thresholds are for gross limits, sequential tests for small differences.
//! The closing `gate=...` lines cover the three gates above, with detection
//! and exposure from the error-rate scenario.
//!
//! Scenarios (baseline: lognormal latency with median 20 ms and σ = 0.5, so
//! p99 ≈ 64 ms; 0.5 % errors; absolute error |N(0, s)| with mean 1.0):
//! A/A (no difference), error rate 0.5 % → 1.5 %, p99 latency × 1.5 (a tail
//! regression: the lognormal σ grows so that p99 is 1.5× while the median
//! stays), and mean absolute error + 20 %.

use std::time::Duration;

use fledge_examples::Table;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_gate::{Judge, JudgeSpec, Recorder, RecorderConfig, Verdict, Window};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};

const BASELINE: usize = 0;
const CANARY: usize = 1;
const SEED: u64 = 0xF1ED6E;
const RATE_PER_TICK: usize = 1_000; // 100 requests/s, 10 s ticks
const TICK: Duration = Duration::from_secs(10);
const TICKS: u64 = 180; // 30 minutes
const CANARY_SHARE: f64 = 0.05;
const FLAGGER_EVERY: u64 = 6; // 1 minute
const FLAGGER_LIMIT: u32 = 5;
const KAYENTA_EVERY: u64 = 30; // 5 minutes
const START_MS: u64 = 1_700_000_040_000; // a whole minute

const MEDIAN_MS: f64 = 20.0;
const SIGMA: f64 = 0.5;
const BASE_ERROR: f64 = 0.005;
const Z99: f64 = 2.326_347_874_040_841;

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    error: f64,
    sigma: f64,
    mae_scale: f64,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "A/A",
        error: BASE_ERROR,
        sigma: SIGMA,
        mae_scale: 1.0,
    },
    Scenario {
        name: "errors 0.5%->1.5%",
        error: 0.015,
        sigma: SIGMA,
        mae_scale: 1.0,
    },
    Scenario {
        name: "p99 latency x1.5",
        error: BASE_ERROR,
        // exp(z99 * sigma') = 1.5 * exp(z99 * sigma), median unchanged.
        sigma: SIGMA + 0.405_465_108_108_164_4 / Z99,
        mae_scale: 1.0,
    },
    Scenario {
        name: "accuracy MAE +20%",
        error: BASE_ERROR,
        sigma: SIGMA,
        mae_scale: 1.2,
    },
];

/// The three gate kinds, then two stricter variants of the fixed-window
/// gates (shown in the table only) that trade detection speed for fewer
/// false rollbacks.
const GATES: [&str; 6] = [
    "flagger",
    "kayenta",
    "sequential",
    "flagger (limit 10)",
    "kayenta (99%)",
    "threshold (99% conf.)",
];
const MAIN_GATES: usize = 3;
const FLAGGER_STRICT_LIMIT: u32 = 10;

/// Flagger's thresholds (`confidence = 0`: the value alone decides) or
/// fledge's default (`confidence = 0.99`: fail only when the interval's
/// samples show the limit crossed at 99 %).
fn flagger_spec(confidence: f64) -> JudgeSpec {
    // Any failed check fails the interval: pass and marginal at 100.
    toml_spec(&format!(
        r#"
        pass_score = 100
        marginal_score = 100
        [[checks]]
        kind = "threshold"
        metric = "latency_p99"
        max = 80.0
        min_samples = 50
        confidence = {confidence}
        [[checks]]
        kind = "threshold"
        metric = "error_rate"
        max = 0.01
        min_samples = 50
        confidence = {confidence}
        [[checks]]
        kind = "threshold"
        metric = "abs_error"
        max = 1.1
        min_samples = 50
        confidence = {confidence}
        "#,
    ))
}

fn kayenta_spec() -> JudgeSpec {
    toml_spec(
        r#"
        [[checks]]
        kind = "mann_whitney"
        metric = "latency"
        [[checks]]
        kind = "mann_whitney"
        metric = "abs_error"
        [[checks]]
        kind = "proportion"
        metric = "error_rate"
        "#,
    )
}

fn kayenta_strict_spec() -> JudgeSpec {
    toml_spec(
        r#"
        [[checks]]
        kind = "mann_whitney"
        metric = "latency"
        confidence = 0.99
        [[checks]]
        kind = "mann_whitney"
        metric = "abs_error"
        confidence = 0.99
        [[checks]]
        kind = "proportion"
        metric = "error_rate"
        alpha = 0.01
        "#,
    )
}

fn sequential_spec() -> JudgeSpec {
    toml_spec(
        r#"
        [[checks]]
        kind = "sequential"
        metric = "error_rate"
        tau = 0.01
        alpha = 0.0033
        min_samples = 100
        [[checks]]
        kind = "sequential"
        metric = "latency_mean"
        tau = 2.0
        alpha = 0.0033
        min_samples = 200
        [[checks]]
        kind = "sequential"
        metric = "abs_error"
        tau = 0.1
        alpha = 0.0033
        min_samples = 200
        "#,
    )
}

fn toml_spec(text: &str) -> JudgeSpec {
    toml::from_str(text).unwrap_or_else(|e| panic!("invalid gate spec: {e}"))
}

/// When (tick) and after how many canary requests a gate rolled back.
#[derive(Debug, Clone, Copy)]
struct Rollback {
    tick: u64,
    exposed: u64,
}

struct Specs {
    flagger: JudgeSpec,
    threshold: JudgeSpec,
    kayenta: JudgeSpec,
    kayenta_strict: JudgeSpec,
    sequential: JudgeSpec,
}

type Outcomes = [Option<Rollback>; GATES.len()];

fn judge(spec: &JudgeSpec) -> Judge {
    Judge::new(spec.clone()).unwrap_or_else(|e| panic!("invalid gate spec: {e}"))
}

fn windows(recorder: &Recorder, now: Timestamp, span: Duration) -> (Window, Window) {
    let get = |v| {
        recorder
            .window(v, now, span)
            .unwrap_or_else(|e| panic!("window: {e}"))
    };
    (get(CANARY), get(BASELINE))
}

/// One rollout: returns each gate's rollback, if any.
fn simulate(scenario: Scenario, seed: u64, specs: &Specs) -> Outcomes {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mu = MEDIAN_MS.ln();
    let base_latency = LogNormal::new(mu, SIGMA).expect("valid lognormal");
    let canary_latency = LogNormal::new(mu, scenario.sigma).expect("valid lognormal");
    // |N(0, s)| has mean s * sqrt(2 / pi): s = sqrt(pi / 2) gives MAE 1.0.
    let s = (std::f64::consts::PI / 2.0).sqrt();
    let base_error = Normal::new(0.0, s).expect("valid normal");
    let canary_error = Normal::new(0.0, s * scenario.mae_scale).expect("valid normal");

    let recorder = Recorder::new(
        RecorderConfig::new(2)
            .slot(Duration::from_secs(60))
            .slots(5)
            .shards(1)
            .metric("abs_error")
            .metric_sample_cap(256),
    )
    .expect("valid recorder");
    let abs_error = recorder.metric_id("abs_error").expect("declared metric");
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    recorder.advance(Timestamp::from_millis(START_MS));

    let mut flagger = judge(&specs.flagger);
    let mut threshold = judge(&specs.threshold);
    let mut threshold_failures = 0u32;
    let mut kayenta = judge(&specs.kayenta);
    let mut kayenta_strict = judge(&specs.kayenta_strict);
    let mut sequential = judge(&specs.sequential);
    let mut flagger_failures = 0u32;
    let mut result: Outcomes = [None; GATES.len()];
    let mut exposed = 0u64;

    for tick in 1..=TICKS {
        for _ in 0..RATE_PER_TICK {
            let canary = rng.random_bool(CANARY_SHARE);
            let (variant, latency, error_p, forecast) = if canary {
                exposed += 1;
                (CANARY, &canary_latency, scenario.error, &canary_error)
            } else {
                (BASELINE, &base_latency, BASE_ERROR, &base_error)
            };
            let ms: f64 = latency.sample(&mut rng);
            let failed = rng.random_bool(error_p);
            recorder.record(variant, Duration::from_secs_f64(ms / 1_000.0), failed);
            let e: f64 = forecast.sample(&mut rng);
            recorder.record_metric(variant, abs_error, e.abs());
        }
        let now = clock.advance(TICK);
        recorder.advance(now);
        let rollback = Rollback { tick, exposed };

        if result[2].is_none() {
            let totals = |v| recorder.totals(v).expect("variant exists");
            let c = Window::from_totals(CANARY, now, totals(CANARY));
            let b = Window::from_totals(BASELINE, now, totals(BASELINE));
            if let Verdict::Fail(_) = sequential.evaluate(&c, &b) {
                result[2] = Some(rollback);
            }
        }
        if result[3].is_none() && tick % FLAGGER_EVERY == 0 {
            let (c, b) = windows(&recorder, now, Duration::from_secs(60));
            if flagger.evaluate(&c, &b).is_fail() {
                flagger_failures += 1;
                if flagger_failures == FLAGGER_LIMIT {
                    result[0] = Some(rollback);
                }
                if flagger_failures == FLAGGER_STRICT_LIMIT {
                    result[3] = Some(rollback);
                }
            }
        }
        if result[5].is_none() && tick % FLAGGER_EVERY == 0 {
            let (c, b) = windows(&recorder, now, Duration::from_secs(60));
            if threshold.evaluate(&c, &b).is_fail() {
                threshold_failures += 1;
                if threshold_failures == FLAGGER_LIMIT {
                    result[5] = Some(rollback);
                }
            }
        }
        if (result[1].is_none() || result[4].is_none()) && tick % KAYENTA_EVERY == 0 {
            let (c, b) = windows(&recorder, now, Duration::from_secs(300));
            if result[1].is_none() && kayenta.evaluate(&c, &b).is_fail() {
                result[1] = Some(rollback);
            }
            if result[4].is_none() && kayenta_strict.evaluate(&c, &b).is_fail() {
                result[4] = Some(rollback);
            }
        }
        if result.iter().all(Option::is_some) {
            break;
        }
    }
    result
}

/// Per scenario and gate: the rollbacks of every run.
fn run_scenario(scenario: Scenario, index: u64, runs: u64, specs: &Specs) -> Vec<Outcomes> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8) as u64;
    let mut out: Vec<(u64, Outcomes)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..runs)
                        .step_by(threads as usize)
                        .map(|run| {
                            let seed =
                                SEED ^ (index << 32) ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                            (run, simulate(scenario, seed, specs))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("simulation thread panicked"))
            .collect()
    });
    out.sort_by_key(|(run, _)| *run);
    out.into_iter().map(|(_, r)| r).collect()
}

struct Summary {
    rate: f64,
    median_exposed: Option<u64>,
    median_minutes: Option<f64>,
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[(v.len() - 1) / 2])
}

fn summarize(results: &[Outcomes], gate: usize) -> Summary {
    let hits: Vec<Rollback> = results.iter().filter_map(|r| r[gate]).collect();
    Summary {
        rate: hits.len() as f64 / results.len().max(1) as f64,
        median_exposed: median(hits.iter().map(|h| h.exposed).collect()),
        median_minutes: median(hits.iter().map(|h| h.tick).collect())
            .map(|t| t as f64 * TICK.as_secs_f64() / 60.0),
    }
}

fn main() {
    let runs: u64 = std::env::var("GATE_SIM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let specs = Specs {
        flagger: flagger_spec(0.0),
        threshold: flagger_spec(0.99),
        kayenta: kayenta_spec(),
        kayenta_strict: kayenta_strict_spec(),
        sequential: sequential_spec(),
    };
    println!(
        "gate_sim: {runs} rollouts per scenario, 30 min at {}% canary share, {} req/s, seed {SEED:#x}",
        CANARY_SHARE * 100.0,
        RATE_PER_TICK as u64 / TICK.as_secs()
    );
    let started = std::time::Instant::now();
    let mut table = Table::new([
        "scenario",
        "gate",
        "rollback rate",
        "median exposed",
        "median minutes",
    ]);
    let mut finals: Vec<(f64, f64, Option<u64>)> = vec![(0.0, 0.0, None); GATES.len()];
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let results = run_scenario(*scenario, i as u64, runs, &specs);
        for (g, gate) in GATES.iter().enumerate() {
            let s = summarize(&results, g);
            let label = if i == 0 {
                "false rollback"
            } else {
                "detection"
            };
            table.row([
                scenario.name.to_owned(),
                gate.to_string(),
                format!("{:.3} ({label})", s.rate),
                s.median_exposed.map_or("-".to_owned(), |n| n.to_string()),
                s.median_minutes
                    .map_or("-".to_owned(), |m| format!("{m:.1}")),
            ]);
            if i == 0 {
                finals[g].0 = s.rate;
            }
            if i == 1 {
                finals[g].1 = s.rate;
                finals[g].2 = s.median_exposed;
            }
        }
    }
    println!("{table}");
    println!("(simulated in {:.1} s)", started.elapsed().as_secs_f64());
    for (g, gate) in GATES.iter().enumerate().take(MAIN_GATES) {
        let (frr, detection, exposed) = finals[g];
        println!(
            "gate={gate} false_rollback_rate={frr:.3} detection_rate={detection:.3} median_exposed={}",
            exposed.map_or(-1, |n| n as i64)
        );
    }
}
