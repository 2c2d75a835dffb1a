//! The fallback on the request path: the body a layer with fallback hands
//! its services, its type-states, and the retry on stable.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{Either, Full};

use super::bulkhead::{Bulkheads, Permit};
use crate::chosen::Chosen;
use crate::shadow::TeeBody;
use crate::shadow::tee::CopyReceiver;

/// The request body the inner services of a layer with fallback see: the
/// original body, passed through and (for requests that may be retried)
/// copied up to the limit as it is read; or, on the retry, the copy.
pub type ReplayBody<B> = Either<TeeBody<B>, Full<Bytes>>;

/// Type-state of a layer without fallback (the default): inner services see
/// the request body unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

/// Type-state of a layer with fallback
/// ([`CanaryLayer::fallback`](crate::CanaryLayer::fallback)): inner
/// services see a [`ReplayBody`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WithFallback;

/// The retry plan of a future without fallback: there is none.
#[derive(Debug, Clone, Copy)]
pub enum NoRetry {}

/// The retry plan of a request that may fall back to stable: stable's
/// service, the request head and the body copy.
pub struct FallbackRetry<S, C> {
    pub(crate) service: S,
    pub(crate) head: http::request::Parts,
    pub(crate) copy: CopyReceiver,
    pub(crate) classifier: C,
}

/// A retry, ready to send.
pub(crate) struct Replay<S, C, B> {
    pub(crate) service: S,
    pub(crate) request: Request<ReplayBody<B>>,
    pub(crate) classifier: C,
    pub(crate) chosen: Chosen,
    pub(crate) permit: Option<Permit>,
}

impl<S, C> FallbackRetry<S, C> {
    /// The retry on stable, if the whole body was copied and stable has
    /// room in `bulkheads`; the retried request gets the
    /// [`Chosen`](crate::Chosen) extension when `extension` is on. Why not
    /// otherwise: `body` (over the limit or not read whole), `stable_full`.
    pub(crate) fn replay<B>(
        mut self,
        bulkheads: &Arc<Bulkheads>,
        extension: bool,
    ) -> Result<Replay<S, C, B>, &'static str> {
        let Ok(Ok(body)) = self.copy.try_recv() else {
            return Err("body");
        };
        let (chosen, permit) = bulkheads.admit_stable().ok_or("stable_full")?;
        if extension {
            self.head.extensions.insert(chosen);
        }
        Ok(Replay {
            service: self.service,
            request: Request::from_parts(self.head, Either::Right(Full::new(body))),
            classifier: self.classifier,
            chosen,
            permit,
        })
    }
}

impl<S, C> fmt::Debug for FallbackRetry<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackRetry")
            .field("method", &self.head.method)
            .field("uri", &self.head.uri)
            .finish_non_exhaustive()
    }
}
