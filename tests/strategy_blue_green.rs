//! Blue-green over real HTTP on loopback: the preview header reaches green
//! while everyone else stays on blue, the pre-switch gate judges the preview
//! traffic, one tick switches every user to green at once, a failing gate
//! while blue is kept warm switches everyone back within the tick, an
//! operator can switch back, and blue is released after its keep-warm.
//! The plan comes from `BlueGreenBuilder`; the controller runs it and
//! `BlueGreenStatus::of` reads its state. Time is a manual clock; ticks are
//! explicit.

#[path = "serving/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use fledge_axum::{CanaryLayer, Version};
use fledge_gate::clock::{Clock, ManualClock};
use fledge_gate::{CheckSpec, MetricRef, Test};
use fledge_rollout::control::BlueGreenStatus;
use fledge_rollout::plan::{BlueGreenBuilder, Plan};
use fledge_rollout::{Controller, Event, EventKind};
use fledge_select::Weight;
use http_body_util::Full;
use support::{HttpClient, client, serve, users};

async fn who(version: Version, State(fail): State<Arc<AtomicBool>>) -> (StatusCode, String) {
    if version.id() == "green" && fail.load(Ordering::Relaxed) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "green failed".to_owned());
    }
    (StatusCode::OK, format!("served by {}", version.id()))
}

/// At most 5 % errors over at least 20 requests.
fn max_errors(name: &str) -> CheckSpec {
    CheckSpec::new(
        MetricRef::ErrorRate,
        Test::Threshold {
            max: Some(0.05),
            min: None,
        },
    )
    .named(name)
    .min_samples(20)
}

struct Bg {
    controller: Arc<Controller>,
    plan: Plan,
    clock: ManualClock,
    addr: std::net::SocketAddr,
    client: HttpClient,
    fail_green: Arc<AtomicBool>,
}

impl Bg {
    async fn start() -> Bg {
        let plan = BlueGreenBuilder::new("bg-test", "blue", "green")
            .preview_gate(max_errors("preview errors"))
            .switch_gate(max_errors("green errors"))
            .preview_for(Duration::from_secs(10))
            .watch_for(Duration::from_secs(10))
            .keep_warm(Duration::from_secs(60))
            .configure(|b| b.salt("bg-test"))
            .build()
            .expect("plan");
        let (controller, clock) = fledge_tests::controller(plan.clone());
        let fail_green = Arc::new(AtomicBool::new(false));
        let app = Router::new()
            .route("/who", get(who))
            .with_state(fail_green.clone())
            .layer(CanaryLayer::new(controller.routing().clone()));
        let addr = serve(app).await;
        Bg {
            controller,
            plan,
            clock,
            addr,
            client: client(),
            fail_green,
        }
    }

    async fn get(&self, user: &str, preview: bool) -> (StatusCode, String) {
        let mut req =
            http::Request::get(format!("http://{}/who", self.addr)).header("x-user-id", user);
        if preview {
            let (name, value) = self.plan.preview_header().expect("a preview header");
            req = req.header(name, value);
        }
        let req = req.body(Full::new(Bytes::new())).expect("request");
        let reply = fledge_tests::call(&self.client, req).await;
        (reply.status, reply.version)
    }

    async fn versions(&self, users: &[String], preview: bool) -> Vec<String> {
        let mut out = Vec::new();
        for chunk in users.chunks(16) {
            let calls = chunk.iter().map(|u| self.get(u, preview));
            for (_, v) in futures::future::join_all(calls).await {
                out.push(v);
            }
        }
        out
    }

    fn tick_after(&self, secs: u64) -> Vec<Event> {
        let now = self.clock.advance(Duration::from_secs(secs));
        self.controller.tick(now).expect("tick").events
    }

    fn status(&self) -> BlueGreenStatus {
        BlueGreenStatus::of(&self.controller.state(), &self.plan, self.clock.now())
    }
}

fn switched(e: &Event) -> bool {
    e.kind == EventKind::StepTaken && e.weight == Weight::FULL
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_gate_switch_and_switch_back_on_failure() {
    let h = Bg::start().await;
    let people = users(60);
    assert!(matches!(h.status(), BlueGreenStatus::Previewing { .. }));

    // Preview: the header reaches green, nobody else does.
    assert!(h.versions(&people, false).await.iter().all(|v| v == "blue"));
    assert!(
        h.versions(&people[..30], true)
            .await
            .iter()
            .all(|v| v == "green")
    );

    // The pre-switch gate judges the 30 preview requests: pass → one switch.
    let events = h.tick_after(11);
    assert!(events.iter().any(switched), "{events:?}");
    assert_eq!(h.controller.routing().traffic().candidate.bps(), 10_000);
    assert!(
        h.versions(&people, false)
            .await
            .iter()
            .all(|v| v == "green")
    );

    // Watched for 10 s at 100 %, then confirmed; blue stays warm for 60 s.
    let events = h.tick_after(11);
    assert!(
        events.iter().any(|e| e.kind == EventKind::Promoted),
        "{events:?}"
    );
    assert!(h.controller.warm_until().is_some());
    assert!(matches!(h.status(), BlueGreenStatus::BlueWarm { .. }));

    // Green breaks while blue is warm: the next tick switches everyone back.
    h.clock.advance(Duration::from_secs(11));
    h.fail_green.store(true, Ordering::Relaxed);
    let statuses = futures::future::join_all(people[..40].iter().map(|u| h.get(u, false))).await;
    assert!(
        statuses
            .iter()
            .all(|(s, _)| *s == StatusCode::INTERNAL_SERVER_ERROR)
    );
    let events = h.tick_after(1);
    let back = events
        .iter()
        .find(|e| e.kind == EventKind::RolledBack)
        .map(|e| e.reason.clone());
    let reason = back.unwrap_or_else(|| panic!("no switch back: {events:?}"));
    assert!(
        reason.contains("green errors") && reason.contains("switched back to blue"),
        "{reason}"
    );
    assert_eq!(h.controller.routing().traffic().candidate.bps(), 0);
    assert!(matches!(h.status(), BlueGreenStatus::SwitchedBack { .. }));
    assert!(h.versions(&people, false).await.iter().all(|v| v == "blue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_switches_back_and_blue_is_released_after_keep_warm() {
    // 1. An operator switches back during the watch.
    let h = Bg::start().await;
    let people = users(20);
    h.versions(&people, true).await;
    h.tick_after(11);
    assert!(
        h.versions(&people, false)
            .await
            .iter()
            .all(|v| v == "green")
    );
    let e = h
        .controller
        .rollback("alice", Some("customer reports"))
        .expect("switch back");
    assert_eq!(e.kind, EventKind::RolledBack, "{e:?}");
    assert!(h.versions(&people, false).await.iter().all(|v| v == "blue"));

    // 2. A healthy release: blue may be released after keep-warm.
    let h = Bg::start().await;
    h.versions(&users(30), true).await;
    h.tick_after(11); // switch
    h.versions(&users(30), false).await;
    h.tick_after(11); // confirmed, blue warm for 60 s
    assert!(h.tick_after(30).is_empty());
    assert!(matches!(h.status(), BlueGreenStatus::BlueWarm { .. }));
    assert!(!h.controller.is_finished(h.clock.now()));
    assert!(h.tick_after(31).is_empty());
    assert_eq!(h.status(), BlueGreenStatus::BlueReleasable);
    assert!(h.controller.is_finished(h.clock.now()));
    // After keep-warm a switch back is refused: blue may be gone.
    assert!(h.controller.rollback("bob", Some("too late")).is_err());
}
