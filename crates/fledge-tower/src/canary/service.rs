use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_http::classify::MakeClassifier;
use tower_service::Service;

use crate::decide::Decider;
use crate::error::BoxError;
use crate::isolation::{NoFallback, ReplayBody, WithFallback};
use crate::serve::{FallbackFuture, ResponseBody, ResponseFuture, call_direct, call_with_fallback};

/// The service of [`CanaryLayer`](super::CanaryLayer): chooses a version for
/// each request, hands it to the one inner service as a
/// [`Chosen`](crate::Chosen) extension, names it in a response header and
/// records the outcome under that version.
///
/// Readiness is the inner service's: `poll_ready` forwards to it, and `call`
/// calls it directly, so back-pressure passes through unchanged. With
/// [`isolation`](crate::isolation) the chosen version's bulkhead, timeout and
/// panic containment apply around that call; with a fallback
/// ([`WithFallback`]) the ready service is taken in `call` (a clone left in
/// its place) and a second clone is kept for the retry on stable.
pub struct CanaryService<S, M, P = NoFallback> {
    inner: S,
    decider: Arc<Decider>,
    make_classifier: M,
    mode: PhantomData<fn() -> P>,
}

impl<S, M, P> CanaryService<S, M, P> {
    pub(crate) fn new(inner: S, decider: Arc<Decider>, make_classifier: M) -> Self {
        CanaryService {
            inner,
            decider,
            make_classifier,
            mode: PhantomData,
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

impl<S: Clone, M: Clone, P> Clone for CanaryService<S, M, P> {
    fn clone(&self) -> Self {
        CanaryService {
            inner: self.inner.clone(),
            decider: self.decider.clone(),
            make_classifier: self.make_classifier.clone(),
            mode: PhantomData,
        }
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for CanaryService<S, M, NoFallback>
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

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let CanaryService {
            inner,
            decider,
            make_classifier,
            ..
        } = self;
        call_direct(decider, make_classifier, req, |_, req| inner.call(req))
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for CanaryService<S, M, WithFallback>
where
    S: Service<Request<ReplayBody<ReqB>>, Response = Response<ResB>> + Clone,
    M: MakeClassifier,
    ReqB: Body<Data = Bytes>,
    ReqB::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResB, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = FallbackFuture<S, ReqB, M::Classifier>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        // Take the service made ready, leave a clone in its place.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let CanaryService {
            inner,
            decider,
            make_classifier,
            ..
        } = self;
        call_with_fallback(decider, make_classifier, req, |_| ready, || inner.clone())
    }
}

impl<S: fmt::Debug, M, P> fmt::Debug for CanaryService<S, M, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryService")
            .field("inner", &self.inner)
            .field("decider", &self.decider)
            .finish_non_exhaustive()
    }
}
