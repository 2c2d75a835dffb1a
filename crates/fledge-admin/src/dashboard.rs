//! The live dashboard: one self-contained HTML page, no external assets.

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};

/// The page. It polls `<mount>/rollouts` every second and builds the view
/// with DOM text nodes only (event reasons are operator input, never HTML).
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// Inline script and style only, requests to this origin only, no framing.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page. It holds no data, so it is served without a token;
/// the data it polls needs one unless reads are open.
pub(crate) async fn page() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        DASHBOARD_HTML,
    )
        .into_response()
}
