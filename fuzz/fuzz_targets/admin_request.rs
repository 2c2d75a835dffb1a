//! What fledge-admin reads from outside, through its real router (`tower`
//! `oneshot`, no socket) over real `Controller`s of the canonical plan (one
//! that has ticked three times for the reads, a fresh one per command):
//! command bodies (`POST /rollouts/{name}/{command}`, e.g.
//! `{"weight": 2.5, "reason": ".."}`) and the `events?since=&limit=` and
//! `series?since=` query strings; and, on the client side, the answers a
//! Rust client decodes (`RolloutStatus`, `EventPage`, `Series`,
//! `EventView`, `ErrorBody`).
//!
//! Never a panic and never a 5xx: every answer is 200 or a 4xx whose body
//! is an `ErrorBody` with a message. A 200 decodes as what the endpoint
//! promises (an `EventView`, an `EventPage` whose events are in order with
//! `next <= total`, a `Series`), and the controller's event log still
//! replays to its state. A client-side answer that decodes re-encodes to
//! JSON that decodes to the same JSON.
//!
//! Byte 0 picks the request (`% 4`: command, events, series, client
//! decode) and raw or edit mode (the edit splices the rest into a real
//! body, query or answer at a position and length from bytes 2–4); byte 1
//! picks the command's path segment or the client type.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use fledge_admin::{Admin, ErrorBody, EventPage, EventView, RolloutStatus, Series};
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_rollout::{Controller, Plan};
use http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

const PLAN: &str = include_str!("../../examples/plans/canary.toml");
const TOKEN: &str = "fuzz-token-0123456789abcdef";
const NAME: &str = "predict-v2";

const SEGMENTS: [&str; 16] = [
    "weight",
    "weight",
    "weight",
    "weight",
    "pause",
    "resume",
    "promote",
    "promote-full",
    "approve",
    "freeze",
    "rollback",
    "abort",
    "restart",
    "weight",
    "nope",
    "weight",
];
const BODY: &str = r#"{"weight": 2.5, "reason": "hold at 2.5 % while we look at p99"}"#;
const EVENTS_QUERY: &str = "since=1&limit=2";
const SERIES_QUERY: &str = "since=1700000001000";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fn plan() -> &'static Plan {
    static P: OnceLock<Plan> = OnceLock::new();
    P.get_or_init(|| Plan::from_toml(PLAN).expect("the canonical plan parses"))
}

/// A controller of the canonical plan, with traffic and `ticks` ticks
/// behind it, and its router.
fn app(ticks: u64) -> (Arc<Controller>, axum::Router) {
    let t0 = Timestamp::from_millis(1_700_000_000_000);
    let clock = ManualClock::new(t0);
    let controller = Arc::new(
        Controller::builder(plan().clone())
            .clock(clock.clone())
            .build()
            .expect("the controller starts"),
    );
    let routing = controller.routing();
    for i in 0..ticks {
        for j in 0..20u64 {
            let v = if j % 2 == 0 {
                routing.candidate()
            } else {
                routing.baseline()
            };
            routing
                .recorder()
                .record(v.get(), Duration::from_millis(5 + (i * j) % 9), j == 7);
        }
        controller
            .tick(clock.advance(Duration::from_secs(10)))
            .expect("a tick");
    }
    let router = Admin::builder()
        .rollout(controller.clone())
        .token(TOKEN)
        .build()
        .expect("the admin builds")
        .router();
    (controller, router)
}

/// The read-only endpoints share one controller that has ticked three
/// times (ticking is most of the cost of a fresh one); commands get a fresh
/// controller each, so that an input replays the same.
fn ticked() -> &'static (Arc<Controller>, axum::Router) {
    static APP: OnceLock<(Arc<Controller>, axum::Router)> = OnceLock::new();
    APP.get_or_init(|| app(3))
}

async fn send(
    router: axum::Router,
    method: Method,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a request");
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (status, bytes.to_vec())
}

