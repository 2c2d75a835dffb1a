//! [`ResponseFuture`]: the response future of the routing services. It waits
//! for the inner future, names the version in a response header, classifies
//! the outcome and records it into the gates.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;
use tower_http::classify::{ClassifiedResponse, ClassifyResponse};

use crate::body::{EosRecord, ResponseBody};
use crate::chosen::Chosen;
use crate::decide::Decider;

pub(crate) struct Pending<C> {
    pub(crate) classifier: C,
    pub(crate) start: Instant,
    pub(crate) chosen: Chosen,
    pub(crate) decider: Arc<Decider>,
}

pin_project! {
    /// The response future of [`Canary`](crate::Canary) and
    /// [`CanaryRouter`](crate::CanaryRouter).
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        pending: Option<Pending<C>>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, pending: Pending<C>) -> Self {
        ResponseFuture {
            inner,
            pending: Some(pending),
        }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyResponse,
{
    type Output = Result<Response<ResponseBody<B, C::ClassifyEos>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // A panic in the version's service is recorded as its failure, then
        // propagated unchanged (the server contains it to this request's
        // task or connection).
        let polled = panic::catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        let result = match polled {
            Ok(poll) => ready!(poll),
            Err(payload) => {
                if let Some(p) = this.pending.take() {
                    p.decider.routes().recorder().record(
                        p.chosen.index().get(),
                        p.start.elapsed(),
                        true,
                    );
                }
                panic::resume_unwind(payload)
            }
        };
        let Some(pending) = this.pending.take() else {
            // Polled again after completion: nothing left to record.
            return Poll::Ready(result.map(|res| res.map(ResponseBody::passthrough)));
        };
        let Pending {
            classifier,
            start,
            chosen,
            decider,
        } = pending;
        let index = chosen.index().get();
        match result {
            Ok(mut res) => {
                if let (Some(name), Some(value)) = (
                    decider.response_header(),
                    decider.header_value(chosen.index()),
                ) {
                    res.headers_mut().insert(name.clone(), value.clone());
                }
                match classifier.classify_response(&res) {
                    ClassifiedResponse::Ready(outcome) => {
                        decider.routes().recorder().record(
                            index,
                            start.elapsed(),
                            outcome.is_err(),
                        );
                        Poll::Ready(Ok(res.map(ResponseBody::passthrough)))
                    }
                    ClassifiedResponse::RequiresEos(classify) => {
                        let eos = EosRecord {
                            classify,
                            start,
                            index,
                            decider,
                        };
                        Poll::Ready(Ok(res.map(|b| ResponseBody::recording(b, eos))))
                    }
                }
            }
            Err(error) => {
                decider
                    .routes()
                    .recorder()
                    .record(index, start.elapsed(), true);
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("chosen", &self.pending.as_ref().map(|p| p.chosen))
            .finish_non_exhaustive()
    }
}
