//! Isolation incidents are logged as structured `tracing` events (target
//! `fledge_tower::isolation`), rate-limited per version and kind; the
//! normal path logs nothing. Captured by a test `Layer` installed as the
//! global subscriber (pool jobs log from their own threads), each test
//! using versions of its own.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_test::logs::{Capture, Line};
use fledge_tower::isolation::{Fallback, Isolation, Overflow, ReplayBody};
use fledge_tower::pool::VersionPool;
use fledge_tower::{CanaryLayer, Chosen, FixedRouting, QaOverride, Settings};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer as _, Registry};

/// The process's capture, installed once.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    static INSTALL: Once = Once::new();
    let capture = CAPTURE.get_or_init(Capture::with_spans);
    INSTALL.call_once(|| {
        let subscriber = Registry::default().with(capture.clone().with_filter(
            tracing_subscriber::filter::filter_fn(|meta| meta.target().starts_with("fledge_tower")),
        ));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
    capture
}

/// The lines named `name` whose `version` (or `header`) field is one of
/// `versions`.
fn lines(name: &str, versions: &[&str]) -> Vec<Line> {
    capture()
        .lines()
        .into_iter()
        .filter(|l| l.name == name)
        .filter(|l| {
            ["version", "header", "feature_flag.result.variant"]
                .iter()
                .any(|f| {
                    l.fields
                        .get(*f)
                        .is_some_and(|v| versions.contains(&v.as_str()))
                })
        })
        .collect()
}

fn all_for(versions: &[&str]) -> Vec<Line> {
    capture()
        .lines()
        .into_iter()
        .filter(|l| l.target == "fledge_tower::isolation")
        .filter(|l| l.fields.values().any(|v| versions.contains(&v.as_str())))
        .collect()
}

/// Every keyed request goes to `canary` (all the buckets); `stable` is
/// stable.
fn routes(canary: &str, stable: &str) -> FixedRouting {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([(canary, 10_000), (stable, 0)]).expect("split"),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).expect("recorder"));
    FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, canary), recorder)
}

fn request<B>(method: Method, body: B) -> Request<B> {
    Request::builder()
        .method(method)
        .uri("/item")
        .header("x-user-id", "user-1")
        .body(body)
        .expect("request")
}

fn id() -> &'static str {
    Chosen::current().map_or("", |c| c.id())
}

#[tokio::test]
async fn overflow_and_rejection_are_logged_once_per_window() {
    capture();
    let settings = Settings::new().isolation(
        Isolation::new()
            .concurrency("ov2", 1)
            .overflow("ov2", Overflow::Stable)
            .concurrency("ov1", 1),
    );
    let layer = CanaryLayer::with_settings(routes("ov2", "ov1"), settings).expect("settings");
    // Requests never finish: their slots stay taken.
    let mut service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(()))
    }));
    let held_v2 = service.call(request(Method::GET, ()));
    let held_v1 = service.call(request(Method::GET, ())); // ov2 full: on ov1
    let overflow = lines("tower.bulkhead_overflow", &["ov2"]);
    assert_eq!(overflow.len(), 1, "{overflow:#?}");
    let line = &overflow[0];
    assert_eq!(line.level, Level::INFO);
    assert_eq!(line.target, "fledge_tower::isolation");
    assert_eq!(
        (
            line.field("limit"),
            line.field("in_flight"),
            line.field("to")
        ),
        ("1", "1", "ov1")
    );
    assert_eq!(
        (line.field("overflowed"), line.field("suppressed")),
        ("1", "0")
    );

    // Both full: rejected with 503, 20 times, logged once.
    for _ in 0..20 {
        let res = service
            .call(request(Method::GET, ()))
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let rejected = lines("tower.bulkhead_rejected", &["ov1"]);
    assert_eq!(rejected.len(), 1, "{rejected:#?}");
    assert_eq!(rejected[0].level, Level::WARN);
    assert_eq!(
        (rejected[0].field("chosen"), rejected[0].field("rejected")),
        ("ov2", "1")
    );
    assert_eq!(lines("tower.bulkhead_overflow", &["ov2"]).len(), 1);
    drop((held_v2, held_v1));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_logged_with_its_method() {
    capture();
    let settings =
        Settings::new().isolation(Isolation::new().timeout("tv2", Duration::from_millis(100)));
    let layer = CanaryLayer::with_settings(routes("tv2", "tv1"), settings).expect("settings");
    let service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, Infallible>(Response::new(()))
    }));
    let res = service
        .oneshot(request(Method::PUT, ()))
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let timeouts = lines("tower.timeout", &["tv2"]);
    assert_eq!(timeouts.len(), 1, "{timeouts:#?}");
    let line = &timeouts[0];
    assert_eq!(line.level, Level::WARN);
    assert_eq!(
        (
            line.field("timeout_ms"),
            line.field("method"),
            line.field("fallback"),
            line.field("timeouts"),
        ),
        ("100", "PUT", "false", "1")
    );
}

