//! Memory does not grow with the number of distinct users.
//!
//! Routes 10,000,000 distinct user ids through the real request path, in
//! process: the `CanaryLayer` (with a bulkhead and a timeout on the
//! candidate, as in production) around a trivial handler, reading a rollout
//! controller's `RolloutRouting` at a 25 % step. Each request is built, routed
//! (key → sticky bucket → split → bulkhead → handler → recorder) and
//! dropped. Resident memory is read from /proc/self/status before and after
//! (after a warm-up of 10,000 keys, so that one-time allocations such as the
//! recorder's first histogram writes are not counted as growth).
//!
//! Run with `cargo run --release --example many_keys`; the last line is
//! `rss_growth_bytes=<n>`. Options: `--keys N`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use clap::Parser;
use fledge::{Canary, Plan};
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

#[derive(Parser, Debug)]
#[command(about = "Route N distinct keys and report resident memory growth")]
struct Args {
    /// Distinct keys to route.
    #[arg(long, default_value_t = 10_000_000)]
    keys: u64,
}

/// Resident memory in bytes (Linux: VmRSS of /proc/self/status).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Polls a future that is ready at once (the handler is synchronous).
fn now_or_never<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let plan = Plan::from_toml(
        r#"
name = "many-keys"
baseline = "v1"
candidate = "v2"
steps = [25, 50, 100]
interval = "30s"

[limits.v2]
concurrency = 64
timeout = "250ms"
"#,
    )?;
    // The controller and the layer, the plan's limits applied.
    let canary = Canary::from_plan(plan)?;
    let routing = canary.routing().clone();
    let layer = canary.layer();
    let handle = canary.isolation();
    let mut service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));

    let mut key = String::with_capacity(32);
    let mut served = [0u64; 2];
    let mut route = |i: u64| -> Result<(), Box<dyn std::error::Error>> {
        key.clear();
        // Distinct, UUID-shaped ids.
        write!(key, "5f3c9a1e-{:04x}-4000-8000-{:012}", i >> 32, i)?;
        let mut req = Request::new(());
        req.headers_mut()
            .insert("x-user-id", HeaderValue::from_str(&key)?);
        let res = now_or_never(service.call(req)).ok_or("the handler is synchronous")??;
        let version = res
            .headers()
            .get("x-fledge-version")
            .map(HeaderValue::as_bytes);
        served[usize::from(version == Some(b"v2"))] += 1;
        Ok(())
    };

    let start_rss = rss_bytes().ok_or("cannot read /proc/self/status")?;
    // Warm-up: one-time allocations (recorder cells, thread-locals).
    let warm_up = 10_000u64.min(args.keys);
    for i in 0..warm_up {
        route(u64::MAX - i)?;
    }
    let before = rss_bytes().ok_or("cannot read /proc/self/status")?;
    let started = Instant::now();
    for i in 0..args.keys {
        route(i)?;
    }
    let elapsed = started.elapsed();
    let after = rss_bytes().ok_or("cannot read /proc/self/status")?;

    let per_request = elapsed.as_nanos() / u128::from(args.keys.max(1));
    let v2 = handle.stats("v2").ok_or("v2")?;
    println!(
        "routed {} distinct keys in {:.1} s ({per_request} ns per request, in process): \
         v1 {} / v2 {} ({:.2} % on the candidate), v2 bulkhead admitted {}",
        args.keys,
        elapsed.as_secs_f64(),
        served[0],
        served[1],
        100.0 * served[1] as f64 / (served[0] + served[1]).max(1) as f64,
        v2.admitted
    );
    println!(
        "resident memory: {:.2} MiB at start, {:.2} MiB after {warm_up} warm-up keys, \
         {:.2} MiB after {} more keys",
        start_rss as f64 / 1_048_576.0,
        before as f64 / 1_048_576.0,
        after as f64 / 1_048_576.0,
        args.keys
    );
    let totals = routing.recorder().totals(0)?.requests + routing.recorder().totals(1)?.requests;
    if totals != args.keys + warm_up {
        return Err(format!(
            "{totals} requests recorded, expected {}",
            args.keys + warm_up
        )
        .into());
    }
    println!(
        "rss_growth_bytes={}",
        i128::from(after) - i128::from(before)
    );
    Ok(())
}
