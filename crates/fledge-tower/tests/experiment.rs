//! An experiment's `ExperimentRouting` behind the layer: requests outside
//! the segment go to the control, the others by their sticky bucket, and
//! the layer counts exactly the exposures (in-segment, sticky, admitted).

use std::convert::Infallible;

use fledge_experiment::{AbTest, Condition, MetricSpec};
use fledge_gate::clock::Timestamp;
use fledge_tower::isolation::{Isolation, Overflow};
use fledge_tower::{CanaryLayer, Chosen, QaOverride, Reason, Settings};
use http::{Request, Response};
use tower::{Layer, ServiceExt};

const SECRET: &str = "0123456789abcdef0123";

fn ab() -> AbTest {
    AbTest::builder("exposures")
        .control("a", 50.0)
        .variant("b", 50.0)
        .metric(MetricSpec::conversion("buy"))
        .segment(Condition::header_equals("x-beta", "1"))
        .sequential(0.02)
        .build(Timestamp::from_millis(1_800_000_000_000))
        .expect("experiment")
}

fn request(user: Option<&str>, beta: bool, override_to: Option<&str>) -> Request<()> {
    let mut req = Request::builder();
    if let Some(user) = user {
        req = req.header("x-user-id", user);
    }
    if beta {
        req = req.header("x-beta", "1");
    }
    if let Some(version) = override_to {
        req = req.header("x-fledge-override", format!("{version}:{SECRET}"));
    }
    req.body(()).expect("request")
}

/// Echoes the chosen version and why.
async fn echo(req: Request<()>) -> Result<Response<Option<Chosen>>, Infallible> {
    Ok(Response::new(req.extensions().get::<Chosen>().copied()))
}

#[tokio::test]
async fn the_layer_counts_in_segment_sticky_requests_only() {
    let ab = ab();
    let routing = ab.routing().clone();
    let settings = Settings::new().qa_override(QaOverride::new(SECRET).expect("secret"));
    let layer = CanaryLayer::with_settings(routing.clone(), settings).expect("settings");
    let service = layer.layer(tower::service_fn(echo));
    let send = |req| {
        let service = service.clone();
        async move {
            service
                .oneshot(req)
                .await
                .expect("response")
                .into_body()
                .into_inner()
                .flatten()
                .expect("chosen")
        }
    };

    let mut exposed = [0u64; 2];
    for u in 0..200 {
        let chosen = send(request(Some(&format!("u{u}")), true, None)).await;
        assert_eq!(chosen.reason(), Reason::Sticky);
        exposed[chosen.index().get()] += 1;
    }
    assert!(exposed[0] > 0 && exposed[1] > 0, "{exposed:?}");
    // Outside the segment: the control, not an exposure.
    for u in 0..50 {
        let chosen = send(request(Some(&format!("u{u}")), false, None)).await;
        assert_eq!((chosen.id(), chosen.reason()), ("a", Reason::Targeted));
    }
    // No key (random), QA override: served, not exposures.
    for _ in 0..20 {
        assert_eq!(
            send(request(None, true, None)).await.reason(),
            Reason::Random
        );
        let forced = send(request(Some("tester"), true, Some("b"))).await;
        assert_eq!((forced.id(), forced.reason()), ("b", Reason::Override));
    }
    assert_eq!(routing.exposures(), exposed.to_vec());
}

#[tokio::test]
async fn overflow_to_the_control_is_not_an_exposure() {
    let ab = ab();
    let routing = ab.routing().clone();
    // "b" takes no request at all: a limit of one, held by a pending call.
    let isolation = Isolation::new()
        .concurrency("b", 1)
        .overflow("b", Overflow::Stable);
    let layer = CanaryLayer::with_settings(routing.clone(), Settings::new().isolation(isolation))
        .expect("isolation");
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    let hold_rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(hold_rx)));
    let service = layer.layer(tower::service_fn(move |req: Request<()>| {
        let hold_rx = hold_rx.clone();
        async move {
            let chosen = req.extensions().get::<Chosen>().copied();
            if chosen.map(|c| c.id()) == Some("b") {
                if let Some(rx) = hold_rx.lock().await.take() {
                    let _ = rx.await;
                }
            }
            Ok::<_, Infallible>(Response::new(chosen))
        }
    }));
    // Find a user on "b" and keep its request in flight.
    let on_b = (0..1_000)
        .map(|u| format!("u{u}"))
        .find(|u| {
            routing
                .assign(Some(u.as_bytes()), &[("x-beta", "1")][..])
                .variant
                .get()
                == 1
        })
        .expect("a user on b");
    let held = tokio::spawn(service.clone().oneshot(request(Some(&on_b), true, None)));
    tokio::task::yield_now().await;
    assert_eq!(routing.exposures(), vec![0, 1]);
    // The same user again: "b" is full, the request goes to the control.
    let res = service
        .clone()
        .oneshot(request(Some(&on_b), true, None))
        .await
        .expect("response");
    let chosen = res.into_body().into_inner().flatten().expect("chosen");
    assert_eq!((chosen.id(), chosen.reason()), ("a", Reason::Overflow));
    assert_eq!(routing.exposures(), vec![0, 1]);
    hold_tx.send(()).expect("release");
    held.await.expect("task").expect("response");
}
