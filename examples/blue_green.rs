//! Blue-green release of a search service behind axum.
//!
//! ```text
//! cargo run --release --example blue_green
//! ```
//!
//! Blue ranks documents by term overlap; green by TF-IDF. Both stay warm in
//! this process, held as `Arc`s in a version `VersionRegistry`; the canary layer
//! routes each request, and the handler loads the model behind the routed
//! side from the registry's `stable` / `canary` aliases (one atomic load, no
//! lock). The registry follows the rollout's events: a promotion points both
//! aliases at green, a switch back points them at blue (a rollback by
//! pointer), and once blue's keep-warm is over it is unregistered and its
//! model dropped. Three runs:
//!
//! 1. **Healthy green**: QA previews green with the `x-fledge-preview:
//!    green` header while users stay on blue; the pre-switch gate judges the
//!    preview traffic; one atomic switch moves everyone; green is watched,
//!    confirmed, and blue is released after its keep-warm period.
//! 2. **Green with a bug QA missed** (long queries fail): the preview
//!    passes, the switch happens, the switch gate sees the errors and the
//!    same tick switches everyone back to blue.
//! 3. **Operator switch back** while blue is still warm after confirmation.
//!
//! The plan comes from `BlueGreenBuilder`; the controller runs it like any
//! plan and `BlueGreenStatus::of` says where the release stands. Requests go
//! over real HTTP on loopback; time between ticks is simulated.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use fledge::rollout::control::BlueGreenStatus;
use fledge::rollout::plan::{BlueGreenBuilder, Plan};
use fledge::rollout::registry::{Alias, CANARY, STABLE, VersionRegistry};
use fledge_axum::{CanaryLayer, Version};
use fledge_examples::{HttpClient, http_client, send_all, serve_loopback};
use fledge_gate::clock::{Clock, ManualClock, Timestamp};
use fledge_gate::{CheckSpec, MetricRef, Test};
use fledge_rollout::{Controller, Event, EventKind};
use fledge_select::{VersionIndex, Weight};
use http_body_util::Full;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;

const WORDS: &[&str] = &[
    "rust", "tokio", "async", "trait", "borrow", "lifetime", "cargo", "crate", "macro", "enum",
    "struct", "match", "closure", "iterator", "vector", "string", "thread", "mutex", "channel",
    "future", "stream", "server", "client", "router", "layer", "service", "request", "response",
];

#[derive(Clone)]
struct Index {
    docs: Vec<HashMap<&'static str, f64>>,
    idf: HashMap<&'static str, f64>,
}

fn index(rng: &mut SmallRng) -> Index {
    let docs: Vec<HashMap<&'static str, f64>> = (0..300)
        .map(|_| {
            let mut tf = HashMap::new();
            for _ in 0..40 {
                *tf.entry(WORDS[rng.random_range(0..WORDS.len())])
                    .or_insert(0.0) += 1.0;
            }
            tf
        })
        .collect();
    let idf = WORDS
        .iter()
        .map(|w| {
            let df = docs.iter().filter(|d| d.contains_key(w)).count() as f64;
            (*w, ((docs.len() as f64 + 1.0) / (df + 1.0)).ln() + 1.0)
        })
        .collect();
    Index { docs, idf }
}

