//! The admin API over real HTTP on loopback (and a few requests through
//! `tower::ServiceExt::oneshot`), against a real `Controller` on a manual
//! clock running the canonical canary plan.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::get;
use fledge_admin::{
    Admin, AdminBuilder, AdminError, ErrorBody, EventPage, EventView, ReadAccess, Role,
    RolloutList, RolloutStatus,
};
use fledge_gate::clock::ManualClock;
use fledge_rollout::Controller;
use fledge_rollout::machine::{EventKind, Input, Outcome, Phase, PhaseName};
use fledge_test::{clock, plans};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";
const NAME: &str = "predict-v2";

fn controller() -> (Arc<Controller>, ManualClock) {
    let clock = clock::manual();
    (plans::controller(plans::canonical(), &clock), clock)
}

/// A running service: `/predict` and the admin API under `/fledge`.
struct Server {
    addr: SocketAddr,
    controller: Arc<Controller>,
    clock: ManualClock,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What an answer held.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not the expected JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn error(&self) -> ErrorBody {
        self.json()
    }
}

async fn start(configure: impl FnOnce(AdminBuilder) -> AdminBuilder) -> Server {
    let (controller, clock) = controller();
    let admin = configure(Admin::builder().rollout(controller.clone()).token(TOKEN))
        .build()
        .expect("the admin API builds");
    let app = Router::new()
        .route("/predict", get(|| async { "forecast" }))
        .nest("/fledge", admin.router());
    let addr = fledge_test::server::spawn(app).await;
    Server {
        addr,
        controller,
        clock,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Server {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let res = self.client.request(req).await.expect("the server answers");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// GET with the token.
    async fn get(&self, path: &str) -> Answer {
        let auth = format!("Bearer {TOKEN}");
        self.send(Method::GET, path, &[("authorization", &auth)], "")
            .await
    }

    /// POST a command with the token and operator `alice`.
    async fn post(&self, path: &str, body: &str) -> Answer {
        let auth = format!("Bearer {TOKEN}");
        self.send(
            Method::POST,
            path,
            &[
                ("authorization", &auth),
                ("x-forwarded-user", "alice"),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    async fn status(&self) -> RolloutStatus {
        let a = self.get(&format!("/fledge/rollouts/{NAME}")).await;
        assert_eq!(a.status, StatusCode::OK);
        a.json()
    }

    /// Does `rounds` of `n` requests per version through the routing, at
    /// `candidate_ms` for the candidate and 10 ms for the baseline, ticking
    /// the controller one second after each round.
    fn traffic(&self, rounds: u32, n: u32, candidate_ms: u64) {
        for _ in 0..rounds {
            plans::round(&self.controller, &self.clock, n, candidate_ms);
        }
    }
}

fn with_operator(b: AdminBuilder) -> AdminBuilder {
    b.operator_header("x-forwarded-user")
}

fn events_of(s: &Server) -> Vec<fledge_rollout::Event> {
    s.controller.events()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reflects_the_controller() {
    let s = start(|b| b).await;
    let list: RolloutList = s.get("/fledge/rollouts").await.json();
    assert_eq!(list.rollouts.len(), 1);
    let status = s.status().await;
    assert_eq!(list.rollouts[0], status);

    let state = s.controller.state();
    assert_eq!(status.name, NAME);
    assert_eq!(status.baseline, "v1");
    assert_eq!(status.candidate, "v2");
    let weights: Vec<f64> = status.steps.iter().map(|st| st.weight).collect();
    assert_eq!(weights, [5.0, 25.0, 50.0, 100.0]);
    assert!(
        status
            .steps
            .iter()
            .all(|st| st.interval_ms == 30_000 && st.gated)
    );
    assert_eq!(status.phase, state.phase);
    assert_eq!(status.phase, Phase::Progressing);
    assert!(!status.terminal);
    assert_eq!(status.step, Some(0));
    assert_eq!(status.step_label.as_deref(), Some("step 1"));
    assert_eq!(status.since, state.since);
    assert_eq!(status.now, clock::T0);
    assert_eq!(status.salt, "predict-v2-2026-11");
    assert_eq!(status.counters.events, state.seq);
    assert_eq!(status.recent_events.len() as u64, state.seq);
    assert!(status.verdict.is_none());
    let candidate = status
        .weights
        .iter()
        .find(|w| w.role == Role::Candidate)
        .expect("candidate weight");
    let baseline = status
        .weights
        .iter()
        .find(|w| w.role == Role::Baseline)
        .expect("baseline weight");
    assert_eq!((candidate.version.as_str(), candidate.weight), ("v2", 5.0));
    assert_eq!((baseline.version.as_str(), baseline.weight), ("v1", 95.0));
    assert_eq!(
        s.controller
            .selector()
            .split()
            .weight_of("v2")
            .map(|w| w.bps()),
        Some(500)
    );
    // No-store: a status must never come from a cache.
    assert_eq!(
        s.get("/fledge/rollouts").await.headers["cache-control"],
        "no-store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_resume() {
    let s = start(with_operator).await;
    let path = format!("/fledge/rollouts/{NAME}");

    let a = s
        .post(
            &format!("{path}/pause"),
            r#"{"reason": "investigating a ticket"}"#,
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let event: EventView = a.json();
    assert_eq!(event.kind, EventKind::Paused);
    assert_eq!(event.by.as_deref(), Some("alice"));
    assert!(
        event.reason.contains("investigating a ticket"),
        "{}",
        event.reason
    );
    let status = s.status().await;
    assert_eq!(status.phase.name(), PhaseName::Paused);
    assert!(matches!(s.controller.state().phase, Phase::Paused { .. }));
    // The weight holds while paused.
    assert_eq!(status.weights[0].weight, 5.0);

    // An empty body is fine: no reason.
    let a = s.post(&format!("{path}/resume"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    let event: EventView = a.json();
    assert_eq!(event.kind, EventKind::Resumed);
    assert_eq!(s.controller.state().phase, Phase::Progressing);
    assert_eq!(s.status().await.phase, Phase::Progressing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_publishes_zero_and_is_in_the_history() {
    let s = start(with_operator).await;
    let a = s
        .post(
            &format!("/fledge/rollouts/{NAME}/rollback"),
            r#"{"reason": "p99 regression seen in the dashboards"}"#,
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let event: EventView = a.json();
    assert_eq!(event.kind, EventKind::RolledBack);
    assert_eq!(event.weight, 0.0);

    // The selector has it before the answer: every user is back on v1.
    let selector = s.controller.selector();
    assert_eq!(selector.split().weight_of("v2").map(|w| w.bps()), Some(0));
    let routing = s.controller.routing();
    for user in 0..1_000 {
        let key = format!("user-{user}");
        assert_eq!(routing.route(Some(key.as_bytes()), &()), routing.baseline());
    }

    // The history says who and why.
    let page: EventPage = s
        .get(&format!("/fledge/rollouts/{NAME}/events?since=0"))
        .await
        .json();
    assert_eq!(page.total, s.controller.state().seq);
    let last = page.events.last().expect("events");
    assert_eq!(last.kind, EventKind::RolledBack);
    assert_eq!(last.by.as_deref(), Some("alice"));
    assert!(
        last.reason
            .contains("p99 regression seen in the dashboards")
    );
    match &last.input {
        Input::Command { by, reason, .. } => {
            assert_eq!(by, "alice");
            assert_eq!(
                reason.as_deref(),
                Some("p99 regression seen in the dashboards")
            );
        }
        other => panic!("not a command: {other:?}"),
    }
    assert_eq!(page.next, page.total);

    let status = s.status().await;
    assert!(status.terminal);
    assert_eq!(status.phase.name(), PhaseName::RolledBack);
    assert!(
        status
            .weights
            .iter()
            .any(|w| w.role == Role::Candidate && w.weight == 0.0)
    );

    // Paging: since = the last seq gives exactly that event.
    let page: EventPage = s
        .get(&format!(
            "/fledge/rollouts/{NAME}/events?since={}&limit=1",
            last.seq
        ))
        .await
        .json();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].seq, last.seq);
    let page: EventPage = s
        .get(&format!("/fledge/rollouts/{NAME}/events?since=1&limit=1"))
        .await
        .json();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.next, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_weight_is_validated() {
    let s = start(with_operator).await;
    let path = format!("/fledge/rollouts/{NAME}/weight");
    for (body, why) in [
        (r#"{"weight": 150}"#, "above 100"),
        (r#"{"weight": -1}"#, "negative"),
        (r#"{"weight": "abc"}"#, "a string"),
        (r#"{"weight": 12.345}"#, "not a whole basis point"),
        (r#"{"weight": null}"#, "null"),
        (r#"{"reason": "no weight"}"#, "missing"),
        ("", "empty body"),
    ] {
        let a = s.post(&path, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{why}");
        let error = a.error();
        assert_eq!(
            error.field.as_deref(),
            Some("weight"),
            "{why}: {}",
            error.error
        );
        assert!(
            error.error.starts_with("weight: "),
            "{why}: {}",
            error.error
        );
    }
    // Above the current step's weight: the state machine refuses.
    let a = s.post(&path, r#"{"weight": 50}"#).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(
        a.error().error.contains("promote instead"),
        "{}",
        a.error().error
    );
    assert_eq!(s.controller.traffic().candidate.bps(), 500);

    let a = s
        .post(&path, r#"{"weight": 2.5, "reason": "halve the exposure"}"#)
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let event: EventView = a.json();
    assert_eq!(event.kind, EventKind::WeightSet);
    assert_eq!(event.weight, 2.5);
    assert_eq!(
        s.controller
            .selector()
            .split()
            .weight_of("v2")
            .map(|w| w.bps()),
        Some(250)
    );
    assert!(matches!(s.controller.state().phase, Phase::Paused { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_need_the_token() {
    let s = start(|b| b).await;
    let path = format!("/fledge/rollouts/{NAME}/rollback");
    let seq = s.controller.state().seq;
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789abcdef".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_owned()),
        Some("Bearer".to_owned()),
    ] {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let a = s.send(Method::POST, &path, &headers, "").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            a.headers["www-authenticate"],
            "Bearer realm=\"fledge-admin\""
        );
        assert!(a.error().error.contains("Authorization: Bearer"));
    }
    // Nothing happened, not even a refusal in the log.
    assert_eq!(s.controller.state().seq, seq);
    assert_eq!(s.controller.traffic().candidate.bps(), 500);

    // Reads need it too by default.
    let a = s.send(Method::GET, "/fledge/rollouts", &[], "").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = s
        .send(
            Method::GET,
            &format!("/fledge/rollouts/{NAME}/events"),
            &[],
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // The scheme is case-insensitive; the fixed operator is recorded.
    let auth = format!("bearer {TOKEN}");
    let a = s
        .send(Method::POST, &path, &[("authorization", &auth)], "")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json::<EventView>().by.as_deref(), Some("admin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reads_still_guard_commands() {
    let s = start(|b| b.read_access(ReadAccess::Open).operator("ops-bot")).await;
    let a = s.send(Method::GET, "/fledge/rollouts", &[], "").await;
    assert_eq!(a.status, StatusCode::OK);
    let a = s
        .send(Method::GET, &format!("/fledge/rollouts/{NAME}"), &[], "")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = s
        .send(
            Method::POST,
            &format!("/fledge/rollouts/{NAME}/pause"),
            &[],
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = s.post(&format!("/fledge/rollouts/{NAME}/pause"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json::<EventView>().by.as_deref(), Some("ops-bot"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_rollout_command_or_route_is_404() {
    let s = start(with_operator).await;
    let a = s.get("/fledge/rollouts/nope").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.error().error.contains("predict-v2"),
        "lists the known ones"
    );
    let a = s.get("/fledge/rollouts/nope/events").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = s.post("/fledge/rollouts/nope/pause", "").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = s
        .post(&format!("/fledge/rollouts/{NAME}/explode"), "")
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.error().error.contains("promote-full"),
        "{}",
        a.error().error
    );
    let a = s.get("/fledge/nothing/here").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // The service next to it is untouched.
    let a = s.send(Method::GET, "/predict", &[], "").await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_command_is_409_and_logged() {
    let s = start(with_operator).await;
    let a = s
        .post(&format!("/fledge/rollouts/{NAME}/approve"), "")
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let error = a.error();
    assert!(
        error.error.contains("no step waits for approval"),
        "{}",
        error.error
    );
    let last = events_of(&s).pop().expect("an event");
    assert_eq!(last.kind, EventKind::Rejected);
    assert_eq!(last.reason, error.error);

    let a = s
        .post(&format!("/fledge/rollouts/{NAME}/restart"), "")
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = s.post(&format!("/fledge/rollouts/{NAME}/resume"), "").await;
    assert_eq!(a.status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400() {
    let s = start(with_operator).await;
    let path = format!("/fledge/rollouts/{NAME}/pause");
    for (body, field) in [
        ("{not json", None),
        ("[1, 2]", None),
        ("\"pause\"", None),
        (r#"{"reason": "x", "by": "mallory"}"#, None),
        (r#"{"reason": 5}"#, Some("reason")),
        (r#"{"reason": ["a"]}"#, Some("reason")),
    ] {
        let a = s.post(&path, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.error().field.as_deref(), field, "{body}");
    }
    let long = format!(r#"{{"reason": "{}"}}"#, "x".repeat(1_001));
    let a = s.post(&path, &long).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.error().field.as_deref(), Some("reason"));
    let huge = format!(r#"{{"reason": "{}"}}"#, "x".repeat(40_000));
    let a = s.post(&path, &huge).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    // The operator header is required once configured.
    let auth = format!("Bearer {TOKEN}");
    let a = s
        .send(Method::POST, &path, &[("authorization", &auth)], "")
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().error.contains("x-forwarded-user"));
    let a = s
        .send(
            Method::POST,
            &path,
            &[("authorization", &auth), ("x-forwarded-user", "  ")],
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // Bad queries.
    for q in [
        "since=abc",
        "since=-1",
        "limit=0",
        "limit=100000",
        "color=red",
    ] {
        let a = s.get(&format!("/fledge/rollouts/{NAME}/events?{q}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
    }
    // A path that does not decode to UTF-8.
    let a = s.get("/fledge/rollouts/%FF%FE").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // None of it changed the rollout.
    assert_eq!(s.controller.state().phase, Phase::Progressing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_is_served_and_polls_the_status() {
    let s = start(|b| b).await;
    // Nested at `/fledge`, the page is `/fledge` (axum 0.8's `nest` leaves
    // `/fledge/` to the outer router).
    {
        let a = s.send(Method::GET, "/fledge", &[], "").await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(
            a.headers["content-type"]
                .to_str()
                .is_ok_and(|c| c.starts_with("text/html"))
        );
        let csp = a.headers["content-security-policy"].to_str().expect("csp");
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        // The inline script and style are allowed by hash, nothing else inline.
        assert!(csp.contains("script-src 'sha256-") && csp.contains("style-src 'sha256-"));
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = String::from_utf8(a.body.to_vec()).expect("utf-8");
        assert!(html.contains("\"/rollouts\""), "polls the status endpoint");
        assert!(html.contains("/series?since="), "loads the history");
        assert!(html.contains("/events?since="), "loads the events");
        assert!(html.contains("setInterval(poll, 1000)"));
        // Reads need the token here: the page waits for it before reading.
        assert!(html.contains(r#"<meta name="fledge-reads" content="token">"#));
        // Self-contained: no external scripts, styles or images.
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        assert!(!html.contains("<script src") && !html.contains("<link"));
        assert_eq!(html, fledge_admin::DASHBOARD_HTML);
    }
    // With open reads, the page reads without a token; same policy.
    let open = start(|b| b.read_access(ReadAccess::Open)).await;
    let a = open.send(Method::GET, "/fledge", &[], "").await;
    let html = String::from_utf8(a.body.to_vec()).expect("utf-8");
    assert!(html.contains(r#"<meta name="fledge-reads" content="open">"#));
    assert_eq!(
        a.headers["content-security-policy"],
        s.send(Method::GET, "/fledge", &[], "").await.headers["content-security-policy"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_gate_shows_per_check_explanations() {
    let s = start(|b| b).await;
    // A slow candidate: p99 80 ms against a 50 ms bound.
    s.traffic(3, 300, 80);
    let status = s.status().await;
    assert_eq!(
        status.phase.name(),
        PhaseName::RolledBack,
        "{:?}",
        status.phase
    );
    let verdict = status.verdict.expect("a verdict");
    assert_eq!(verdict.outcome, Outcome::Fail);
    let p99 = verdict
        .checks
        .iter()
        .find(|c| c.name == "p99 latency")
        .expect("the p99 check");
    assert_eq!(p99.outcome, fledge_gate::Outcome::Fail);
    assert!(!p99.detail.is_empty());
    assert!(verdict.checks.iter().any(|c| c.name == "error rate"));

    // Why did it roll back? The gates, not an operator.
    let page: EventPage = s
        .get(&format!("/fledge/rollouts/{NAME}/events"))
        .await
        .json();
    let rollback = page
        .events
        .iter()
        .find(|e| e.kind == EventKind::RolledBack)
        .expect("the rollback");
    assert!(rollback.by.is_none());
    assert!(matches!(
        rollback.input,
        Input::Verdict {
            outcome: Outcome::Fail,
            ..
        }
    ));
    assert!(
        rollback.reason.contains("p99 latency"),
        "{}",
        rollback.reason
    );

    // Restart: a new attempt with a new salt.
    let a = s
        .post(&format!("/fledge/rollouts/{NAME}/restart"), "")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let status = s.status().await;
    assert_eq!(status.counters.attempt, 1);
    assert_eq!(status.salt, "predict-v2-2026-11#1");
    assert_eq!(status.phase, Phase::Progressing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_walks_the_steps() {
    let s = start(|b| b).await;
    let path = format!("/fledge/rollouts/{NAME}");
    let a = s.post(&format!("{path}/promote"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json::<EventView>().weight, 25.0);
    assert_eq!(s.controller.traffic().candidate.bps(), 2_500);
    let a = s.post(&format!("{path}/freeze"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    // Frozen refuses promotion.
    let a = s.post(&format!("{path}/promote-full"), "").await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = s.post(&format!("{path}/resume"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    let a = s.post(&format!("{path}/promote-full"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(s.status().await.phase, Phase::Promoted);
    assert_eq!(s.controller.traffic().candidate.bps(), 10_000);
    let a = s.post(&format!("{path}/abort"), "").await;
    assert_eq!(a.status, StatusCode::CONFLICT);
}

/// The same router, without a socket: `tower::ServiceExt::oneshot`.
#[tokio::test]
async fn oneshot_without_a_socket() {
    let (controller, _clock) = controller();
    let router = fledge_admin::router([controller.clone()], TOKEN).expect("router");
    let send = |req: Request<axum::body::Body>| router.clone().oneshot(req);

    let res = send(
        Request::get(format!("/rollouts/{NAME}"))
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = send(
        Request::post(format!("/rollouts/{NAME}/pause"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(axum::body::Body::from(r#"{"reason": "oneshot"}"#))
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let event: EventView = serde_json::from_slice(&body).expect("an event");
    assert_eq!(event.kind, EventKind::Paused);
    assert_eq!(event.by.as_deref(), Some("admin"));
    assert!(matches!(controller.state().phase, Phase::Paused { .. }));

    let res = send(
        Request::post(format!("/rollouts/{NAME}/pause"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::CONFLICT, "already paused");

    let res = send(
        Request::get("/")
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn configuration_errors_are_explained() {
    let (controller, _clock) = controller();
    let err = Admin::builder()
        .rollout(controller.clone())
        .build()
        .expect_err("no token");
    assert_eq!(err, AdminError::MissingToken);
    assert!(err.to_string().contains("openssl rand"));

    let err = Admin::builder().token("short").build().expect_err("short");
    assert_eq!(err, AdminError::TokenLength { len: 5 });
    let err = Admin::builder()
        .token("has a space in the token")
        .build()
        .expect_err("space");
    assert_eq!(err, AdminError::TokenCharacters);

    let err = Admin::builder()
        .token(TOKEN)
        .rollouts([controller.clone(), controller.clone()])
        .build()
        .expect_err("duplicate");
    assert_eq!(
        err,
        AdminError::DuplicateRollout {
            name: NAME.to_owned()
        }
    );

    let err = Admin::builder()
        .token(TOKEN)
        .operator_header("bad header")
        .build()
        .expect_err("header");
    assert!(matches!(err, AdminError::OperatorHeader { .. }));
    let err = Admin::builder()
        .token(TOKEN)
        .operator("")
        .build()
        .expect_err("operator");
    assert!(matches!(err, AdminError::OperatorName { .. }));

    let admin = Admin::builder()
        .token(TOKEN)
        .rollout(controller)
        .build()
        .expect("builds");
    assert_eq!(admin.rollouts().collect::<Vec<_>>(), [NAME]);
    assert!(
        !format!("{admin:?}").contains(TOKEN),
        "Debug hides the token"
    );
}

/// Arbitrary bodies, paths and headers never panic the router nor answer
/// 500: a small deterministic fuzz through `oneshot`.
#[tokio::test]
async fn arbitrary_input_never_panics() {
    let (controller, _clock) = controller();
    let router = Admin::builder()
        .rollout(controller)
        .token(TOKEN)
        .operator_header("x-forwarded-user")
        .build()
        .expect("builds")
        .router();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"weight\"",
        b"\"reason\"",
        b":",
        b",",
        b"1e400",
        b"-0",
        b"100.001",
        b"12.5",
        b"null",
        b"true",
        b"\"\xff\"",
        b"\"x\"",
        b" ",
        b"\\u0000",
        b"99",
    ];
    let segments = [
        "pause",
        "weight",
        "resume",
        "promote",
        "rollback",
        "approve",
        "freeze",
        "abort",
        "restart",
        "promote-full",
        "events",
        "%2e%2e",
        "%00",
        "",
    ];
    for i in 0..400 {
        let mut body = Vec::new();
        for _ in 0..(next() % 12) {
            body.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        let segment = segments[(next() % segments.len() as u64) as usize];
        let name = if next() % 5 == 0 { "x%20y" } else { NAME };
        let user = ["alice", "", "\u{7f}", "bob smith"][(next() % 4) as usize];
        let mut req = Request::post(format!("/rollouts/{name}/{segment}"))
            .header("authorization", format!("Bearer {TOKEN}"));
        if let Ok(value) = http::HeaderValue::from_str(user) {
            req = req.header("x-forwarded-user", value);
        }
        let req = req
            .body(axum::body::Body::from(body.clone()))
            .expect("request");
        let res = router.clone().oneshot(req).await.expect("infallible");
        assert!(
            !res.status().is_server_error(),
            "#{i} {segment} {}: {}",
            String::from_utf8_lossy(&body),
            res.status()
        );
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        // Every answer is JSON, a 405 included.
        let _: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON answers");
    }
}

/// Commands and reads over HTTP while another thread ticks the controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_race_with_ticks() {
    let s = Arc::new(start(with_operator).await);
    let ticker = {
        let (controller, clock) = (s.controller.clone(), s.clock.clone());
        std::thread::spawn(move || {
            for _ in 0..200 {
                let _ = controller.tick(clock.advance(Duration::from_millis(500)));
            }
        })
    };
    for _ in 0..20 {
        for command in ["pause", "resume", "promote"] {
            let a = s
                .post(&format!("/fledge/rollouts/{NAME}/{command}"), "")
                .await;
            assert!(
                a.status == StatusCode::OK || a.status == StatusCode::CONFLICT,
                "{command}: {}",
                a.status
            );
        }
        // A status is one consistent view: its events never run ahead.
        let status = s.status().await;
        assert!(status.counters.events <= s.controller.state().seq);
        assert_eq!(
            status.recent_events.last().map(|e| e.seq + 1),
            Some(status.counters.events)
        );
    }
    ticker.join().expect("the ticker");
    assert!(s.controller.verify_log().expect("replays"));
}

/// Both routers nest into an application that has state of its own, applied
/// after them.
#[tokio::test]
async fn nests_in_an_app_with_state() {
    #[derive(Clone)]
    struct AppState {
        greeting: &'static str,
    }
    let (controller, _clock) = controller();
    let admin = Admin::builder()
        .rollout(controller.clone())
        .token(TOKEN)
        .build()
        .expect("builds");
    let app: Router = Router::new()
        .route(
            "/hello",
            get(|State(s): State<AppState>| async move { s.greeting }),
        )
        .nest("/fledge", admin.router())
        .nest(
            "/ops",
            fledge_admin::router([controller], TOKEN).expect("router"),
        )
        .with_state(AppState { greeting: "hello" });
    let get = |path: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let res = app
        .clone()
        .oneshot(get("/hello"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"hello");
    let res = app
        .clone()
        .oneshot(get("/fledge/rollouts"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let list: RolloutList = serde_json::from_slice(&body).expect("a list");
    assert_eq!(list.rollouts.len(), 1);
    let res = app
        .oneshot(get(&format!("/ops/rollouts/{NAME}")))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
}

/// Every error is JSON naming what is wrong, whatever the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json() {
    let s = start(with_operator).await;
    let json_error = |a: &Answer, status: StatusCode, what: &str| {
        assert_eq!(a.status, status, "{what}");
        assert_eq!(a.headers["content-type"], "application/json", "{what}");
        let error = a.error();
        assert!(!error.error.is_empty(), "{what}");
        error
    };
    let path = format!("/fledge/rollouts/{NAME}");

    let a = s
        .send(Method::POST, &format!("{path}/pause"), &[], "")
        .await;
    let e = json_error(&a, StatusCode::UNAUTHORIZED, "no token");
    assert!(e.error.contains("Authorization: Bearer"), "{}", e.error);

    let a = s
        .post(&format!("{path}/weight"), r#"{"weight": "half"}"#)
        .await;
    let e = json_error(&a, StatusCode::BAD_REQUEST, "bad field");
    assert_eq!(e.field.as_deref(), Some("weight"));
    assert!(e.error.contains("got a string"), "{}", e.error);

    let a = s.post(&format!("{path}/launch"), "").await;
    let e = json_error(&a, StatusCode::NOT_FOUND, "unknown command");
    assert!(
        e.error.contains("\"launch\"") && e.error.contains("rollback"),
        "{}",
        e.error
    );

    let a = s.get("/fledge/nothing").await;
    let e = json_error(&a, StatusCode::NOT_FOUND, "no route");
    assert!(e.error.contains("/nothing"), "{}", e.error);

    let a = s.get(&format!("{path}/pause")).await;
    let e = json_error(&a, StatusCode::METHOD_NOT_ALLOWED, "GET on a command");
    assert!(
        e.error.contains("GET") && e.error.contains("POST"),
        "{}",
        e.error
    );
    let a = s.post("/fledge/rollouts", "").await;
    json_error(&a, StatusCode::METHOD_NOT_ALLOWED, "POST on a read");

    let a = s.post(&format!("{path}/approve"), "").await;
    let e = json_error(&a, StatusCode::CONFLICT, "refused");
    assert_eq!(
        Some(e.error),
        events_of(&s).pop().map(|e| e.reason),
        "the state machine's reason"
    );

    let huge = format!(r#"{{"reason": "{}"}}"#, "x".repeat(40_000));
    let a = s.post(&format!("{path}/pause"), &huge).await;
    let e = json_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "too large");
    assert!(e.error.contains("16384 bytes"), "{}", e.error);
}

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_answers_the_documented_json() {
    let s = start(|b| b).await;
    // Three seconds of traffic: 20 requests per version per second.
    s.traffic(3, 20, 12);
    let a = s.get(&format!("/fledge/rollouts/{NAME}/series")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.headers["cache-control"], "no-store");
    let v: serde_json::Value = a.json();
    assert_eq!(
        keys(&v),
        [
            "baseline",
            "candidate",
            "limits",
            "next",
            "points",
            "rollout",
            "versions"
        ]
    );
    assert_eq!(v["rollout"], NAME);
    assert_eq!(v["versions"], serde_json::json!(["v2", "v1"]));
    assert_eq!(
        (&v["candidate"], &v["baseline"]),
        (&"v2".into(), &"v1".into())
    );
    // The canonical plan's one threshold gate.
    assert_eq!(
        v["limits"],
        serde_json::json!([{"gate": "p99 latency", "metric": "latency_p99", "max": 50.0, "min": null}])
    );
    let points = v["points"].as_array().expect("points");
    assert_eq!(points.len(), 3);
    let first = &points[0];
    assert_eq!(
        keys(first),
        ["at", "span_ms", "step", "versions", "weight_bps"]
    );
    assert_eq!(first["at"], clock::T0.as_millis() + 1000);
    assert_eq!(first["span_ms"], 1000);
    assert_eq!(first["step"], 0);
    assert_eq!(first["weight_bps"], 500);
    let v2 = &first["versions"][0];
    assert_eq!(
        keys(v2),
        ["errors", "id", "metrics", "p50_ms", "p99_ms", "requests"]
    );
    assert_eq!(v2["id"], "v2");
    assert_eq!(v2["requests"], 20);
    assert_eq!(v2["errors"], 0);
    let p99 = v2["p99_ms"].as_f64().expect("p99 is a number");
    assert!((11.9..12.1).contains(&p99), "{p99}");
    assert_eq!(v2["metrics"], serde_json::json!({}));
    assert_eq!(first["versions"][1]["id"], "v1");
    assert_eq!(v["next"], points[2]["at"]);

    // Polling with `next`: nothing new, then the next tick only. A span
    // without requests has null quantiles.
    let next = v["next"].as_u64().expect("next");
    let a = s
        .get(&format!("/fledge/rollouts/{NAME}/series?since={next}"))
        .await;
    let empty: fledge_admin::Series = a.json();
    assert!(empty.points.is_empty());
    assert_eq!(empty.next.as_millis(), next);
    s.traffic(1, 0, 12);
    let a = s
        .get(&format!("/fledge/rollouts/{NAME}/series?since={next}"))
        .await;
    let v: serde_json::Value = a.json();
    assert_eq!(v["points"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["points"][0]["versions"][0]["requests"], 0);
    assert!(v["points"][0]["versions"][0]["p50_ms"].is_null());
    assert!(v["points"][0]["versions"][0]["p99_ms"].is_null());
    // The Rust types read it back.
    let series: fledge_admin::Series = a.json();
    assert_eq!(series.points[0].versions[1].id, "v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_refuses_a_bad_since_and_needs_read_access() {
    let s = start(|b| b).await;
    for bad in ["abc", "-1", "1.5", "99999999999999999999999"] {
        let a = s
            .get(&format!("/fledge/rollouts/{NAME}/series?since={bad}"))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        let e = a.error();
        assert_eq!(e.field.as_deref(), Some("since"), "{bad}: {}", e.error);
        assert!(e.error.contains("milliseconds"), "{}", e.error);
    }
    let a = s
        .get(&format!("/fledge/rollouts/{NAME}/series?from=3"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().error.contains("since"), "{}", a.error().error);
    let a = s.get("/fledge/rollouts/nope/series").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Reads need the token by default...
    let a = s
        .send(
            Method::GET,
            &format!("/fledge/rollouts/{NAME}/series"),
            &[],
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // ... not when they are open.
    let open = start(|b| b.read_access(ReadAccess::Open)).await;
    let a = open
        .send(
            Method::GET,
            &format!("/fledge/rollouts/{NAME}/series?since=0"),
            &[],
            "",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // A command path's method is still checked: POST on series is 405.
    let a = s.post(&format!("/fledge/rollouts/{NAME}/series"), "").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}
