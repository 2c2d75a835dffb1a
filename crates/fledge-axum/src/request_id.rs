//! [`RequestId`]: a request id that names its version, so feedback can be
//! joined to the version without any state.

use std::fmt;

use axum::response::{IntoResponseParts, ResponseParts};
use http::HeaderValue;
use http::header::HeaderName;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-fledge-request-id";

/// The longest payload kept in a request id, in bytes.
const MAX_PAYLOAD: usize = 128;

/// A request id of the form `<version>~<nonce>[~<payload>]`: the version
/// that served the request, 16 hex digits of randomness, and an optional
/// payload (the prediction, a recommendation list id) that the feedback score
/// receives back.
///
/// The join of feedback to version is encoded in the id, so it costs no
/// memory however many requests wait for feedback. It is not signed: keep the
/// feedback route internal, or behind authentication.
///
/// ```
/// use fledge_axum::RequestId;
///
/// let id = RequestId::new("v2", "41.5");
/// let (version, payload) = RequestId::parse(id.as_str()).unwrap();
/// assert_eq!((version, payload), ("v2", "41.5"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id for `version` with `payload`. Payload bytes outside
    /// `A-Z a-z 0-9 - _ . : + ,` are replaced by `_`, and it is cut at 128
    /// bytes, so the id is always a valid header value.
    pub fn new(version: &str, payload: &str) -> Self {
        let mut id = String::with_capacity(version.len() + 18 + payload.len().min(MAX_PAYLOAD));
        id.push_str(version);
        id.push('~');
        id.push_str(&format!("{:016x}", fledge_select::fast_random_u64()));
        if !payload.is_empty() {
            id.push('~');
            id.extend(payload.chars().take(MAX_PAYLOAD).map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '+' | ',') {
                    c
                } else {
                    '_'
                }
            }));
        }
        RequestId(id)
    }

    /// The version and payload of a request id, or `None` when it is not one.
    pub fn parse(id: &str) -> Option<(&str, &str)> {
        let (version, rest) = id.split_once('~')?;
        let (nonce, payload) = match rest.split_once('~') {
            Some((nonce, payload)) => (nonce, payload),
            None => (rest, ""),
        };
        let valid_nonce = nonce.len() == 16 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
        (!version.is_empty() && valid_nonce).then_some((version, payload))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl IntoResponseParts for RequestId {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        // Built from header-safe characters only; a failure leaves no header.
        if let Ok(value) = HeaderValue::from_str(&self.0) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = RequestId::new("v1", "");
        assert_eq!(RequestId::parse(id.as_str()), Some(("v1", "")));
        let id = RequestId::new("v2", "1.5 é/x");
        assert_eq!(RequestId::parse(id.as_str()), Some(("v2", "1.5___x")));
        assert!(HeaderValue::from_str(id.as_str()).is_ok());
        assert_eq!(RequestId::parse("v2"), None);
        assert_eq!(RequestId::parse("v2~xyz"), None);
        assert_eq!(RequestId::parse("~0123456789abcdef"), None);
        let dotted = RequestId::new("ranker_b.3", "a~b");
        assert_eq!(
            RequestId::parse(dotted.as_str()),
            Some(("ranker_b.3", "a_b"))
        );
        assert_ne!(RequestId::new("v1", ""), RequestId::new("v1", ""));
    }
}
