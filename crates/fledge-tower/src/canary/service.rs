use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower_http::classify::MakeClassifier;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::decide::Decider;
use crate::future::{Pending, ResponseFuture};

/// The service of [`CanaryLayer`](super::CanaryLayer): chooses a version for
/// each request, hands it to the one inner service as a
/// [`Chosen`](crate::Chosen) extension, names it in a response header and
/// records the outcome under that version.
///
/// Readiness is the inner service's: `poll_ready` forwards to it, and `call`
/// calls it directly, so back-pressure passes through unchanged.
#[derive(Clone)]
pub struct Canary<S, M> {
    inner: S,
    decider: Arc<Decider>,
    make_classifier: M,
}

impl<S, M> Canary<S, M> {
    pub(crate) fn new(inner: S, decider: Arc<Decider>, make_classifier: M) -> Self {
        Canary {
            inner,
            decider,
            make_classifier,
        }
    }

    /// The decider.
    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for Canary<S, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    M: MakeClassifier,
{
    type Response = Response<ResponseBody<ResB, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M::Classifier>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let chosen = self
            .decider
            .decide_http(req.uri(), req.headers(), req.extensions());
        if self.decider.extension() {
            req.extensions_mut().insert(chosen);
        }
        let classifier = self.make_classifier.make_classifier(&req);
        let start = Instant::now();
        let inner = self.inner.call(req);
        ResponseFuture::new(
            inner,
            Pending {
                classifier,
                start,
                chosen,
                decider: self.decider.clone(),
            },
        )
    }
}

impl<S: fmt::Debug, M> fmt::Debug for Canary<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
            .field("inner", &self.inner)
            .field("decider", &self.decider)
            .finish_non_exhaustive()
    }
}
