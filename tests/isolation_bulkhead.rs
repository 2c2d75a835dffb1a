//! A flood on the candidate: its bulkhead (the plan's
//! `limits.v2.concurrency`) bounds the requests in flight on v2, however
//! many arrive at once. Real HTTP on loopback; the v2 handler waits on a
//! semaphore the test opens, so nothing depends on sleeps.

#[path = "isolation/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use fledge_axum::Version;
use http::StatusCode;
use support::{client, controller, flood, isolated, plan, serve, users};
use tokio::sync::{Notify, Semaphore};

#[derive(Clone)]
struct Probe {
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    entered: Arc<AtomicUsize>,
    entered_note: Arc<Notify>,
    gate: Arc<Semaphore>,
}

async fn work(version: Version, State(probe): State<Probe>) -> (StatusCode, String) {
    if version.id() == "v2" {
        let now = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        probe.max.fetch_max(now, Ordering::SeqCst);
        probe.entered.fetch_add(1, Ordering::SeqCst);
        probe.entered_note.notify_one();
        // Held until the test opens the gate.
        if let Ok(permit) = probe.gate.acquire().await {
            permit.forget();
        }
        probe.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    (
        StatusCode::OK,
        format!("{}/{}", version.id(), version.reason()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_the_candidate_never_exceeds_its_concurrency_limit() {
    let (controller, _clock) = controller(plan("[limits.v2]\nconcurrency = 4\n"));
    let routing = controller.routing().clone();
    let layer = isolated(&controller);
    let handle = layer.isolation_handle();
    let probe = Probe {
        in_flight: Arc::default(),
        max: Arc::default(),
        entered: Arc::default(),
        entered_note: Arc::default(),
        gate: Arc::new(Semaphore::new(0)),
    };
    let app = Router::new()
        .route("/work", get(work))
        .with_state(probe.clone())
        .layer(layer);
    let addr = serve(app).await;
    let client = client();

    // 64 users of the candidate, all at once.
    let mut rx = flood(&client, addr, users(&routing, true, 64));

    // While v2's 4 slots are held, the other 60 are served by stable.
    let mut replies = Vec::new();
    for _ in 0..60 {
        let reply = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("overflow is answered without waiting for v2")
            .expect("reply");
        replies.push(reply);
    }
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::OK && r.version == "v1" && r.body == "v1/overflow"),
        "{replies:?}"
    );
    // All 4 slots are held (the overflow came after them) ...
    assert_eq!(handle.in_flight("v2"), 4);
    // ... and their handlers run (or are about to).
    while probe.entered.load(Ordering::SeqCst) < 4 {
        tokio::time::timeout(Duration::from_secs(30), probe.entered_note.notified())
            .await
            .expect("the admitted requests reach the handler");
    }
    assert_eq!(probe.entered.load(Ordering::SeqCst), 4);

    // Open the gate: the 4 held requests finish on v2.
    probe.gate.add_permits(64);
    while let Some(reply) = rx.recv().await {
        assert_eq!(
            (reply.status, reply.version.as_str(), reply.body.as_str()),
            (StatusCode::OK, "v2", "v2/sticky")
        );
        replies.push(reply);
    }
    assert_eq!(replies.len(), 64);
    assert_eq!(
        probe.max.load(Ordering::SeqCst),
        4,
        "in flight on v2 never above 4"
    );
    assert_eq!(handle.in_flight("v2"), 0);

    let stats = handle.stats("v2").expect("v2");
    assert_eq!(stats.limit, Some(4));
    assert_eq!(
        (stats.admitted, stats.overflowed, stats.rejected),
        (4, 60, 0)
    );
    // Stable has no limit: it served the overflow unbounded.
    assert_eq!(handle.stats("v1").expect("v1").limit, None);
}
