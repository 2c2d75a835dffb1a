//! Isolation: a slow, CPU-burning candidate must not hurt stable's latency.
//!
//! One process serves `POST /predict` over real HTTP on loopback (axum, two
//! tokio workers) and loads itself with an open-loop generator (a fixed
//! request rate; each latency is measured from the request's *scheduled*
//! send time, so a stall is not hidden by the generator waiting too).
//! Each version's model runs on its own `VersionPool`:
//!
//! - stable (v1): 2 threads at normal priority;
//! - candidate (v2): 1 thread at nice 19 and a queue of 2, behind a
//!   bulkhead of 3 (the plan's `limits.v2`), overflow to stable, a timeout,
//!   and a fallback to stable for `POST /predict` (declared idempotent).
//!
//! Run 1: the candidate at 0 % (stable alone). Run 2: the same load with the
//! candidate at 25 %, its model 20× slower than stable's and burning CPU.
//! Stable's latency is measured on the same users in both runs (those whose
//! sticky bucket is outside the candidate's 25 %). The runs alternate in
//! rounds (1 s of each, 8 rounds by default, after a 1 s warm-up) so that
//! background load on a shared machine falls on both alike; each run's
//! figures are over all its rounds.
//!
//! Run with `cargo run --release --example isolation`; the last line is
//! `stable_p99_ratio=<x>`. Options: `--rate`, `--seconds`, `--rounds`,
//! `--stable-us`, `--slowdown`, `--share`, `--no-priority`, and `--naive`
//! (no isolation at all, for contrast: the candidate's model inline on the
//! async workers).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use clap::Parser;
use fledge::axum::Version;
use fledge::tower::isolation::{Fallback, IsolationHandle};
use fledge::tower::pool::{Priority, VersionPool};
use fledge::{Canary, Plan, RolloutRouting, Weight};
use fledge_examples::{HttpClient, parse_series, serve_loopback};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Parser, Debug, Clone)]
#[command(about = "Stable's latency alone and next to a slow, CPU-hungry candidate")]
struct Args {
    /// Requests per second (open loop).
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
    /// Seconds of load per round and run.
    #[arg(long, default_value_t = 1)]
    seconds: u32,
    /// Rounds: each runs both cases, alternating, so that background load
    /// on a shared machine hits both alike.
    #[arg(long, default_value_t = 8)]
    rounds: u32,
    /// CPU time of stable's model per request, in microseconds.
    #[arg(long, default_value_t = 300)]
    stable_us: u64,
    /// How many times slower the candidate's model is.
    #[arg(long, default_value_t = 20)]
    slowdown: u64,
    /// The candidate's share in run 2, in percent.
    #[arg(long, default_value_t = 25.0)]
    share: f64,
    /// Leave the candidate's pool at normal priority (to see the difference).
    #[arg(long)]
    no_priority: bool,
    /// No isolation, for contrast: the candidate's model runs inline on the
    /// async workers, without bulkhead, timeout or fallback (what a first
    /// integration often does).
    #[arg(long)]
    naive: bool,
}

/// The model: exponential smoothing of a series, `rounds` passes with
/// different smoothing factors (real floating-point work, no sleeping).
fn forecast(series: &[f64], rounds: u64) -> f64 {
    let mut acc = 0.0;
    for r in 0..rounds {
        let alpha = 0.05 + (r % 90) as f64 / 100.0;
        let mut level = series.first().copied().unwrap_or(0.0);
        for x in series {
            level = alpha * x + (1.0 - alpha) * level;
        }
        acc += level;
    }
    acc / rounds.max(1) as f64
}

const SERIES: &str =
    "12.0,13.5,12.8,14.1,15.0,14.7,15.9,16.3,15.8,17.0,17.4,16.9,18.2,18.8,18.1,19.5";

/// How many rounds take `us` microseconds on this machine (median of 101).
fn calibrate(us: u64) -> u64 {
    let series = parse_series(SERIES.as_bytes());
    let probe = 2_000;
    let mut times: Vec<Duration> = (0..101)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(forecast(std::hint::black_box(&series), probe));
            t.elapsed()
        })
        .collect();
    times.sort();
    let per_round_ns = times[50].as_nanos().max(1) as f64 / probe as f64;
    ((us as f64 * 1_000.0) / per_round_ns).round().max(1.0) as u64
}

