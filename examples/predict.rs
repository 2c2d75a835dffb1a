//! A forecasting service rolling out model v2 next to v1, end to end.
//!
//! ```text
//! cargo run --release --example predict                      # healthy v2: promoted
//! cargo run --release --example predict -- --regress errors  # v2 fails 20 %: rolled back
//! cargo run --release --example predict -- --regress latency # v2 takes 60 ms: rolled back
//! cargo run --release --example predict -- --regress accuracy # v2 forecasts badly: rolled back
//! cargo run --release --example predict -- --regress drift    # v2 forecasts 5 % high, no feedback: rolled back
//! cargo run --release --example predict -- --listen 127.0.0.1:8080 --no-load   # your own traffic
//! cargo run --release --example predict -- --admin-token "$(openssl rand -hex 16)"  # + dashboard
//! ```
//!
//! - `POST /predict` takes `{"series": [..]}` and returns a one-step-ahead
//!   forecast from v1 (moving average of the last 5 points) or v2
//!   (exponential smoothing, alpha 0.5), chosen per user (`x-user-id`) by
//!   the canary layer. Both models live in this process; the handler calls
//!   the chosen one.
//! - `POST /feedback` takes `{"request_id": .., "value": <actual>}` later; the
//!   request id encodes the version and the forecast, so the absolute error
//!   goes into the `abs_error` gate metric without any lookup table.
//! - The handler also records each forecast as the plan's `forecast` output
//!   (`fledge::axum::Outputs`, resolved once at startup; per response one
//!   `record(&version, forecast)`, no allocation): the drift gates judge v2
//!   on what it forecasts, before any ground truth arrives.
//! - A load generator sends random-walk series for 5 000 users over real
//!   HTTP on loopback and reports the actual value 20–120 ms later (with
//!   `--regress drift` it never does: the run has no ground truth at all).
//!   Each series starts at a level between 90 and 110 (one product family's
//!   demand) and walks up 0.2 a point on average.
//! - The plan: 5 → 25 → 50 → 100 %, gates p99 < 50 ms (critical), error rate
//!   (sequential test against v1), accuracy (mean absolute error at most
//!   1.1 × v1's), and two output drift gates on the forecasts: their
//!   distribution (`ks`) and their mean within ±2 % of v1's (`output_mean`),
//!   each with α = 0.01 spent over a step's looks. With five gates the
//!   judge's `marginal_score` is 85, so any one failing gate fails the
//!   verdict. One tick per second; a failing verdict rolls back in that
//!   same tick.
//! - **Why the drift gates pass the healthy v2.** They compare v2's forecasts
//!   with v1's, on the same users in the same windows, so they suit a v2
//!   meant to forecast the same quantity as v1 (a retrained or re-engineered
//!   model), which is this demo's case: v1's moving average of the last 5
//!   points and v2's exponential smoothing both estimate the series' current
//!   level. They differ by construction only slightly: v2 lags the upward
//!   walk by about one point instead of two, so its forecasts are 0.2 %
//!   higher on average and their distributions differ by a Kolmogorov–Smirnov
//!   D of about 0.01 (measured offline on 200 000 series), far below what
//!   1 500 forecasts a side can tell apart (D ≈ 0.06 at the first look's
//!   share of α = 0.01) and well inside the ±2 % tolerance. A v2 forecasting
//!   5 % too high is a D of about 0.26 and a mean ratio of 1.05: the first
//!   step's hundred-odd forecasts show it. (Levels between 90 and 110 give
//!   the forecasts a spread of about 6 %. Spread over 50–150, about 29 %,
//!   the same shift is a D of about 0.07, which takes over a thousand
//!   forecasts a side: in this demo's 8-second windows not before the 50 %
//!   step, and not reliably.) A v2 that is meant to change the forecasts
//!   needs a tolerance the size of the change expected, or no drift gate.
//! - Each step line shows, per version since the step started, requests,
//!   p99, mean absolute error (`-` without feedback) and mean forecast
//!   (`fc`), then `D`, the Kolmogorov–Smirnov distance between v2's and
//!   v1's forecasts (what the `ks` gate tests, on its 8-second window).
//! - Operations: `GET /metrics` is the rollout's Prometheus exposition
//!   (`fledge-prometheus`, read at scrape time); with `--admin-token` the
//!   admin API and live dashboard (`fledge-admin`) are at `/fledge`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use fledge::axum::{Feedback, NumericHandle, Outputs, RequestId, Version};
use fledge::gate::clock::Timestamp;
use fledge::rollout::machine::Phase;
use fledge::{Canary, Plan, RolloutRouting};
use fledge_examples::{ending, http_client, parse_duration, post_json, serve};
use http_body_util::BodyExt;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// How v2 is made worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Regress {
    /// v2 is healthy (and more accurate than v1).
    None,
    /// v2 takes 60 ms more per request (a slow model).
    Latency,
    /// v2 answers 500 to 20 % of requests.
    Errors,
    /// v2 smooths with alpha 0.03 instead of 0.5: it lags badly.
    Accuracy,
    /// v2 forecasts 5 % too high (latency and errors unchanged), and no
    /// ground truth arrives during the run: only the drift gates can tell.
    Drift,
}