#[tokio::test]
async fn the_first_panic_of_each_version_is_logged_then_limited() {
    capture();
    // Panics while polling (inside the handler's future).
    let layer = CanaryLayer::new(routes("pv2", "pv1"));
    let long = "x".repeat(300);
    let service = layer.layer(tower::service_fn(move |_req: Request<()>| {
        let long = long.clone();
        async move {
            if !long.is_empty() {
                panic!("{long}");
            }
            Ok::<_, Infallible>(Response::new(()))
        }
    }));
    for _ in 0..5 {
        let res = service
            .clone()
            .oneshot(request(Method::GET, ()))
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let panics = lines("tower.panic_contained", &["pv2"]);
    assert_eq!(panics.len(), 1, "{panics:#?}");
    assert_eq!(panics[0].level, Level::ERROR);
    assert_eq!(panics[0].field("panic"), "x".repeat(200));
    assert_eq!(panics[0].field("panics"), "1");

    // Panics in `call` (before any future exists).
    let layer = CanaryLayer::new(routes("cv2", "cv1"));
    let service = layer.layer(tower::service_fn(|_req: Request<()>| {
        panic!("no model loaded");
        #[allow(unreachable_code)]
        std::future::ready(Ok::<_, Infallible>(Response::new(())))
    }));
    let res = service
        .oneshot(request(Method::GET, ()))
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let panics = lines("tower.panic_contained", &["cv2"]);
    assert_eq!(panics.len(), 1, "{panics:#?}");
    assert_eq!(panics[0].field("panic"), "no model loaded");
}

/// v2 reads the body and fails; stable answers.
fn failing_candidate() -> impl Service<
    Request<ReplayBody<Full<Bytes>>>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Future + Send,
> + Clone {
    tower::service_fn(|req: Request<ReplayBody<Full<Bytes>>>| async move {
        let version = id();
        let _ = req.into_body().collect().await;
        let mut res = Response::new(version.to_owned());
        if version.ends_with("v2") {
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        Ok::<_, Infallible>(res)
    })
}

#[tokio::test]
async fn fallbacks_and_skipped_fallbacks_are_logged() {
    capture();
    let layer =
        CanaryLayer::new(routes("fv2", "fv1")).fallback(Fallback::idempotent().body_limit(8));
    let service = layer.layer(failing_candidate());
    let res = service
        .clone()
        .oneshot(request(
            Method::PUT,
            Full::new(Bytes::from_static(b"small")),
        ))
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    let fallbacks = lines("tower.fallback", &["fv2"]);
    assert_eq!(fallbacks.len(), 1, "{fallbacks:#?}");
    assert_eq!(fallbacks[0].level, Level::INFO);
    assert_eq!(
        (fallbacks[0].field("to"), fallbacks[0].field("cause")),
        ("fv1", "failure")
    );

    let res = service
        .oneshot(request(
            Method::PUT,
            Full::new(Bytes::from_static(b"a body over the limit")),
        ))
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let skipped = lines("tower.fallback_skipped", &["fv2"]);
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(skipped[0].level, Level::WARN);
    assert_eq!(
        (skipped[0].field("reason"), skipped[0].field("cause")),
        ("body", "failure")
    );
}

#[tokio::test]
async fn a_rejected_override_is_logged_without_its_value() {
    capture();
    let secret = "0123456789abcdef0123456789abcdef";
    let qa = QaOverride::new(secret)
        .expect("secret")
        .header("x-qa-incidents")
        .expect("header");
    let layer = CanaryLayer::with_settings(routes("qv2", "qv1"), Settings::new().qa_override(qa))
        .expect("settings");
    let service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(id()))
    }));
    let mut req = request(Method::GET, ());
    req.headers_mut().insert(
        "x-qa-incidents",
        "qv1:a-wrong-secret-of-some-length".parse().expect("value"),
    );
    let res = service.oneshot(req).await.expect("response");
    assert_eq!(
        res.into_body().into_inner(),
        Some("qv2"),
        "a wrong secret is ignored"
    );
    let rejected = lines("tower.qa_override_rejected", &["x-qa-incidents"]);
    assert_eq!(rejected.len(), 1, "{rejected:#?}");
    assert_eq!(rejected[0].level, Level::WARN);
    assert_eq!(rejected[0].field("reason"), "secret");
    assert!(
        rejected[0]
            .fields
            .values()
            .all(|v| !v.contains("wrong-secret") && !v.contains(secret)),
        "{:?}",
        rejected[0].fields
    );
}