#[derive(Clone)]
struct Models {
    stable: VersionPool,
    candidate: VersionPool,
    stable_rounds: u64,
    candidate_rounds: u64,
    inline_candidate: bool,
}

async fn predict(version: Version, State(m): State<Models>, body: Bytes) -> (StatusCode, String) {
    let series = parse_series(&body);
    if version.id() == "v2" && m.inline_candidate {
        let value = forecast(&series, m.candidate_rounds);
        return (StatusCode::OK, format!("{value:.3}"));
    }
    let (pool, rounds) = if version.id() == "v2" {
        (&m.candidate, m.candidate_rounds)
    } else {
        (&m.stable, m.stable_rounds)
    };
    match pool.run(move || forecast(&series, rounds)).await {
        Ok(value) => (StatusCode::OK, format!("{value:.3}")),
        // A full pool is overload of this version: 503, which the gates
        // count against it and the fallback retries on stable.
        Err(e) => (e.status(), e.to_string()),
    }
}

struct Sample {
    stable_cohort: bool,
    served_by_v2: bool,
    ok: bool,
    latency: Duration,
}

/// Sends `rate` requests per second for `seconds`, from random users,
/// measuring each from its scheduled send time.
async fn load(
    client: &HttpClient,
    addr: SocketAddr,
    routing: &RolloutRouting,
    share_bps: u32,
    rate: u32,
    seconds: u32,
    seed: u64,
) -> Vec<Sample> {
    let n = u64::from(rate) * u64::from(seconds);
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut rng = seed | 1;
    for i in 0..n {
        let at = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(at).await;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let user = format!("user-{}", rng % 10_000);
        let stable_cohort = routing.bucket(user.as_bytes()) >= share_bps;
        let (client, tx) = (client.clone(), tx.clone());
        tokio::spawn(async move {
            let req = http::Request::builder()
                .method(Method::POST)
                .uri(format!("http://{addr}/predict"))
                .header("x-user-id", &user)
                .body(Full::new(Bytes::from_static(SERIES.as_bytes())));
            let Ok(req) = req else { return };
            let (ok, served_by_v2) = match client.request(req).await {
                Ok(res) => {
                    let v2 = res
                        .headers()
                        .get("x-fledge-version")
                        .is_some_and(|v| v == "v2");
                    let ok = res.status().is_success();
                    let body_ok = res.into_body().collect().await.is_ok();
                    (ok && body_ok, v2)
                }
                Err(_) => (false, false),
            };
            let latency = at.elapsed();
            let _ = tx.send(Sample {
                stable_cohort,
                served_by_v2,
                ok,
                latency,
            });
        });
    }
    drop(tx);
    let mut out = Vec::with_capacity(n as usize);
    while let Some(s) = rx.recv().await {
        out.push(s);
    }
    out
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

struct Summary {
    stable_p50: Duration,
    stable_p99: Duration,
}

fn summarize(label: &str, samples: &[Sample]) -> Summary {
    let mut stable: Vec<Duration> = samples
        .iter()
        .filter(|s| s.stable_cohort)
        .map(|s| s.latency)
        .collect();
    stable.sort();
    let stable_errors = samples.iter().filter(|s| s.stable_cohort && !s.ok).count();
    let candidate: Vec<&Sample> = samples.iter().filter(|s| !s.stable_cohort).collect();
    let on_v2 = candidate.iter().filter(|s| s.served_by_v2).count();
    let summary = Summary {
        stable_p50: quantile(&stable, 0.50),
        stable_p99: quantile(&stable, 0.99),
    };
    println!(
        "{label}: {} requests; stable users: {} requests, p50 {:.3} ms, p99 {:.3} ms, \
         max {:.3} ms, {} errors; candidate's users: {} requests ({} answered by v2)",
        samples.len(),
        stable.len(),
        ms(summary.stable_p50),
        ms(summary.stable_p99),
        ms(stable.last().copied().unwrap_or_default()),
        stable_errors,
        candidate.len(),
        on_v2,
    );
    summary
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn print_isolation(handle: &IsolationHandle, models: &Models) {
    if let Some(v2) = handle.stats("v2") {
        println!(
            "  v2 bulkhead: {} admitted, {} overflowed to stable, {} timeouts, {} fallbacks",
            v2.admitted, v2.overflowed, v2.timeouts, v2.fallbacks
        );
    }
    let (s, c) = (models.stable.stats(), models.candidate.stats());
    println!(
        "  pools: v1 {} jobs on {} threads; v2 {} jobs on {} thread ({:?}), {} refused (queue full), {} cancelled",
        s.completed,
        s.threads,
        c.completed,
        c.threads,
        models.candidate.priority(),
        c.overflowed,
        c.cancelled
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let stable_rounds = calibrate(args.stable_us);
    let candidate_rounds = stable_rounds * args.slowdown;
    let share = Weight::from_percent(args.share)?;

    // The plan: its `limits` are the candidate's bulkhead and timeout.
    let plan = Plan::from_toml(&format!(
        r#"
name = "isolation"
baseline = "v1"
candidate = "v2"
steps = [{}, 100]
interval = "1h"

[limits.v2]
concurrency = 3
timeout = "{}ms"
overflow = "stable"
"#,
        args.share,
        // Queue wait (2 jobs) + its own service time, with room.
        (args.stable_us * args.slowdown * 4 / 1_000).max(20)
    ))?;
    let mut plan = plan;
    if args.naive {
        // No isolation at all: the plan without its limits.
        plan.limits.clear();
    }
    // The controller and the layer, the plan's limits applied (bulkhead,
    // overflow, timeout on v2).
    let canary = Canary::from_plan(plan)?;
    let controller = canary.controller().clone();
    let routing = canary.routing().clone();

    let models = Models {
        stable: VersionPool::builder("v1").threads(2).queue(256).build()?,
        candidate: VersionPool::builder("v2")
            .threads(1)
            .queue(2)
            .priority(if args.no_priority {
                Priority::Normal
            } else {
                Priority::Nice(19)
            })
            .build()?,
        stable_rounds,
        candidate_rounds,
        inline_candidate: args.naive,
    };
    let routes = Router::new()
        .route("/predict", post(predict))
        .with_state(models.clone());
    let handle = canary.isolation();
    let app = if args.naive {
        routes.layer(canary.layer())
    } else {
        // The fallback is tower's own (it replays the request body): set on
        // the layer.
        routes.layer(
            canary
                .layer()
                .fallback(Fallback::idempotent().declare_idempotent(Method::POST, "/predict")),
        )
    };
    let addr = serve_loopback(app).await?;
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(512)
        .build_http();

    if args.naive {
        println!("naive mode: no pools, no bulkhead, no timeout for the candidate");
    }
    println!(
        "isolation: real HTTP on loopback, {} req/s open loop, {} rounds of {} s per run; \
         stable's model {} µs of CPU, the candidate's {}× that ({} µs); load average {} at start",
        args.rate,
        args.rounds,
        args.seconds,
        args.stable_us,
        args.slowdown,
        args.stable_us * args.slowdown,
        load_average()
    );
    let share_bps = share.bps();

    // Warm-up: connections, caches, both pools.
    controller.set_weight(share, "isolation example")?;
    load(&client, addr, &routing, share_bps, args.rate, 1, 1).await;
    let warm_up = handle.stats("v2").map(|s| (s.admitted, s.overflowed));

    let (mut alone, mut mixed) = (Vec::new(), Vec::new());
    for round in 0..u64::from(args.rounds) {
        // Run 1: stable alone (the candidate at 0 %). Run 2: the candidate
        // at its share; the same users, the same load.
        for (weight, samples) in [(Weight::ZERO, &mut alone), (share, &mut mixed)] {
            controller.set_weight(weight, "isolation example")?;
            let seed = 10 + round;
            let run = load(
                &client,
                addr,
                &routing,
                share_bps,
                args.rate,
                args.seconds,
                seed,
            );
            samples.extend(run.await);
        }
    }
    let alone = summarize("run 1, candidate at 0 %", &alone);
    let mixed = summarize(&format!("run 2, candidate at {} %", args.share), &mixed);
    if let Some((admitted, overflowed)) = warm_up {
        println!("  (warm-up: v2 admitted {admitted}, overflowed {overflowed}; counted below too)");
    }
    print_isolation(&handle, &models);

    let ratio = ms(mixed.stable_p99) / ms(alone.stable_p99).max(1e-9);
    println!(
        "stable p50 {:.3} → {:.3} ms, p99 {:.3} → {:.3} ms; load average {} at the end",
        ms(alone.stable_p50),
        ms(mixed.stable_p50),
        ms(alone.stable_p99),
        ms(mixed.stable_p99),
        load_average()
    );
    println!("stable_p99_ratio={ratio:.3}");
    Ok(())
}