#[derive(Debug, Parser)]
#[command(about = "Canary a forecasting model v2 next to v1 inside one axum service.")]
struct Args {
    /// Make v2 worse in one way; the rollout must roll back.
    #[arg(long, value_enum, default_value_t = Regress::None)]
    regress: Regress,
    /// Where to serve.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Do not generate load: serve outside traffic only.
    #[arg(long)]
    no_load: bool,
    /// The rollout's planned length (each of the 4 steps bakes a quarter),
    /// e.g. `40s`, `2m`. The run gives up after three times this.
    #[arg(long, default_value = "32s", value_parser = parse_duration)]
    duration: Duration,
    /// Requests per second the load generator aims at.
    #[arg(long, default_value_t = 400)]
    rps: u32,
    /// Mount the admin API and dashboard at `/fledge`, guarded by this
    /// bearer token (16 to 1024 visible ASCII characters).
    #[arg(long)]
    admin_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PredictRequest {
    series: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PredictResponse {
    forecast: f64,
    version: String,
    request_id: String,
}

#[derive(Clone)]
struct App {
    regress: Regress,
    /// Records each forecast into the plan's `forecast` output.
    forecast: NumericHandle,
}

/// Model v1: the mean of the last five points.
fn moving_average(series: &[f64]) -> f64 {
    let tail = &series[series.len().saturating_sub(5)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

/// Model v2: simple exponential smoothing.
fn exponential_smoothing(series: &[f64], alpha: f64) -> f64 {
    let mut level = series.first().copied().unwrap_or(0.0);
    for x in series.iter().skip(1) {
        level = alpha * x + (1.0 - alpha) * level;
    }
    level
}

async fn predict(
    version: Version,
    State(app): State<App>,
    Json(req): Json<PredictRequest>,
) -> Result<(RequestId, Json<PredictResponse>), (StatusCode, &'static str)> {
    if req.series.is_empty()
        || req.series.len() > 1_000
        || !req.series.iter().all(|x| x.is_finite())
    {
        return Err((StatusCode::BAD_REQUEST, "series: 1 to 1000 finite numbers"));
    }
    let forecast = if version.id() == "v2" {
        match app.regress {
            Regress::Latency => tokio::time::sleep(Duration::from_millis(60)).await,
            Regress::Errors if rand::rng().random_bool(0.2) => {
                return Err((StatusCode::INTERNAL_SERVER_ERROR, "v2: numerical failure"));
            }
            _ => {}
        }
        let alpha = if app.regress == Regress::Accuracy {
            0.03
        } else {
            0.5
        };
        let forecast = exponential_smoothing(&req.series, alpha);
        if app.regress == Regress::Drift {
            forecast * 1.05
        } else {
            forecast
        }
    } else {
        moving_average(&req.series)
    };
    // What the model answered, under the version that answered it.
    app.forecast.record(&version, forecast);
    let request_id = version.request_id(&format!("{forecast:.6}"));
    let body = PredictResponse {
        forecast,
        version: version.id().to_owned(),
        request_id: request_id.to_string(),
    };
    Ok((request_id, Json(body)))
}

fn plan(args: &Args) -> Result<Plan, Box<dyn std::error::Error>> {
    let interval_ms = (args.duration.as_millis() / 4).max(1_000);
    let toml = format!(
        r#"
name = "predict-v2"
description = "Forecasting model v2 (exponential smoothing) replaces v1 (moving average)."
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "{interval_ms}ms"
failure_limit = 1          # the first failing verdict rolls back, in that tick
inconclusive_limit = 3
metrics = ["abs_error"]    # fed by POST /feedback
outputs = [{{ name = "forecast", kind = "numeric" }}]   # recorded by the handler

[judge]
marginal_score = 85        # five gates: any one failing (score 80) fails the verdict

[sticky]
salt = "predict-demo"

[[gates]]
name = "p99 < 50ms"
kind = "threshold"
metric = "latency_p99"
max = 50.0
critical = true
min_samples = 50

[[gates]]
name = "error rate"
kind = "sequential"
metric = "error_rate"
tau = 0.02
alpha = 0.01
min_samples = 50

[[gates]]
name = "accuracy"
kind = "relative"
metric = "abs_error"
max_ratio = 1.1
min_samples = 60

[[gates]]
name = "forecast distribution"
kind = "ks"
metric = "forecast"
alpha = 0.01
min_samples = 100

[[gates]]
name = "forecast mean"
kind = "output_mean"
metric = "forecast"
tolerance = 0.02
alpha = 0.01
min_samples = 100
"#
    );
    Ok(Plan::from_toml(&toml)?)
}

/// Load: random-walk series for many users, forecasts, late ground truth.
/// With `feedback` false no ground truth is ever sent.
async fn generate_load(addr: SocketAddr, rps: u32, feedback: bool, sent: Arc<AtomicU64>) {
    let client = http_client();
    let workers = 16u32;
    let period = Duration::from_secs_f64(f64::from(workers) / f64::from(rps.max(1)));
    for _ in 0..workers {
        let client = client.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let (user, series, actual) = {
                    let mut rng = rand::rng();
                    let user = rng.random_range(0..5_000u32);
                    let mut x = rng.random_range(90.0..110.0);
                    let mut series = Vec::with_capacity(12);
                    for _ in 0..12 {
                        series.push(x);
                        x += 0.2 + gaussian(&mut rng);
                    }
                    (user, series, x)
                };
                let body = serde_json::json!({ "series": series });
                let url = format!("http://{addr}/predict");
                let Ok(req) = post_json(&url, Some(&format!("user-{user}")), &body) else {
                    continue;
                };
                sent.fetch_add(1, Ordering::Relaxed);
                let client = client.clone();
                tokio::spawn(async move {
                    let Ok(res) = client.request(req).await else {
                        return;
                    };
                    if !feedback {
                        return;
                    }
                    let ok = res.status().is_success();
                    let Ok(bytes) = res.into_body().collect().await.map(|b| b.to_bytes()) else {
                        return;
                    };
                    if !ok {
                        return;
                    }
                    let Ok(answer) = serde_json::from_slice::<PredictResponse>(&bytes) else {
                        return;
                    };
                    // Ground truth arrives later.
                    let delay = rand::rng().random_range(20..120);
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let feedback =
                        serde_json::json!({ "request_id": answer.request_id, "value": actual });
                    if let Ok(req) = post_json(&format!("http://{addr}/feedback"), None, &feedback)
                    {
                        let _ = client.request(req).await;
                    }
                });
            }
        });
    }
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// One version's line: requests, p99 and mean absolute error in the step.
fn version_stats(routing: &RolloutRouting, id: &str, now: Timestamp, span: Duration) -> String {
    let Some(index) = routing.index_of(id) else {
        return format!("{id}: ?");
    };
    match routing.recorder().window(index.get(), now, span) {
        Ok(w) => {
            let p99 = w
                .latency()
                .quantile_ms(0.99)
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}ms"));
            let mae = w
                .metric("abs_error")
                .and_then(|m| m.mean())
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            let fc = forecasts(&w)
                .and_then(|f| f.mean())
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            format!(
                "{id} {:>5} req p99 {p99:>7} mae {mae:>5} fc {fc:>6}",
                w.requests()
            )
        }
        Err(e) => format!("{id}: {e}"),
    }
}

/// A window's forecasts (the plan's `forecast` output).
fn forecasts(w: &fledge::gate::Window) -> Option<&fledge::gate::NumericOutput> {
    w.output("forecast").and_then(|o| o.numeric())
}

/// The Kolmogorov–Smirnov D between v2's and v1's forecasts since the step
/// started (what the `ks` gate tests, on its bake-time window).
fn forecast_d(routing: &RolloutRouting, now: Timestamp, span: Duration) -> String {
    let window = |id: &str| {
        let index = routing.index_of(id)?;
        routing.recorder().window(index.get(), now, span).ok()
    };
    let (Some(v2), Some(v1)) = (window("v2"), window("v1")) else {
        return "-".to_owned();
    };
    let (Some(c), Some(b)) = (forecasts(&v2), forecasts(&v1)) else {
        return "-".to_owned();
    };
    fledge::gate::stats::ks_2samp_weighted(&c.sketch().weighted(), &b.sketch().weighted())
        .map_or_else(|_| "-".to_owned(), |ks| format!("{:.3}", ks.statistic))
}

/// The status of the step in effect: weight, and per version requests, p99,
/// mean absolute error and mean forecast since the step started, and the
/// forecasts' KS distance.
fn line_for(
    routing: &RolloutRouting,
    report: &fledge::rollout::control::TickReport,
    started: Instant,
) -> String {
    let state = &report.state;
    let span = report
        .now
        .duration_since(state.since)
        .max(Duration::from_secs(1));
    let step = state
        .step
        .map_or_else(|| "-".to_owned(), |s| format!("{}/4", s + 1));
    format!(
        "[{:>4.0}s] step {step} v2 {:>3.0}% | {} | {} | D {:>5}",
        started.elapsed().as_secs_f64(),
        state.traffic.candidate.percent(),
        version_stats(routing, "v1", report.now, span),
        version_stats(routing, "v2", report.now, span),
        forecast_d(routing, report.now, span),
    )
}

/// Prints a status line: kept (`done`) or overwritten by the next one.
fn print_line(tty: bool, line: &str, done: bool) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = match (tty, done) {
        (true, true) => writeln!(out, "\r\x1b[2K{line}"),
        (true, false) => write!(out, "\r\x1b[2K{line}"),
        (false, _) => writeln!(out, "{line}"),
    };
    let _ = out.flush();
}

