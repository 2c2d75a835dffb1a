//! Champion / challenger for a forecasting service: the champion keeps most
//! traffic, challengers get 10 % each and are judged continuously.
//!
//! ```text
//! cargo run --release --example champion_challenger
//! ```
//!
//! - Requests carry the last 30 points of a noisy series (a random level
//!   plus noise); the answer is a one-step-ahead forecast, its accuracy
//!   (absolute error) arrives later as feedback.
//! - Models (real computation): `ma20` (the champion: mean of the last 20
//!   points), `ses` (exponential smoothing), `naive` (the last point),
//!   `ar_fit` (an autoregressive model fitted per request by gradient
//!   descent: accurate but slow), and `holt` (double exponential smoothing,
//!   on standby: an operator lets it in later).
//! - Every challenger is compared with the champion on the mean absolute
//!   error with an always-valid test (safe to look every tick), and guarded
//!   on latency (p99 at most 3 × the champion's) and errors. Winners are
//!   promoted, the old champion stays as a challenger, losers are retired.
//! - Requests are routed in process with the experiment's serving handle
//!   (see `ab_test` for the axum layer); latency is measured for real, time
//!   between looks is simulated (1 000 requests = one minute).

use std::time::{Duration, Instant};

use fledge::experiment::{ChampionChallenger, ChangeKind, MetricSpec, OldChampion, Role};
use fledge_gate::clock::Timestamp;
use fledge_gate::{CheckSpec, MetricRef, Test};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

const WINDOW: usize = 30;
const PER_MINUTE: usize = 1_000;
const MINUTES: u64 = 40;

