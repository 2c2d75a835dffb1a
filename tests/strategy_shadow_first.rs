//! Shadow first over real HTTP on loopback: a plan that starts in shadow
//! (v2 serves nobody, every request is mirrored to it) gates on the shadow's
//! latency, errors and agreement with v1's answers, then moves into a canary
//! by itself, stops mirroring, and is promoted; a shadow that disagrees is
//! rolled back before it ever serves a user. Manual clock, explicit ticks.

#[path = "serving/support.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use fledge_axum::{CanaryLayer, Version};
use fledge_gate::clock::ManualClock;
use fledge_gate::{CheckSpec, MetricRef, Test};
use fledge_rollout::Controller;
use fledge_rollout::machine::PhaseName;
use fledge_rollout::plan::ShadowFirstBuilder;
use fledge_tower::shadow::{ShadowHandle, ShadowLayer, agreement};
use http_body_util::Full;
use support::{HttpClient, client, serve, users};

fn threshold(name: &str, metric: MetricRef, max: f64) -> CheckSpec {
    CheckSpec::new(
        metric,
        Test::Threshold {
            max: Some(max),
            min: None,
        },
    )
    .named(name)
    .min_samples(20)
}

/// v1 answers 10.0; v2 (served or shadowed) answers `v2_answer`.
struct Rig {
    controller: Arc<Controller>,
    clock: ManualClock,
    shadow: ShadowHandle,
    addr: std::net::SocketAddr,
    client: HttpClient,
}

async fn start(v2_answer: &'static str) -> Rig {
    let plan = ShadowFirstBuilder::new("sf-test", "v1", "v2")
        .mirror(100.0, Duration::from_secs(10))
        .agreement("shadow_diff", 0.5)
        .shadow_gate(threshold(
            "shadow p99",
            MetricRef::LatencyQuantile(0.99),
            2_000.0,
        ))
        .canary_gate(threshold(
            "canary p99",
            MetricRef::LatencyQuantile(0.99),
            2_000.0,
        ))
        .gate(threshold("errors", MetricRef::ErrorRate, 0.05))
        .steps([10.0, 50.0, 100.0])
        .interval(Duration::from_secs(10))
        .configure(|b| b.salt("sf-test"))
        .build()
        .expect("plan");
    let (controller, clock) = fledge_tests::controller(plan);
    let routing = controller.routing().clone();
    let v2 = tower::service_fn(move |_req: http::Request<Full<Bytes>>| async move {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
            v2_answer.as_bytes(),
        ))))
    });
    let layer = ShadowLayer::new(routing.clone(), "v2", v2)
        .expect("shadow layer")
        .compare("shadow_diff", |p, s| agreement::abs_diff(p, s))
        .expect("comparator metric");
    let shadow = layer.handle();
    let predict = move |version: Version, _body: Bytes| async move {
        match version.id() {
            "v2" => v2_answer.to_owned(),
            _ => "10.0".to_owned(),
        }
    };
    let app = Router::new()
        .route("/predict", post(predict))
        .layer(layer)
        .layer(CanaryLayer::new(routing));
    let addr = serve(app).await;
    Rig {
        controller,
        clock,
        shadow,
        addr,
        client: client(),
    }
}

impl Rig {
    /// One request per user; the versions that answered.
    async fn predict_all(&self, people: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in people.chunks(16) {
            let calls = chunk.iter().map(|u| async move {
                let req = http::Request::post(format!("http://{}/predict", self.addr))
                    .header("x-user-id", u.as_str())
                    .body(Full::new(Bytes::from_static(b"[1,2,3]")))
                    .expect("request");
                fledge_tests::call(&self.client, req).await.version
            });
            out.extend(futures::future::join_all(calls).await);
        }
        self.idle().await;
        out
    }

    /// Waits until every mirrored call has finished (they run on their own tasks).
    async fn idle(&self) {
        for _ in 0..5_000 {
            if self.shadow.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("shadow calls still running: {:?}", self.shadow);
    }

    fn tick_after(&self, secs: u64) -> fledge_rollout::control::TickReport {
        let now = self.clock.advance(Duration::from_secs(secs));
        self.controller.tick(now).expect("tick")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agreeing_shadow_moves_into_the_canary_and_is_promoted() {
    let rig = start("10.2").await;
    let people = users(120);
    let t = rig.controller.traffic();
    assert_eq!((t.candidate.bps(), t.mirror.bps()), (0, 10_000));

    // Shadow: v2 serves nobody, every request is mirrored and compared (the
    // agreement gate needs its default 100 samples).
    let served = rig.predict_all(&people).await;
    assert!(served.iter().all(|v| v == "v1"), "{served:?}");
    assert_eq!(rig.shadow.stats().mirrored, 120);
    assert_eq!(rig.shadow.stats().compared, 120);

    // The shadow step passes (agreement 0.2 <= 0.5, latency, errors): the
    // same tick takes the first canary step and stops mirroring.
    let report = rig.tick_after(11);
    let judged = report.judgement.clone().expect("judged");
    assert_eq!(
        judged.outcome,
        fledge_rollout::machine::Outcome::Pass,
        "{judged}"
    );
    let verdict = judged.verdict.expect("verdict");
    assert!(
        verdict
            .report()
            .checks
            .iter()
            .any(|c| c.name == "agreement"),
        "{verdict}"
    );
    let t = rig.controller.traffic();
    assert_eq!(
        (t.candidate.bps(), t.mirror.bps()),
        (1_000, 0),
        "{report:?}"
    );
    assert_eq!(rig.shadow.share().bps(), 0);

    // The canary serves v2 to its users; nothing is mirrored any more.
    let served = rig.predict_all(&people).await;
    let on_v2 = served.iter().filter(|v| *v == "v2").count();
    assert!(on_v2 > 0 && on_v2 < 40, "{on_v2} of 120 on v2 at 10 %");
    assert_eq!(rig.shadow.stats().mirrored, 120);

    // Canary steps bake and pass (the agreement gate is not theirs).
    for _ in 0..3 {
        rig.predict_all(&people).await;
        rig.tick_after(11);
    }
    assert_eq!(rig.controller.state().phase.name(), PhaseName::Promoted);
    assert!(rig.predict_all(&people).await.iter().all(|v| v == "v2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disagreeing_shadow_is_rolled_back_before_serving_anyone() {
    let rig = start("15.0").await;
    let people = users(120);
    let served = rig.predict_all(&people).await;
    assert!(served.iter().all(|v| v == "v1"));
    let report = rig.tick_after(1);
    assert_eq!(
        rig.controller.state().phase.name(),
        PhaseName::RolledBack,
        "{report:?}"
    );
    let reason = &report.events[0].reason;
    assert!(reason.contains("agreement"), "{reason}");
    let t = rig.controller.traffic();
    assert_eq!((t.candidate.bps(), t.mirror.bps()), (0, 0));
    assert!(rig.predict_all(&people).await.iter().all(|v| v == "v1"));
    assert_eq!(
        rig.shadow.stats().mirrored,
        120,
        "mirroring stopped with the rollback"
    );
}