/// A judgement in a few words: a failing one names the gates that failed.
fn short_verdict(judgement: &fledge::rollout::control::Judgement) -> String {
    let failed: Vec<&str> = judgement
        .verdict
        .iter()
        .flat_map(|v| &v.report().checks)
        .filter(|c| c.outcome == fledge::gate::Outcome::Fail)
        .map(|c| c.name.as_str())
        .collect();
    if judgement.outcome == fledge::gate::Outcome::Fail && !failed.is_empty() {
        format!("fail: {}", failed.join(", "))
    } else {
        shorten(&judgement.to_string(), 60)
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let plan = plan(&args)?;
    // The controller and the layer, the plan's limits applied. This example
    // ticks the controller itself (below) to print each tick's report; an
    // application would call `canary.spawn()`.
    let canary = Canary::from_plan(plan.clone())?;
    let controller = canary.controller().clone();
    let routing = canary.routing().clone();

    // The service: one route, both models, the canary layer in front.
    let feedback = Feedback::new(routing.clone(), "abs_error")?
        .score(|forecast, actual| Some((forecast.parse::<f64>().ok()? - actual).abs()));
    // The plan's `forecast` output, resolved once (a typo is an error here).
    let forecast = Outputs::new(routing.clone()).numeric("forecast")?;
    let app = Router::new()
        .route("/predict", post(predict))
        .with_state(App {
            regress: args.regress,
            forecast,
        })
        .layer(canary.axum_layer())
        .merge(feedback.router());

    // Operations, outside the canary layer: Prometheus and the admin API.
    let mut registry = prometheus_client::registry::Registry::default();
    fledge::prometheus::FledgeCollector::new()
        .controller(controller.clone())
        .register(&mut registry);
    let mut app = app.merge(fledge::prometheus::axum::router(Arc::new(registry)));
    if let Some(token) = &args.admin_token {
        let admin = fledge::admin::Admin::builder()
            .rollout(controller.clone())
            .token(token.clone())
            .build()?;
        app = app.nest("/fledge", admin.router());
    }

    let addr = serve(args.listen, app).await?;

    println!(
        "fledge predict: v1 (moving average) -> v2 (exponential smoothing{}) on http://{addr}",
        match args.regress {
            Regress::None => String::new(),
            r => format!(", regressed: {r:?}").to_lowercase(),
        }
    );
    println!(
        "plan: steps 5/25/50/100 %, bake {:?} each, gates: p99 < 50ms, error rate vs v1, mae <= 1.1 x v1, forecasts vs v1 (ks; mean within 2 %); tick 1s",
        plan.interval
    );
    println!(
        "ops: metrics http://{addr}/metrics{}",
        if args.admin_token.is_some() {
            format!(", dashboard http://{addr}/fledge")
        } else {
            ", dashboard with --admin-token".to_owned()
        }
    );
    let sent = Arc::new(AtomicU64::new(0));
    if args.no_load {
        println!(
            "no load generator: send traffic yourself, e.g.\n  curl -s -H 'x-user-id: alice' -H 'content-type: application/json' \
             -d '{{\"series\":[1,2,3,4,5]}}' http://{addr}/predict"
        );
    } else {
        let feedback = args.regress != Regress::Drift;
        if !feedback {
            println!("no ground truth in this run: the load generator sends no feedback");
        }
        generate_load(addr, args.rps, feedback, sent.clone()).await;
    }

    // One line per step (the step's last status, with the verdict that ended
    // it); on a terminal the current step's line also updates every tick.
    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let deadline = started + args.duration * 3;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut shown_step = controller.state().step;
    let mut last_line = String::new();
    let result = loop {
        ticker.tick().await;
        let report = controller.tick_now()?;
        let state = &report.state;
        let verdict = report
            .judgement
            .as_ref()
            .map_or_else(|| "baking".to_owned(), short_verdict);
        if state.step != shown_step || state.is_terminal() {
            // The step just ended: its last figures, and what ended it.
            let what = match &state.phase {
                Phase::Promoted => "promoted".to_owned(),
                Phase::RolledBack { .. } => "ROLLED BACK".to_owned(),
                _ => format!("next: {}%", state.traffic.candidate.percent()),
            };
            let line = if last_line.is_empty() {
                line_for(&routing, &report, started)
            } else {
                last_line.clone()
            };
            print_line(tty, &format!("{line} | {verdict} -> {what}"), true);
            shown_step = state.step;
            last_line.clear();
        } else {
            last_line = line_for(&routing, &report, started);
            if tty {
                print_line(tty, &format!("{last_line} | {verdict}"), false);
            }
        }
        if let Some(end) = ending(&state.phase) {
            break end;
        }
        if Instant::now() >= deadline {
            print_line(tty, &format!("{last_line} | {verdict}"), true);
            break match &state.phase {
                Phase::Paused { reason, .. } => format!("paused ({reason})"),
                _ => "unfinished (deadline reached)".to_owned(),
            };
        }
    };
    println!(
        "{} requests sent in {:.1}s; split now: {}",
        sent.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        controller.selector().split()
    );
    println!("result: {result}");
    Ok(())
}
