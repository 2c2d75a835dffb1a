//! Model outputs recorded from an actix-web handler behind the canary
//! middleware land in the windows of the version that served each request.

use std::sync::Arc;
use std::time::Duration;

// `actix_web::test` by path: importing it would shadow `#[test]` with
// actix's attribute macro when its `macros` feature is on.
use actix_web::{App, HttpResponse, web};
use fledge_actix::{CanaryMiddleware, CategoricalHandle, NumericHandle, Outputs, Version};
use fledge_gate::clock::Timestamp;
use fledge_gate::{OutputSpec, Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::FixedRouting;

async fn predict(
    version: Version,
    forecast: web::Data<NumericHandle>,
    category: web::Data<CategoricalHandle>,
) -> HttpResponse {
    // v2 answers 2.0 and "garden", v1 1.0 and "kitchen".
    let (value, label) = if version.id() == "v2" {
        (2.0, "garden")
    } else {
        (1.0, "kitchen")
    };
    forecast.record(&version, value);
    category.record(&version, label);
    HttpResponse::Ok().body(label)
}

#[test]
fn outputs_recorded_in_a_handler_land_under_the_routed_version() {
    actix_web::rt::System::new().block_on(async {
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
        let forecast = web::Data::new(outputs.numeric("forecast").unwrap());
        let category = web::Data::new(outputs.categorical("top_category").unwrap());
        assert!(outputs.numeric("top_category").is_err());
        assert!(
            outputs
                .categorical("class")
                .unwrap_err()
                .to_string()
                .contains("`forecast`, `top_category`")
        );
        let app = actix_web::test::init_service(
            App::new()
                .app_data(forecast)
                .app_data(category)
                .wrap(CanaryMiddleware::new(routes))
                .route("/predict", web::post().to(predict)),
        )
        .await;

        let mut served = [0u64; 2];
        for i in 0..300 {
            let req = actix_web::test::TestRequest::post()
                .uri("/predict")
                .insert_header(("x-user-id", format!("user-{i}")))
                .to_request();
            let res = actix_web::test::call_service(&app, req).await;
            assert!(res.status().is_success());
            let version = res
                .headers()
                .get("x-fledge-version")
                .unwrap()
                .to_str()
                .unwrap();
            served[usize::from(version == "v1")] += 1;
        }
        assert!(served[0] > 30 && served[1] > 100, "{served:?}");

        let now = Timestamp::from_millis(1);
        for (index, (value, label)) in [(2.0, "garden"), (1.0, "kitchen")].into_iter().enumerate() {
            let w = recorder
                .window(index, now, Duration::from_secs(60))
                .unwrap();
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
    });
}