impl Index {
    /// Blue: term overlap. Green: TF-IDF cosine.
    fn search(&self, green: bool, terms: &[&str]) -> Vec<usize> {
        let mut scored: Vec<(f64, usize)> = self
            .docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let s = if green {
                    let dot: f64 = terms
                        .iter()
                        .map(|t| d.get(t).copied().unwrap_or(0.0) * self.idf[t] * self.idf[t])
                        .sum();
                    let norm: f64 = d
                        .iter()
                        .map(|(w, c)| (c * self.idf[w]).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    dot / norm.max(1e-9)
                } else {
                    terms.iter().map(|t| d.get(t).copied().unwrap_or(0.0)).sum()
                };
                (s, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(5).map(|(_, i)| i).collect()
    }
}

/// A search model, registered under its version.
struct Ranker {
    index: Index,
    /// TF-IDF (green) or term overlap (blue).
    tf_idf: bool,
    /// Fails on queries of 4 terms or more (green in run 2).
    fails_on_long_queries: bool,
}

#[derive(Clone)]
struct App {
    /// The routing's index of green, the candidate: requests routed there
    /// use the `canary` alias, the others `stable`.
    green: VersionIndex,
    stable: Alias<Ranker>,
    canary: Alias<Ranker>,
}

#[derive(Deserialize)]
struct Q {
    q: String,
}

async fn search(
    version: Version,
    State(app): State<App>,
    Query(q): Query<Q>,
) -> (StatusCode, String) {
    let terms: Vec<&str> =
        q.q.split(|c: char| c == '+' || c.is_whitespace())
            .filter_map(|t| WORDS.iter().find(|w| **w == t).copied())
            .collect();
    // Lock-free: one atomic load of the alias behind the routed side.
    let alias = if version.index() == app.green {
        &app.canary
    } else {
        &app.stable
    };
    let ranker = alias.load();
    if ranker.fails_on_long_queries && terms.len() >= 4 {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "index shard overflow".to_owned(),
        );
    }
    let hits = ranker.index.search(ranker.tf_idf, &terms);
    (StatusCode::OK, format!("{hits:?}"))
}

struct Run {
    controller: Controller,
    plan: Plan,
    registry: VersionRegistry<Ranker>,
    clock: ManualClock,
    addr: SocketAddr,
    client: HttpClient,
    rng: SmallRng,
}

fn max_errors(name: &str) -> CheckSpec {
    CheckSpec::new(
        MetricRef::ErrorRate,
        Test::Threshold {
            max: Some(0.02),
            min: None,
        },
    )
    .named(name)
    .min_samples(50)
}

impl Run {
    async fn start(green_bug: bool, seed: u64) -> Result<Run, Box<dyn std::error::Error>> {
        let plan = BlueGreenBuilder::new("search-green", "blue", "green")
            .preview_gate(max_errors("preview errors"))
            .preview_gate(
                CheckSpec::new(
                    MetricRef::LatencyQuantile(0.99),
                    Test::Threshold {
                        max: Some(50.0),
                        min: None,
                    },
                )
                .named("preview p99")
                .min_samples(50),
            )
            .switch_gate(max_errors("errors after the switch"))
            .preview_for(Duration::from_secs(300))
            .watch_for(Duration::from_secs(120))
            .keep_warm(Duration::from_secs(600))
            .build()?;
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let controller = Controller::builder(plan.clone())
            .clock(clock.clone())
            .build()?;
        let mut rng = SmallRng::seed_from_u64(seed);
        let docs = index(&mut rng);
        // Both models, registered by version; the aliases start at blue
        // (stable) and green (canary) and follow the rollout's events.
        let registry: VersionRegistry<Ranker> = VersionRegistry::new();
        let blue = Ranker {
            index: docs.clone(),
            tf_idf: false,
            fails_on_long_queries: false,
        };
        let green = Ranker {
            index: docs,
            tf_idf: true,
            fails_on_long_queries: green_bug,
        };
        registry.register("blue", Arc::new(blue))?;
        registry.register("green", Arc::new(green))?;
        let stable = registry.point(STABLE, "blue")?;
        let canary = registry.point(CANARY, "green")?;
        let follower = registry.clone();
        controller.subscribe_fn(move |event| {
            let _ = follower.follow(event, "blue", "green");
        });
        let routing = controller.routing().clone();
        let app = Router::new()
            .route("/search", get(search))
            .with_state(App {
                green: routing.candidate(),
                stable,
                canary,
            })
            .layer(CanaryLayer::new(routing));
        Ok(Run {
            controller,
            plan,
            registry,
            clock,
            addr: serve_loopback(app).await?,
            client: http_client(),
            rng,
        })
    }

    /// `n` queries (short ones for QA's preview) → (served by blue, by green, errors).
    async fn traffic(
        &mut self,
        n: usize,
        preview: bool,
    ) -> Result<(usize, usize, usize), Box<dyn std::error::Error>> {
        let mut reqs = Vec::with_capacity(n);
        for i in 0..n {
            let len = if preview {
                self.rng.random_range(1..=3)
            } else {
                self.rng.random_range(1..=6)
            };
            let q: Vec<&str> = (0..len)
                .map(|_| WORDS[self.rng.random_range(0..WORDS.len())])
                .collect();
            let mut req =
                http::Request::get(format!("http://{}/search?q={}", self.addr, q.join("+")))
                    .header("x-user-id", format!("user-{}", (i * 7919) % 5_000));
            if preview {
                let (name, value) = self.plan.preview_header().ok_or("no preview step")?;
                req = req.header(name, value);
            }
            reqs.push(req.body(Full::new(Bytes::new()))?);
        }
        let (mut blue, mut green, mut errors) = (0, 0, 0);
        for (version, status) in send_all(&self.client, reqs).await? {
            match version.as_str() {
                "green" => green += 1,
                _ => blue += 1,
            }
            if status.is_server_error() {
                errors += 1;
            }
        }
        Ok((blue, green, errors))
    }

