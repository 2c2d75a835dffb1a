//! The admin API's log lines: `tracing` events with fields. In a test
//! binary of its own, so that no other test registers the same callsites
//! concurrently while the capturing subscriber is being installed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use fledge_admin::Admin;
use fledge_rollout::Controller;
use fledge_test::logs::Capture;
use fledge_test::{clock, plans};
use http::{Method, Request, StatusCode};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";
const NAME: &str = "predict-v2";

fn controller() -> Arc<Controller> {
    plans::controller(plans::canonical(), &clock::manual())
}

/// The events whose message is `message`, taken out of `capture`: their
/// fields, and their level as the field `level`.
fn take(capture: &Capture, message: &str) -> Vec<BTreeMap<String, String>> {
    capture
        .take(message)
        .into_iter()
        .map(|line| {
            let mut fields = line.fields;
            fields.insert("level".into(), line.level.to_string());
            fields
        })
        .collect()
}

/// Commands and refusals are logged with fields, not formatted strings.
/// (A current-thread runtime: the handlers log on this thread, where the
/// subscriber is the default.)
#[tokio::test]
async fn commands_and_refusals_are_logged_with_fields() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let controller = controller();
    let router: Router = Admin::builder()
        .rollout(controller)
        .token(TOKEN)
        .operator_header("x-forwarded-user")
        .build()
        .expect("builds")
        .router();
    let send = |method: Method, path: &str, token: bool, body: &str| {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-forwarded-user", "alice");
        if token {
            req = req.header("authorization", format!("Bearer {TOKEN}"));
        }
        let req = req
            .body(axum::body::Body::from(body.to_owned()))
            .expect("request");
        router.clone().oneshot(req)
    };
    let field = |e: &BTreeMap<String, String>, name: &str| e.get(name).cloned().unwrap_or_default();

    let res = send(
        Method::POST,
        &format!("/rollouts/{NAME}/pause"),
        true,
        r#"{"reason": "maintenance window"}"#,
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let applied = take(&capture, "fledge-admin: command applied");
    let [e] = applied.as_slice() else {
        panic!("one applied: {applied:?}")
    };
    assert_eq!(field(e, "level"), "INFO");
    assert_eq!(field(e, "operator"), "alice");
    assert_eq!(field(e, "command"), "pause");
    assert_eq!(field(e, "rollout"), NAME);
    assert_eq!(field(e, "reason"), "maintenance window");
    assert_eq!(field(e, "event"), "paused");

    // Refused by the state machine: its reason, 409.
    let res = send(Method::POST, &format!("/rollouts/{NAME}/approve"), true, "")
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let refused = take(&capture, "fledge-admin: command refused");
    let [e] = refused.as_slice() else {
        panic!("one refused: {refused:?}")
    };
    assert_eq!(field(e, "level"), "INFO");
    assert_eq!(field(e, "operator"), "alice");
    assert_eq!(field(e, "command"), "approve");
    assert_eq!(field(e, "rollout"), NAME);
    assert_eq!(field(e, "status"), "409");
    assert!(
        field(e, "reason").contains("no step waits for approval"),
        "{e:?}"
    );

    // A bad field: named.
    let res = send(
        Method::POST,
        &format!("/rollouts/{NAME}/weight"),
        true,
        r#"{"weight": 101}"#,
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let refused = take(&capture, "fledge-admin: command refused");
    let [e] = refused.as_slice() else {
        panic!("one refused: {refused:?}")
    };
    assert_eq!(field(e, "field"), "weight");
    assert_eq!(field(e, "command"), "weight");
    assert_eq!(field(e, "status"), "400");

    // No token: a warning; the operator is not known yet, the token never logged.
    let res = send(
        Method::POST,
        &format!("/rollouts/{NAME}/rollback"),
        false,
        "",
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let refused = take(&capture, "fledge-admin: command refused");
    let [e] = refused.as_slice() else {
        panic!("one refused: {refused:?}")
    };
    assert_eq!(field(e, "level"), "WARN");
    assert_eq!(field(e, "command"), "rollback");
    assert_eq!(field(e, "rollout"), NAME);
    assert_eq!(field(e, "status"), "401");
    assert!(!e.contains_key("operator"), "{e:?}");

    // A read without the token: debug.
    let res = send(Method::GET, &format!("/rollouts/{NAME}"), false, "")
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let refused = take(&capture, "fledge-admin: read refused");
    let [e] = refused.as_slice() else {
        panic!("one refused read: {refused:?}")
    };
    assert_eq!(field(e, "level"), "DEBUG");
    assert_eq!(field(e, "read"), "status");
    assert_eq!(field(e, "rollout"), NAME);
    assert_eq!(field(e, "status"), "401");

    let all = capture.lines();
    assert!(
        all.iter()
            .all(|e| e.fields.values().all(|v| !v.contains(TOKEN))),
        "{all:?}"
    );
}
