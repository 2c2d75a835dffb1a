//! A candidate that takes longer than its timeout (the plan's
//! `limits.v2.timeout`) is abandoned: its future is dropped, the client gets
//! a 504 (or, with a fallback, stable's answer), and the gates count a
//! failure. In process, on tokio's paused clock: no test waits for real.

#[path = "isolation/support.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fledge_tower::isolation::{Fallback, Isolation};
use fledge_tower::{CanaryLayer, Chosen, Settings};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use support::{controller, isolated, plan, recorded, users};
use tower::{Layer, ServiceExt};

/// Counts the handler futures dropped before they finished.
struct DropProbe(Arc<AtomicUsize>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn request(user: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri("/forecast")
        .header("x-user-id", user)
        .body(Full::new(Bytes::new()))
        .expect("request")
}

/// v2 takes 10 s, v1 answers at once.
fn handler(
    dropped: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<fledge_tower::isolation::ReplayBody<Full<Bytes>>>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |req: Request<_>| {
        let dropped = dropped.clone();
        async move {
            let chosen = req.extensions().get::<Chosen>().copied();
            let id = chosen.map_or("", |c| c.id());
            if id == "v2" {
                let probe = DropProbe(dropped);
                tokio::time::sleep(Duration::from_secs(10)).await;
                std::mem::forget(probe);
            }
            Ok::<_, Infallible>(Response::new(id.to_owned()))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_candidate_timeout_is_a_failure() {
    let (controller, _clock) = controller(plan("[limits.v2]\ntimeout = \"100ms\"\n"));
    let routing = controller.routing().clone();
    let layer = isolated(&controller);
    let handle = layer.isolation_handle();
    let dropped = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(tower::service_fn({
        let dropped = dropped.clone();
        move |req: Request<Full<Bytes>>| {
            let dropped = dropped.clone();
            async move {
                let id = req.extensions().get::<Chosen>().map_or("", |c| c.id());
                if id == "v2" {
                    let probe = DropProbe(dropped);
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    std::mem::forget(probe);
                }
                Ok::<_, Infallible>(Response::new(id.to_owned()))
            }
        }
    }));

    let v2_user = users(&routing, true, 1).remove(0);
    let started = tokio::time::Instant::now();
    let res = service
        .clone()
        .oneshot(request(&v2_user))
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.headers()["x-fledge-version"], "v2");
    // Abandoned at the deadline, its future dropped.
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(handle.stats("v2").expect("v2").timeouts, 1);
    assert_eq!(recorded(&controller, 0), (1, 1));

    // Stable has no timeout and is not affected.
    let v1_user = users(&routing, false, 1).remove(0);
    let res = service.oneshot(request(&v1_user)).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(recorded(&controller, 1), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_candidate_timeout_falls_back_to_stable_where_enabled() {
    let (controller, _clock) = controller(plan(""));
    let routing = controller.routing().clone();
    let settings =
        Settings::new().isolation(Isolation::new().timeout("v2", Duration::from_millis(250)));
    let layer = CanaryLayer::with_settings(routing.clone(), settings)
        .expect("isolation")
        .fallback(Fallback::idempotent());
    let handle = layer.isolation_handle();
    let dropped = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(handler(dropped.clone()));

    let v2_user = users(&routing, true, 1).remove(0);
    let started = tokio::time::Instant::now();
    let res = service.oneshot(request(&v2_user)).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-fledge-version"], "v1");
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    let stats = handle.stats("v2").expect("v2");
    assert_eq!((stats.timeouts, stats.fallbacks), (1, 1));
    assert_eq!(recorded(&controller, 0), (1, 1));
    assert_eq!(recorded(&controller, 1), (1, 0));
}