fn normal(rng: &mut SmallRng) -> f64 {
    // Box-Muller: one standard normal draw.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A local-level series: the level walks, observations are noisy.
fn series(rng: &mut SmallRng) -> (Vec<f64>, f64) {
    let mut level = 100.0 + 10.0 * normal(rng);
    let mut points = Vec::with_capacity(WINDOW);
    for _ in 0..WINDOW {
        level += 0.5 * normal(rng);
        points.push(level + normal(rng));
    }
    level += 0.5 * normal(rng);
    (points, level + normal(rng))
}

fn forecast(model: &str, y: &[f64]) -> f64 {
    match model {
        "ma20" => y[y.len() - 20..].iter().sum::<f64>() / 20.0,
        "naive" => y[y.len() - 1],
        "ses" => y.iter().skip(1).fold(y[0], |s, x| 0.35 * x + 0.65 * s),
        "holt" => {
            let (mut level, mut trend) = (y[0], 0.0);
            for x in &y[1..] {
                let prev = level;
                level = 0.35 * x + 0.65 * (level + trend);
                trend = 0.1 * (level - prev) + 0.9 * trend;
            }
            level + trend
        }
        _ => ar_fit(y),
    }
}

/// AR(3) on the differences around the last point, fitted by plain
/// gradient descent (deliberately heavy: thousands of passes).
fn ar_fit(y: &[f64]) -> f64 {
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let mut w = [0.0f64; 3];
    for _ in 0..3_000 {
        let mut g = [0.0; 3];
        for t in 3..d.len() {
            let pred: f64 = (0..3).map(|k| w[k] * d[t - 1 - k]).sum();
            let e = pred - d[t];
            for k in 0..3 {
                g[k] += e * d[t - 1 - k];
            }
        }
        for k in 0..3 {
            w[k] -= 0.002 * g[k];
        }
    }
    let n = d.len();
    let next: f64 = (0..3).map(|k| w[k] * d[n - 1 - k]).sum();
    // Shrink towards the smoothed level: the fitted dynamics are weak.
    forecast("ses", y) + 0.5 * next
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let t0 = Timestamp::from_millis(1_800_000_000_000);
    let cc = ChampionChallenger::builder("forecast")
        .champion("ma20")
        .challenger("ses")
        .challenger("naive")
        .challenger("ar_fit")
        .standby("holt")
        .challenger_share(10.0)
        .metric(MetricSpec::mean("abs_error").lower_is_better(), 0.1)
        .guard(
            CheckSpec::new(
                MetricRef::LatencyQuantile(0.99),
                Test::Relative {
                    max_ratio: Some(3.0),
                    min_ratio: None,
                    max_increase: None,
                    max_decrease: None,
                },
            )
            .named("p99 latency vs champion")
            .min_samples(50),
        )
        .guard(
            CheckSpec::new(
                MetricRef::ErrorRate,
                Test::Threshold {
                    max: Some(0.01),
                    min: None,
                },
            )
            .named("error rate")
            .min_samples(50),
        )
        .guard_window(Duration::from_secs(300))
        .min_exposures(200)
        .max_exposures(3_000)
        .old_champion(OldChampion::Challenge)
        .build(t0)?;
    println!(
        "champion ma20; challengers ses, naive, ar_fit at 10 % each; holt on standby\nmetric: mean absolute error (lower is better), always-valid test; guards: p99 latency <= 3 x champion, error rate <= 1 %\ntime between looks is simulated: {PER_MINUTE} requests = 1 minute\n"
    );

    let routing = cc.routing().clone();
    let mut rng = SmallRng::seed_from_u64(20261122);
    let mut holt_entered = false;
    for minute in 1..=MINUTES {
        for _ in 0..PER_MINUTE {
            let user = rng.random_range(0..20_000u32);
            let key = format!("user-{user}");
            let a = routing.route(Some(key.as_bytes()), &());
            let model = routing.id(a.variant).ok_or("unknown variant")?.as_str();
            let (history, actual) = series(&mut rng);
            let clock = Instant::now();
            let f = forecast(model, &history);
            let latency = clock.elapsed();
            let ok = f.is_finite();
            routing.recorder().record(a.variant.get(), latency, !ok);
            if ok {
                // The actual value arrives later: feedback.
                routing.recorder().record_feedback(
                    a.variant.get(),
                    "abs_error",
                    (f - actual).abs(),
                )?;
            }
        }
        let now = t0 + Duration::from_secs(60 * minute);
        let report = cc.tick(now);
        for change in &report.changes {
            println!(
                "minute {minute:>2}: {} {}: {}",
                change.variant, change.kind, change.reason
            );
        }
        if !holt_entered && cc.history().iter().any(|c| c.kind == ChangeKind::Promoted) {
            let change = cc.enter("holt", "operator", now)?;
            println!(
                "minute {minute:>2}: {} {}: {}",
                change.variant, change.kind, change.reason
            );
            holt_entered = true;
        }
        let challengers = cc
            .roles()
            .iter()
            .filter(|(_, r)| *r == Role::Challenger)
            .count();
        if holt_entered && challengers == 0 {
            println!("minute {minute:>2}: no challenger left");
            break;
        }
        if minute % 10 == 0 {
            print!("minute {minute:>2}: standings\n{report}");
        }
    }

    println!("\nhistory (with evidence):");
    for c in cc.history() {
        print!("  {c}");
        if let Some(e) = &c.evidence {
            let cmp = &e.comparison;
            print!(
                "\n      evidence: {} mae {:.3} vs champion {:.3} over {} / {} exposures, {:.1} % always-valid interval of the difference {}",
                cmp.arm.variant,
                cmp.arm.value.unwrap_or(f64::NAN),
                e.champion.value.unwrap_or(f64::NAN),
                cmp.arm.exposures,
                e.champion.exposures,
                cmp.confidence * 100.0,
                cmp.interval
                    .map_or("-".to_owned(), |[lo, hi]| format!("[{lo:+.3}, {hi:+.3}]")),
            );
            if let Some(v) = &e.guards {
                print!("; guards: {}", v.report().summary);
            }
        }
        println!();
    }
    let roles: Vec<String> = cc
        .roles()
        .iter()
        .map(|(id, r)| format!("{id}={r}"))
        .collect();
    let state = serde_json::to_string(&cc.state())?;
    println!("\nroles: {}", roles.join(" "));
    println!(
        "state: {} bytes of JSON (config, roles, history) to persist and restore",
        state.len()
    );
    println!(
        "result: champion {} after {} changes ({:.1} s wall clock)",
        cc.champion(),
        cc.history().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
