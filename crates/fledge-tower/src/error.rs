//! Errors of building the layer. Serving never fails because of fledge: the
//! inner service's own error type passes through unchanged.

/// Why a layer, router or shadow configuration was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A header name is not a valid HTTP header name.
    #[error("`{name}` is not a valid HTTP header name")]
    HeaderName {
        /// The rejected name.
        name: String,
    },
    /// A version id cannot be sent as a header value.
    #[error("version id `{id}` is not a valid header value")]
    HeaderValue {
        /// The version id.
        id: String,
    },
    /// A version named in the configuration is not in the selector.
    #[error("unknown version `{id}`: the selector has {known}")]
    UnknownVersion {
        /// The name asked for.
        id: String,
        /// The selector's versions, comma-separated.
        known: String,
    },
    /// A [`VersionRouter`](crate::VersionRouter) has no service for a version.
    #[error("no service registered for version `{id}`")]
    MissingService {
        /// The version without a service.
        id: String,
    },
    /// The same version was registered twice.
    #[error("version `{id}` was registered twice")]
    DuplicateService {
        /// The version.
        id: String,
    },
    /// The QA override secret is too short to be a secret.
    #[error("the QA override secret must be at least {min} bytes long")]
    WeakSecret {
        /// The minimum length.
        min: usize,
    },
    /// A share is outside `0..=100` percent.
    #[error("share {percent} is outside 0..=100 percent")]
    Share {
        /// The rejected share.
        percent: f64,
    },
    /// A custom metric is not declared in the recorder.
    #[error("metric `{name}` is not declared in the recorder")]
    UnknownMetric {
        /// The metric name.
        name: String,
    },
    /// A concurrency limit or timeout of zero.
    #[error("`{field}` must be greater than zero")]
    ZeroLimit {
        /// The setting, as `limits.<version>.concurrency` or
        /// `limits.<version>.timeout`.
        field: String,
    },
}

/// A boxed error, for services whose errors are type-erased.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
