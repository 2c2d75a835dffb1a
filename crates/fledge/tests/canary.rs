//! The front door: a plan in, its limits enforced by the layer it hands out.

#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::time::Duration;

use fledge::tower::isolation::Isolation;
use fledge::tower::{NoKey, Settings};
use fledge::{Canary, CanaryError, Plan};
use tower::{Layer, ServiceExt};

fn plan(limits: &str) -> Plan {
    Plan::from_toml(&format!(
        r#"
        name = "front-door"
        baseline = "v1"
        candidate = "v2"
        steps = [100]
        interval = "30s"
        {limits}
        "#
    ))
    .expect("plan")
}

#[test]
fn from_plan_applies_the_plans_limits() {
    let canary = Canary::from_plan(plan(
        "[limits.v2]\nconcurrency = 3\ntimeout = \"150ms\"\noverflow = \"reject\"",
    ))
    .expect("canary");
    let v2 = canary.isolation().stats("v2").expect("v2");
    assert_eq!(v2.limit, Some(3));
    assert_eq!(
        canary
            .settings()
            .isolation_config()
            .limits_of("v2")
            .and_then(|l| l.timeout),
        Some(Duration::from_millis(150))
    );
    assert_eq!(canary.isolation().stats("v1").expect("v1").limit, None);
    // The layers made from it share the counters.
    assert_eq!(
        canary
            .layer()
            .isolation_handle()
            .stats("v2")
            .expect("v2")
            .limit,
        Some(3)
    );
}

#[tokio::test]
async fn the_layer_enforces_the_plans_limits() {
    // v2 serves everyone (one step, 100 %) and has no room at all beyond
    // one request in flight; overflow is rejected.
    let canary = Canary::from_plan(plan("[limits.v2]\nconcurrency = 1\noverflow = \"reject\""))
        .expect("canary");
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    let hold = std::sync::Arc::new(tokio::sync::Mutex::new(Some(hold)));
    let service = canary
        .layer()
        .layer(tower::service_fn(move |_req: http::Request<()>| {
            let hold = hold.clone();
            async move {
                if let Some(rx) = hold.lock().await.take() {
                    let _ = rx.await;
                }
                Ok::<_, Infallible>(http::Response::new(()))
            }
        }));
    let request = || {
        http::Request::builder()
            .header("x-user-id", "u1")
            .body(())
            .expect("request")
    };
    let first = tokio::spawn(service.clone().oneshot(request()));
    while canary.isolation().stats("v2").expect("v2").in_flight == 0 {
        tokio::task::yield_now().await;
    }
    let second = service.clone().oneshot(request()).await.expect("response");
    assert_eq!(second.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(canary.isolation().stats("v2").expect("v2").rejected, 1);
    release.send(()).expect("release");
    let first = first.await.expect("task").expect("response");
    assert_eq!(first.status(), http::StatusCode::OK);
    assert_eq!(first.headers()["x-fledge-version"], "v2");
}

#[test]
fn settings_are_laid_over_the_plans_limits() {
    let canary = Canary::builder(plan("[limits.v2]\nconcurrency = 4"))
        .settings(
            Settings::new()
                .no_key(NoKey::Stable)
                .isolation(Isolation::new().concurrency("v1", 64)),
        )
        .build()
        .expect("canary");
    assert_eq!(canary.isolation().stats("v2").expect("v2").limit, Some(4));
    assert_eq!(canary.isolation().stats("v1").expect("v1").limit, Some(64));
}

#[test]
fn errors_name_what_is_wrong() {
    let unknown = Canary::builder(plan(""))
        .settings(Settings::new().isolation(Isolation::new().concurrency("v3", 1)))
        .build()
        .expect_err("unknown version");
    assert!(
        matches!(&unknown, CanaryError::UnknownVersion { id, .. } if id == "v3"),
        "{unknown}"
    );
    let zero = Canary::builder(plan(""))
        .settings(Settings::new().isolation(Isolation::new().concurrency("v2", 0)))
        .build()
        .expect_err("zero limit");
    assert!(matches!(zero, CanaryError::Settings(_)), "{zero}");
    let mut bad = plan("");
    bad.steps.clear();
    let controller = Canary::from_plan(bad).expect_err("invalid plan");
    assert!(
        matches!(controller, CanaryError::Controller(_)),
        "{controller}"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn the_driver_ticks_and_stops() {
    let canary = Canary::builder(plan(""))
        .clock(fledge::rollout::driver::TokioClock::new())
        .tick(Duration::from_secs(5))
        .build()
        .expect("canary");
    assert_eq!(canary.tick(), Duration::from_secs(5));
    let driver = canary.driver().stop_when_finished(true).spawn();
    driver.wait().await; // paused time: 30 s interval, one step
    assert!(canary.controller().state().is_terminal());
    let again = canary.spawn();
    again.shutdown().await;
}

#[cfg(feature = "actix")]
#[test]
fn the_actix_middleware_shares_the_decider() {
    let canary = Canary::from_plan(plan("[limits.v2]\nconcurrency = 2")).expect("canary");
    let middleware = canary.actix();
    assert_eq!(
        middleware.isolation_handle().stats("v2").expect("v2").limit,
        Some(2)
    );
}
