//! The Version extractor and the feedback route: the request id names the
//! version and carries the prediction, so feedback is joined without state.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use fledge_axum::{CanaryLayer, Feedback, REQUEST_ID_HEADER, RequestId, Version};
use fledge_gate::clock::Timestamp;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::FixedRouting;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn predict(version: Version) -> (RequestId, String) {
    let forecast = if version.id() == "v2" { 10.0 } else { 20.0 };
    (
        version.request_id(&format!("{forecast}")),
        format!("{forecast}"),
    )
}

async fn without_layer(version: Option<Version>) -> String {
    format!("{:?}", version.map(|v| v.id()))
}

#[tokio::test]
async fn feedback_is_joined_through_the_request_id() {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 5_000), ("v1", 5_000)]).unwrap(),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2).metric("abs_error")).unwrap());
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "fb"),
        recorder.clone(),
    );
    let feedback = Feedback::new(routes.clone(), "abs_error")
        .unwrap()
        .score(|forecast, actual| Some((forecast.parse::<f64>().ok()? - actual).abs()));
    let app = Router::new()
        .route("/predict", post(predict))
        .layer(CanaryLayer::new(routes.clone()))
        .route("/plain", post(without_layer))
        .merge(feedback.router());

    let mut answered = [0u64; 2];
    for i in 0..200 {
        let req = Request::post("/predict")
            .header("x-user-id", format!("u{i}"))
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let id = res.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let (version, payload) = RequestId::parse(&id).unwrap();
        assert_eq!(version, res.headers()["x-fledge-version"]);
        answered[usize::from(version == "v1")] += 1;
        let body = format!("{{\"request_id\":\"{id}\",\"value\":15.0}}");
        let req = Request::post("/feedback")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "payload {payload}");
    }
    // Both versions were 5 away from the actual value.
    let now = Timestamp::from_millis(1);
    for (i, n) in answered.iter().enumerate() {
        let w = recorder.window(i, now, Duration::from_secs(60)).unwrap();
        let m = w.metric("abs_error").unwrap();
        assert_eq!(m.count(), *n);
        assert!((m.mean().unwrap() - 5.0).abs() < 1e-9);
    }

    // Bad ids, unknown versions and non-numeric payloads are refused.
    for (body, status) in [
        (
            r#"{"request_id":"nonsense","value":1.0}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"request_id":"v9~0123456789abcdef~1","value":1.0}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"request_id":"v1~0123456789abcdef~abc","value":1.0}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let req = Request::post("/feedback")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        assert_eq!(
            app.clone().oneshot(req).await.unwrap().status(),
            status,
            "{body}"
        );
    }

    // Outside the layer the optional extractor sees nothing.
    let res = app
        .clone()
        .oneshot(Request::post("/plain").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"None");
    assert!(Feedback::new(routes, "missing").is_err());
}

/// The application's own state, which its handlers extract.
#[derive(Clone)]
struct AppState {
    unit: &'static str,
}

async fn with_state(
    axum::extract::State(state): axum::extract::State<AppState>,
    version: Version,
) -> String {
    format!("{} {}", version.id(), state.unit)
}

#[tokio::test]
async fn the_feedback_router_merges_into_an_app_with_state() {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 5_000), ("v1", 5_000)]).unwrap(),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2).metric("clicks")).unwrap());
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "state"),
        recorder.clone(),
    );
    let feedback = Feedback::new(routes.clone(), "clicks").unwrap();
    // `Router<AppState>` until `with_state`: the feedback router is merged
    // while the app still needs its state.
    let app: Router<AppState> = Router::new()
        .route("/rank", post(with_state))
        .layer(CanaryLayer::new(routes))
        .merge(feedback.router::<AppState>());
    let app: Router = app.with_state(AppState { unit: "ranked" });

    let res = app
        .clone()
        .oneshot(
            Request::post("/rank")
                .header("x-user-id", "u1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let version = res.headers()["x-fledge-version"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("{version} ranked").as_bytes());

    let id = RequestId::new(&version, "");
    let req = Request::post("/feedback")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            "{{\"request_id\":\"{}\",\"value\":1.0}}",
            id.as_str()
        )))
        .unwrap();
    assert_eq!(
        app.oneshot(req).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let index = usize::from(version == "v1");
    let w = recorder
        .window(index, Timestamp::from_millis(1), Duration::from_secs(60))
        .unwrap();
    assert_eq!(w.metric("clicks").unwrap().count(), 1);
}
