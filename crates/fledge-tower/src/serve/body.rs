//! [`ResponseBody`]: the response body of the routing services. It passes
//! frames through unchanged and, for responses a classifier can only judge at
//! their end (gRPC's `grpc-status` trailer), records the outcome then.

use crate::clock::Stopwatch;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_http::classify::ClassifyEos;

use crate::decide::Decider;

pub(crate) struct EosRecord<E> {
    pub(crate) classify: E,
    pub(crate) start: Stopwatch,
    pub(crate) index: usize,
    pub(crate) decider: Arc<Decider>,
}

impl<E: ClassifyEos> EosRecord<E> {
    /// Classifies the end of the stream (trailers or none) and records it.
    fn finish(self, trailers: Option<&http::HeaderMap>) {
        let EosRecord {
            classify,
            start,
            index,
            decider,
        } = self;
        let failed = classify.classify_eos(trailers).is_err();
        decider.recorder().record(index, start.elapsed(), failed);
    }

    /// Records a body error as a failure.
    fn fail(self) {
        self.decider
            .recorder()
            .record(self.index, self.start.elapsed(), true);
    }
}

pin_project! {
    /// The body of a response that went through a
    /// [`CanaryService`](crate::CanaryService) or [`VersionRouter`](crate::VersionRouter):
    /// the inner body, frame for frame, or an empty body for a response the
    /// layer made itself (503 overflow, 504 timeout, 500 panic).
    pub struct ResponseBody<B, E> {
        #[pin]
        inner: Option<B>,
        eos: Option<EosRecord<E>>,
    }
}

impl<B, E> ResponseBody<B, E> {
    pub(crate) fn passthrough(inner: B) -> Self {
        ResponseBody {
            inner: Some(inner),
            eos: None,
        }
    }

    pub(crate) fn recording(inner: B, eos: EosRecord<E>) -> Self {
        ResponseBody {
            inner: Some(inner),
            eos: Some(eos),
        }
    }

    /// The empty body of a response the layer made itself.
    pub(crate) fn empty() -> Self {
        ResponseBody {
            inner: None,
            eos: None,
        }
    }

    /// The inner body, or `None` for a response the layer made itself.
    pub fn into_inner(self) -> Option<B> {
        self.inner
    }

    /// The inner body, when nothing is left to do at its end (no outcome to
    /// record when it ends: the classifier judged the response by its
    /// head, as the default one always does); otherwise `self`, unchanged.
    /// For adapters that hand the framework its own body type back
    /// instead of wrapping it again (`fledge_axum::AxumLayer`).
    pub fn try_into_inner(self) -> Result<B, Self> {
        match self {
            ResponseBody {
                inner: Some(inner),
                eos: None,
            } => Ok(inner),
            other => Err(other),
        }
    }

    /// A reference to the inner body, or `None` for a response the layer
    /// made itself.
    pub fn get_ref(&self) -> Option<&B> {
        self.inner.as_ref()
    }
}

impl<B, E> Body for ResponseBody<B, E>
where
    B: Body,
    B::Data: Buf,
    E: ClassifyEos,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(inner.poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(trailers) = f.trailers_ref()
                    && let Some(eos) = this.eos.take()
                {
                    eos.finish(Some(trailers));
                }
            }
            Some(Err(_)) => {
                if let Some(eos) = this.eos.take() {
                    eos.fail();
                }
            }
            None => {
                if let Some(eos) = this.eos.take() {
                    eos.finish(None);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl<B: fmt::Debug, E> fmt::Debug for ResponseBody<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("classifying_eos", &self.eos.is_some())
            .finish()
    }
}
