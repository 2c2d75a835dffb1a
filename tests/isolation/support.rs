//! Shared by the isolation tests: a rollout on a manual clock whose plan
//! carries `limits`, an axum app behind the canary layer served on loopback,
//! users on either side of the split, and a hyper-util client.

#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use std::net::SocketAddr;

use bytes::Bytes;
use fledge_rollout::plan::Plan;
use fledge_rollout::{Controller, RolloutRouting};
use fledge_tower::isolation::Isolation;
use http_body_util::Full;
use tokio::sync::mpsc;

pub use fledge_tests::{HttpClient, Reply, client, controller, serve};

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

/// `n` user ids the current split sends to the candidate (`true`) or to
/// stable (`false`).
pub fn users(routing: &RolloutRouting, candidate: bool, n: usize) -> Vec<String> {
    let bps = routing.traffic().candidate.bps();
    (0..)
        .map(|i| format!("user-{i}"))
        .filter(|u| (routing.bucket(u.as_bytes()) < bps) == candidate)
        .take(n)
        .collect()
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
    fledge_tests::call(client, req).await
}

pub async fn get(client: &HttpClient, addr: SocketAddr, path: &str, user: &str) -> Reply {
    send(client, addr, http::Method::GET, path, user, "").await
}

/// The canary layer enforcing the plan's `limits`.
pub fn isolated(controller: &Controller) -> fledge_tower::CanaryLayer {
    let settings =
        fledge_tower::Settings::new().isolation(Isolation::from_plan(&controller.plan()));
    fledge_tower::CanaryLayer::with_settings(controller.routing().clone(), settings)
        .expect("isolation")
}

/// `GET /work` for every user at once, each on its own task; the replies
/// arrive on the channel as they come.
pub fn flood(
    client: &HttpClient,
    addr: SocketAddr,
    users: Vec<String>,
) -> mpsc::UnboundedReceiver<Reply> {
    let (tx, rx) = mpsc::unbounded_channel();
    for user in users {
        let (client, tx) = (client.clone(), tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(get(&client, addr, "/work", &user).await);
        });
    }
    rx
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