/// The router's real answers, for the client-side edits.
fn answers() -> &'static [Vec<u8>; 5] {
    static A: OnceLock<[Vec<u8>; 5]> = OnceLock::new();
    A.get_or_init(|| {
        runtime().block_on(async {
            let get = |uri: String| async move {
                let router = ticked().1.clone();
                send(router, Method::GET, &uri, Vec::new()).await.1
            };
            let (_, router) = app(0);
            let event = send(
                router,
                Method::POST,
                &format!("/rollouts/{NAME}/weight"),
                BODY.as_bytes().to_vec(),
            )
            .await
            .1;
            let (_, router) = app(0);
            let error = send(
                router,
                Method::POST,
                &format!("/rollouts/{NAME}/weight"),
                br#"{"weight": 101}"#.to_vec(),
            )
            .await
            .1;
            [
                get(format!("/rollouts/{NAME}")).await,
                get(format!("/rollouts/{NAME}/events")).await,
                get(format!("/rollouts/{NAME}/series")).await,
                event,
                error,
            ]
        })
    })
}

fn splice(seed: &[u8], rest: &[u8]) -> Vec<u8> {
    let at = usize::from(u16::from_le_bytes([
        *rest.first().unwrap_or(&0),
        *rest.get(1).unwrap_or(&0),
    ])) % (seed.len() + 1);
    let len = usize::from(*rest.get(2).unwrap_or(&0) % 32).min(seed.len() - at);
    let mut edited = seed[..at].to_vec();
    edited.extend_from_slice(rest.get(3..).unwrap_or(&[]));
    edited.extend_from_slice(&seed[at + len..]);
    edited
}

/// Bytes as a query string a client could send: anything outside the
/// characters a URI's query allows is percent-encoded (a `%` stays, so
/// broken escapes reach the parser).
fn query(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~=&%+!$'()*,;:@/?".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn stable<T: Serialize + for<'de> Deserialize<'de>>(bytes: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        let first = serde_json::to_value(&value).expect("a decoded value encodes");
        let again: T = serde_json::from_value(first.clone()).expect("its encoding decodes");
        assert_eq!(serde_json::to_value(&again).expect("encodes"), first);
    }
}

fn check_answer(status: StatusCode, body: &[u8]) {
    assert!(
        status == StatusCode::OK || status.is_client_error(),
        "{status}: {}",
        String::from_utf8_lossy(body)
    );
    if status != StatusCode::OK {
        let error: ErrorBody = serde_json::from_slice(body).expect("a 4xx body is an ErrorBody");
        assert!(!error.error.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, pick, rest @ ..] = data else {
        return;
    };
    let kind = mode % 4;
    let edit = (mode / 4) % 2 == 1;
    if kind == 3 {
        let which = usize::from(*pick) % 5;
        let bytes = if edit {
            splice(&answers()[which], rest)
        } else {
            rest.to_vec()
        };
        match which {
            0 => stable::<RolloutStatus>(&bytes),
            1 => stable::<EventPage>(&bytes),
            2 => stable::<Series>(&bytes),
            3 => stable::<EventView>(&bytes),
            _ => stable::<ErrorBody>(&bytes),
        }
        return;
    }
    let seed = match kind {
        0 => BODY,
        1 => EVENTS_QUERY,
        _ => SERIES_QUERY,
    };
    let bytes = if edit {
        splice(seed.as_bytes(), rest)
    } else {
        rest.to_vec()
    };
    let (controller, router) = if kind == 0 { app(0) } else { ticked().clone() };
    let (method, uri, body) = match kind {
        0 => (
            Method::POST,
            format!(
                "/rollouts/{NAME}/{}",
                SEGMENTS[usize::from(*pick) % SEGMENTS.len()]
            ),
            bytes,
        ),
        1 => (
            Method::GET,
            format!("/rollouts/{NAME}/events?{}", query(&bytes)),
            Vec::new(),
        ),
        _ => (
            Method::GET,
            format!("/rollouts/{NAME}/series?{}", query(&bytes)),
            Vec::new(),
        ),
    };
    if http::Uri::try_from(uri.as_str()).is_err() {
        return;
    }
    let (status, answer) = runtime().block_on(send(router, method, &uri, body));
    check_answer(status, &answer);
    if status == StatusCode::OK {
        match kind {
            0 => {
                serde_json::from_slice::<EventView>(&answer).expect("a 200 command is an event");
            }
            1 => {
                let page: EventPage =
                    serde_json::from_slice(&answer).expect("a 200 events answer is a page");
                assert!(
                    page.next <= page.total,
                    "next {} total {}",
                    page.next,
                    page.total
                );
                assert!(page.events.windows(2).all(|w| w[0].seq < w[1].seq));
            }
            _ => {
                serde_json::from_slice::<Series>(&answer).expect("a 200 series answer is a series");
            }
        }
    }
    assert_eq!(controller.verify_log().ok(), Some(true), "the log replays");
});
