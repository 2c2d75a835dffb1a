//! The QA override header forces a version only with the configured secret:
//! without the secret (or without a configured override) it is ignored, so
//! ordinary users cannot opt themselves into a canary.

#[path = "serving/support.rs"]
mod support;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use fledge_axum::Version;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::{CanaryLayer, FixedRouting, QaOverride, Settings};
use http_body_util::Full;
use support::{HttpClient, client, serve};

const SECRET: &str = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c";

async fn who(version: Version) -> String {
    version.id().to_owned()
}

async fn ask(client: &HttpClient, addr: std::net::SocketAddr, header: Option<&str>) -> String {
    let mut req = http::Request::get(format!("http://{addr}/who")).header("x-user-id", "qa-user-1");
    if let Some(value) = header {
        req = req.header("x-fledge-override", value);
    }
    let req = req.body(Full::new(Bytes::new())).expect("request");
    fledge_tests::call(client, req).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_needs_the_secret() {
    // v2 at 0 %: nobody gets it by weight.
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 0), ("v1", 10_000)]).expect("split"),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).expect("recorder"));
    let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "qa"), recorder);

    let settings = Settings::new().qa_override(QaOverride::new(SECRET).expect("secret"));
    let with_qa = CanaryLayer::with_settings(routes.clone(), settings).expect("settings");
    let decider = with_qa.decider().clone();
    let guarded = serve(Router::new().route("/who", get(who)).layer(with_qa)).await;
    let unguarded = serve(
        Router::new()
            .route("/who", get(who))
            .layer(CanaryLayer::new(routes)),
    )
    .await;
    let client = client();

    assert_eq!(ask(&client, guarded, None).await, "v1");
    assert_eq!(ask(&client, guarded, Some("v2")).await, "v1");
    assert_eq!(ask(&client, guarded, Some("v2:guess")).await, "v1");
    assert_eq!(
        ask(&client, guarded, Some(&format!("v2:{}", &SECRET[1..]))).await,
        "v1"
    );
    assert_eq!(
        ask(&client, guarded, Some(&format!("v9:{SECRET}"))).await,
        "v1"
    );
    assert_eq!(decider.overrides_rejected(), 4);

    // With the secret: the tester reaches v2 at weight 0.
    assert_eq!(
        ask(&client, guarded, Some(&format!("v2:{SECRET}"))).await,
        "v2"
    );

    // A layer without a configured override ignores the header entirely.
    assert_eq!(
        ask(&client, unguarded, Some(&format!("v2:{SECRET}"))).await,
        "v1"
    );
}
