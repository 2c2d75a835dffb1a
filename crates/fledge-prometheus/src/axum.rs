//! A ready-made axum endpoint (feature `axum`).
//!
//! ```
//! use std::sync::Arc;
//! use prometheus_client::registry::Registry;
//!
//! let registry = Registry::default(); // with a FledgeCollector registered
//! let app: axum::Router = fledge_prometheus::axum::router(Arc::new(registry));
//! # let _ = app;
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::exposition::{CONTENT_TYPE, render};

/// A router serving `registry` at `GET /metrics`; merge or nest it into the
/// application's router.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(handler))
        .with_state(registry)
}

/// The handler behind [`router`]: the registry as OpenMetrics text, or 500
/// with the reason when a metric fails to encode.
pub async fn handler(State(registry): State<Arc<Registry>>) -> Response {
    match render(&registry) {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
