use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::util::{Oneshot, ServiceExt};
use tower_http::classify::MakeClassifier;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::decide::Decider;
use crate::error::ConfigError;
use crate::future::{Pending, ResponseFuture};

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
/// request and counted as that version's failure. To bound the waiting, give
/// each version its own concurrency limit, load shedding or timeout (tower's
/// `ConcurrencyLimitLayer`, `LoadShedLayer`, `TimeoutLayer`) before handing it
/// here. This is the pattern axum recommends for routers that decide per
/// request.
pub struct CanaryRouter<S, M> {
    services: Arc<[S]>,
    decider: Arc<Decider>,
    make_classifier: M,
}

impl<S, M> CanaryRouter<S, M> {
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
        Ok(CanaryRouter {
            services: services.into(),
            decider: Arc::new(decider),
            make_classifier,
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

impl<S, M: Clone> Clone for CanaryRouter<S, M> {
    fn clone(&self) -> Self {
        CanaryRouter {
            services: self.services.clone(),
            decider: self.decider.clone(),
            make_classifier: self.make_classifier.clone(),
        }
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for CanaryRouter<S, M>
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

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let chosen = self
            .decider
            .decide_http(req.uri(), req.headers(), req.extensions());
        if self.decider.extension() {
            req.extensions_mut().insert(chosen);
        }
        let classifier = self.make_classifier.make_classifier(&req);
        // The selector's indices are below its length, and `new` put one
        // service at every index; the modulo keeps this total anyway.
        let slot = chosen.index().get() % self.services.len().max(1);
        let service = self.services[slot].clone();
        let start = Instant::now();
        ResponseFuture::new(
            service.oneshot(req),
            Pending {
                classifier,
                start,
                chosen,
                decider: self.decider.clone(),
            },
        )
    }
}

impl<S, M> fmt::Debug for CanaryRouter<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryRouter")
            .field("versions", &self.decider.ids())
            .field("decider", &self.decider)
            .finish_non_exhaustive()
    }
}
