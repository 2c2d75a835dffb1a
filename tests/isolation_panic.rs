//! A panic in the candidate's handler is contained: the client gets a 500,
//! the same keep-alive connection then serves the next request, stable is
//! untouched, and the panic is counted and recorded as the candidate's
//! failure. Where a fallback applies, the user gets stable's answer
//! instead. Real HTTP on loopback (a raw HTTP/1.1 connection, to see it
//! survive).

#[path = "isolation/support.rs"]
mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use fledge_axum::{CanaryLayer, Version};
use fledge_tower::isolation::Fallback;
use http::StatusCode;
use support::{client, controller, plan, recorded, serve, users};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn work(version: Version) -> String {
    if version.id() == "v2" {
        panic!("v2 crashed on this input");
    }
    format!("{}/{}", version.id(), version.reason())
}

/// Sends one request on `stream` and reads one response: (status, version
/// header, body).
async fn exchange(stream: &mut TcpStream, user: &str) -> (u16, String, String) {
    let request = format!("GET /work HTTP/1.1\r\nhost: test\r\nx-user-id: {user}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status: u16 = head[9..12].parse().expect("status");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().expect("content-length");
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    (status, header("x-fledge-version"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_panic_is_contained_and_counted() {
    let (controller, _clock) = controller(plan(""));
    let routing = controller.routing().clone();
    let layer = CanaryLayer::new(routing.clone());
    let handle = layer.isolation_handle();
    let addr: SocketAddr = serve(Router::new().route("/work", get(work)).layer(layer)).await;
    let v2_user = users(&routing, true, 1).remove(0);
    let v1_user = users(&routing, false, 1).remove(0);

    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let (status, version, body) = exchange(&mut conn, &v2_user).await;
    assert_eq!((status, version.as_str(), body.as_str()), (500, "v2", ""));
    // The same connection carries on, and stable answers.
    let (status, version, body) = exchange(&mut conn, &v1_user).await;
    assert_eq!(
        (status, version.as_str(), body.as_str()),
        (200, "v1", "v1/sticky")
    );
    let (status, ..) = exchange(&mut conn, &v2_user).await;
    assert_eq!(status, 500);

    // Other connections and stable's traffic were never affected.
    let client = client();
    for user in users(&routing, false, 20) {
        let reply = support::get(&client, addr, "/work", &user).await;
        assert_eq!(reply.status, StatusCode::OK);
    }

    assert_eq!(handle.stats("v2").expect("v2").panics, 2);
    assert_eq!(recorded(&controller, 0), (2, 2));
    assert_eq!(recorded(&controller, 1), (21, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_panic_falls_back_to_stable_where_enabled() {
    let (controller, _clock) = controller(plan(""));
    let routing = controller.routing().clone();
    let layer = CanaryLayer::new(routing.clone()).fallback(Fallback::idempotent());
    let handle = layer.isolation_handle();
    let addr = serve(Router::new().route("/work", get(work)).layer(layer)).await;
    let v2_user = users(&routing, true, 1).remove(0);

    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let (status, version, body) = exchange(&mut conn, &v2_user).await;
    assert_eq!(
        (status, version.as_str(), body.as_str()),
        (200, "v1", "v1/fallback")
    );

    let stats = handle.stats("v2").expect("v2");
    assert_eq!((stats.panics, stats.fallbacks), (1, 1));
    assert_eq!(recorded(&controller, 0), (1, 1));
    assert_eq!(recorded(&controller, 1), (1, 0));
}
