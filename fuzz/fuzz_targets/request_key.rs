//! Arbitrary request heads through everything fledge reads from a request
//! before routing it: the routing key from a header, a cookie or a query
//! parameter, the QA override header, and the feedback request id. Never a
//! panic; a key is never empty; a cookie value is a piece of the header; a
//! decoded query value is no longer than the raw query; the override is
//! honoured only with the exact secret; a request id parses only with a
//! version and a 16-digit hex nonce.
//!
//! Input layout: byte 0 = length of the first field; then that field (used
//! as the cookie header, the override value and the request id), the rest is
//! the query string (and the header value).

#![no_main]

use fledge_axum::RequestId;
use fledge_tower::QaOverride;
use fledge_tower::key::{KeySource, RequestHead, cookie_value, query_value};
use http::header::{COOKIE, HeaderMap, HeaderValue};
use http::{Extensions, Uri};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "0123456789abcdef0123";

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (field, query) = rest.split_at(usize::from(len).min(rest.len()));

    if let Some(v) = cookie_value(field, "uid") {
        let start = v.as_ptr() as usize - field.as_ptr() as usize;
        assert!(
            start + v.len() <= field.len(),
            "cookie value outside the header"
        );
    }
    let query_text = String::from_utf8_lossy(query);
    if let Some(v) = query_value(&query_text, "user") {
        assert!(v.len() <= query_text.len(), "decoding grew the value");
    }

    let qa = QaOverride::new(SECRET).expect("a strong secret");
    if let Some(version) = qa.check(field) {
        let expected = format!("{version}:{SECRET}");
        assert_eq!(
            field,
            expected.as_bytes(),
            "override honoured without the secret"
        );
    }

    let id = String::from_utf8_lossy(field);
    if let Some((version, _payload)) = RequestId::parse(&id) {
        assert!(!version.is_empty());
    }

    // Through the key sources, on a real `http` request head.
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(field) {
        headers.append(COOKIE, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(query) {
        headers.append("x-user-id", v);
    }
    let uri = format!("/predict?{query_text}")
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/predict"));
    let extensions = Extensions::new();
    let head = RequestHead {
        uri: &uri,
        headers: &headers,
        extensions: &extensions,
    };
    for source in [
        KeySource::default(),
        KeySource::cookie("uid"),
        KeySource::query("user"),
    ] {
        if let Some(key) = source.extract(&head) {
            assert!(!key.is_empty(), "an empty key from {source:?}");
        }
    }
});
