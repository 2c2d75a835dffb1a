//! An API-gateway canary: a reverse proxy splits `/predict` between two
//! upstream model servers by URL, for teams that cannot change the model
//! servers.
//!
//! ```text
//! cargo run --release --example gateway                     # healthy upstream v2: promoted
//! cargo run --release --example gateway -- --regress errors # upstream v2 fails: rolled back
//! ```
//!
//! The example starts its two upstreams itself (plain axum servers that know
//! nothing about fledge: v1 a moving average, v2 exponential smoothing), then
//! a gateway whose `/predict` is a [`fledge::tower::VersionRouter`] over two
//! proxy services (a hyper-util client each pointed at one upstream). An
//! upstream that answers 5xx or cannot be reached (502) counts against its
//! version. A load generator calls the gateway only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use fledge::{Canary, Plan};
use fledge_examples::{follow, http_client, parse_duration, serve_loopback};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::RngExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Regress {
    /// Upstream v2 is healthy.
    None,
    /// Upstream v2 answers 503 to 30 % of requests.
    Errors,
}

#[derive(Debug, Parser)]
#[command(about = "A reverse proxy canarying upstream model server v2 against v1.")]
struct Args {
    /// Make upstream v2 fail; the rollout must roll back.
    #[arg(long, value_enum, default_value_t = Regress::None)]
    regress: Regress,
    /// Bake time of each of the 3 steps (10 / 50 / 100 %).
    #[arg(long, default_value = "4s", value_parser = parse_duration)]
    bake: Duration,
}

/// An upstream model server: `POST /predict` with comma-separated numbers.
async fn start_upstream(name: &'static str, failing: bool) -> Result<SocketAddr, std::io::Error> {
    let handler = move |body: String| async move {
        if failing && rand::rng().random_bool(0.3) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{name}: overloaded"),
            );
        }
        let series: Vec<f64> = body
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        if series.is_empty() {
            return (
                StatusCode::BAD_REQUEST,
                "send comma-separated numbers".to_owned(),
            );
        }
        let forecast = if name == "v2" {
            series
                .iter()
                .skip(1)
                .fold(series[0], |level, x| 0.5 * x + 0.5 * level)
        } else {
            let tail = &series[series.len().saturating_sub(5)..];
            tail.iter().sum::<f64>() / tail.len() as f64
        };
        (StatusCode::OK, format!("{forecast:.3} (model {name})"))
    };
    serve_loopback(Router::new().route("/predict", post(handler))).await
}

/// A proxy to one upstream: rewrites the URI and forwards; an unreachable
/// upstream is a 502 (a failure of that version).
fn upstream(
    client: Client<HttpConnector, Body>,
    base: SocketAddr,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |mut req: Request<Body>| {
        let client = client.clone();
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            match format!("http://{base}{path}").parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => return Ok(bad_gateway()),
            }
            match client.request(req).await {
                Ok(res) => Ok(res.map(Body::new)),
                Err(_) => Ok(bad_gateway()),
            }
        }
    })
}

fn bad_gateway() -> Response<Body> {
    let mut res = Response::new(Body::from("upstream unreachable"));
    *res.status_mut() = StatusCode::BAD_GATEWAY;
    res
}

fn plan(bake: Duration) -> Result<Plan, Box<dyn std::error::Error>> {
    Ok(Plan::from_toml(&format!(
        r#"
name = "gateway-predict-v2"
baseline = "v1"
candidate = "v2"
steps = [10, 50, 100]
interval = "{}ms"
failure_limit = 1

[[gates]]
name = "p99 < 50ms"
kind = "threshold"
metric = "latency_p99"
max = 50.0
critical = true
min_samples = 40

[[gates]]
name = "errors"
kind = "proportion"
metric = "error_rate"
alpha = 0.01
min_samples = 40
"#,
        bake.as_millis().max(1_000)
    ))?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let v1 = start_upstream("v1", false).await?;
    let v2 = start_upstream("v2", args.regress == Regress::Errors).await?;

    let canary = Canary::from_plan(plan(args.bake)?)?;
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    // One service per version: the layer becomes a router over them.
    let split = canary.layer().router([
        ("v1", upstream(client.clone(), v1)),
        ("v2", upstream(client, v2)),
    ])?;
    let addr = serve_loopback(Router::new().route_service("/predict", split)).await?;
    println!(
        "fledge gateway on http://{addr}/predict: upstream v1 http://{v1} -> upstream v2 http://{v2}"
    );

    // Load on the gateway only.
    let load = http_client();
    for _ in 0..8 {
        let load = load.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            loop {
                ticker.tick().await;
                let (user, body) = {
                    let mut rng = rand::rng();
                    let series: Vec<String> = (0..8)
                        .map(|_| format!("{:.2}", rng.random_range(90.0..110.0)))
                        .collect();
                    (rng.random_range(0..2_000u32), series.join(","))
                };
                let Ok(req) = Request::post(format!("http://{addr}/predict"))
                    .header("x-user-id", format!("user-{user}"))
                    .body(Full::new(Bytes::from(body)))
                else {
                    continue;
                };
                if let Ok(res) = load.request(req).await {
                    let _ = res.into_body().collect().await;
                }
            }
        });
    }

    let result = follow(canary.controller(), args.bake * 12, |w| {
        format!(
            "{:>4} req {:>3} err p99 {:>6}",
            w.requests(),
            w.errors(),
            w.latency()
                .quantile_ms(0.99)
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}ms"))
        )
    })
    .await?;
    println!("result: {result}");
    Ok(())
}
