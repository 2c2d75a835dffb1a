//! A recommendation API on actix-web rolling out ranker v2, end to end.
//!
//! ```text
//! cargo run --release --example recommend                      # healthy v2: promoted
//! cargo run --release --example recommend -- --regress errors   # v2 fails 25 %: rolled back
//! cargo run --release --example recommend -- --regress clicks   # v2 ranks badly: rolled back
//! ```
//!
//! `POST /api/v1/recommend` keeps its path while v2 is canaried: the
//! actix-web middleware of [`fledge::Canary`] picks the ranker per user
//! (`x-user-id`), the handler calls it, and the response says which one
//! answered. v1 ranks by global popularity; v2 ranks by co-occurrence with the
//! user's history (item-item similarity over a synthetic catalog). Clicks come
//! back on `POST /api/v1/click` and feed a click-through gate (v2's click rate
//! must be at least 0.9 × v1's), next to p99 latency and error-rate gates.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::{Parser, ValueEnum};
use fledge::actix::Version;
use fledge::{Canary, Plan, RolloutRouting};
use fledge_examples::{follow, http_client, parse_duration, post_json};
use http_body_util::BodyExt;
use rand::RngExt;
use serde::{Deserialize, Serialize};

const ITEMS: usize = 200;
const TOPICS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Regress {
    /// v2 is healthy (and recommends better).
    None,
    /// v2 answers 500 to 25 % of requests.
    Errors,
    /// v2 ranks with a sign error: far fewer clicks.
    Clicks,
}

#[derive(Debug, Parser)]
#[command(about = "Canary ranker v2 of an actix-web recommendation API.")]
struct Args {
    /// Make v2 worse in one way; the rollout must roll back.
    #[arg(long, value_enum, default_value_t = Regress::None)]
    regress: Regress,
    /// Bake time of each of the 3 steps (10 / 50 / 100 %).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    bake: Duration,
}

/// The catalog: item `i` belongs to topic `i % TOPICS`; popularity falls
/// with the item number.
struct Catalog {
    popularity: Vec<f64>,
}

impl Catalog {
    fn new() -> Self {
        Catalog {
            popularity: (0..ITEMS).map(|i| 1.0 / (1.0 + i as f64).sqrt()).collect(),
        }
    }

    /// v1: the most popular items the user has not seen.
    fn popular(&self, history: &[usize]) -> Vec<usize> {
        self.top(|i| self.popularity[i], history)
    }

    /// v2: items of the topics in the user's history, weighted by how often
    /// each topic appears there, then by popularity.
    fn similar(&self, history: &[usize]) -> Vec<usize> {
        let mut topic_weight = [0.0f64; TOPICS];
        for &h in history {
            topic_weight[h % TOPICS] += 1.0;
        }
        self.top(|i| topic_weight[i % TOPICS] + self.popularity[i], history)
    }

    /// v2 with a sign error: it steers away from the user's topics.
    fn similar_sign_bug(&self, history: &[usize]) -> Vec<usize> {
        let mut topic_weight = [0.0f64; TOPICS];
        for &h in history {
            topic_weight[h % TOPICS] -= 1.0;
        }
        self.top(|i| topic_weight[i % TOPICS] + self.popularity[i], history)
    }

    fn top(&self, score: impl Fn(usize) -> f64, history: &[usize]) -> Vec<usize> {
        let mut items: Vec<usize> = (0..ITEMS).filter(|i| !history.contains(i)).collect();
        items.sort_by(|a, b| score(*b).total_cmp(&score(*a)));
        items.truncate(5);
        items
    }
}

