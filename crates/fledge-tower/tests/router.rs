//! VersionRouter and Canary behaviour with in-process services: routing by
//! split, faults counted against their own version, weight 0 reaches no one,
//! the no-key policies, and the announcement options.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::{Recorder, RecorderConfig, Window};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::{CanaryLayer, Chosen, FixedRouting, NoKey, Reason, Settings};
use http::{Request, Response, StatusCode};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceExt};

fn routes(v2_bps: u32) -> (FixedRouting, Arc<Selector>, Arc<Recorder>) {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", v2_bps), ("v1", 10_000 - v2_bps)]).unwrap(),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).unwrap());
    let routes = FixedRouting::new(
        selector.clone(),
        Bucketer::new(HashMode::Fledge, "t"),
        recorder.clone(),
    );
    (routes, selector, recorder)
}

fn window(recorder: &Recorder, i: usize) -> Window {
    recorder
        .window(i, Timestamp::from_millis(1), Duration::from_secs(60))
        .unwrap()
}

type Svc = BoxCloneSyncService<Request<String>, Response<String>, BoxError>;

/// A service answering `name` with `status`, counting its calls.
fn answering(name: &'static str, status: StatusCode, calls: Arc<AtomicUsize>) -> Svc {
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<String>| {
        calls.fetch_add(1, Ordering::Relaxed);
        let chosen = req.extensions().get::<Chosen>().map(|c| c.id());
        async move {
            assert_eq!(chosen, Some(name), "the extension names the routed version");
            let mut res = Response::new(name.to_owned());
            *res.status_mut() = status;
            Ok::<_, BoxError>(res)
        }
    }))
}

/// A service that is never ready: its `poll_ready` fails.
#[derive(Clone)]
struct Broken;

impl Service<Request<String>> for Broken {
    type Response = Response<String>;
    type Error = BoxError;
    type Future = Ready<Result<Response<String>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err("v2 is not ready".into()))
    }

    fn call(&mut self, _req: Request<String>) -> Self::Future {
        std::future::ready(Err("called without readiness".into()))
    }
}

fn req(user: Option<&str>) -> Request<String> {
    let mut b = Request::builder();
    if let Some(u) = user {
        b = b.header("x-user-id", u);
    }
    b.body(String::new()).unwrap()
}

