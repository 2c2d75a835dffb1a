//! [`Version`]: the extractor naming the version chosen for a request.

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use fledge_tower::Chosen;
use http::StatusCode;
use http::request::Parts;

use crate::request_id::RequestId;

/// The version the [`CanaryLayer`](crate::CanaryLayer) chose for this
/// request, as a handler argument.
///
/// Read from the version in scope ([`Chosen::current`]: the layer is
/// calling or polling this handler), else from the request's
/// [`Chosen`] extension; so it works with `Settings::extension(false)`.
///
/// Fails with [`MissingVersion`] (500) when the layer is not installed in
/// front of the handler; take `Option<Version>` to tolerate that.
///
/// ```
/// use fledge_axum::Version;
///
/// async fn predict(version: Version) -> &'static str {
///     match version.id() {
///         "v2" => "exponential smoothing",
///         _ => "moving average",
///     }
/// }
/// # let _ = predict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version(pub Chosen);

impl Version {
    /// A request id naming this version and carrying `payload` (e.g. the
    /// prediction, for an accuracy metric computed at feedback time). Return
    /// it to the client (it is an `IntoResponseParts`: the
    /// `x-fledge-request-id` header) or in the body.
    pub fn request_id(&self, payload: &str) -> RequestId {
        RequestId::new(self.0.id(), payload)
    }
}

impl Deref for Version {
    type Target = Chosen;

    fn deref(&self) -> &Chosen {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The [`Version`] extractor found no chosen version: the canary layer is not
/// in front of this handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no fledge version on this request: add fledge_axum::CanaryLayer in front of the handler")]
pub struct MissingVersion;

impl IntoResponse for MissingVersion {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = MissingVersion;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        chosen(parts).map(Version).ok_or(MissingVersion)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Version {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(chosen(parts).map(Version))
    }
}

/// The version in scope ([`Chosen::current`]: the layer is calling or
/// polling this handler), else the request's extension.
#[inline]
fn chosen(parts: &Parts) -> Option<Chosen> {
    Chosen::current().or_else(|| parts.extensions.get::<Chosen>().copied())
}
