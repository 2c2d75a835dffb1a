//! The admin API over a rollout run by a fleet (a stand-in for
//! `fledge_redis::Member`, whose own tests run over real processes and
//! Redis in `tests/fleet_processes.rs`): the status's `fleet` object, the
//! leader's verdict, commands answered 409 / 503 / 504 with the member's
//! reason, a command waiting for its leader never blocking reads, and the
//! dashboard's fleet panel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use fledge_admin::{Admin, ErrorBody, EventView, FleetView, ReplicaView, RolloutStatus};
use fledge_gate::Outcome;
use fledge_rollout::Controller;
use fledge_rollout::control::{ControlError, Judgement, Operate};
use fledge_rollout::machine::{Command, Event, PhaseName};
use fledge_test::{clock, plans};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";
const NAME: &str = "predict-v2";

/// What the stand-in member answers to a command.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Applied by "the leader" (this process's controller).
    Apply,
    /// Nobody holds the lease.
    NoLeader,
    /// Handed over, no answer in time.
    Timeout,
}

/// A fleet member as the admin API sees it: its controller follows the
/// leader, commands go to the leader, the verdict is the leader's.
#[derive(Debug)]
struct Member {
    controller: Controller,
    answer: Mutex<Answer>,
    /// How long a command waits for "the leader".
    wait: Duration,
    fleet_reads: AtomicUsize,
}

fn view() -> FleetView {
    let replica =
        |id: &str, leader: bool, age_ms: Option<u64>, requests: u64, live: bool| ReplicaView {
            id: id.to_owned(),
            leader,
            summary_age: age_ms.map(Duration::from_millis),
            requests,
            live,
        };
    FleetView {
        replica: "r1".to_owned(),
        leader: Some("r0".to_owned()),
        replicas: vec![
            replica("r0", true, Some(120), 5_000, true),
            replica("r1", false, Some(80), 4_900, true),
            replica("r2", false, Some(9_000), 4_700, false),
        ],
    }
}

impl Operate for Member {
    fn controller(&self) -> &Controller {
        &self.controller
    }

    fn last_judgement(&self) -> Option<Judgement> {
        Some(Judgement::new(
            Outcome::Pass,
            "fleet: 2/3 replicas, 9900 requests; not counted: r2 (late)",
        ))
    }

    fn command(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, ControlError> {
        // Blocks like a member waiting for its leader's answer.
        std::thread::sleep(self.wait);
        let answer = *self.answer.lock().unwrap();
        match answer {
            Answer::Apply => self.controller.command(command, by, reason),
            Answer::NoLeader => Err(ControlError::Unavailable {
                reason: format!(
                    "rollout \"{NAME}\" has no leader right now (nobody holds fledge:lease:{NAME}), so {command} was not applied; retry in a moment"
                ),
            }),
            Answer::Timeout => Err(ControlError::TimedOut {
                reason: format!(
                    "no answer from the leader (r0) of rollout \"{NAME}\" to {command} within 5s: it may or may not have been applied; read the rollout's state or event log before repeating it"
                ),
            }),
        }
    }

    fn fleet(&self) -> Option<FleetView> {
        self.fleet_reads.fetch_add(1, Ordering::Relaxed);
        Some(view())
    }
}

fn member(wait: Duration) -> Arc<Member> {
    let controller = Controller::builder(plans::canonical())
        .clock(clock::manual())
        .build()
        .expect("the controller starts");
    Arc::new(Member {
        controller,
        answer: Mutex::new(Answer::Apply),
        wait,
        fleet_reads: AtomicUsize::new(0),
    })
}

fn app(rollout: Arc<dyn Operate>) -> Router {
    let admin = Admin::builder()
        .rollout(rollout)
        .token(TOKEN)
        .build()
        .expect("the admin API builds");
    Router::new().nest("/fledge", admin.router())
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body.to_owned()))
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("the router answers");
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.expect("the body").to_bytes();
    (parts.status, parts.headers, bytes)
}