#[tokio::test]
async fn routes_by_split_and_records_per_version() {
    let (routes, _, recorder) = routes(3_000);
    let (c1, c2) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let router = CanaryLayer::new(routes)
        .router([
            ("v1", answering("v1", StatusCode::OK, c1.clone())),
            (
                "v2",
                answering("v2", StatusCode::INTERNAL_SERVER_ERROR, c2.clone()),
            ),
        ])
        .unwrap();
    for i in 0..1_000 {
        let res = router
            .clone()
            .oneshot(req(Some(&format!("u{i}"))))
            .await
            .unwrap();
        let header = res.headers()["x-fledge-version"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(Some(&header), res.body().get_ref());
    }
    let (n1, n2) = (c1.load(Ordering::Relaxed), c2.load(Ordering::Relaxed));
    assert_eq!(n1 + n2, 1_000);
    assert!((200..400).contains(&n2), "{n2} of 1000 on v2 at 30 %");
    let (w2, w1) = (window(&recorder, 0), window(&recorder, 1));
    assert_eq!((w2.requests(), w2.errors()), (n2 as u64, n2 as u64));
    assert_eq!((w1.requests(), w1.errors()), (n1 as u64, 0));
}

#[tokio::test]
async fn an_unready_version_fails_alone_and_weight_zero_reaches_no_one() {
    let (routes, selector, recorder) = routes(5_000);
    let c1 = Arc::new(AtomicUsize::new(0));
    let router = CanaryLayer::new(routes)
        .router([
            ("v1", answering("v1", StatusCode::OK, c1.clone())),
            ("v2", BoxCloneSyncService::new(Broken)),
        ])
        .unwrap();
    let mut failed = 0;
    for i in 0..400 {
        match router.clone().oneshot(req(Some(&format!("u{i}")))).await {
            Ok(res) => assert_eq!(res.status(), StatusCode::OK),
            Err(_) => failed += 1,
        }
    }
    let (w2, w1) = (window(&recorder, 0), window(&recorder, 1));
    assert_eq!((w2.requests(), w2.errors()), (failed, failed));
    assert_eq!(w1.errors(), 0);
    assert_eq!(w1.requests(), c1.load(Ordering::Relaxed) as u64);

    // Rolled back: weight 0, no request reaches v2.
    selector
        .publish(Split::from_pairs([("v2", 0), ("v1", 10_000)]).unwrap())
        .unwrap();
    for i in 0..400 {
        let res = router.clone().oneshot(req(Some(&format!("u{i}")))).await;
        assert!(res.is_ok());
    }
    assert_eq!(window(&recorder, 0).requests(), failed);
}

#[tokio::test]
async fn no_key_policies() {
    let (routes, selector, _) = routes(5_000);
    let echo = tower::service_fn(|req: Request<String>| async move {
        let chosen = req.extensions().get::<Chosen>().copied().unwrap();
        Ok::<_, Infallible>(Response::new(format!(
            "{}/{}",
            chosen.id(),
            chosen.reason()
        )))
    });
    let stable = CanaryLayer::with_settings(routes.clone(), Settings::new().no_key(NoKey::Stable))
        .unwrap()
        .layer(echo);
    for _ in 0..50 {
        let res = stable.clone().oneshot(req(None)).await.unwrap();
        assert_eq!(res.headers()["x-fledge-version"], "v1");
    }
    // Promoted: "stable" is now the candidate.
    selector
        .publish(Split::from_pairs([("v2", 10_000), ("v1", 0)]).unwrap())
        .unwrap();
    let res = stable.clone().oneshot(req(None)).await.unwrap();
    assert_eq!(res.headers()["x-fledge-version"], "v2");
    selector
        .publish(Split::from_pairs([("v2", 5_000), ("v1", 5_000)]).unwrap())
        .unwrap();

    let random = CanaryLayer::new(routes).layer(echo);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let res = random.clone().oneshot(req(None)).await.unwrap();
        seen.insert(
            res.headers()["x-fledge-version"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen.len(), 2, "random picks reach both versions");
    assert_eq!(Reason::Random.as_str(), "random");
}

#[tokio::test]
async fn header_and_extension_can_be_turned_off() {
    let (routes, _, recorder) = routes(5_000);
    let handler = tower::service_fn(|req: Request<String>| async move {
        Ok::<_, Infallible>(Response::new(
            req.extensions().get::<Chosen>().is_some().to_string(),
        ))
    });
    let quiet = CanaryLayer::with_settings(
        routes,
        Settings::new().response_header(None).extension(false),
    )
    .unwrap()
    .layer(handler);
    let res = quiet.oneshot(req(Some("u1"))).await.unwrap();
    assert!(res.headers().get("x-fledge-version").is_none());
    assert_eq!(res.body().get_ref().map(String::as_str), Some("false"));
    // Still recorded.
    assert_eq!(
        window(&recorder, 0).requests() + window(&recorder, 1).requests(),
        1
    );
}

#[test]
fn router_configuration_errors() {
    let (routes, _, _) = routes(5_000);
    let ok = || answering("v1", StatusCode::OK, Arc::default());
    let missing = CanaryLayer::new(routes.clone()).router([("v1", ok())]);
    assert!(matches!(
        missing,
        Err(fledge_tower::ConfigError::MissingService { .. })
    ));
    let unknown = CanaryLayer::new(routes.clone()).router([("v1", ok()), ("v3", ok())]);
    assert!(matches!(
        unknown,
        Err(fledge_tower::ConfigError::UnknownVersion { .. })
    ));
    let twice = CanaryLayer::new(routes).router([("v1", ok()), ("v1", ok())]);
    assert!(matches!(
        twice,
        Err(fledge_tower::ConfigError::DuplicateService { .. })
    ));
}

#[tokio::test]
async fn a_panicking_version_is_counted_as_failing() {
    let routes_fn = routes;
    let (routes, _, recorder) = routes_fn(10_000);
    let v2 = BoxCloneSyncService::new(tower::service_fn(|_req: Request<String>| async move {
        if true {
            panic!("v2 crashed");
        }
        Ok::<_, BoxError>(Response::new(String::new()))
    }));
    let router = CanaryLayer::new(routes)
        .router([
            ("v1", answering("v1", StatusCode::OK, Arc::default())),
            ("v2", v2),
        ])
        .unwrap();
    // Contained: a 500 from the layer, counted and recorded as v2's failure.
    let handle = router.decider().isolation();
    let res = router.clone().oneshot(req(Some("u1"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["x-fledge-version"], "v2");
    assert_eq!(handle.stats("v2").unwrap().panics, 1);
    let w2 = window(&recorder, 0);
    assert_eq!((w2.requests(), w2.errors()), (1, 1));

    // Opted out: recorded, then propagated.
    let (routes2, _, recorder) = routes_fn(10_000);
    let v2 = BoxCloneSyncService::new(tower::service_fn(|_req: Request<String>| async move {
        if true {
            panic!("v2 crashed");
        }
        Ok::<_, BoxError>(Response::new(String::new()))
    }));
    let router = CanaryLayer::with_settings(routes2, Settings::new().catch_panics(false))
        .unwrap()
        .router([
            ("v1", answering("v1", StatusCode::OK, Arc::default())),
            ("v2", v2),
        ])
        .unwrap();
    let task = tokio::spawn(router.oneshot(req(Some("u1"))));
    assert!(task.await.unwrap_err().is_panic());
    let w2 = window(&recorder, 0);
    assert_eq!((w2.requests(), w2.errors()), (1, 1));
}

#[tokio::test]
async fn targeting_rules_of_the_plan_apply() {
    use fledge_gate::clock::ManualClock;
    use fledge_rollout::Controller;
    use fledge_rollout::plan::Plan;
    use fledge_tower::RequestAttributes;

    let plan = Plan::from_toml(
        r#"
name = "targeting"
baseline = "v1"
candidate = "v2"
steps = [5, 100]
interval = "10s"
targeting = [
  { header = "x-tester", equals = "yes", version = "v2" },
  { attribute = "region", in = ["eu-west-1"], version = "v2" },
]
"#,
    )
    .unwrap();
    let controller = Controller::builder(plan)
        .clock(ManualClock::new(Timestamp::from_millis(1_000)))
        .build()
        .unwrap();
    let handler = tower::service_fn(|req: Request<String>| async move {
        let chosen = req.extensions().get::<Chosen>().copied().unwrap();
        Ok::<_, Infallible>(Response::new(format!(
            "{}/{}",
            chosen.id(),
            chosen.reason()
        )))
    });
    let svc = CanaryLayer::new(controller.routing().clone()).layer(handler);
    let mut targeted = 0;
    for i in 0..100 {
        let mut r = req(Some(&format!("u{i}")));
        match i % 3 {
            0 => {
                r.headers_mut().insert("x-tester", "yes".parse().unwrap());
            }
            1 => {
                r.extensions_mut()
                    .insert(RequestAttributes::new().with("region", "eu-west-1"));
            }
            _ => {}
        }
        let res = svc.clone().oneshot(r).await.unwrap();
        let body = res.body().get_ref().cloned().unwrap_or_default();
        if i % 3 < 2 {
            assert_eq!(body, "v2/targeted");
            targeted += 1;
        } else {
            assert!(body.ends_with("/sticky"), "{body}");
        }
    }
    assert_eq!(targeted, 67);
}

#[test]
fn the_shadow_share_follows_the_plans_mirror_step() {
    use fledge_gate::clock::ManualClock;
    use fledge_rollout::Controller;
    use fledge_rollout::plan::Plan;
    use fledge_select::Weight;
    use fledge_tower::shadow::ShadowLayer;

    let plan = Plan::from_toml(
        r#"
name = "shadow-first"
baseline = "v1"
candidate = "v2"
steps = [{ weight = 0, mirror = 100 }, 5, 100]
interval = "10s"
"#,
    )
    .unwrap();
    let controller = Controller::builder(plan)
        .clock(ManualClock::new(Timestamp::from_millis(1_000)))
        .build()
        .unwrap();
    let shadow = tower::service_fn(|_req: Request<http_body_util::Full<bytes::Bytes>>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let layer = ShadowLayer::new(controller.routing().clone(), "v2", shadow).unwrap();
    let handle = layer.handle();
    assert_eq!(handle.share(), Weight::FULL);
    let fixed = ShadowLayer::new(controller.routing().clone(), "v2", ())
        .unwrap()
        .follow_routes(false)
        .share(Weight::from_percent(10.0).unwrap());
    assert_eq!(fixed.handle().share(), Weight::from_percent(10.0).unwrap());
    assert!(ShadowLayer::new(controller.routing().clone(), "v3", ()).is_err());
}
