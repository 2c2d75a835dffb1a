//! Shared by the isolation tests: a rollout on a manual clock whose plan
//! carries `limits`, an axum app behind the canary layer served on loopback,
//! users on either side of the split, and a hyper-util client.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use bytes::Bytes;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_rollout::plan::Plan;
use fledge_rollout::{Controller, Routing};
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const T0: u64 = 1_800_000_000_000;

/// A canary plan (v2 candidate at 5 % first, 10 s bake) with an error-rate
/// gate and `extra` TOML appended (e.g. a `[limits.v2]` table).
pub fn plan(extra: &str) -> Plan {
    Plan::from_toml(&format!(
        r#"
name = "isolation-test"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "10s"
failure_limit = 1

[sticky]
salt = "isolation-test"

[[gates]]
name = "errors"
kind = "proportion"
metric = "error_rate"
alpha = 0.01
min_samples = 20
{extra}
"#
    ))
    .expect("the test plan is valid")
}

pub fn controller(plan: Plan) -> (Arc<Controller>, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    let controller = Controller::builder(plan)
        .clock(clock.clone())
        .build()
        .expect("controller");
    (Arc::new(controller), clock)
}

/// `n` user ids the current split sends to the candidate (`true`) or to
/// stable (`false`).
pub fn users(routing: &Routing, candidate: bool, n: usize) -> Vec<String> {
    let bps = routing.traffic().candidate.bps();
    (0..)
        .map(|i| format!("user-{i}"))
        .filter(|u| (routing.bucket(u.as_bytes()) < bps) == candidate)
        .take(n)
        .collect()
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// What came back: status, `x-fledge-variant`, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub version: String,
    pub body: String,
}

pub async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    user: &str,
    body: &str,
) -> Reply {
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("x-user-id", user)
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let res = client.request(req).await.expect("response");
    let status = res.status();
    let version = res
        .headers()
        .get("x-fledge-variant")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        version,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(client: &HttpClient, addr: SocketAddr, path: &str, user: &str) -> Reply {
    send(client, addr, http::Method::GET, path, user, "").await
}

/// (requests, errors) recorded for version `index` since the start.
pub fn recorded(controller: &Controller, index: usize) -> (u64, u64) {
    let totals = controller
        .routing()
        .recorder()
        .totals(index)
        .expect("variant");
    (totals.requests, totals.errors)
}
