//! The routing key: which part of a request makes a user sticky.
//!
//! [`KeySource`] reads a header (default `x-user-id`), a cookie, a query
//! parameter, or calls a closure. Header, cookie and query keys are read in
//! place: no allocation unless a query value is percent-encoded. What happens
//! when a request has no key is [`NoKey`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::header::{COOKIE, HeaderName};
use http::{Extensions, HeaderMap, HeaderValue, Uri};

use crate::error::ConfigError;

/// The default key header.
pub const DEFAULT_KEY_HEADER: &str = "x-user-id";

/// The parts of an HTTP request a key closure may look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The request's URI.
    pub uri: &'a Uri,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The request's extensions (e.g. claims an auth layer put there).
    pub extensions: &'a Extensions,
}

type KeyFn = Arc<dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync>;

#[derive(Clone)]
enum Source {
    Header(HeaderName),
    Cookie(Arc<str>),
    Query(Arc<str>),
    Fn(KeyFn),
}

/// Where the routing key of a request comes from.
///
/// ```
/// use fledge_tower::KeySource;
///
/// let by_header = KeySource::header("x-account-id")?;
/// let by_cookie = KeySource::cookie("session");
/// let by_query = KeySource::query("user");
/// let by_closure = KeySource::from_fn(|head| {
///     head.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned)
/// });
/// # let _ = (by_header, by_cookie, by_query, by_closure);
/// # Ok::<(), fledge_tower::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeySource(Source);

/// What a [`KeySource`] reads, for adapters with their own request types
/// (actix-web) that extract the key themselves.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum KeyKind<'a> {
    /// A header, lowercase.
    Header(&'a str),
    /// A cookie name.
    Cookie(&'a str),
    /// A query parameter name.
    Query(&'a str),
    /// A closure over `http` request parts (not usable with other request
    /// types).
    Custom,
}

impl KeySource {
    /// The header `name` (case-insensitive) holds the key.
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        Ok(KeySource(Source::Header(
            crate::chosen::static_header_name(name)?,
        )))
    }

    /// The cookie `name` holds the key.
    pub fn cookie(name: impl Into<String>) -> Self {
        KeySource(Source::Cookie(Arc::from(name.into())))
    }

    /// The query parameter `name` holds the key (percent-decoded).
    pub fn query(name: impl Into<String>) -> Self {
        KeySource(Source::Query(Arc::from(name.into())))
    }

    /// A closure computes the key (from a JWT claim, a tenant id, ...). It
    /// runs on every request: keep it cheap.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        KeySource(Source::Fn(Arc::new(f)))
    }

    /// What this source reads.
    pub fn kind(&self) -> KeyKind<'_> {
        match &self.0 {
            Source::Header(h) => KeyKind::Header(h.as_str()),
            Source::Cookie(c) => KeyKind::Cookie(c),
            Source::Query(q) => KeyKind::Query(q),
            Source::Fn(_) => KeyKind::Custom,
        }
    }

    /// The key of a request, if it has one. Empty values count as no key.
    pub fn extract<'a>(&self, head: &RequestHead<'a>) -> Option<Cow<'a, [u8]>> {
        let key = match &self.0 {
            Source::Header(name) => header(head.headers, name).map(|v| Cow::Borrowed(v.as_bytes())),
            Source::Cookie(name) => head
                .headers
                .get_all(COOKIE)
                .iter()
                .find_map(|v| cookie_value(v.as_bytes(), name))
                .map(Cow::Borrowed),
            Source::Query(name) => head.uri.query().and_then(|q| query_value(q, name)),
            Source::Fn(f) => f(head).map(|s| Cow::Owned(s.into_bytes())),
        };
        key.filter(|k| !k.is_empty())
    }
}

impl Default for KeySource {
    /// The `x-user-id` header.
    fn default() -> Self {
        KeySource(Source::Header(HeaderName::from_static(DEFAULT_KEY_HEADER)))
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Header(h) => f.debug_tuple("Header").field(h).finish(),
            Source::Cookie(c) => f.debug_tuple("Cookie").field(c).finish(),
            Source::Query(q) => f.debug_tuple("Query").field(q).finish(),
            Source::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

/// Up to this many header values, [`header`] scans rather than hashes.
const SCAN: usize = 12;

/// The first value of header `name`. `HeaderMap::get` hashes a custom name
/// byte by byte (FNV) before it probes; a request's dozen headers are
/// cheaper to scan, comparing standard names by tag and custom names by
/// length first. Larger maps are looked up.
#[inline]
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.len() <= SCAN {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    } else {
        headers.get(name)
    }
}

/// What to do with a request that has no routing key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoKey {
    /// Pick a version at random with the current weights (the default): the
    /// gates see a representative share, but the same anonymous user may see
    /// both versions.
    #[default]
    Random,
    /// Send it to the stable version: the one owning the last bucket, which is
    /// the baseline while the candidate has less than 100 %, and the candidate
    /// once it is promoted.
    Stable,
}

