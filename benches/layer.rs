//! What the canary layer adds to a request.
//!
//! Group `layer`, all in one run, each an in-process axum hello-world
//! request (`GET /` → `"hello"`, with an `x-user-id` header) driven by
//! `oneshot` and polled once (the handler is synchronous):
//!
//! - `baseline_axum`: the router alone.
//! - `identity_layer`: the router behind a layer that does nothing
//!   (`tower::util::MapResponseLayer` with `identity`): what wrapping a
//!   service and its future costs any middleware.
//! - `fledge_layer`: `CanaryLayer` (default `Settings`: `Chosen` extension,
//!   `x-fledge-version` response header) wrapped around the router, reading
//!   the rollout controller's `RolloutRouting` at a 5 % step: key extraction,
//!   sticky hash, split load and pick, two clock reads, one recorder write.
//! - `fledge_layer_no_extension`: the same without the extension.
//! - `fledge_layer_lean`: the same without the extension and the header.
//!
//! Run with `cargo bench -p fledge-benches --bench layer`; the difference
//! `fledge_layer − baseline_axum` is the layer's cost per request.
//!
//! Instruction counts, which do not depend on the machine's load: with
//! `FLEDGE_LAYER_RUN=<name>:<requests>` the bench binary sends that many
//! requests through one of the services above (or runs one of the parts)
//! and exits, so that under callgrind
//! `(Ir(name:200000) − Ir(name:100000)) / 100000` is the count per request:
//!
//! ```text
//! FLEDGE_LAYER_RUN=fledge_layer:100000 valgrind --tool=callgrind \
//!     --callgrind-out-file=/dev/null target/release/deps/layer-<hash>
//! ```

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
use fledge_tower::{CanaryLayer, Settings};
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

/// Runs `f` for `0..n`: the only code callgrind counts in
/// `FLEDGE_LAYER_RUN` mode (`--toggle-collect='layer::measured*'`).
#[inline(never)]
fn measured(n: usize, mut f: impl FnMut(usize)) {
    for i in 0..n {
        f(i);
    }
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`): unlike
/// wall time, it leaves out the time other work on a shared machine kept
/// the thread waiting.
fn on_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// What `FLEDGE_LAYER_RUN` asks for: a bench name and a count.
type Run = Option<(String, usize)>;

/// Sends requests through `service`: timed by criterion, or, when `run`
/// names it, `n` of them inside `measured`.
fn bench<S>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    run: &Run,
    name: &str,
    service: S,
) where
    S: Service<Request<Body>> + Clone,
{
    let mut i = 0usize;
    part(c, run, name, || {
        i = i.wrapping_add(1);
        let out = ready(service.clone().oneshot(request(i)));
        black_box(out.is_some());
    });
}

/// Times `f` with criterion or, when `run` names it, runs it `n` times
/// inside `measured` and exits.
fn part(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    run: &Run,
    name: &str,
    mut f: impl FnMut(),
) {
    match run {
        Some((wanted, n)) if wanted == name => {
            let (start, cpu) = (std::time::Instant::now(), on_cpu_ns());
            measured(*n, |_| f());
            let n = (*n).max(1) as f64;
            let wall = start.elapsed().as_secs_f64() * 1e9 / n;
            match (cpu, on_cpu_ns()) {
                (Some(a), Some(b)) => {
                    println!(
                        "{name} {:.1} ns on cpu, {wall:.1} ns wall",
                        (b - a) as f64 / n
                    );
                }
                _ => println!("{name} {wall:.1} ns wall"),
            }
            std::process::exit(0);
        }
        Some(_) => {}
        None => {
            c.bench_function(name, |b| b.iter(&mut f));
        }
    }
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
    let run: Run = std::env::var("FLEDGE_LAYER_RUN").ok().map(|spec| {
        let (name, n) = spec.split_once(':').unwrap_or((&spec, "100000"));
        let n = n
            .parse()
            .unwrap_or_else(|e| panic!("FLEDGE_LAYER_RUN count: {e}"));
        (name.to_owned(), n)
    });

    let mut group = c.benchmark_group("layer");
    bench(&mut group, &run, "baseline_axum", app.clone());
    bench(
        &mut group,
        &run,
        "identity_layer",
        tower::util::MapResponseLayer::new(std::convert::identity).layer(app.clone()),
    );
    bench(
        &mut group,
        &run,
        "fledge_layer",
        CanaryLayer::new(routing.clone()).layer(app.clone()),
    );
    bench(
        &mut group,
        &run,
        "fledge_layer_no_extension",
        CanaryLayer::with_settings(routing.clone(), Settings::new().extension(false))
            .unwrap_or_else(|e| panic!("settings: {e}"))
            .layer(app.clone()),
    );
    bench(
        &mut group,
        &run,
        "fledge_layer_lean",
        CanaryLayer::with_settings(
            routing.clone(),
            Settings::new().extension(false).response_header(None),
        )
        .unwrap_or_else(|e| panic!("settings: {e}"))
        .layer(app),
    );

    // The parts, for reading the difference.
    let decider = fledge_tower::Decider::with_defaults(routing.clone());
    let req = request(7);
    part(&mut group, &run, "part_decide", || {
        black_box(decider.decide_http(req.uri(), req.headers(), req.extensions()));
    });
    let key = USERS[7].as_bytes();
    part(&mut group, &run, "part_resolve", || {
        black_box(routing.resolve(Some(black_box(key)), &()));
    });
    let bucketer = fledge_sticky::Bucketer::new(fledge_sticky::HashMode::Fledge, "bench");
    part(&mut group, &run, "part_hash", || {
        black_box(bucketer.bucket(black_box(key)));
    });
    let recorder = routing.recorder().clone();
    part(&mut group, &run, "part_record", || {
        recorder.record(0, black_box(std::time::Duration::from_micros(40)), false);
    });
    part(&mut group, &run, "part_two_clock_reads", || {
        let start = std::time::Instant::now();
        black_box(start.elapsed());
    });
    part(&mut group, &run, "part_stopwatch", || {
        let start = fledge_tower::Stopwatch::start();
        black_box(start.elapsed());
    });
    // A response like axum's "hello" (content type and length), without and
    // with the version header.
    let response = || {
        let mut res = http::Response::new(());
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(5u32));
        res
    };
    part(&mut group, &run, "part_response", || {
        black_box(response());
    });
    let (name, value) = (
        http::HeaderName::from_static("x-fledge-version"),
        http::HeaderValue::from_static("v2"),
    );
    part(&mut group, &run, "part_response_with_header", || {
        let mut res = response();
        res.headers_mut().insert(name.clone(), value.clone());
        black_box(res);
    });
    let shared = std::sync::Arc::new(decider);
    part(&mut group, &run, "part_arc_clone", || {
        drop(black_box(shared.clone()));
    });
    if let Some((name, _)) = run {
        panic!("FLEDGE_LAYER_RUN: unknown {name}");
    }
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
