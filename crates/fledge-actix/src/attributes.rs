//! [`ActixAttributes`]: targeting attributes of an actix-web request.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use fledge_rollout::plan::Attributes;
use fledge_tower::RequestAttributes;

/// An actix-web request's headers, and the values of a
/// [`RequestAttributes`] in its extensions, seen as targeting
/// [`Attributes`].
#[derive(Debug, Clone, Copy)]
pub struct ActixAttributes<'a> {
    headers: &'a actix_web::http::header::HeaderMap,
    attributes: Option<&'a RequestAttributes>,
}

impl<'a> ActixAttributes<'a> {
    /// The attributes of `headers` and `attributes`.
    pub fn new(
        headers: &'a actix_web::http::header::HeaderMap,
        attributes: Option<&'a RequestAttributes>,
    ) -> Self {
        ActixAttributes {
            headers,
            attributes,
        }
    }

    /// Calls `f` with the attributes of `req` (its extensions are borrowed
    /// for the duration of the call).
    pub fn with<R>(req: &ServiceRequest, f: impl FnOnce(&ActixAttributes<'_>) -> R) -> R {
        let extensions = req.extensions();
        let attrs = ActixAttributes::new(req.headers(), extensions.get::<RequestAttributes>());
        f(&attrs)
    }
}

impl Attributes for ActixAttributes<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes?.get(name)
    }
}
