//! What the canary layer adds to a request.
//!
//! Group `layer`, all in one run, each an in-process axum hello-world
//! request (`GET /` → `"hello"`, with an `x-user-id` header) driven by
//! `oneshot` and polled once (the handler is synchronous):
//!
//! - `baseline_axum`: the router alone.
//! - `fledge_layer`: `CanaryLayer` (defaults: `Chosen` extension,
//!   `x-fledge-variant` response header) wrapped around the router, reading
//!   the rollout controller's `Routing` at a 5 % step: key extraction,
//!   sticky hash, split load and pick, two clock reads, one recorder write.
//! - `fledge_layer_lean`: the same without the extension and the header.
//!
//! Run with `cargo bench -p fledge-benches --bench layer`; the difference
//! `fledge_layer − baseline_axum` is the layer's cost per request.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use fledge_rollout::Controller;
use fledge_rollout::plan::Plan;
use fledge_tower::CanaryLayer;
use http::Request;
use tower::{Layer, Service, ServiceExt};

/// Polls a future that is expected to be ready at once.
fn ready<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn request(i: usize) -> Request<Body> {
    let mut req = Request::new(Body::empty());
    req.headers_mut()
        .insert("x-user-id", USERS[i % USERS.len()].clone());
    req
}

static USERS: std::sync::LazyLock<Vec<http::HeaderValue>> = std::sync::LazyLock::new(|| {
    (0..1024)
        .map(|i| {
            http::HeaderValue::from_str(&format!("5f3c9a1e-0000-4000-8000-{i:012}"))
                .unwrap_or(http::HeaderValue::from_static("u"))
        })
        .collect()
});

fn bench<S>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    service: S,
) where
    S: Service<Request<Body>> + Clone,
{
    let mut i = 0usize;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let out = ready(service.clone().oneshot(request(i)));
            black_box(out.is_some())
        })
    });
}

fn layer(c: &mut Criterion) {
    let plan = Plan::canary("bench", "v1", "v2")
        .build()
        .unwrap_or_else(|e| panic!("bench plan: {e}"));
    let controller = Controller::builder(plan)
        .build()
        .unwrap_or_else(|e| panic!("controller: {e}"));
    let routing = controller.routing().clone();
    let app: Router = Router::new().route("/", get(|| async { "hello" }));

    if std::env::var_os("FLEDGE_BENCH_SIZES").is_some() {
        let canary = CanaryLayer::new(routing.clone()).layer(app.clone());
        eprintln!(
            "future sizes: router {} B, canary {} B",
            std::mem::size_of_val(&app.clone().oneshot(request(0))),
            std::mem::size_of_val(&canary.oneshot(request(0)))
        );
    }
    let mut group = c.benchmark_group("layer");
    bench(&mut group, "baseline_axum", app.clone());
    bench(
        &mut group,
        "fledge_layer",
        CanaryLayer::new(routing.clone()).layer(app.clone()),
    );
    bench(
        &mut group,
        "fledge_layer_lean",
        CanaryLayer::new(routing)
            .extension(false)
            .response_header(None)
            .layer(app),
    );

    // The parts, for reading the difference.
    let decider = fledge_tower::Decider::new(controller.routing().clone());
    let req = request(7);
    group.bench_function("part_decide", |b| {
        b.iter(|| black_box(decider.decide_http(req.uri(), req.headers(), req.extensions())))
    });
    let recorder = controller.routing().recorder().clone();
    group.bench_function("part_record", |b| {
        b.iter(|| recorder.record(0, black_box(std::time::Duration::from_micros(40)), false))
    });
    group.bench_function("part_two_clock_reads", |b| {
        b.iter(|| {
            let start = std::time::Instant::now();
            black_box(start.elapsed())
        })
    });
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
