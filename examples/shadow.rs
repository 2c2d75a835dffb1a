//! Shadow first, then canary: a forecasting model v2 is mirrored before it
//! serves anyone.
//!
//! ```text
//! cargo run --release --example shadow
//! ```
//!
//! - `POST /predict` takes a comma-separated series and answers a forecast:
//!   v1 is a moving average of the last 8 points, v2 a damped-trend
//!   exponential smoothing. Both live in this process; the canary layer
//!   picks per user (`x-user-id`).
//! - The plan starts in **shadow**: v2 serves 0 %, 100 % of requests are
//!   mirrored to it by the shadow layer (its responses are discarded). The
//!   gates judge the shadow's latency, its errors, and its **agreement**
//!   with v1 (mean absolute difference of the two forecasts, recorded by a
//!   comparator). When they pass, the plan moves into a canary (10 → 50 →
//!   100 %) by itself and mirroring stops.
//! - A second run mirrors a broken v2 (it answers in cents instead of
//!   euros): the agreement gate fails in the shadow step and v2 is rolled
//!   back without ever serving a user.
//!
//! Requests go over real HTTP on loopback; ticks use a simulated clock.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use fledge::rollout::plan::ShadowFirstBuilder;
use fledge::tower::shadow::agreement;
use fledge_axum::{CanaryLayer, Version};
use fledge_examples::{HttpClient, http_client, parse_series, send_all, serve_loopback};
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_gate::{CheckSpec, MetricRef, Test};
use fledge_rollout::Controller;
use fledge_tower::shadow::{ShadowHandle, ShadowLayer};
use http_body_util::{BodyExt, Full};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