fn json<T: serde::de::DeserializeOwned>(status: StatusCode, body: &Bytes) -> T {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{status}: not the expected JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_a_fleet_rollout_names_its_replicas_and_shows_the_leaders_verdict() {
    let m = member(Duration::ZERO);
    let app = app(m.clone());
    let (status, _, body) = send(&app, Method::GET, &format!("/fledge/rollouts/{NAME}"), "").await;
    assert_eq!(status, StatusCode::OK);
    let s: RolloutStatus = json(status, &body);
    assert_eq!(s.fleet, Some(view()));
    let verdict = s.verdict.expect("the leader's verdict");
    assert_eq!(verdict.outcome, Outcome::Pass);
    assert!(
        verdict.reason.starts_with("fleet: 2/3 replicas"),
        "{}",
        verdict.reason
    );

    // The documented JSON, field by field.
    let raw: serde_json::Value = json(status, &body);
    let fleet = &raw["fleet"];
    assert_eq!(fleet["replica"], "r1");
    assert_eq!(fleet["leader"], "r0");
    let replicas = fleet["replicas"].as_array().expect("replicas");
    assert_eq!(replicas.len(), 3);
    let mut keys: Vec<&str> = replicas[2]
        .as_object()
        .expect("a replica")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "leader", "live", "requests", "summary_age"]);
    assert_eq!(replicas[0]["leader"], true);
    assert_eq!(replicas[2]["live"], false);
    // Milliseconds; a reused view is at most a second older.
    let age = replicas[2]["summary_age"].as_u64().expect("ms");
    assert!((9_000..10_000).contains(&age), "{age}");

    // The list carries it too; reads within a second share one fleet read.
    let (status, _, body) = send(&app, Method::GET, "/fledge/rollouts", "").await;
    let list: serde_json::Value = json(status, &body);
    assert_eq!(list["rollouts"][0]["fleet"]["leader"], "r0");
    assert_eq!(m.fleet_reads.load(Ordering::Relaxed), 1);

    // A one-process rollout has no `fleet` key at all.
    let alone = Arc::new(
        Controller::builder(plans::canonical())
            .build()
            .expect("a controller"),
    );
    let app = Router::new().nest(
        "/fledge",
        Admin::builder()
            .rollout(alone)
            .token(TOKEN)
            .build()
            .expect("the admin API builds")
            .router(),
    );
    let (status, _, body) = send(&app, Method::GET, &format!("/fledge/rollouts/{NAME}"), "").await;
    let raw: serde_json::Value = json(status, &body);
    assert!(raw.get("fleet").is_none(), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_errors_answer_409_503_and_504_with_its_reason() {
    let m = member(Duration::ZERO);
    let app = app(m.clone());
    let pause = format!("/fledge/rollouts/{NAME}/pause");

    // Applied by the leader: 200 with the event.
    let (status, _, body) = send(&app, Method::POST, &pause, r#"{"reason": "p99"}"#).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let event: EventView = json(status, &body);
    assert!(
        event.reason.contains("pause by admin: p99"),
        "{}",
        event.reason
    );
    assert_eq!(event.phase, PhaseName::Paused);

    // Refused by the state machine: 409 with its reason.
    let approve = format!("/fledge/rollouts/{NAME}/approve");
    let (status, _, body) = send(&app, Method::POST, &approve, "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let error: ErrorBody = json(status, &body);
    assert!(
        error.error.contains("no step waits for approval"),
        "{}",
        error.error
    );

    // Nobody leads: 503, not applied, retry.
    *m.answer.lock().unwrap() = Answer::NoLeader;
    let resume = format!("/fledge/rollouts/{NAME}/resume");
    let (status, headers, body) = send(&app, Method::POST, &resume, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    let error: ErrorBody = json(status, &body);
    assert!(error.error.contains("has no leader"), "{}", error.error);
    assert_eq!(m.controller.state().phase.name(), PhaseName::Paused);

    // Handed over, no answer: 504, "may or may not have been applied".
    *m.answer.lock().unwrap() = Answer::Timeout;
    let (status, _, body) = send(&app, Method::POST, &resume, "").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let error: ErrorBody = json(status, &body);
    assert!(
        error.error.contains("may or may not have been applied"),
        "{}",
        error.error
    );
}

/// One async worker: a command blocking it while it waits for the leader
/// would stall every other request.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_command_waiting_for_the_leader_blocks_no_read() {
    let wait = Duration::from_millis(1_500);
    let m = member(wait);
    let app = app(m);
    let started = Instant::now();
    let command = tokio::spawn({
        let app = app.clone();
        async move {
            send(
                &app,
                Method::POST,
                &format!("/fledge/rollouts/{NAME}/pause"),
                "",
            )
            .await
        }
    });
    // The command is on its way (it waits on a blocking thread).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, _) = send(&app, Method::GET, &format!("/fledge/rollouts/{NAME}"), "").await;
    assert_eq!(status, StatusCode::OK);
    let read_after = started.elapsed();
    assert!(!command.is_finished(), "the command waits for its leader");
    assert!(
        read_after < wait,
        "the read waited for the command: {read_after:?}"
    );
    let (status, _, _) = command.await.expect("the command task");
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_dashboard_has_a_fleet_panel() {
    let app = app(member(Duration::ZERO));
    let (status, headers, body) = send(&app, Method::GET, "/fledge", "").await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8_lossy(&body);
    for needle in [
        r#""data-role": "fleet""#,
        r#""data-role": "replicas""#,
        "no leader",
        "stale",
        "s.fleet",
    ] {
        assert!(html.contains(needle), "the page lacks {needle:?}");
    }
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(!csp.contains("unsafe"), "{csp}");
}
