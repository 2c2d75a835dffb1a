//! Shared by the serving tests: a controller on a manual clock, an axum app
//! behind the canary layer served on loopback, and a hyper-util client.
//!
//! Time is the manual clock's: tests advance it and call `tick(now)`
//! explicitly, so nothing sleeps for timing.

#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bytes::Bytes;
use fledge_axum::{CanaryLayer, Version};
use fledge_gate::clock::ManualClock;
use fledge_rollout::control::TickReport;
use fledge_rollout::plan::Plan;
use fledge_rollout::{Controller, RolloutRouting};
use http_body_util::Full;

pub use fledge_tests::{HttpClient, client, serve};

/// The canary plan of the tests: 5 / 25 / 50 / 100 %, 10 s bake, a
/// generous latency threshold, an error-rate test, the first failure rolls
/// back.
pub fn plan() -> Plan {
    Plan::from_toml(
        r#"
name = "serving-test"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "10s"
failure_limit = 1
inconclusive_limit = 5

[sticky]
salt = "serving-test"

[[gates]]
name = "p99"
kind = "threshold"
metric = "latency_p99"
max = 2000.0
critical = true
min_samples = 20

[[gates]]
name = "errors"
kind = "proportion"
metric = "error_rate"
alpha = 0.01
min_samples = 20
"#,
    )
    .expect("the test plan is valid")
}

/// A rollout served over real HTTP on loopback.
pub struct Harness {
    pub controller: Arc<Controller>,
    pub clock: ManualClock,
    pub addr: SocketAddr,
    pub client: HttpClient,
    /// While set, v2 answers 500.
    pub fail_v2: Arc<AtomicBool>,
}

#[derive(Clone)]
struct AppState {
    fail_v2: Arc<AtomicBool>,
}

/// `GET /who`: the version's name; v2 answers 500 while `fail_v2` is set.
async fn who(version: Version, State(state): State<AppState>) -> (StatusCode, String) {
    if version.id() == "v2" && state.fail_v2.load(Ordering::Relaxed) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "v2 failed".to_owned());
    }
    (StatusCode::OK, format!("served by {}", version.id()))
}

/// `POST /echo`: echoes method, path, query and body, whatever the version.
async fn echo(uri: axum::http::Uri, body: String) -> String {
    format!(
        "path={} query={} body={body}",
        uri.path(),
        uri.query().unwrap_or("")
    )
}

pub fn app(routing: RolloutRouting, fail_v2: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/who", get(who))
        .route("/echo", post(echo))
        .with_state(AppState { fail_v2 })
        .layer(CanaryLayer::new(routing))
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(plan()).await
    }

    pub async fn start_with(plan: Plan) -> Harness {
        let (controller, clock) = fledge_tests::controller(plan);
        let fail_v2 = Arc::new(AtomicBool::new(false));
        let addr = serve(app(controller.routing().clone(), fail_v2.clone())).await;
        Harness {
            controller,
            clock,
            addr,
            client: client(),
            fail_v2,
        }
    }

    /// `GET /who` as `user`: (status, x-fledge-version, body).
    pub async fn who(&self, user: &str) -> (StatusCode, String, String) {
        get_who(&self.client, self.addr, user).await
    }

    /// One request per user, 32 at a time; returns the version each got.
    pub async fn who_all(&self, users: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(32) {
            let calls = chunk.iter().map(|u| self.who(u));
            for (_, version, _) in futures::future::join_all(calls).await {
                out.push(version);
            }
        }
        out
    }

    /// Advances the manual clock by `by` and ticks the controller at that time.
    pub fn tick_after(&self, by: Duration) -> TickReport {
        let now = self.clock.advance(by);
        self.controller.tick(now).expect("tick")
    }

    pub fn candidate_bps(&self) -> u32 {
        self.controller.traffic().candidate.bps()
    }
}

pub async fn get_who(
    client: &HttpClient,
    addr: SocketAddr,
    user: &str,
) -> (StatusCode, String, String) {
    let req = http::Request::get(format!("http://{addr}/who"))
        .header("x-user-id", user)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let reply = fledge_tests::call(client, req).await;
    (reply.status, reply.version, reply.body)
}

pub fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}
