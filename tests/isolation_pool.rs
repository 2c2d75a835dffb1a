//! Version pools: a candidate saturating its own bounded pool (its thread
//! busy, its queue full) gets a typed `Full` error, counted as overflow,
//! while stable's pool keeps all its threads for stable's work. Panics in
//! jobs are contained, abandoned jobs are skipped, the candidate's threads
//! run at a lower priority. Channels and barriers, no sleeps.

use std::convert::Infallible;
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use fledge_axum::{CanaryLayer, Version};
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::FixedRouting;
use fledge_tower::isolation::Fallback;
use fledge_tower::pool::{PoolError, Priority, VersionPool};
use http::StatusCode;
use std::sync::Arc;
use tower::ServiceExt;

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

/// The calling thread's nice value (Linux), from /proc/thread-self/stat.
fn nice() -> Option<i32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    // Fields after the name start at field 3 (state); nice is field 19.
    after.split(' ').nth(16)?.parse().ok()
}

const GUARD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_saturation_leaves_the_stable_pools_threads_free() {
    let stable = VersionPool::builder("v1")
        .threads(2)
        .queue(16)
        .build()
        .expect("pool");
    let candidate = VersionPool::builder("v2")
        .threads(1)
        .queue(2)
        .priority(Priority::Nice(19))
        .build()
        .expect("pool");

    // The candidate's only thread is held; its queue fills up.
    let (release, held) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let running = candidate.run(move || {
        let _ = started_tx.send(());
        let _ = held.recv();
        (thread_name(), nice())
    });
    started
        .recv_timeout(GUARD)
        .expect("the candidate's job started");
    let queued: Vec<_> = (0..2).map(|i| candidate.run(move || i)).collect();
    let refused = candidate.run(|| 99).await;
    assert_eq!(refused, Err(PoolError::Full { capacity: 2 }));
    assert_eq!(
        refused.unwrap_err().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let stats = candidate.stats();
    assert_eq!((stats.running, stats.queued, stats.overflowed), (1, 2, 1));

    // Meanwhile stable runs on both of its own threads, undisturbed.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            // Both jobs wait for each other: they can only finish if stable
            // has two free threads at once.
            stable.run(move || {
                barrier.wait();
                thread_name()
            })
        })
        .collect();
    for job in jobs {
        let name = tokio::time::timeout(GUARD, job)
            .await
            .expect("stable's jobs ran while the candidate was saturated")
            .expect("job");
        assert!(name.starts_with("fledge-v1-"), "{name}");
    }
    for i in 0..100 {
        let out = tokio::time::timeout(GUARD, stable.run(move || i * 2))
            .await
            .expect("stable answers")
            .expect("job");
        assert_eq!(out, i * 2);
    }
    assert_eq!(stable.stats().overflowed, 0);

    // Release the candidate: its running and queued jobs finish.
    release.send(()).expect("release");
    let (name, nice) = running.await.expect("job");
    assert!(name.starts_with("fledge-v2-"), "{name}");
    if cfg!(target_os = "linux") {
        assert_eq!(nice, Some(19), "the candidate's thread runs at nice 19");
    }
    for (i, job) in queued.into_iter().enumerate() {
        assert_eq!(job.await, Ok(i));
    }
    assert_eq!(candidate.stats().completed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_contains_panics_and_skips_abandoned_jobs() {
    let pool = VersionPool::builder("v2")
        .threads(1)
        .queue(4)
        .build()
        .expect("pool");
    let crashed = pool.run(|| -> u32 { panic!("model crashed") }).await;
    assert_eq!(
        crashed,
        Err(PoolError::Panicked {
            message: "model crashed".to_owned()
        })
    );
    // The thread survived.
    assert_eq!(pool.run(|| 7).await, Ok(7));

    // A job whose caller went away (e.g. its timeout fired) is skipped.
    let (release, held) = mpsc::channel::<()>();
    let blocker = pool.run(move || held.recv().is_ok());
    let abandoned = pool.run(|| unreachable!("an abandoned job never runs"));
    drop(abandoned);
    release.send(()).expect("release");
    assert_eq!(blocker.await, Ok(true));
    assert_eq!(pool.run(|| 8).await, Ok(8));
    let stats = pool.stats();
    assert_eq!((stats.panicked, stats.cancelled), (1, 1));

    // Dropping the last handle closes the queue and joins the threads after
    // the queued work is done.
    let queued = pool.run(|| 9);
    drop(pool);
    assert_eq!(queued.await, Ok(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_candidate_pool_falls_back_to_stable() {
    let stable = VersionPool::builder("v1")
        .threads(1)
        .queue(16)
        .build()
        .expect("pool");
    let candidate = VersionPool::builder("v2")
        .threads(1)
        .queue(0)
        .build()
        .expect("pool");
    let (release, held) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let blocker = candidate.run(move || {
        let _ = started_tx.send(());
        held.recv().is_ok()
    });
    started.recv_timeout(GUARD).expect("started");

    // Everyone on v2; its pool answers 503 when full, the fallback retries
    // on stable.
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 10_000), ("v1", 0)]).expect("split"),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).expect("recorder"));
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "p"),
        recorder.clone(),
    );
    let layer = CanaryLayer::new(routes).fallback(Fallback::idempotent());
    let handle = layer.isolation_handle();
    let pools = (stable.clone(), candidate.clone());
    let app = Router::new()
        .route(
            "/predict",
            get(move |version: Version| {
                let pool = if version.id() == "v2" {
                    pools.1.clone()
                } else {
                    pools.0.clone()
                };
                async move {
                    match pool.run(thread_name).await {
                        Ok(name) => Ok::<_, Infallible>((StatusCode::OK, name)),
                        Err(e) => Ok((e.status(), e.to_string())),
                    }
                }
            }),
        )
        .layer(layer);
    let res = app
        .oneshot(
            http::Request::get("/predict")
                .header("x-user-id", "u1")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-fledge-version"], "v1");
    assert_eq!(candidate.stats().overflowed, 1);
    assert_eq!(handle.stats("v2").expect("v2").fallbacks, 1);
    assert_eq!(recorder.totals(0).expect("v2").errors, 1);
    release.send(()).expect("release");
    assert_eq!(blocker.await, Ok(true));
}
