//! Shared helpers for fledge's cross-crate integration tests: test data, a
//! controller on a manual clock, an axum app served on loopback, and an HTTP
//! client that reads the answering version.
//!
//! The tests themselves live next to this file, one file per behaviour, each
//! declared as a `[[test]]` in `tests/Cargo.toml`.

pub mod fleet;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_rollout::Controller;
use fledge_rollout::plan::Plan;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Path of a file under the repository's `testdata/` folder.
///
/// `testdata/conformance/` is a copy of the public conformance data described in
/// `testdata/conformance/README.md`.
pub fn testdata(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("testdata")
        .join(relative)
}

/// Reads and parses a JSON file under `testdata/`, panicking with the path on
/// failure (test helper: a missing fixture must fail the test loudly).
pub fn testdata_json(relative: &str) -> serde_json::Value {
    let path = testdata(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// The manual clock's start in the tests (milliseconds since the epoch).
pub const T0: u64 = 1_800_000_000_000;

/// A controller for `plan` on a manual clock at [`T0`].
pub fn controller(plan: Plan) -> (Arc<Controller>, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    (fledge_test::plans::controller(plan, &clock), clock)
}

/// The tests' HTTP/1 client.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new [`HttpClient`].
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Serves `app` on a loopback port on a spawned task; returns the address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    fledge_test::server::spawn(app).await
}

/// What came back: status, `x-fledge-version` (empty without one), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response status.
    pub status: StatusCode,
    /// The version that answered, from `x-fledge-version`.
    pub version: String,
    /// The body, as text.
    pub body: String,
}

/// Sends `req` and reads the whole response.
pub async fn call(client: &HttpClient, req: http::Request<Full<Bytes>>) -> Reply {
    let res = client.request(req).await.expect("response");
    let status = res.status();
    let version = res
        .headers()
        .get("x-fledge-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        version,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The repository README's Rust code blocks, compiled and run as doctests
/// (here, in a package that is not published, so that every published
/// crate packages without files from outside its folder).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
