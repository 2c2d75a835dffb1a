//! [`Canary`]: the actix-web middleware.

use std::borrow::Cow;
use std::fmt;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready as ready_poll};
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{COOKIE, HeaderName, HeaderValue};
use fledge_tower::key::{KeyKind, cookie_value, query_value};
use fledge_tower::{Chosen, Decider, KeySource, NoKey, QaOverride, Routes};
use pin_project_lite::pin_project;

use crate::attributes::ActixAttributes;

type KeyFn = Arc<dyn Fn(&ServiceRequest) -> Option<String> + Send + Sync>;

/// What every worker shares: the decider and the response header, in actix's
/// own header types.
struct Shared {
    decider: Decider,
    key_fn: Option<KeyFn>,
    header: Option<(HeaderName, Box<[HeaderValue]>)>,
}

impl Shared {
    fn new(decider: Decider, key_fn: Option<KeyFn>) -> Self {
        let header = decider.response_header().and_then(|name| {
            let name = HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
            let values = decider
                .ids()
                .iter()
                .map(|id| HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("")))
                .collect();
            Some((name, values))
        });
        Shared {
            decider,
            key_fn,
            header,
        }
    }

    fn key<'r>(&self, req: &'r ServiceRequest) -> Option<Cow<'r, [u8]>> {
        let key = match self.decider.key().kind() {
            KeyKind::Header(name) => req.headers().get(name).map(|v| Cow::Borrowed(v.as_bytes())),
            KeyKind::Cookie(name) => req
                .headers()
                .get_all(COOKIE)
                .find_map(|v| cookie_value(v.as_bytes(), name))
                .map(Cow::Borrowed),
            KeyKind::Query(name) => query_value(req.query_string(), name),
            _ => self
                .key_fn
                .as_ref()
                .and_then(|f| f(req))
                .map(|s| Cow::Owned(s.into_bytes())),
        };
        key.filter(|k| !k.is_empty())
    }

    fn decide(&self, req: &ServiceRequest) -> Chosen {
        let key = self.key(req);
        let override_value = self
            .decider
            .qa_override()
            .and_then(|qa| req.headers().get(qa.header_name().as_str()))
            .map(HeaderValue::as_bytes);
        ActixAttributes::with(req, |attrs| {
            self.decider.decide(key.as_deref(), override_value, attrs)
        })
    }
}

/// The canary middleware for actix-web: wrap an `App` with it.
///
/// Cheap to clone: every clone (one per worker) shares the routing handle,
/// the recorder and the counters.
#[derive(Clone)]
pub struct Canary {
    shared: Arc<Shared>,
}

impl Canary {
    /// A middleware reading `routes` (the rollout's `Routing` or a
    /// `StaticRoutes`) with the defaults of `fledge-tower`: key from the
    /// `x-user-id` header, random pick without one, `x-fledge-variant`
    /// response header.
    pub fn new<R: Routes>(routes: R) -> Self {
        Self::from_decider(Decider::new(routes))
    }

    /// A middleware around a configured [`Decider`] (key source, no-key
    /// policy, QA override, response header).
    pub fn from_decider(decider: Decider) -> Self {
        Canary {
            shared: Arc::new(Shared::new(decider, None)),
        }
    }

    fn rebuild(self, f: impl FnOnce(&mut Decider, &mut Option<KeyFn>)) -> Self {
        let mut decider = self.shared.decider.clone();
        let mut key_fn = self.shared.key_fn.clone();
        f(&mut decider, &mut key_fn);
        Canary {
            shared: Arc::new(Shared::new(decider, key_fn)),
        }
    }

    /// Where the routing key comes from (header, cookie or query parameter).
    pub fn key(self, key: KeySource) -> Self {
        self.rebuild(|d, _| d.set_key(key))
    }

    /// Computes the routing key with a closure over the actix request.
    pub fn key_fn<F>(self, f: F) -> Self
    where
        F: Fn(&ServiceRequest) -> Option<String> + Send + Sync + 'static,
    {
        self.rebuild(|d, k| {
            d.set_key(KeySource::from_fn(|_| None));
            *k = Some(Arc::new(f));
        })
    }

    /// What to do with requests without a key.
    pub fn no_key(self, no_key: NoKey) -> Self {
        self.rebuild(|d, _| d.set_no_key(no_key))
    }

    /// Honour a QA override header carrying a secret.
    pub fn qa_override(self, qa: QaOverride) -> Self {
        self.rebuild(|d, _| d.set_qa_override(Some(qa)))
    }

    /// The response header naming the version; `None` for no header.
    pub fn response_header(self, name: Option<http::HeaderName>) -> Self {
        self.rebuild(|d, _| d.set_response_header(name))
    }

    /// The decider, e.g. to read [`Decider::overrides_rejected`].
    pub fn decider(&self) -> &Decider {
        &self.shared.decider
    }
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
            .field("decider", &self.shared.decider)
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for Canary
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = CanaryMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CanaryMiddleware {
            service,
            shared: self.shared.clone(),
        }))
    }
}

/// The service [`Canary`] wraps around an app.
pub struct CanaryMiddleware<S> {
    service: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for CanaryMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryMiddleware").finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for CanaryMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = CanaryResponseFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let chosen = self.shared.decide(&req);
        if self.shared.decider.extension() {
            req.extensions_mut().insert(chosen);
        }
        let start = Instant::now();
        CanaryResponseFuture {
            inner: self.service.call(req),
            start,
            chosen,
            shared: self.shared.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`CanaryMiddleware`]: records the outcome and
    /// names the version in the response.
    pub struct CanaryResponseFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        chosen: Chosen,
        shared: Arc<Shared>,
    }
}

impl<F> fmt::Debug for CanaryResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryResponseFuture")
            .field("chosen", &self.chosen)
            .finish_non_exhaustive()
    }
}

impl<F, B> std::future::Future for CanaryResponseFuture<F>
where
    F: std::future::Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<B>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready_poll!(this.inner.poll(cx));
        let index = this.chosen.index().get();
        let recorder = this.shared.decider.routes().recorder();
        match result {
            Ok(mut res) => {
                let failed = res.status().is_server_error();
                recorder.record(index, this.start.elapsed(), failed);
                if let Some((name, values)) = &this.shared.header {
                    if let Some(value) = values.get(index) {
                        res.headers_mut().insert(name.clone(), value.clone());
                    }
                }
                Poll::Ready(Ok(res))
            }
            Err(error) => {
                recorder.record(index, this.start.elapsed(), true);
                Poll::Ready(Err(error))
            }
        }
    }
}