/// The value of cookie `name` in one `Cookie` header value (`a=1; b=2`), if
/// present. Quotes around the value are removed.
///
/// ```
/// assert_eq!(fledge_tower::key::cookie_value(b"a=1; uid=u-42", "uid"), Some(&b"u-42"[..]));
/// assert_eq!(fledge_tower::key::cookie_value(b"a=1", "uid"), None);
/// ```
pub fn cookie_value<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = trim(pair);
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (k, v) = (trim(&pair[..eq]), trim(&pair[eq + 1..]));
        if k != name.as_bytes() {
            return None;
        }
        Some(match v {
            [b'"', inner @ .., b'"'] => inner,
            v => v,
        })
    })
}

/// The percent-decoded value of parameter `name` in a query string
/// (`a=1&user=u%2042`), if present. Borrowed unless it had to be decoded.
///
/// ```
/// use fledge_tower::key::query_value;
/// assert_eq!(query_value("a=1&user=u-42", "user").as_deref(), Some(&b"u-42"[..]));
/// assert_eq!(query_value("user=u%2042+x", "user").as_deref(), Some(&b"u 42 x"[..]));
/// assert_eq!(query_value("a=1", "user"), None);
/// ```
pub fn query_value<'a>(query: &'a str, name: &str) -> Option<Cow<'a, [u8]>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != name {
            return None;
        }
        Some(percent_decode(v.as_bytes()))
    })
}

fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(uri: &'a Uri, headers: &'a HeaderMap, ext: &'a Extensions) -> RequestHead<'a> {
        RequestHead {
            uri,
            headers,
            extensions: ext,
        }
    }

    #[test]
    fn header_cookie_query_and_closure() {
        let uri: Uri = "/p?x=1&uid=q%2D7".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-user-id", "h-1".parse().unwrap());
        headers.append(COOKIE, "theme=dark".parse().unwrap());
        headers.append(COOKIE, "sid=\"c-9\"; other=1".parse().unwrap());
        let ext = Extensions::new();
        let h = head(&uri, &headers, &ext);
        assert_eq!(
            KeySource::default().extract(&h).as_deref(),
            Some(&b"h-1"[..])
        );
        assert_eq!(
            KeySource::cookie("sid").extract(&h).as_deref(),
            Some(&b"c-9"[..])
        );
        assert_eq!(
            KeySource::query("uid").extract(&h).as_deref(),
            Some(&b"q-7"[..])
        );
        let f = KeySource::from_fn(|h| Some(h.uri.path().to_string()));
        assert_eq!(f.extract(&h).as_deref(), Some(&b"/p"[..]));
        assert_eq!(KeySource::cookie("none").extract(&h), None);
        assert!(KeySource::header("bad header").is_err());
    }

    #[test]
    fn scanning_and_hashing_find_the_same_first_value() {
        let name = HeaderName::from_static("x-user-id");
        for n in [0, 1, 5, SCAN - 1, SCAN, SCAN + 1, 40] {
            let mut headers = HeaderMap::new();
            for i in 0..n {
                headers.append(
                    HeaderName::try_from(format!("x-h-{i}")).unwrap(),
                    HeaderValue::from(i),
                );
                if i == n / 2 {
                    headers.append(name.clone(), HeaderValue::from_static("first"));
                    headers.append(name.clone(), HeaderValue::from_static("second"));
                }
            }
            headers.append(http::header::COOKIE, HeaderValue::from_static("a=1"));
            assert_eq!(header(&headers, &name), headers.get(&name), "{n} headers");
            assert_eq!(
                header(&headers, &http::header::COOKIE),
                headers.get(http::header::COOKIE)
            );
            let absent = HeaderName::from_static("x-absent");
            assert_eq!(header(&headers, &absent), None);
        }
    }

    #[test]
    fn empty_values_are_no_key() {
        let uri: Uri = "/p?uid=".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-user-id", "".parse().unwrap());
        let ext = Extensions::new();
        let h = head(&uri, &headers, &ext);
        assert_eq!(KeySource::default().extract(&h), None);
        assert_eq!(KeySource::query("uid").extract(&h), None);
    }

    #[test]
    fn percent_decoding_tolerates_garbage() {
        assert_eq!(&*percent_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(&*percent_decode(b"a%41"), b"aA");
    }
}
