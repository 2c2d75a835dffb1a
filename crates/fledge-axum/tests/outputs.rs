//! Model outputs recorded from a handler through the canary layer land in
//! the windows of the version that served each request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::post;
use fledge_axum::{CanaryLayer, CategoricalHandle, NumericHandle, Outputs, Version};
use fledge_gate::clock::Timestamp;
use fledge_gate::{OutputSpec, Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::FixedRouting;
use http::Request;
use tower::ServiceExt;

#[derive(Clone)]
struct Handles {
    forecast: NumericHandle,
    category: CategoricalHandle,
}

async fn predict(version: Version, State(h): State<Handles>) -> &'static str {
    // v2 answers 2.0 and "garden", v1 1.0 and "kitchen".
    let (value, label) = if version.id() == "v2" {
        (2.0, "garden")
    } else {
        (1.0, "kitchen")
    };
    h.forecast.record(&version, value);
    h.category.record(&version, label);
    label
}

#[tokio::test]
async fn outputs_recorded_in_a_handler_land_under_the_routed_version() {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 3_000), ("v1", 7_000)]).unwrap(),
    ));
    let recorder = Arc::new(
        Recorder::new(
            RecorderConfig::new(2)
                .output(OutputSpec::numeric("forecast"))
                .output(OutputSpec::categorical("top_category").max_labels(10)),
        )
        .unwrap(),
    );
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "outputs"),
        recorder.clone(),
    );
    let outputs = Outputs::new(routes.clone());
    let handles = Handles {
        forecast: outputs.numeric("forecast").unwrap(),
        category: outputs.categorical("top_category").unwrap(),
    };
    let app = Router::new()
        .route("/predict", post(predict))
        .with_state(handles)
        .layer(CanaryLayer::new(routes.clone()));

    let mut served = [0u64; 2];
    for i in 0..300 {
        let req = Request::post("/predict")
            .header("x-user-id", format!("user-{i}"))
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert!(res.status().is_success());
        let version = res.headers()["x-fledge-version"].to_str().unwrap();
        served[usize::from(version == "v1")] += 1;
    }
    assert!(served[0] > 30 && served[1] > 100, "{served:?}");

    let now = Timestamp::from_millis(1);
    for (index, (value, label)) in [(2.0, "garden"), (1.0, "kitchen")].into_iter().enumerate() {
        let w = recorder
            .window(index, now, Duration::from_secs(60))
            .unwrap();
        // Every request of this version, and only those, with its value.
        assert_eq!(w.requests(), served[index]);
        let forecast = w.output("forecast").unwrap().numeric().unwrap();
        assert_eq!(forecast.count(), served[index]);
        assert_eq!(forecast.min(), Some(value));
        assert_eq!(forecast.max(), Some(value));
        let labels = w.output("top_category").unwrap().categorical().unwrap();
        assert_eq!(labels.total(), served[index]);
        assert_eq!(labels.count(label), served[index]);
    }
    assert_eq!(recorder.dropped(), 0);
}
