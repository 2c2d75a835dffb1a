//! [`CanaryMiddleware`]: the actix-web middleware.

use fledge_tower::Stopwatch;
use std::borrow::Cow;
use std::fmt;
use std::future::{Ready, ready};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::{ErrorGatewayTimeout, ErrorInternalServerError, ErrorServiceUnavailable};
use actix_web::http::header::{COOKIE, HeaderName, HeaderValue};
use fledge_tower::isolation::{Admission, Contained, IsolationHandle, Permit};
use fledge_tower::key::{KeyKind, cookie_value, query_value};
use fledge_tower::{Chosen, ConfigError, Decider, RoutingSource, Settings};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

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
        if let Some(f) = &self.key_fn {
            return f(req)
                .filter(|k| !k.is_empty())
                .map(|s| Cow::Owned(s.into_bytes()));
        }
        let key = match self.decider.key().kind() {
            KeyKind::Header(name) => req.headers().get(name).map(|v| Cow::Borrowed(v.as_bytes())),
            KeyKind::Cookie(name) => req
                .headers()
                .get_all(COOKIE)
                .find_map(|v| cookie_value(v.as_bytes(), name))
                .map(Cow::Borrowed),
            KeyKind::Query(name) => query_value(req.query_string(), name),
            // A `KeySource::from_fn` closure reads `http` requests, which
            // actix-web does not have: `key_fn` is actix's own.
            _ => None,
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
/// How it decides and announces the version is `fledge-tower`'s
/// [`Settings`], the same as the tower layer's; only the key closure over
/// actix's request ([`key_fn`](Self::key_fn)) is actix's own. Cheap to
/// clone: every clone (one per worker) shares the routing handle, the
/// recorder and the counters.
#[derive(Clone)]
pub struct CanaryMiddleware {
    shared: Arc<Shared>,
}

impl CanaryMiddleware {
    /// A middleware reading `routing` (the rollout's `RolloutRouting` or a
    /// `FixedRouting`) with the default [`Settings`]: key from the
    /// `x-user-id` header, random pick without one, `x-fledge-version`
    /// response header, panics contained.
    pub fn new<R: RoutingSource>(routing: R) -> Self {
        Self::from_decider(Decider::with_defaults(routing))
    }

    /// A middleware reading `routing` with `settings`: per-version bulkheads
    /// (overflow to stable or 503) and timeouts (504) as in `fledge-tower`
    /// (see [`fledge_tower::isolation`]). Fails on an unknown version or a
    /// zero limit. The fallback to stable is not available with actix-web
    /// (see the crate docs).
    pub fn with_settings<R: RoutingSource>(
        routing: R,
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        Ok(Self::from_decider(Decider::new(routing, settings)?))
    }

    /// A middleware around a [`Decider`] already built (e.g. shared with a
    /// tower layer: clones share its counters and bulkheads).
    pub fn from_decider(decider: Decider) -> Self {
        CanaryMiddleware {
            shared: Arc::new(Shared::new(decider, None)),
        }
    }

    /// Computes the routing key with a closure over the actix request,
    /// instead of the settings' key source.
    pub fn key_fn<F>(self, f: F) -> Self
    where
        F: Fn(&ServiceRequest) -> Option<String> + Send + Sync + 'static,
    {
        CanaryMiddleware {
            shared: Arc::new(Shared::new(self.shared.decider.clone(), Some(Arc::new(f)))),
        }
    }

    /// The isolation counters (shared by every worker).
    pub fn isolation_handle(&self) -> IsolationHandle {
        self.shared.decider.isolation()
    }

    /// The decider, e.g. to read [`Decider::overrides_rejected`].
    pub fn decider(&self) -> &Decider {
        &self.shared.decider
    }

    /// The settings the middleware runs with.
    pub fn settings(&self) -> &Settings {
        self.shared.decider.settings()
    }
}

impl fmt::Debug for CanaryMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryMiddleware")
            .field("decider", &self.shared.decider)
            .field("key_fn", &self.shared.key_fn.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for CanaryMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = CanaryMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CanaryMiddlewareService {
            service,
            shared: self.shared.clone(),
        }))
    }
}