    async fn show(
        &mut self,
        what: &str,
        n: usize,
        preview: bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let (blue, green, errors) = self.traffic(n, preview).await?;
        println!("  {what}: {n} requests → blue {blue}, green {green}, errors {errors}");
        Ok(())
    }

    fn tick(&self, after: u64) -> Result<(), Box<dyn std::error::Error>> {
        let now = self.clock.advance(Duration::from_secs(after));
        for e in self.controller.tick(now)?.events {
            print_event(&e);
        }
        println!("  status: {} ({})", self.status(), self.aliases());
        Ok(())
    }

    /// Where the registry's aliases point.
    fn aliases(&self) -> String {
        let at = |alias: &str| {
            self.registry
                .alias(alias)
                .map_or("-".to_owned(), |a| a.version())
        };
        format!("stable → {}, canary → {}", at(STABLE), at(CANARY))
    }

    /// Once blue may be released: unregisters it (refused while an alias
    /// still points at it) and drops the model.
    fn release_blue(&self) -> Result<(), Box<dyn std::error::Error>> {
        if self.status() != BlueGreenStatus::BlueReleasable {
            println!("  blue stays registered: {}", self.status());
            return Ok(());
        }
        let blue = self.registry.unregister("blue")?;
        println!(
            "  released blue: unregistered ({} handle left, dropped now); versions: {:?}",
            Arc::strong_count(&blue),
            self.registry.versions()
        );
        Ok(())
    }

    fn status(&self) -> BlueGreenStatus {
        BlueGreenStatus::of(&self.controller.state(), &self.plan, self.clock.now())
    }
}

fn short(status: &BlueGreenStatus) -> String {
    match status {
        BlueGreenStatus::BlueReleasable => {
            "green confirmed, blue released after keep-warm".to_owned()
        }
        BlueGreenStatus::SwitchedBack { reason } if reason.starts_with("gate failed") => {
            "switched back to blue by the switch gate in one tick".to_owned()
        }
        BlueGreenStatus::SwitchedBack { .. } => "switched back to blue by the operator".to_owned(),
        other => other.to_string(),
    }
}

/// The rollout events that matter in a blue-green release, in its words.
fn print_event(e: &Event) {
    let what = match e.kind {
        EventKind::StepTaken if e.weight == Weight::FULL => "switched to green",
        EventKind::AwaitingApproval => "preview passed, switch awaits approval",
        EventKind::Promoted => "green confirmed",
        EventKind::RolledBack => "switched back to blue",
        _ => return,
    };
    println!("  event: {}: {what}: {}", e.at, e.reason);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    println!(
        "blue-green: preview 5 min, watch 2 min after the switch, blue kept warm 10 min (simulated clock, real HTTP)\n"
    );

    println!("run 1: healthy green");
    let mut run = Run::start(false, 1).await?;
    run.show("users", 300, false).await?;
    run.show("QA preview (x-fledge-preview: green)", 80, true)
        .await?;
    run.tick(301)?;
    run.show("users after the switch", 300, false).await?;
    run.tick(121)?;
    run.show("users while blue is warm", 200, false).await?;
    run.tick(601)?;
    run.release_blue()?;
    let result1 = short(&run.status());

    println!("\nrun 2: green fails on long queries (QA only tried short ones)");
    let mut run = Run::start(true, 2).await?;
    run.show("users", 300, false).await?;
    run.show("QA preview (x-fledge-preview: green)", 80, true)
        .await?;
    run.tick(301)?;
    run.show("users after the switch", 300, false).await?;
    run.tick(1)?;
    run.show("users after the switch back", 300, false).await?;
    let result2 = short(&run.status());

    println!("\nrun 3: an operator switches back while blue is warm");
    let mut run = Run::start(false, 3).await?;
    run.show("QA preview (x-fledge-preview: green)", 80, true)
        .await?;
    run.tick(301)?;
    run.show("users after the switch", 200, false).await?;
    run.tick(121)?;
    let e = run
        .controller
        .rollback("oncall", Some("support tickets about result order"))?;
    print_event(&e);
    println!("  status: {} ({})", run.status(), run.aliases());
    run.show("users after the switch back", 200, false).await?;
    let result3 = short(&run.status());

    println!(
        "\nresult: run 1 {result1}; run 2 {result2}; run 3 {result3} ({:.1} s wall clock)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
