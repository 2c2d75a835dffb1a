//! Shadow mirroring over real HTTP: the shadow's responses never reach the
//! client, a slow (blocked) shadow does not hold up any client response,
//! in-flight shadow calls are bounded with the overflow dropped and counted,
//! request bodies reach the shadow intact (up to the size limit), and the
//! comparator's values land in the gate metric.

#[path = "serving/support.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use fledge_gate::clock::Timestamp;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split, Weight};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::FixedRouting;
use fledge_tower::shadow::{ShadowHandle, ShadowLayer};
use http_body_util::{BodyExt, Full};
use support::{client, serve};
use tokio::sync::Semaphore;

const BODY: &[u8] = b"{\"series\":[1,2,3,4]}";

async fn primary(body: Bytes) -> String {
    assert_eq!(&body[..], BODY, "the primary's body was changed");
    "10.0".to_owned()
}

async fn wait_idle(handle: &ShadowHandle) {
    for _ in 0..5_000 {
        if handle.in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("shadow calls still running: {handle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_is_invisible_bounded_and_compared() {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 0), ("v1", 10_000)]).expect("split"),
    ));
    let recorder =
        Arc::new(Recorder::new(RecorderConfig::new(2).metric("shadow_diff")).expect("recorder"));
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "shadow"),
        recorder.clone(),
    );

    // The shadow: blocked until the test releases it; checks the body copy.
    let gate = Arc::new(Semaphore::new(0));
    let shadow = {
        let gate = gate.clone();
        tower::service_fn(move |req: http::Request<Full<Bytes>>| {
            let gate = gate.clone();
            async move {
                let permit = gate.acquire().await;
                drop(permit);
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let (status, text) = if &body[..] == BODY {
                    (200, "12.5")
                } else {
                    (500, "bad body copy")
                };
                let mut res = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
                *res.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
                Ok::<_, Infallible>(res)
            }
        })
    };
    let layer = ShadowLayer::new(routes.clone(), "v2", shadow)
        .expect("layer")
        .share(Weight::FULL)
        .max_in_flight(8)
        .body_limit(1024)
        .compare("shadow_diff", |p, s| {
            let p: f64 = std::str::from_utf8(p).ok()?.parse().ok()?;
            let s: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
            Some((p - s).abs())
        })
        .expect("metric");
    let handle = layer.handle();
    let app = Router::new()
        .route("/predict", post(primary))
        .layer(layer)
        .layer(fledge_axum::CanaryLayer::new(routes.clone()));
    let addr = serve(app).await;
    let client = client();

    // 50 requests while the shadow is blocked: every one completes with the
    // primary's answer.
    let calls = (0..50).map(|i| {
        let client = client.clone();
        async move {
            let req = http::Request::post(format!("http://{addr}/predict"))
                .header("x-user-id", format!("u{i}"))
                .body(Full::new(Bytes::from_static(BODY)))
                .expect("request");
            let res = client.request(req).await.expect("response");
            let version = res.headers().get("x-fledge-version").cloned();
            let body = res.into_body().collect().await.expect("body").to_bytes();
            (version, body)
        }
    });
    let answers = futures::future::join_all(calls).await;
    for (version, body) in &answers {
        assert_eq!(version.as_ref().and_then(|v| v.to_str().ok()), Some("v1"));
        assert_eq!(&body[..], b"10.0", "a shadow response reached the client");
    }
    // The shadow is still blocked: at most 8 calls in flight, the rest dropped.
    let stats = handle.stats();
    assert_eq!(handle.in_flight(), 8);
    assert_eq!(stats.mirrored, 8);
    assert_eq!(stats.dropped, 42);

    // Release the shadow: its latency and the comparator's values are recorded.
    gate.add_permits(1_000);
    wait_idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(stats.errors, 0, "the shadow saw a broken body copy");
    assert_eq!(stats.compared, 8);
    let now = Timestamp::from_millis(1);
    let v2 = recorder
        .window(0, now, Duration::from_secs(60))
        .expect("window");
    assert_eq!(v2.requests(), 8);
    let diff = v2
        .metric("shadow_diff")
        .and_then(|m| m.mean())
        .expect("diff");
    assert!((diff - 2.5).abs() < 1e-9, "{diff}");
    let v1 = recorder
        .window(1, now, Duration::from_secs(60))
        .expect("window");
    assert_eq!(v1.requests(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_served_but_not_mirrored() {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 0), ("v1", 10_000)]).expect("split"),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).expect("recorder"));
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "shadow"),
        recorder.clone(),
    );
    let shadow = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
            b"shadow",
        ))))
    });
    let layer = ShadowLayer::new(routes.clone(), "v2", shadow)
        .expect("layer")
        .share(Weight::FULL)
        .body_limit(16);
    let handle = layer.handle();
    let app = Router::new()
        .route(
            "/len",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .layer(layer);
    let addr = serve(app).await;
    let client = client();
    for size in [8usize, 4096] {
        let req = http::Request::post(format!("http://{addr}/len"))
            .body(Full::new(Bytes::from(vec![b'x'; size])))
            .expect("request");
        let res = client.request(req).await.expect("response");
        let body = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], size.to_string().as_bytes());
    }
    wait_idle(&handle).await;
    let stats = handle.stats();
    assert_eq!(stats.mirrored, 2);
    assert_eq!(stats.skipped, 1, "{stats:?}");
    let v2 = recorder
        .window(0, Timestamp::from_millis(1), Duration::from_secs(60))
        .expect("window");
    assert_eq!(v2.requests(), 1);
}
