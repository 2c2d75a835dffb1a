//! Overflow: with `overflow = "stable"` (the default) a request that finds
//! the candidate full is served by stable and counted against the candidate
//! in the gates (an error with zero latency), so a candidate that cannot
//! keep up fails its error-rate gate and is rolled back; with
//! `overflow = "reject"` it gets a 503. Real HTTP on loopback, explicit
//! ticks of a manual clock, a semaphore instead of sleeps.

#[path = "isolation/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use fledge_axum::Version;
use fledge_rollout::machine::{Outcome, PhaseName};
use fledge_tower::isolation::IsolationHandle;
use http::StatusCode;
use support::{Reply, client, controller, isolated, plan, recorded, serve, users};
use tokio::sync::Semaphore;

async fn work(version: Version, State(gate): State<Arc<Semaphore>>) -> String {
    if version.id() == "v2"
        && let Ok(permit) = gate.acquire().await
    {
        permit.forget();
    }
    format!("{}/{}", version.id(), version.reason())
}

/// Serves the plan's limits, floods 40 candidate users while v2 is held,
/// returns the first 38 replies (the overflow) and the handle; the 2 held
/// requests are released and drained.
async fn flood(limits: &str) -> (Arc<fledge_rollout::Controller>, Vec<Reply>, IsolationHandle) {
    let (controller, _clock) = controller(plan(limits));
    let routing = controller.routing().clone();
    let layer = isolated(&controller);
    let handle = layer.isolation_handle();
    let gate = Arc::new(Semaphore::new(0));
    let app = Router::new()
        .route("/work", get(work))
        .with_state(gate.clone())
        .layer(layer);
    let addr = serve(app).await;
    let client = client();
    let mut rx = support::flood(&client, addr, users(&routing, true, 40));
    let mut overflow = Vec::new();
    for _ in 0..38 {
        let reply = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("overflow is answered at once")
            .expect("reply");
        overflow.push(reply);
    }
    gate.add_permits(40);
    let mut held = Vec::new();
    while let Some(reply) = rx.recv().await {
        held.push(reply);
    }
    assert_eq!(held.len(), 2);
    assert!(
        held.iter()
            .all(|r| r.status == StatusCode::OK && r.version == "v2")
    );
    (controller, overflow, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_goes_to_stable_and_counts_against_the_candidate() {
    let (controller, overflow, handle) = flood("[limits.v2]\nconcurrency = 2\n").await;
    assert!(
        overflow
            .iter()
            .all(|r| r.status == StatusCode::OK && r.version == "v1" && r.body == "v1/overflow"),
        "{overflow:?}"
    );
    let stats = handle.stats("v2").expect("v2");
    assert_eq!((stats.overflowed, stats.rejected), (38, 0));

    // The gates: v2 (index 0) has 2 successes and 38 failures; v1 served
    // the 38 overflowed requests successfully.
    assert_eq!(recorded(&controller, 0), (40, 38));
    assert_eq!(recorded(&controller, 1), (38, 0));

    // The error-rate gate sees it: the next tick rolls v2 back.
    let now = controller.now();
    let report = controller
        .tick(fledge_gate::clock::Timestamp::from_millis(
            now.as_millis() + 1_000,
        ))
        .expect("tick");
    let judgement = report.judgement.expect("judged");
    assert_eq!(judgement.outcome, Outcome::Fail, "{judgement}");
    assert_eq!(report.state.phase.name(), PhaseName::RolledBack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_mode_answers_503_and_counts_it() {
    let (controller, overflow, handle) =
        flood("[limits.v2]\nconcurrency = 2\noverflow = \"reject\"\n").await;
    assert!(
        overflow
            .iter()
            .all(|r| r.status == StatusCode::SERVICE_UNAVAILABLE && r.version == "v2"),
        "{overflow:?}"
    );
    let stats = handle.stats("v2").expect("v2");
    assert_eq!((stats.overflowed, stats.rejected), (38, 38));
    assert_eq!(recorded(&controller, 0), (40, 38));
    // Nothing went to stable.
    assert_eq!(recorded(&controller, 1), (0, 0));
}