#[tokio::test]
async fn the_normal_path_logs_nothing() {
    capture();
    let settings = Settings::new().isolation(
        Isolation::new()
            .concurrency("nv2", 64)
            .timeout("nv2", Duration::from_secs(5)),
    );
    let layer = CanaryLayer::with_settings(routes("nv2", "nv1"), settings).expect("settings");
    let service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(id()))
    }));
    for _ in 0..200 {
        let res = service
            .clone()
            .oneshot(request(Method::GET, ()))
            .await
            .expect("response");
        assert_eq!(res.into_body().into_inner(), Some("nv2"));
    }
    assert!(all_for(&["nv2", "nv1"]).is_empty());
}

#[tokio::test]
async fn a_full_or_panicking_pool_is_logged() {
    capture();
    let pool = VersionPool::builder("pool-v2")
        .threads(1)
        .queue(0)
        .build()
        .expect("pool");
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let busy = pool.run(move || {
        let _ = wait.recv();
    });
    // Give the job a moment to start, then fill the pool again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..3 {
        assert!(pool.run(|| ()).await.is_err(), "the pool is full");
    }
    release.send(()).expect("release");
    busy.await.expect("the first job ran");
    let full = lines("tower.pool_full", &["pool-v2"]);
    assert_eq!(full.len(), 1, "{full:#?}");
    assert_eq!(full[0].level, Level::WARN);

    for _ in 0..3 {
        let panicked = pool.run(|| panic!("the model fell over")).await;
        assert!(panicked.is_err());
    }
    let panics = lines("tower.pool_panicked", &["pool-v2"]);
    assert_eq!(panics.len(), 1, "{panics:#?}");
    assert_eq!(panics[0].level, Level::ERROR);
    assert_eq!(panics[0].field("panic"), "the model fell over");
}

/// Feature `otel`: a span per request with the feature-flag attributes.
#[cfg(feature = "otel")]
#[tokio::test]
async fn requests_carry_feature_flag_spans() {
    capture();
    let layer = CanaryLayer::with_settings(
        routes("ov-span2", "ov-span1"),
        Settings::new().flag_key("predict-rollout"),
    )
    .expect("settings");
    let service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    service
        .oneshot(request(Method::GET, ()))
        .await
        .expect("response");
    let spans = lines("fledge.request", &["ov-span2"]);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.target, "fledge_tower::request");
    assert_eq!(span.field("feature_flag.key"), "predict-rollout");
    assert_eq!(span.field("feature_flag.provider.name"), "fledge");
    assert_eq!(span.field("feature_flag.result.reason"), "sticky");
}
