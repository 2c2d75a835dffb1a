//! Targeting attributes of an HTTP request: its headers, and the values an
//! earlier middleware put into a [`RequestAttributes`] extension.

use fledge_rollout::plan::Attributes;
use http::{Extensions, HeaderMap};

/// Named values of a request that targeting rules can match with
/// `attribute = "..."` (a region, a tenant, a user's tier). An earlier
/// middleware or extractor inserts it into the request's extensions.
///
/// ```
/// use fledge_tower::RequestAttributes;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(RequestAttributes::new().with("region", "eu-west-1"));
/// # assert_eq!(req.extensions().get::<RequestAttributes>().and_then(|a| a.get("region")), Some("eu-west-1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    pairs: Vec<(String, String)>,
}

impl RequestAttributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) attribute `name`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Sets attribute `name` to `value`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.pairs.iter_mut().find(|(k, _)| *k == name) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((name, value)),
        }
    }

    /// The value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An `http` request's headers and extensions seen as targeting
/// [`Attributes`].
#[derive(Debug, Clone, Copy)]
pub struct HttpAttributes<'a> {
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> HttpAttributes<'a> {
    /// Attributes read from `headers` and a [`RequestAttributes`] in
    /// `extensions`.
    pub fn new(headers: &'a HeaderMap, extensions: &'a Extensions) -> Self {
        HttpAttributes {
            headers,
            extensions,
        }
    }
}

impl Attributes for HttpAttributes<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.extensions.get::<RequestAttributes>()?.get(name)
    }
}
