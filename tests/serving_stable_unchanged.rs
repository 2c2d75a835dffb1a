//! A request served by the stable version keeps its path, query and body,
//! and gets the same status and body as without the layer: the only addition
//! is the `x-fledge-version` header.

#[path = "serving/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use support::{client, plan, serve};

async fn echo(uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String) -> String {
    let ua = headers
        .get("x-custom")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    format!(
        "path={} query={} custom={ua} body={body}",
        uri.path(),
        uri.query().unwrap_or("")
    )
}

async fn call(
    client: &support::HttpClient,
    addr: std::net::SocketAddr,
    user: &str,
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let req = http::Request::post(format!("http://{addr}/api/v1/echo?x=1&y=two"))
        .header("x-user-id", user)
        .header("x-custom", "kept")
        .body(Full::new(Bytes::from_static(b"{\"payload\":[1,2,3]}")))
        .expect("request");
    let res = client.request(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable_requests_are_unchanged() {
    let (controller, _clock) = fledge_tests::controller(plan());
    let plain = Router::new().route("/api/v1/echo", post(echo));
    let with_layer = plain
        .clone()
        .layer(fledge_axum::CanaryLayer::new(controller.routing().clone()));
    let plain_addr = serve(plain).await;
    let layered_addr = serve(with_layer).await;
    let _unused = Arc::new(AtomicBool::new(false));
    let client = client();

    let mut compared = 0;
    for i in 0..200 {
        let user = format!("user-{i}");
        let (s1, h1, b1) = call(&client, plain_addr, &user).await;
        let (s2, h2, b2) = call(&client, layered_addr, &user).await;
        let version = h2
            .get("x-fledge-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if version != "v1" {
            continue;
        }
        compared += 1;
        assert_eq!(s1, s2);
        assert_eq!(b1, b2);
        assert_eq!(
            b2,
            Bytes::from_static(
                b"path=/api/v1/echo query=x=1&y=two custom=kept body={\"payload\":[1,2,3]}"
            )
        );
        // Same headers apart from the variant header (and the date).
        let names = |h: &http::HeaderMap| {
            let mut n: Vec<String> = h
                .keys()
                .map(|k| k.as_str().to_owned())
                .filter(|k| k != "date" && k != "x-fledge-version")
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(&h1), names(&h2));
        assert_eq!(h1.get("content-type"), h2.get("content-type"));
        assert_eq!(h1.get("content-length"), h2.get("content-length"));
    }
    assert!(compared > 150, "only {compared} requests went to v1");
}
