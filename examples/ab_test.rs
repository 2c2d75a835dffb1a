//! An A/B/n test of three product-ranking models behind an axum service.
//!
//! ```text
//! cargo run --release --example ab_test
//! ```
//!
//! - `GET /recommend` returns the top 3 of 200 products for the user in
//!   `x-user-id`, ranked by the variant the canary layer picked (sticky per
//!   user): `popular` (the control: global popularity), `personal` (a dot
//!   product of learned user and product embeddings) or `hybrid` (half of
//!   each). Only users whose `x-country` is fr, de or es are in the
//!   experiment (the segment); everyone else sees the control and is not
//!   counted.
//! - The layer counts an exposure for each request in the experiment; the
//!   handler returns a request id naming the variant; the client later posts clicks
//!   to `POST /feedback/click` and purchases to `POST /feedback/revenue`.
//! - Simulated shoppers (seeded) click with a probability that grows with
//!   how much they like the products shown, and sometimes buy.
//! - Every 2 000 requests is one "hour" on a simulated clock: the
//!   experiment takes a sequential (always-valid) look, so it may stop as
//!   soon as a variant is significantly better, and then promotes it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use fledge::experiment::{AbTest, Condition, Mde, MetricSpec, SampleSize};
use fledge_axum::{CanaryLayer, Feedback, Version};
use fledge_gate::clock::Timestamp;
use fledge_tower::Reason;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

const DIM: usize = 8;
const ITEMS: usize = 200;
const USERS: usize = 8_000;
const TOP: usize = 3;
const BATCH: usize = 2_000;
const MAX_REQUESTS: usize = 300_000;

/// The world: products (embedding, price) and shoppers (true taste, country).
struct World {
    items: Vec<([f64; DIM], f64)>,
    taste: Vec<[f64; DIM]>,
    country: Vec<&'static str>,
}

/// The service's models: popularity scores and learned user embeddings
/// (a noisy estimate of each shopper's taste).
struct Models {
    items: Vec<[f64; DIM]>,
    popularity: Vec<f64>,
    users: Vec<[f64; DIM]>,
}

fn vector(rng: &mut SmallRng, scale: f64) -> [f64; DIM] {
    let mut v = [0.0; DIM];
    for x in &mut v {
        *x = (rng.random::<f64>() * 2.0 - 1.0) * scale;
    }
    v
}

fn dot(a: &[f64; DIM], b: &[f64; DIM]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn world(seed: u64) -> (World, Models) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let countries = ["fr", "de", "es", "fr", "de", "es", "us", "uk", "fr", "us"];
    let mut items = Vec::with_capacity(ITEMS);
    for _ in 0..ITEMS {
        let mut e = vector(&mut rng, 1.0);
        e[0] = rng.random::<f64>(); // a shared "quality" axis everyone likes
        items.push((e, 5.0 + rng.random::<f64>() * 95.0));
    }
    let mut taste = Vec::with_capacity(USERS);
    let mut users = Vec::with_capacity(USERS);
    let mut country = Vec::with_capacity(USERS);
    for _ in 0..USERS {
        let mut t = vector(&mut rng, 1.0);
        t[0] = 1.0;
        let mut learned = t;
        for x in &mut learned {
            *x += (rng.random::<f64>() * 2.0 - 1.0) * 1.4; // the model's estimate is noisy
        }
        taste.push(t);
        users.push(learned);
        country.push(countries[rng.random_range(0..countries.len())]);
    }
    let popularity = items
        .iter()
        .map(|(e, _)| taste.iter().map(|t| dot(t, e)).sum::<f64>() / USERS as f64)
        .collect();
    let models = Models {
        items: items.iter().map(|(e, _)| *e).collect(),
        popularity,
        users,
    };
    (
        World {
            items,
            taste,
            country,
        },
        models,
    )
}

