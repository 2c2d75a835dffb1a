//! The live dashboard: one self-contained HTML page, no external assets,
//! served under a strict `Content-Security-Policy` that allows its one
//! inline script and one inline style by their SHA-256 hashes.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};

use crate::csp;
use crate::state::{ReadAccess, Shared};

/// The page. It loads each rollout's whole history
/// (`<mount>/rollouts/{name}/series` and `/events`), then polls
/// `<mount>/rollouts` and the new points and events every second, and
/// builds its view with DOM text nodes only (event reasons are operator
/// input, never HTML). As served, its `fledge-reads` meta tag says whether
/// reads need the token (`token`, as here) or not (`open`).
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// The meta tag telling the page that reads need the token.
const READS_TOKEN: &str = r#"<meta name="fledge-reads" content="token">"#;
/// The same, for open reads.
const READS_OPEN: &str = r#"<meta name="fledge-reads" content="open">"#;

/// The page's text between the first `open` tag and the following `close`.
fn inline(open: &str, close: &str) -> Option<&'static str> {
    let start = DASHBOARD_HTML.find(open)? + open.len();
    let end = start + DASHBOARD_HTML[start..].find(close)?;
    Some(&DASHBOARD_HTML[start..end])
}

/// The policy: the page's own script and style by hash, requests to this
/// origin only, nothing else loaded, no framing, no forms, no `<base>`.
pub(crate) static CSP: LazyLock<String> = LazyLock::new(|| {
    let source =
        |open, close| inline(open, close).map_or_else(|| "'none'".to_owned(), csp::hash_source);
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        source("<script>", "</script>"),
        source("<style>", "</style>"),
    )
});

/// The page as served for open reads.
static OPEN_PAGE: LazyLock<String> =
    LazyLock::new(|| DASHBOARD_HTML.replacen(READS_TOKEN, READS_OPEN, 1));

/// `GET /`: the page. It holds no data, so it is served without a token;
/// the data it polls needs one unless reads are open.
pub(crate) async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let html: &'static str = match shared.reads {
        ReadAccess::Token => DASHBOARD_HTML,
        ReadAccess::Open => OPEN_PAGE.as_str(),
    };
    let csp = HeaderValue::from_str(&CSP)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CONTENT_SECURITY_POLICY, csp),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_one_script_and_one_style_allowed_by_hash() {
        assert_eq!(DASHBOARD_HTML.matches("<script").count(), 1);
        assert_eq!(DASHBOARD_HTML.matches("<style").count(), 1);
        assert!(DASHBOARD_HTML.contains(READS_TOKEN));
        assert!(OPEN_PAGE.contains(READS_OPEN) && !OPEN_PAGE.contains(READS_TOKEN));
        let script = inline("<script>", "</script>").expect("script");
        let style = inline("<style>", "</style>").expect("style");
        assert!(script.len() > 1000 && style.len() > 100);
        assert!(CSP.contains(&csp::hash_source(script)));
        assert!(CSP.contains(&csp::hash_source(style)));
        assert!(!CSP.contains("unsafe"));
        assert!(HeaderValue::from_str(&CSP).is_ok());
        // No inline handlers or style attributes, which hashes do not allow.
        let body = &DASHBOARD_HTML[DASHBOARD_HTML.find("<body").expect("body")..];
        assert!(!body.contains(" onclick=") && !body.contains(" style="));
    }
}
