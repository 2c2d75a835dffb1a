//! The request path allocates nothing of its own: a counting global
//! allocator watches routing decisions, and whole requests through the layer
//! next to the same requests sent to the inner service alone.
//! Only this thread's allocations count (`allocation_counter::measure`), so the
//! test harness and other tests allocating meanwhile cannot fail it.
//!
//! The [`Chosen`](fledge_tower::Chosen) extension is left out: `http` boxes
//! every extension value, so inserting it is one allocation (documented).

use std::convert::Infallible;
use std::future::{self, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use fledge_rollout::Controller;
use fledge_rollout::plan::Plan;
use fledge_tower::{CanaryLayer, Decider, NoKey, Settings};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response};
use tower::{Layer, ServiceExt};

/// Polls a future that is ready at once.
fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("not ready"),
    }
}

/// Allocations made by `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

#[test]
fn the_request_path_allocates_nothing() {
    // The counter is live: a box on this thread is seen.
    let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(
        boxed.count_total, 1,
        "the counting allocator is not installed"
    );
    let plan = Plan::canary("no-alloc", "v1", "v2").build().expect("plan");
    let controller = Controller::builder(plan).build().expect("controller");
    let routing = controller.routing().clone();
    let requests: Vec<Request<()>> = (0..1_000)
        .map(|i| {
            Request::builder()
                .header("x-user-id", format!("user-{i}"))
                .body(())
                .expect("request")
        })
        .collect();
    let anonymous = Request::new(());

    // The routing decision: key, sticky bucket, split, pick; or a random
    // pick without a key.
    let decider = Decider::new(routing.clone(), Settings::new()).expect("decider");
    let stable =
        Decider::new(routing.clone(), Settings::new().no_key(NoKey::Stable)).expect("decider");
    let decide =
        |req: &Request<()>, d: &Decider| d.decide_http(req.uri(), req.headers(), req.extensions());
    decide(&anonymous, &decider); // first use on this thread
    let n = allocations(|| {
        for req in &requests {
            std::hint::black_box(decide(req, &decider));
            std::hint::black_box(decide(&anonymous, &decider));
            std::hint::black_box(decide(&anonymous, &stable));
        }
    });
    assert_eq!(n, 0, "routing decisions allocated");

    // Whole requests: the layer (response header on, extension off) adds no
    // allocation to what the inner service makes.
    let inner = tower::service_fn(|_req: Request<()>| {
        let mut res = Response::new(());
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        future::ready(Ok::<_, Infallible>(res))
    });
    let layered = CanaryLayer::with_settings(routing.clone(), Settings::new().extension(false))
        .expect("settings")
        .layer(inner);
    let send_all = |requests: Vec<Request<()>>, through_layer: bool| {
        allocations(|| {
            for req in requests {
                if through_layer {
                    let res = ready(layered.clone().oneshot(req)).expect("response");
                    assert!(res.headers().contains_key("x-fledge-version"));
                } else {
                    std::hint::black_box(ready(inner.oneshot(req)).expect("response"));
                }
            }
        })
    };
    ready(layered.clone().oneshot(Request::new(()))).expect("warm up");
    let alone = send_all(requests.clone(), false);
    let with_layer = send_all(requests, true);
    assert_eq!(with_layer, alone, "the layer allocated");
    let served: u64 = (0..2)
        .map(|i| routing.recorder().totals(i).expect("totals").requests)
        .sum();
    assert_eq!(served, 1_001);
}
