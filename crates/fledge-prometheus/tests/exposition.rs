//! The exposition text after known traffic: names, labels, values.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fledge_gate::clock::ManualClock;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_prometheus::{FledgeCollector, render};
use fledge_rollout::{Controller, Plan};
use fledge_test::{clock, plans};
use prometheus_client::registry::Registry;

const PLAN: &str = r#"
    name = "demo"
    baseline = "v1"
    candidate = "v2"
    steps = [5, 25, 50, 100]
    interval = "30s"
    metrics = ["abs_error"]
"#;

/// `name{labels}` → value, for every sample line; panics on a malformed line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("malformed sample line {line:?}"));
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}")),
        };
        assert!(
            out.insert(key.to_owned(), value).is_none(),
            "duplicate {key}"
        );
    }
    out
}

fn get(s: &BTreeMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample {key}; have:\n{:#?}", s.keys()))
}

fn controller() -> (Arc<Controller>, ManualClock) {
    let clock = clock::manual();
    let plan = Plan::from_toml(PLAN).expect("plan");
    (plans::controller(plan, &clock), clock)
}

#[test]
fn exposition_after_known_traffic() {
    let (controller, clock) = controller();
    let mut registry = Registry::default();
    FledgeCollector::new()
        .controller(controller.clone())
        .register(&mut registry);

    let routing = controller.routing();
    let (v2, v1) = (routing.candidate().get(), routing.baseline().get());
    let recorder = routing.recorder();
    for i in 0..100 {
        recorder.record(v2, Duration::from_millis(10), i % 20 == 0);
    }
    for i in 0..300 {
        recorder.record(v1, Duration::from_millis(20), i % 100 == 0);
    }
    for value in [1.0, 2.0, 3.5] {
        recorder
            .record_feedback(v2, "abs_error", value)
            .expect("feedback");
    }
    clock.advance(Duration::from_secs(1));

    let text = render(&registry).expect("render");
    assert!(text.ends_with("# EOF\n"), "{text}");
    for family in [
        "# TYPE fledge_requests counter",
        "# TYPE fledge_request_errors counter",
        "# TYPE fledge_request_duration_seconds histogram",
        "# UNIT fledge_request_duration_seconds seconds",
        "# TYPE fledge_request_duration_window_seconds gauge",
        "# TYPE fledge_feedback_value histogram",
        "# TYPE fledge_traffic_weight_ratio gauge",
        "# TYPE fledge_rollout_phase gauge",
        "# TYPE fledge_rollout_step gauge",
        "# TYPE fledge_rollout_events counter",
        "# TYPE fledge_rollout info",
    ] {
        assert!(text.contains(family), "missing {family:?} in:\n{text}");
    }
    let s = samples(&text);
    let l = |name: &str, version: &str| format!(r#"{name}{{rollout="demo",version="{version}"}}"#);
    assert_eq!(get(&s, &l("fledge_requests_total", "v2")), 100.0);
    assert_eq!(get(&s, &l("fledge_requests_total", "v1")), 300.0);
    assert_eq!(get(&s, &l("fledge_request_errors_total", "v2")), 5.0);
    assert_eq!(get(&s, &l("fledge_request_errors_total", "v1")), 3.0);
    assert_eq!(
        get(&s, &l("fledge_request_duration_seconds_count", "v2")),
        100.0
    );
    assert!((get(&s, &l("fledge_request_duration_seconds_sum", "v2")) - 1.0).abs() < 1e-9);
    assert!((get(&s, &l("fledge_request_duration_seconds_sum", "v1")) - 6.0).abs() < 1e-9);
    assert_eq!(
        get(
            &s,
            r#"fledge_request_duration_seconds_bucket{le="+Inf",rollout="demo",version="v2"}"#
        ),
        100.0
    );
    // Finite buckets from the recorder's cumulative histogram: v2 took
    // 10 ms, v1 20 ms.
    let bucket = |le: &str, version: &str| {
        get(
            &s,
            &format!(
                r#"fledge_request_duration_seconds_bucket{{le="{le}",rollout="demo",version="{version}"}}"#
            ),
        )
    };
    assert_eq!(bucket("0.005", "v2"), 0.0);
    assert_eq!(bucket("0.01", "v2"), 100.0);
    assert_eq!(bucket("0.01", "v1"), 0.0);
    assert_eq!(bucket("0.025", "v1"), 300.0);
    assert_eq!(bucket("10.0", "v1"), 300.0);
    for (version, ms) in [("v2", 10.0), ("v1", 20.0)] {
        for q in ["0.5", "0.9", "0.99"] {
            let key = format!(
                r#"fledge_request_duration_window_seconds{{rollout="demo",version="{version}",q="{q}"}}"#
            );
            let v = get(&s, &key);
            assert!((v - ms / 1e3).abs() < ms / 1e3 * 0.01, "{key} = {v}");
        }
    }
    let fb = |suffix: &str| {
        get(
            &s,
            &format!(
                r#"fledge_feedback_value_{suffix}{{rollout="demo",version="v2",metric="abs_error"}}"#
            ),
        )
    };
    assert_eq!(fb("sum"), 6.5);
    assert_eq!(fb("count"), 3.0);
    assert_eq!(
        get(
            &s,
            r#"fledge_feedback_value_count{rollout="demo",version="v1",metric="abs_error"}"#
        ),
        0.0
    );
    assert_eq!(get(&s, &l("fledge_traffic_weight_ratio", "v2")), 0.05);
    assert_eq!(get(&s, &l("fledge_traffic_weight_ratio", "v1")), 0.95);
    assert_eq!(
        get(&s, r#"fledge_mirror_weight_ratio{rollout="demo"}"#),
        0.0
    );
    assert_eq!(get(&s, r#"fledge_rollout_step{rollout="demo"}"#), 0.0);
    assert_eq!(get(&s, r#"fledge_rollout_steps{rollout="demo"}"#), 4.0);
    assert_eq!(get(&s, r#"fledge_rollout_attempt{rollout="demo"}"#), 0.0);
    assert_eq!(
        get(&s, r#"fledge_recorder_dropped_total{rollout="demo"}"#),
        0.0
    );
    assert_eq!(
        get(
            &s,
            r#"fledge_rollout_info{rollout="demo",baseline="v1",candidate="v2"}"#
        ),
        1.0
    );
    let phase = |p: &str| {
        get(
            &s,
            &format!(r#"fledge_rollout_phase{{rollout="demo",phase="{p}"}}"#),
        )
    };
    assert_eq!(phase("progressing"), 1.0);
    for p in [
        "paused",
        "awaiting_approval",
        "frozen",
        "promoted",
        "rolled_back",
        "aborted",
    ] {
        assert_eq!(phase(p), 0.0, "{p}");
    }
    let events = |k: &str| {
        get(
            &s,
            &format!(r#"fledge_rollout_events_total{{rollout="demo",kind="{k}"}}"#),
        )
    };
    assert_eq!(events("started"), 1.0);
    assert_eq!(events("rolled_back"), 0.0);
    assert_eq!(events("promoted"), 0.0);
    // No judgement yet: no judgement family.
    assert!(!text.contains("fledge_rollout_judgement"), "{text}");

    // An operator's rollback shows at the next scrape.
    controller
        .rollback("alice", Some("test"))
        .expect("rollback");
    let s = samples(&render(&registry).expect("render"));
    assert_eq!(
        get(
            &s,
            r#"fledge_rollout_phase{rollout="demo",phase="rolled_back"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            r#"fledge_rollout_phase{rollout="demo",phase="progressing"}"#
        ),
        0.0
    );
    assert_eq!(
        get(
            &s,
            r#"fledge_rollout_events_total{rollout="demo",kind="rolled_back"}"#
        ),
        1.0
    );
    assert_eq!(get(&s, &l("fledge_traffic_weight_ratio", "v2")), 0.0);
    assert_eq!(get(&s, &l("fledge_traffic_weight_ratio", "v1")), 1.0);
}

#[test]
fn bare_recorder_and_no_quantiles() {
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(3)).expect("recorder"));
    recorder.record(2, Duration::from_millis(5), true);
    recorder.record(7, Duration::from_millis(5), true); // dropped
    let mut registry = Registry::default();
    FledgeCollector::new()
        .recorder("search-ab", recorder, ["control", "treatment"])
        .quantiles([])
        .register(&mut registry);
    let text = render(&registry).expect("render");
    let s = samples(&text);
    assert_eq!(
        get(
            &s,
            r#"fledge_requests_total{rollout="search-ab",version="2"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &s,
            r#"fledge_request_errors_total{rollout="search-ab",version="control"}"#
        ),
        0.0
    );
    assert_eq!(
        get(&s, r#"fledge_recorder_dropped_total{rollout="search-ab"}"#),
        1.0
    );
    for absent in [
        "fledge_request_duration_window_seconds",
        "fledge_traffic_weight_ratio",
        "fledge_rollout_phase",
        "fledge_feedback_value",
    ] {
        let typed = format!("# TYPE {absent} ");
        assert!(!text.contains(&typed), "{absent} in:\n{text}");
    }
}

#[test]
fn empty_window_quantiles_are_nan() {
    let (controller, _clock) = controller();
    let mut registry = Registry::default();
    FledgeCollector::new()
        .controller(controller)
        .quantiles([0.99, 1.5])
        .window(Duration::from_secs(10))
        .register(&mut registry);
    let s = samples(&render(&registry).expect("render"));
    let v = get(
        &s,
        r#"fledge_request_duration_window_seconds{rollout="demo",version="v2",q="0.99"}"#,
    );
    assert!(v.is_nan());
    assert!(!s.keys().any(|k| k.contains("q=\"1.5\"")));
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_router_serves_metrics() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let (controller, _clock) = controller();
    let mut registry = Registry::default();
    FledgeCollector::new()
        .controller(controller)
        .register(&mut registry);
    let app = fledge_prometheus::axum::router(Arc::new(registry));
    let request = axum::http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        fledge_prometheus::CONTENT_TYPE
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#"fledge_requests_total{rollout="demo",version="v2"} 0"#),
        "{text}"
    );
}

/// The router merges and nests into an application that has state of its
/// own, applied after it.
#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_router_in_an_app_with_state() {
    use axum::extract::State;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct AppState {
        model: &'static str,
    }
    let (controller, _clock) = controller();
    let mut registry = Registry::default();
    FledgeCollector::new()
        .controller(controller)
        .register(&mut registry);
    let registry = Arc::new(registry);
    let app: axum::Router = axum::Router::new()
        .route(
            "/model",
            get(|State(s): State<AppState>| async move { s.model }),
        )
        .merge(fledge_prometheus::axum::router(registry.clone()))
        .nest("/ops", fledge_prometheus::axum::router(registry))
        .with_state(AppState { model: "v2" });
    for (path, expect) in [
        ("/model", "v2"),
        ("/metrics", "fledge_rollout_info"),
        ("/ops/metrics", "fledge_rollout_info"),
    ] {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), 200, "{path}");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains(expect),
            "{path}: {body:?}"
        );
    }
}