#[derive(Debug, Deserialize)]
struct RecommendRequest {
    history: Vec<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RecommendResponse {
    items: Vec<usize>,
    version: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Click {
    version: String,
    clicked: bool,
}

struct AppState {
    catalog: Catalog,
    regress: Regress,
    routing: RolloutRouting,
}

async fn recommend(
    version: Version,
    state: web::Data<AppState>,
    body: web::Json<RecommendRequest>,
) -> HttpResponse {
    if body.history.len() > 100 || body.history.iter().any(|&i| i >= ITEMS) {
        return HttpResponse::BadRequest().body("history: up to 100 item ids below 200");
    }
    let items = if version.id() == "v2" {
        match state.regress {
            Regress::Errors if rand::rng().random_bool(0.25) => {
                return HttpResponse::InternalServerError().body("v2: ranking failed");
            }
            Regress::Clicks => state.catalog.similar_sign_bug(&body.history),
            _ => state.catalog.similar(&body.history),
        }
    } else {
        state.catalog.popular(&body.history)
    };
    HttpResponse::Ok().json(RecommendResponse {
        items,
        version: version.id().to_owned(),
    })
}

async fn click(state: web::Data<AppState>, body: web::Json<Click>) -> HttpResponse {
    let Some(index) = state.routing.index_of(&body.version) else {
        return HttpResponse::BadRequest().body("unknown version");
    };
    let value = if body.clicked { 1.0 } else { 0.0 };
    match state
        .routing
        .recorder()
        .record_feedback(index.get(), "click", value)
    {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

fn plan(bake: Duration) -> Result<Plan, Box<dyn std::error::Error>> {
    Ok(Plan::from_toml(&format!(
        r#"
name = "ranker-v2"
baseline = "v1"
candidate = "v2"
steps = [10, 50, 100]
interval = "{}ms"
failure_limit = 1
metrics = ["click"]

[[gates]]
name = "p99 < 100ms"
kind = "threshold"
metric = "latency_p99"
max = 100.0
critical = true
min_samples = 50

[[gates]]
name = "errors"
kind = "proportion"
metric = "error_rate"
alpha = 0.01
min_samples = 50

[[gates]]
name = "click-through"
kind = "relative"
metric = "click"
min_ratio = 0.9
min_samples = 80
"#,
        bake.as_millis().max(1_000)
    ))?)
}

/// Users like one topic; they click when a recommendation is of that topic.
async fn generate_load(addr: SocketAddr) {
    let client = http_client();
    for _ in 0..8 {
        let client = client.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(25));
            loop {
                ticker.tick().await;
                let (user, history, topic) = {
                    let mut rng = rand::rng();
                    let user = rng.random_range(0..3_000usize);
                    let topic = user % TOPICS;
                    let history: Vec<usize> = (0..6)
                        .map(|_| rng.random_range(0..ITEMS / TOPICS) * TOPICS + topic)
                        .collect();
                    (user, history, topic)
                };
                let body = serde_json::json!({ "history": history });
                let url = format!("http://{addr}/api/v1/recommend");
                let Ok(req) = post_json(&url, Some(&format!("user-{user}")), &body) else {
                    continue;
                };
                let Ok(res) = client.request(req).await else {
                    continue;
                };
                if !res.status().is_success() {
                    continue;
                }
                let Ok(bytes) = res.into_body().collect().await.map(|b| b.to_bytes()) else {
                    continue;
                };
                let Ok(answer) = serde_json::from_slice::<RecommendResponse>(&bytes) else {
                    continue;
                };
                let clicked = answer.items.iter().any(|i| i % TOPICS == topic)
                    && rand::rng().random_bool(0.6)
                    || rand::rng().random_bool(0.05);
                let click = serde_json::json!({ "version": answer.version, "clicked": clicked });
                if let Ok(req) = post_json(&format!("http://{addr}/api/v1/click"), None, &click) {
                    let _ = client.request(req).await;
                }
            }
        });
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let canary = Canary::from_plan(plan(args.bake)?)?;
    let routing = canary.routing().clone();
    let middleware = canary.actix();
    let state = web::Data::new(AppState {
        catalog: Catalog::new(),
        regress: args.regress,
        routing: routing.clone(),
    });

    // Two workers, one shared canary state (routing handle and recorder).
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/api/v1/click", web::post().to(click))
            .service(
                web::scope("/api/v1/recommend")
                    .wrap(middleware.clone())
                    .route("", web::post().to(recommend)),
            )
    })
    .workers(2)
    .bind(("127.0.0.1", 0))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or("the server has no address")?;
    let handle = server.run();
    let server_handle = handle.handle();
    actix_web::rt::spawn(handle);

    println!(
        "fledge recommend: ranker v1 (popularity) -> v2 (co-occurrence) on http://{addr}/api/v1/recommend"
    );
    generate_load(addr).await;

    let result = follow(canary.controller(), args.bake * 12, |w| {
        format!(
            "{:>4} req ctr {:>5}",
            w.requests(),
            w.metric("click")
                .and_then(|m| m.mean())
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
        )
    })
    .await?;
    server_handle.stop(false).await;
    println!("result: {result}");
    Ok(())
}