impl Models {
    /// The top products for `user` under `variant` (real ranking work).
    fn rank(&self, variant: &str, user: usize) -> Vec<usize> {
        let u = &self.users[user % USERS];
        let mut scored: Vec<(f64, usize)> = (0..ITEMS)
            .map(|i| {
                let personal = dot(u, &self.items[i]);
                let s = match variant {
                    "personal" => personal,
                    "hybrid" => 0.5 * personal + 0.5 * self.popularity[i] * 4.0,
                    _ => self.popularity[i],
                };
                (s, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(TOP).map(|(_, i)| i).collect()
    }
}

#[derive(Clone)]
struct App {
    models: Arc<Models>,
}

#[derive(Serialize, Deserialize)]
struct Recommendation {
    items: Vec<usize>,
    /// Only for requests in the experiment: feedback joins to it.
    request_id: Option<String>,
}

async fn recommend(
    version: Version,
    State(app): State<App>,
    headers: axum::http::HeaderMap,
) -> axum::Json<Recommendation> {
    let user = headers
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("user-"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let items = app.models.rank(version.id(), user);
    // In the experiment: routed by the user's sticky bucket (not by the
    // segment). The layer counted the exposure.
    let request_id =
        (version.reason() == Reason::Sticky).then(|| version.request_id("").as_str().to_owned());
    axum::Json(Recommendation { items, request_id })
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn shop(
    client: &HttpClient,
    addr: SocketAddr,
    world: &World,
    user: usize,
    roll: (f64, f64),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let req = http::Request::get(format!("http://{addr}/recommend"))
        .header("x-user-id", format!("user-{user}"))
        .header("x-country", world.country[user])
        .body(Full::new(Bytes::new()))?;
    let res = client.request(req).await?;
    let body = res.into_body().collect().await?.to_bytes();
    let rec: Recommendation = serde_json::from_slice(&body)?;
    let Some(id) = rec.request_id else {
        return Ok(());
    };
    // How much the shopper likes the best product shown → click probability.
    let best = rec
        .items
        .iter()
        .map(|&i| dot(&world.taste[user], &world.items[i].0))
        .fold(f64::MIN, f64::max);
    let p_click = 1.0 / (1.0 + (-(best - 8.6) * 0.45).exp());
    if roll.0 < p_click {
        post(client, addr, "/feedback/click", &id, 1.0).await?;
        if roll.1 < 0.3 {
            let price = world.items[rec.items[0]].1;
            post(client, addr, "/feedback/revenue", &id, price).await?;
        }
    }
    Ok(())
}

async fn post(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    id: &str,
    value: f64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let body = serde_json::json!({ "request_id": id, "value": value }).to_string();
    let req = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let res = client.request(req).await?;
    let status = res.status();
    let _ = res.into_body().collect().await?;
    if !status.is_success() {
        return Err(format!("{path}: {status}").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let (world, models) = world(20261122);
    let in_segment = world
        .country
        .iter()
        .filter(|c| matches!(**c, "fr" | "de" | "es"))
        .count();

    // How long would a classic fixed-horizon test take? A 4.5 % click rate,
    // a +15 % relative lift worth detecting, two treatments.
    let plan = SampleSize::proportions(0.045, Mde::Relative(0.15)).comparisons(2);
    println!(
        "sample size: a fixed-horizon test needs {} exposures per variant ({} in all) to detect +15 % on a 4.5 % click rate at alpha 0.05 / 2, power 0.8",
        plan.per_variant()?,
        plan.total(3)?
    );
    println!(
        "this run uses a sequential (always-valid) test instead: it may stop as soon as the data are clear\n"
    );

    let t0 = Timestamp::from_millis(1_800_000_000_000);
    let ab = Arc::new(
        AbTest::builder("ranking-2026")
            .control("popular", 50.0)
            .variant("personal", 25.0)
            .variant("hybrid", 25.0)
            .metric(MetricSpec::conversion("click"))
            .metric(MetricSpec::per_exposure("revenue").tau(0.5))
            .segment(Condition::header_in("x-country", ["fr", "de", "es"]))
            .sequential(0.01)
            .auto_promote(true)
            .build(t0)?,
    );
    let routing = ab.routing().clone();
    let app = Router::new()
        .route("/recommend", get(recommend))
        .with_state(App {
            models: Arc::new(models),
        })
        .layer(CanaryLayer::new(routing.clone()))
        .merge(
            Feedback::new(routing.clone(), "click")?
                .path("/feedback/click")
                .router(),
        )
        .merge(
            Feedback::new(routing.clone(), "revenue")?
                .path("/feedback/revenue")
                .router(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    println!(
        "serving on http://{addr}: {USERS} shoppers, {in_segment} of them in the segment (x-country fr, de, es)"
    );
    println!("time is simulated: one look every {BATCH} requests stands for one hour\n");

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut rng = SmallRng::seed_from_u64(7);
    let world = Arc::new(world);
    let mut sent = 0;
    let mut hour = 0u64;
    let report = loop {
        let mut tasks = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            let user = rng.random_range(0..USERS);
            let roll = (rng.random::<f64>(), rng.random::<f64>());
            tasks.push((user, roll));
        }
        for chunk in tasks.chunks(64) {
            let calls = chunk
                .iter()
                .map(|&(user, roll)| shop(&client, addr, &world, user, roll));
            for r in futures::future::join_all(calls).await {
                r?;
            }
        }
        sent += BATCH;
        hour += 1;
        let report = ab.tick(t0 + Duration::from_secs(3_600 * hour));
        let primary = report.primary().ok_or("no primary metric")?;
        let rates: Vec<String> = std::iter::once(&primary.control)
            .chain(primary.comparisons.iter().map(|c| &c.arm))
            .map(|a| {
                format!(
                    "{} {:.2}% of {}",
                    a.variant,
                    a.value.unwrap_or(0.0) * 100.0,
                    a.exposures
                )
            })
            .collect();
        println!("hour {hour:>2}: {} | {}", rates.join(", "), report.status);
        if report.conclusion.is_some() || sent >= MAX_REQUESTS {
            break report;
        }
    };

    println!("\n{report}\n");
    if let Some(winner) = report.conclusion.as_ref().and_then(|c| c.winner()) {
        // Promotion: every shopper in the segment now gets the winner.
        let mut on_winner = 0;
        let check = 200;
        for user in 0..check {
            let a = routing.assign(
                Some(format!("new-shopper-{user}").as_bytes()),
                &[("x-country", "fr")][..],
            );
            if routing.id(a.variant) == Some(winner) {
                on_winner += 1;
            }
        }
        println!(
            "after promotion: {on_winner} of {check} new shoppers in the segment get {winner}"
        );
    }
    println!(
        "result: {} after {sent} requests ({:.1} s wall clock, simulated {hour} h)",
        report
            .conclusion
            .as_ref()
            .map_or("no conclusion yet".to_owned(), |c| c.to_string()),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
