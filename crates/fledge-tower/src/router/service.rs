use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower::util::{Oneshot, ServiceExt};
use tower_http::classify::MakeClassifier;
use tower_service::Service;

use crate::decide::Decider;
use crate::error::BoxError;
use crate::error::ConfigError;
use crate::isolation::{NoFallback, ReplayBody, WithFallback};
use crate::serve::{FallbackFuture, ResponseBody, ResponseFuture, call_direct, call_with_fallback};

/// Routes each request to the service of its version (one per version of the
/// selector), names the version in a response header, hands it on as a
/// [`Chosen`](crate::Chosen) extension and records the outcome.
///
/// Built with [`CanaryLayer::router`](crate::CanaryLayer::router). Services of
/// different types go in as `tower::util::BoxCloneService` or
/// `tower::util::Either`.
///
/// # Readiness and back-pressure
///
/// The version is only known in `call`, so `poll_ready` cannot ask the right
/// service and always returns ready. `call` clones the chosen service and
/// drives the clone with `oneshot` (readiness, then call) inside the response
/// future: a version that is not ready makes its own requests wait, never the
/// other version's, and an error from its `poll_ready` is returned for that
/// request and counted as that version's failure. To bound the waiting, set
/// per-version bulkheads and timeouts with
/// [`Settings::isolation`](crate::Settings::isolation) (or wrap each
/// service in tower's `ConcurrencyLimitLayer`, `LoadShedLayer`,
/// `TimeoutLayer` before handing it here). This is the pattern axum
/// recommends for routers that decide per request.
///
/// With a fallback ([`WithFallback`]), a failed request is retried once on a
/// clone of stable's service.
pub struct VersionRouter<S, M, P = NoFallback> {
    services: Arc<[S]>,
    decider: Arc<Decider>,
    make_classifier: M,
    mode: PhantomData<fn() -> P>,
}

impl<S, M, P> VersionRouter<S, M, P> {
    pub(crate) fn new<I, K>(
        decider: Decider,
        make_classifier: M,
        services: I,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, S)>,
        K: AsRef<str>,
    {
        let mut slots: Vec<Option<S>> = decider.ids().iter().map(|_| None).collect();
        for (id, service) in services {
            let index = decider.index_of(id.as_ref())?;
            let slot = slots
                .get_mut(index.get())
                .ok_or_else(|| ConfigError::MissingService {
                    id: id.as_ref().to_owned(),
                })?;
            if slot.replace(service).is_some() {
                return Err(ConfigError::DuplicateService {
                    id: id.as_ref().to_owned(),
                });
            }
        }
        let services = slots
            .into_iter()
            .zip(decider.ids())
            .map(|(s, id)| {
                s.ok_or_else(|| ConfigError::MissingService {
                    id: (*id).to_owned(),
                })
            })
            .collect::<Result<Vec<S>, _>>()?;
        Ok(VersionRouter {
            services: services.into(),
            decider: Arc::new(decider),
            make_classifier,
            mode: PhantomData,
        })
    }

    /// The decider.
    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// The services, in selector order.
    pub fn services(&self) -> &[S] {
        &self.services
    }
}

impl<S, M: Clone, P> Clone for VersionRouter<S, M, P> {
    fn clone(&self) -> Self {
        VersionRouter {
            services: self.services.clone(),
            decider: self.decider.clone(),
            make_classifier: self.make_classifier.clone(),
            mode: PhantomData,
        }
    }
}

impl<S: Clone, M, P> VersionRouter<S, M, P> {
    /// A clone of the service at `index` (the modulo keeps this total; `new`
    /// put one service at every index of the selector).
    fn service(&self, index: usize) -> S {
        self.services[index % self.services.len().max(1)].clone()
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for VersionRouter<S, M, NoFallback>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    M: MakeClassifier,
{
    type Response = Response<ResponseBody<ResB, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = ResponseFuture<Oneshot<S, Request<ReqB>>, M::Classifier>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        call_direct(&self.decider, &self.make_classifier, req, |index, req| {
            self.service(index.get()).oneshot(req)
        })
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for VersionRouter<S, M, WithFallback>
where
    S: Service<Request<ReplayBody<ReqB>>, Response = Response<ResB>> + Clone,
    M: MakeClassifier,
    ReqB: Body<Data = Bytes>,
    ReqB::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResB, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = FallbackFuture<S, ReqB, M::Classifier>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let stable = self.decider.bulkheads().stable().get();
        call_with_fallback(
            &self.decider,
            &self.make_classifier,
            req,
            |index| self.service(index.get()),
            || self.service(stable),
        )
    }
}

impl<S, M, P> fmt::Debug for VersionRouter<S, M, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionRouter")
            .field("versions", &self.decider.ids())
            .field("decider", &self.decider)
            .finish_non_exhaustive()
    }
}