/// The service [`CanaryMiddleware`] wraps around an app.
pub struct CanaryMiddlewareService<S> {
    service: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for CanaryMiddlewareService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryMiddlewareService")
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for CanaryMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = CanaryResponseFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let shared = &self.shared;
        let decider = &shared.decider;
        let start = decider.start_timer();
        let decided = shared.decide(&req);
        let (chosen, permit) = match decider.admit(decided) {
            Admission::Admitted { chosen, permit } => (chosen, permit),
            Admission::Rejected { chosen } => {
                return CanaryResponseFuture::new(
                    Stage::Rejected,
                    None,
                    start,
                    chosen,
                    shared,
                    None,
                );
            }
            // `Admission` may grow: serve anything new as decided.
            _ => (decided, None),
        };
        if decider.extension() {
            req.extensions_mut().insert(chosen);
        }
        let deadline = decider
            .timeout(chosen.index())
            .and_then(fledge_tower::isolation::timer);
        let stage = if decider.catch_panics() {
            match panic::catch_unwind(AssertUnwindSafe(|| self.service.call(req))) {
                Ok(inner) => Stage::Call { inner },
                Err(_) => Stage::Panicked,
            }
        } else {
            Stage::Call {
                inner: self.service.call(req),
            }
        };
        CanaryResponseFuture::new(stage, deadline, start, chosen, shared, permit)
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        Call { #[pin] inner: F },
        Rejected,
        Panicked,
        Done,
    }
}

pin_project! {
    /// The response future of [`CanaryMiddlewareService`]: records the outcome and
    /// names the version in the response; enforces the version's timeout
    /// (504) and contains panics (500).
    pub struct CanaryResponseFuture<F> {
        #[pin]
        stage: Stage<F>,
        #[pin]
        deadline: Option<Sleep>,
        start: Stopwatch,
        chosen: Chosen,
        shared: Arc<Shared>,
        permit: Option<Permit>,
    }
}

impl<F> CanaryResponseFuture<F> {
    fn new(
        stage: Stage<F>,
        deadline: Option<Sleep>,
        start: Stopwatch,
        chosen: Chosen,
        shared: &Arc<Shared>,
        permit: Option<Permit>,
    ) -> Self {
        CanaryResponseFuture {
            stage,
            deadline,
            start,
            chosen,
            shared: shared.clone(),
            permit,
        }
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
        let mut this = self.project();
        let decider = &this.shared.decider;
        let index = this.chosen.index();
        let result = match this.stage.as_mut().project() {
            StageProj::Rejected => Err(ErrorServiceUnavailable(
                "fledge: this version is at its concurrency limit",
            )),
            StageProj::Panicked => {
                decider.record_contained(index, this.start.elapsed(), Contained::Panic);
                Err(ErrorInternalServerError("fledge: the handler panicked"))
            }
            StageProj::Done => Err(ErrorInternalServerError(
                "fledge: response future polled after completion",
            )),
            StageProj::Call { inner } => {
                let polled = if decider.catch_panics() {
                    panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
                } else {
                    Ok(inner.poll(cx))
                };
                match polled {
                    Ok(Poll::Ready(result)) => {
                        let recorder = decider.routes().recorder();
                        match result {
                            Ok(mut res) => {
                                let failed = res.status().is_server_error();
                                recorder.record(index.get(), this.start.elapsed(), failed);
                                if let Some((name, values)) = &this.shared.header
                                    && let Some(value) = values.get(index.get())
                                {
                                    res.headers_mut().insert(name.clone(), value.clone());
                                }
                                Ok(res)
                            }
                            Err(error) => {
                                recorder.record(index.get(), this.start.elapsed(), true);
                                Err(error)
                            }
                        }
                    }
                    Ok(Poll::Pending) => {
                        let expired = this
                            .deadline
                            .as_mut()
                            .as_pin_mut()
                            .is_some_and(|sleep| sleep.poll(cx).is_ready());
                        if !expired {
                            return Poll::Pending;
                        }
                        decider.record_contained(index, this.start.elapsed(), Contained::Timeout);
                        Err(ErrorGatewayTimeout("fledge: this version timed out"))
                    }
                    Err(_) => {
                        decider.record_contained(index, this.start.elapsed(), Contained::Panic);
                        Err(ErrorInternalServerError("fledge: the handler panicked"))
                    }
                }
            }
        };
        // Done: drop the app's future (a timed-out call is cancelled), the
        // timer and the bulkhead slot.
        this.stage.set(Stage::Done);
        this.deadline.set(None);
        *this.permit = None;
        Poll::Ready(result)
    }
}
