//! [`TeeBody`]: passes a body through frame for frame while copying it (up to
//! a limit) for the shadow request or the comparator.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;

/// Why a copy was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    TooLarge,
    BodyError,
}

pub(crate) type CopySender = oneshot::Sender<Result<Bytes, Skip>>;
pub(crate) type CopyReceiver = oneshot::Receiver<Result<Bytes, Skip>>;

struct Copy {
    buf: BytesMut,
    limit: usize,
    tx: CopySender,
}

impl Copy {
    fn finish(self) {
        // The receiver may be gone (the shadow task ended early): fine.
        let _ = self.tx.send(Ok(self.buf.freeze()));
    }

    fn skip(self, why: Skip) {
        let _ = self.tx.send(Err(why));
    }
}

pin_project! {
    /// A body passed through unchanged; when the request (or response) is
    /// mirrored, its bytes are also copied, up to a limit, and handed to the
    /// shadow side when the body ends. The copy never holds up a frame.
    pub struct TeeBody<B> {
        #[pin]
        inner: B,
        copy: Option<Copy>,
    }
}

impl<B> TeeBody<B> {
    pub(crate) fn passthrough(inner: B) -> Self {
        TeeBody { inner, copy: None }
    }

    /// Tees `inner` into `tx`. A body that is already at its end is delivered
    /// at once (a `GET` handler never polls its body).
    pub(crate) fn tee(inner: B, limit: usize, tx: CopySender) -> Self
    where
        B: Body,
    {
        let copy = Copy {
            buf: BytesMut::new(),
            limit,
            tx,
        };
        if inner.is_end_stream() {
            copy.finish();
            return TeeBody { inner, copy: None };
        }
        TeeBody {
            inner,
            copy: Some(copy),
        }
    }

    /// The inner body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    let over = this
                        .copy
                        .as_ref()
                        .is_some_and(|c| c.buf.len() + data.len() > c.limit);
                    if over {
                        if let Some(c) = this.copy.take() {
                            c.skip(Skip::TooLarge);
                        }
                    } else if let Some(c) = this.copy.as_mut() {
                        c.buf.extend_from_slice(data);
                    }
                } else if f.is_trailers()
                    && let Some(c) = this.copy.take()
                {
                    c.finish();
                }
            }
            Some(Err(_)) => {
                if let Some(c) = this.copy.take() {
                    c.skip(Skip::BodyError);
                }
            }
            None => {
                if let Some(c) = this.copy.take() {
                    c.finish();
                }
            }
        }
        if this.copy.is_some()
            && this.inner.is_end_stream()
            && let Some(c) = this.copy.take()
        {
            c.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for TeeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeeBody")
            .field("inner", &self.inner)
            .field("copying", &self.copy.is_some())
            .finish()
    }
}
