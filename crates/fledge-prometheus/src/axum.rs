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
///
/// It carries its own state, so it fits an application of any state type
/// `S`, before or after the application's `.with_state(..)`:
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, extract::State, routing::get};
/// use prometheus_client::registry::Registry;
///
/// #[derive(Clone)]
/// struct AppState { model: &'static str }
///
/// let registry = Arc::new(Registry::default());
/// let app: Router = Router::new()
///     .route("/model", get(|State(s): State<AppState>| async move { s.model }))
///     .merge(fledge_prometheus::axum::router(registry))
///     .with_state(AppState { model: "v2" });
/// # let _ = app;
/// ```
pub fn router<S>(registry: Arc<Registry>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
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
