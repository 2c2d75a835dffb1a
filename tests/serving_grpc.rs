//! gRPC-style traffic: HTTP/2, `application/grpc` bodies, status in the
//! `grpc-status` trailer. With `tower-http`'s `GrpcErrorsAsFailures` the layer
//! classifies each call when its body ends, so a version that answers HTTP
//! 200 with `grpc-status: 13` is counted as failing.
//!
//! The server is hyper's HTTP/2 server around a tower service, which is what
//! tonic is; a tonic `RoutingSource`/`Server` takes the same layer through
//! `Server::builder().layer(..)`. Limit: the QA override and key headers are
//! read from HTTP/2 headers (gRPC metadata), which works the same way.

#[path = "serving/support.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use fledge_gate::clock::Timestamp;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::classify::{GrpcErrorsAsFailures, SharedClassifier};
use fledge_tower::{CanaryLayer, Chosen, FixedRouting};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::Layer;

/// A gRPC message frame: uncompressed flag, length, payload.
fn frame(payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.put_u8(0);
    b.put_u32(u32::try_from(payload.len()).unwrap_or(0));
    b.put_slice(payload);
    b.freeze()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_status_trailers_are_classified_per_version() {
    let selector = Arc::new(Selector::new(
        Split::from_pairs([("v2", 5_000), ("v1", 5_000)]).expect("split"),
    ));
    let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).expect("recorder"));
    let routes = FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "grpc"),
        recorder.clone(),
    );

    // A tonic-like unary handler: v2 fails with INTERNAL (13) in the trailers.
    let greeter = tower::service_fn(|req: http::Request<Incoming>| async move {
        let chosen = req.extensions().get::<Chosen>().copied();
        let _ = req.into_body().collect().await;
        let code = if chosen.map(|c| c.id()) == Some("v2") {
            "13"
        } else {
            "0"
        };
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static(code));
        let body = Full::new(frame(b"hello")).with_trailers(async move { Some(Ok(trailers)) });
        let mut res = http::Response::new(body);
        res.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/grpc"),
        );
        Ok::<_, Infallible>(res)
    });
    let service = CanaryLayer::new(routes)
        .classifier(SharedClassifier::new(GrpcErrorsAsFailures::new()))
        .layer(greeter);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector);
    let mut per_version = [0u64; 2];
    for i in 0..200 {
        let req = http::Request::post(format!("http://{addr}/helloworld.Greeter/SayHello"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("x-user-id", format!("caller-{i}"))
            .body(Full::new(frame(b"world")))
            .expect("request");
        let res = client.request(req).await.expect("response");
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.status(), 200);
        let version = res.headers()["x-fledge-version"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let collected = res.into_body().collect().await.expect("body");
        let status = collected
            .trailers()
            .and_then(|t| t.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        match version.as_str() {
            "v2" => {
                assert_eq!(status, "13");
                per_version[0] += 1;
            }
            _ => {
                assert_eq!(status, "0");
                per_version[1] += 1;
            }
        }
    }
    assert!(
        per_version[0] > 50 && per_version[1] > 50,
        "{per_version:?}"
    );

    // Recorded at end of stream: every v2 call failed, no v1 call did.
    let now = Timestamp::from_millis(1);
    let v2 = recorder
        .window(0, now, Duration::from_secs(60))
        .expect("window");
    let v1 = recorder
        .window(1, now, Duration::from_secs(60))
        .expect("window");
    assert_eq!(
        (v2.requests(), v2.errors()),
        (per_version[0], per_version[0])
    );
    assert_eq!((v1.requests(), v1.errors()), (per_version[1], 0));
}
