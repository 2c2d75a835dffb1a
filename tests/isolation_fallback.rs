//! Fallback: where enabled, a request that fails on the candidate is retried
//! once on stable, so the user gets stable's answer while the gates still
//! see the candidate's failure. Only idempotent methods, or a `POST` the
//! service declares idempotent; never elsewhere. Real HTTP on loopback.

#[path = "isolation/support.rs"]
mod support;

use axum::Router;
use axum::routing::{get, post, put};
use fledge_axum::{CanaryLayer, Version};
use fledge_tower::isolation::Fallback;
use http::{Method, StatusCode};
use support::{client, controller, isolated, plan, recorded, send, serve, users};

/// Every handler fails on v2 and answers on v1, naming the version, why it
/// went there and the body it read.
async fn answer(version: Version, body: String) -> (StatusCode, String) {
    if version.id() == "v2" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "v2 failed".to_owned());
    }
    (StatusCode::OK, format!("v1/{}:{body}", version.reason()))
}

fn app() -> Router {
    Router::new()
        .route("/item", get(answer).put(answer).delete(answer))
        .route("/predict", post(answer))
        .route("/order", post(answer))
        .route("/big", put(answer))
        .route("/internal", get(answer))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_retries_only_where_enabled() {
    let (controller, _clock) = controller(plan(""));
    let routing = controller.routing().clone();
    let layer = isolated(&controller).fallback(
        Fallback::routes(|_, uri| uri.path() != "/internal")
            .declare_idempotent(Method::POST, "/predict")
            .body_limit(1024),
    );
    let handle = layer.isolation_handle();
    let addr = serve(app().layer(layer)).await;
    let client = client();
    let user = users(&routing, true, 1).remove(0);
    let call = |method: Method, path: &'static str, body: String| {
        let (client, user) = (client.clone(), user.clone());
        async move { send(&client, addr, method, path, &user, &body).await }
    };

    // Idempotent methods fall back; the retry carries the same body.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let reply = call(method.clone(), "/item", format!("{method} body")).await;
        assert_eq!(reply.status, StatusCode::OK, "{method}: {reply:?}");
        assert_eq!(reply.version, "v1");
        assert_eq!(reply.body, format!("v1/fallback:{method} body"));
    }
    // POST /predict was declared idempotent: it falls back, body replayed.
    let reply = call(Method::POST, "/predict", "[1.0, 2.0, 3.0]".to_owned()).await;
    assert_eq!(
        (reply.status, reply.version.as_str(), reply.body.as_str()),
        (StatusCode::OK, "v1", "v1/fallback:[1.0, 2.0, 3.0]")
    );
    // POST /order was not: the candidate's failure reaches the client.
    let reply = call(Method::POST, "/order", "one coffee".to_owned()).await;
    assert_eq!(
        (reply.status, reply.version.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "v2")
    );
    // A route outside the predicate: no fallback either.
    let reply = call(Method::GET, "/internal", String::new()).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    // A body over the limit cannot be replayed: no fallback, counted.
    let reply = call(Method::PUT, "/big", "x".repeat(4096)).await;
    assert_eq!(
        (reply.status, reply.version.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "v2")
    );

    let stats = handle.stats("v2").expect("v2");
    assert_eq!((stats.fallbacks, stats.fallback_skipped), (4, 1));
    // The gates saw all 7 candidate failures; stable served the 4 retries.
    assert_eq!(recorded(&controller, 0), (7, 7));
    assert_eq!(recorded(&controller, 1), (4, 0));

    // Stable's own users never go through a fallback.
    let stable_user = users(&routing, false, 1).remove(0);
    let reply = send(&client, addr, Method::GET, "/item", &stable_user, "").await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "v1/sticky:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fallback_the_candidates_failure_reaches_the_client() {
    let (controller, _clock) = controller(plan(""));
    let routing = controller.routing().clone();
    let addr = serve(app().layer(CanaryLayer::new(routing.clone()))).await;
    let client = client();
    let user = users(&routing, true, 1).remove(0);
    let reply = send(&client, addr, Method::GET, "/item", &user, "").await;
    assert_eq!(
        (reply.status, reply.version.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "v2")
    );
    assert_eq!(recorded(&controller, 0), (1, 1));
    assert_eq!(recorded(&controller, 1), (0, 0));
}