fn v1(y: &[f64]) -> f64 {
    let tail = &y[y.len().saturating_sub(8)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

fn v2(y: &[f64], cents: bool) -> f64 {
    let Some(&first) = y.first() else { return 0.0 };
    let (mut level, mut trend) = (first, 0.0);
    for &x in &y[1..] {
        let prev = level;
        level = 0.4 * x + 0.6 * (level + 0.8 * trend);
        trend = 0.2 * (level - prev) + 0.8 * 0.8 * trend;
    }
    let f = level + 0.8 * trend;
    if cents { f * 100.0 } else { f }
}

struct Run {
    controller: Arc<Controller>,
    clock: ManualClock,
    shadow: ShadowHandle,
    addr: SocketAddr,
    client: HttpClient,
    rng: SmallRng,
}

fn threshold(name: &str, metric: MetricRef, max: f64) -> CheckSpec {
    CheckSpec::new(
        metric,
        Test::Threshold {
            max: Some(max),
            min: None,
        },
    )
    .named(name)
    .min_samples(100)
}

impl Run {
    async fn start(broken: bool) -> Result<Run, Box<dyn std::error::Error>> {
        let plan = ShadowFirstBuilder::new("forecast-v2", "v1", "v2")
            .mirror(100.0, Duration::from_secs(600))
            .agreement("shadow_diff", 1.5)
            .shadow_gate(threshold(
                "shadow p99",
                MetricRef::LatencyQuantile(0.99),
                50.0,
            ))
            .canary_gate(threshold(
                "canary p99",
                MetricRef::LatencyQuantile(0.99),
                50.0,
            ))
            .gate(threshold("errors", MetricRef::ErrorRate, 0.01))
            .steps([10.0, 50.0, 100.0])
            .interval(Duration::from_secs(300))
            .build()?;
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let controller = Arc::new(Controller::builder(plan).clock(clock.clone()).build()?);
        let routing = controller.routing().clone();
        // The shadow copy of v2: its own service, called on a spawned task.
        let shadow_v2 = tower::service_fn(move |req: http::Request<Full<Bytes>>| async move {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let answer = v2(&parse_series(&body), broken).to_string();
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(answer))))
        });
        let layer = ShadowLayer::new(routing.clone(), "v2", shadow_v2)?
            .compare("shadow_diff", |primary, shadow| {
                agreement::abs_diff(primary, shadow)
            })?;
        let shadow = layer.handle();
        let predict = move |version: Version, body: Bytes| async move {
            let y = parse_series(&body);
            match version.id() {
                "v2" => v2(&y, broken).to_string(),
                _ => v1(&y).to_string(),
            }
        };
        let app = Router::new()
            .route("/predict", post(predict))
            .layer(layer)
            .layer(CanaryLayer::new(routing));
        Ok(Run {
            controller,
            clock,
            shadow,
            addr: serve_loopback(app).await?,
            client: http_client(),
            rng: SmallRng::seed_from_u64(if broken { 2 } else { 1 }),
        })
    }

    /// `n` forecasts for random users → how many v1 and v2 answered.
    async fn traffic(&mut self, n: usize) -> Result<(usize, usize), Box<dyn std::error::Error>> {
        let mut reqs = Vec::with_capacity(n);
        for _ in 0..n {
            let mut level = 100.0 + self.rng.random::<f64>() * 50.0;
            let slope = self.rng.random::<f64>() - 0.5;
            let series: Vec<String> = (0..24)
                .map(|_| {
                    level += slope + (self.rng.random::<f64>() - 0.5) * 2.0;
                    format!("{level:.2}")
                })
                .collect();
            let user = self.rng.random_range(0..10_000u32);
            reqs.push(
                http::Request::post(format!("http://{}/predict", self.addr))
                    .header("x-user-id", format!("user-{user}"))
                    .body(Full::new(Bytes::from(series.join(","))))?,
            );
        }
        let served = send_all(&self.client, reqs).await?;
        let on_v2 = served.iter().filter(|(v, _)| v == "v2").count();
        let on_v1 = served.len() - on_v2;
        // Mirrored calls finish on their own tasks: wait for them (bounded).
        for _ in 0..10_000 {
            if self.shadow.in_flight() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok((on_v1, on_v2))
    }

    async fn step(&mut self, n: usize, after: u64) -> Result<bool, Box<dyn std::error::Error>> {
        let t = self.controller.traffic();
        let before = self.shadow.stats().mirrored;
        let (a, b) = self.traffic(n).await?;
        println!(
            "  serving {} (mirror {}): {n} requests → v1 {a}, v2 {b}; mirrored to v2: {}",
            t.candidate,
            t.mirror,
            self.shadow.stats().mirrored - before
        );
        let now = self.clock.advance(Duration::from_secs(after));
        let report = self.controller.tick(now)?;
        let verdict = report.judgement.as_ref().and_then(|j| j.verdict.as_ref());
        let checks = verdict
            .map(|v| v.report().checks.as_slice())
            .unwrap_or_default();
        for c in checks.iter().filter(|c| c.name == "agreement") {
            println!(
                "  shadow agreement: mean |v2 - v1| = {:.3} over {} compared answers ({})",
                c.canary.unwrap_or(f64::NAN),
                c.canary_samples,
                c.outcome
            );
        }
        for e in &report.events {
            println!("  tick: {} — {}", e.kind, e.reason);
        }
        Ok(report.state.is_terminal())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    println!(
        "shadow first (10 min, 100 % mirrored), then canary 10 → 50 → 100 % (5 min each); simulated clock, real HTTP\n"
    );

    println!("run 1: v2 agrees with v1 (a better model, close answers)");
    let mut run = Run::start(false).await?;
    for _ in 0..8 {
        if run.step(1_200, 301).await? {
            break;
        }
    }
    let (a, b) = run.traffic(200).await?;
    println!("  after the rollout: 200 requests → v1 {a}, v2 {b}");
    let result1 = run.controller.state().phase.name();

    println!("\nrun 2: v2 answers in cents (a unit bug)");
    let mut run = Run::start(true).await?;
    for _ in 0..4 {
        if run.step(1_200, 301).await? {
            break;
        }
    }
    let (a, b) = run.traffic(200).await?;
    println!("  after the rollback: 200 requests → v1 {a}, v2 {b}; v2 never served a user");
    let result2 = run.controller.state().phase.name();

    println!(
        "\nresult: run 1 {result1} (shadow passed, canary promoted); run 2 {result2} in the shadow step ({:.1} s wall clock)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
