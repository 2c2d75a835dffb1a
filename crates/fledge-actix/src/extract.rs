//! [`Version`]: the extractor naming the version chosen for a request.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError};
use fledge_tower::Chosen;

/// The version the [`CanaryMiddleware`](crate::CanaryMiddleware) chose for this
/// request. Fails with [`MissingVersion`] (500) when the middleware is not
/// installed; take `Option<Version>` to tolerate that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version(pub Chosen);

impl Deref for Version {
    type Target = Chosen;

    fn deref(&self) -> &Chosen {
        &self.0
    }
}

/// No chosen version on the request: wrap the app with
/// [`CanaryMiddleware`](crate::CanaryMiddleware).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no fledge version on this request: wrap the app with fledge_actix::CanaryMiddleware")]
pub struct MissingVersion;

impl ResponseError for MissingVersion {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl FromRequest for Version {
    type Error = MissingVersion;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Chosen>()
                .copied()
                .map(Version)
                .ok_or(MissingVersion),
        )
    }
}
