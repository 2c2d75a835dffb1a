//! [`ResponseFuture`]: the response future of the routing services. It waits
//! for the version's future (within its timeout, containing its panics),
//! names the version in a response header, classifies the outcome, records
//! it into the gates and, where a fallback applies, retries once on stable.

use crate::clock::Stopwatch;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::util::{Oneshot, ServiceExt};
use tower_http::classify::{ClassifiedResponse, ClassifyResponse};
use tower_service::Service;

use super::body::{EosRecord, ResponseBody};
use crate::chosen::{Chosen, Scope};
use crate::decide::Decider;
use crate::error::BoxError;
use crate::isolation::{FallbackRetry, NoRetry, Permit, ReplayBody, Slot};
use crate::otel;

/// What the future needs to finish one attempt: how to classify it, when it
/// started, which version it is on, and that version's bulkhead slot.
pub(crate) struct Pending<C> {
    pub(crate) classifier: C,
    pub(crate) start: Stopwatch,
    pub(crate) chosen: Chosen,
    pub(crate) decider: Arc<Decider>,
    pub(crate) permit: Option<Permit>,
    /// The request's method, for the timeout's log line: set only when the
    /// version has a timeout (`""` otherwise).
    pub(crate) method: &'static str,
    /// The request's span (feature `otel`; zero-sized otherwise).
    pub(crate) span: otel::Span,
}

pin_project! {
    #[project = StageProj]
    enum Stage<F> {
        // The version's future is running.
        Call { #[pin] fut: F },
        // The bulkhead turned the request away: answer 503.
        Reject,
        // Calling the service panicked.
        Panicked { payload: Box<dyn Any + Send> },
        Done,
    }
}

pin_project! {
    /// The response future of [`CanaryService`](crate::CanaryService) and
    /// [`VersionRouter`](crate::VersionRouter).
    ///
    /// `R` is [`NoRetry`], or [`FallbackRetry`] for services built with
    /// [`CanaryLayer::fallback`](crate::CanaryLayer::fallback).
    #[project = Projected]
    pub struct ResponseFuture<F, C, R = NoRetry> {
        #[pin]
        stage: Stage<F>,
        deadline: Option<Pin<Box<Sleep>>>,
        pending: Option<Pending<C>>,
        retry: Option<R>,
    }
}

impl<F, C, R> ResponseFuture<F, C, R> {
    /// Runs `fut` for `pending`, within `deadline`, retrying with `retry`.
    pub(crate) fn new(
        fut: F,
        pending: Pending<C>,
        deadline: Option<Pin<Box<Sleep>>>,
        retry: Option<R>,
    ) -> Self {
        ResponseFuture {
            stage: Stage::Call { fut },
            deadline,
            pending: Some(pending),
            retry,
        }
    }

    /// Answers 500 (counted, recorded, logged): calling the service
    /// panicked.
    pub(crate) fn panicked(pending: Pending<C>, payload: Box<dyn Any + Send>) -> Self {
        ResponseFuture {
            stage: Stage::Panicked { payload },
            deadline: None,
            pending: Some(pending),
            retry: None,
        }
    }

    /// Answers 503 at once: `pending.chosen`'s bulkhead was full.
    pub(crate) fn rejected(pending: Pending<C>) -> Self {
        ResponseFuture {
            stage: Stage::Reject,
            deadline: None,
            pending: Some(pending),
            retry: None,
        }
    }
}

/// How an attempt ended without a response.
enum Attempt<E> {
    Error(E),
    Timeout,
    Panic(Box<dyn Any + Send>),
}

/// A response the layer makes itself: an empty body, the version header.
fn synthesized<B, E>(
    status: StatusCode,
    pending: Option<&Pending<impl Sized>>,
) -> Response<ResponseBody<B, E>> {
    let mut res = Response::new(ResponseBody::empty());
    *res.status_mut() = status;
    if let Some(p) = pending {
        name_version(&mut res, &p.decider, p.chosen);
    }
    res
}

fn name_version<B>(res: &mut Response<B>, decider: &Decider, chosen: Chosen) {
    if let Some(name) = decider.response_header()
        && let Some(value) = decider.version_value(chosen)
    {
        res.headers_mut().insert(name.clone(), value);
    }
}

fn count(pending: &Pending<impl Sized>, counter: fn(&Slot) -> &std::sync::atomic::AtomicU64) {
    pending
        .decider
        .bulkheads()
        .count(pending.chosen.index().get(), counter);
}

fn record_failure(pending: &Pending<impl Sized>) {
    pending
        .decider
        .recorder()
        .record(pending.chosen.index().get(), pending.start.elapsed(), true);
}

/// A retry on stable, ready to run: its future, classifier, version and slot.
pub(crate) struct Restart<F, C> {
    pub(crate) fut: F,
    pub(crate) classifier: C,
    pub(crate) chosen: Chosen,
    pub(crate) permit: Option<Permit>,
    pub(crate) method: &'static str,
}

/// What a response future resolves to.
type Outcome<B, C, E> = Result<Response<ResponseBody<B, <C as ClassifyResponse>::ClassifyEos>>, E>;

/// The state machine shared by both kinds of response future; `restart`
/// turns the retry plan into a second attempt (or `None`: no fallback).
fn poll_attempts<F, C, R, B, E>(
    mut this: Projected<'_, F, C, R>,
    cx: &mut Context<'_>,
    restart: impl Fn(R, &Decider) -> Result<Restart<F, C>, &'static str>,
) -> Poll<Outcome<B, C, E>>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyResponse,
{
    loop {
        let attempt = match this.stage.as_mut().project() {
            StageProj::Reject => {
                this.stage.set(Stage::Done);
                let pending = this.pending.take();
                return Poll::Ready(Ok(synthesized(
                    StatusCode::SERVICE_UNAVAILABLE,
                    pending.as_ref(),
                )));
            }
            StageProj::Panicked { payload } => {
                Attempt::Panic(std::mem::replace(payload, Box::new(())))
            }
            StageProj::Done => {
                // Polled after completion: nothing left to record.
                return Poll::Ready(Ok(synthesized::<B, C::ClassifyEos>(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None::<&Pending<()>>,
                )));
            }
            StageProj::Call { fut } => {
                // The version is in scope while its future runs.
                let polled = {
                    let _scope = this.pending.as_ref().map(|p| Scope::enter(p.chosen));
                    let _span = this.pending.as_ref().map(|p| otel::enter(&p.span));
                    panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
                };
                match polled {
                    Ok(Poll::Ready(Ok(mut res))) => {
                        // The usual end, finished in place: moving the
                        // response through `Attempt` would copy it again.
                        let Some(pending) = end_attempt(&mut this) else {
                            return Poll::Ready(Ok(synthesized::<B, C::ClassifyEos>(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                None::<&Pending<()>>,
                            )));
                        };
                        name_version(&mut res, &pending.decider, pending.chosen);
                        let Pending {
                            classifier,
                            start,
                            chosen,
                            decider,
                            permit,
                            ..
                        } = pending;
                        drop(permit);
                        let index = chosen.index().get();
                        match classifier.classify_response(&res) {
                            ClassifiedResponse::Ready(Ok(_)) => {
                                decider.recorder().record(index, start.elapsed(), false);
                                return Poll::Ready(Ok(res.map(ResponseBody::passthrough)));
                            }
                            ClassifiedResponse::RequiresEos(classify) => {
                                let eos = EosRecord {
                                    classify,
                                    start,
                                    index,
                                    decider,
                                };
                                return Poll::Ready(Ok(
                                    res.map(|b| ResponseBody::recording(b, eos))
                                ));
                            }
                            ClassifiedResponse::Ready(Err(_)) => {
                                decider.recorder().record(index, start.elapsed(), true);
                                let retried =
                                    try_restart(&mut this, &decider, chosen, "failure", &restart);
                                if retried {
                                    continue;
                                }
                                return Poll::Ready(Ok(res.map(ResponseBody::passthrough)));
                            }
                        }
                    }
                    Ok(Poll::Ready(Err(error))) => Attempt::Error(error),
                    Ok(Poll::Pending) => {
                        let expired = this
                            .deadline
                            .as_mut()
                            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
                        if !expired {
                            return Poll::Pending;
                        }
                        Attempt::Timeout
                    }
                    Err(payload) => {
                        let contain = this
                            .pending
                            .as_ref()
                            .is_none_or(|p| p.decider.catch_panics());
                        if !contain {
                            // Recorded as the version's failure, then
                            // propagated unchanged.
                            if let Some(p) = this.pending.take() {
                                record_failure(&p);
                                count(&p, |s| &s.panics);
                            }
                            this.stage.set(Stage::Done);
                            panic::resume_unwind(payload)
                        }
                        Attempt::Panic(payload)
                    }
                }
            }
        };
        let Some(pending) = end_attempt(&mut this) else {
            return Poll::Ready(Ok(synthesized::<B, C::ClassifyEos>(
                StatusCode::INTERNAL_SERVER_ERROR,
                None::<&Pending<()>>,
            )));
        };
        // What the client gets when no retry happens.
        let index = pending.chosen.index().get();
        let bulkheads = pending.decider.bulkheads();
        let (cause, failed): (&'static str, Outcome<B, C, E>) = match attempt {
            Attempt::Error(error) => ("error", Err(error)),
            Attempt::Timeout => {
                count(&pending, |s| &s.timeouts);
                bulkheads.log_timeout(index, pending.method, this.retry.is_some());
                (
                    "timeout",
                    Ok(synthesized(StatusCode::GATEWAY_TIMEOUT, Some(&pending))),
                )
            }
            Attempt::Panic(payload) => {
                count(&pending, |s| &s.panics);
                bulkheads.log_panic(index, payload.as_ref());
                (
                    "panic",
                    Ok(synthesized(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some(&pending),
                    )),
                )
            }
        };
        record_failure(&pending);
        let Pending {
            decider,
            chosen,
            permit,
            ..
        } = pending;
        drop(permit);
        if try_restart(&mut this, &decider, chosen, cause, &restart) {
            continue;
        }
        return Poll::Ready(failed);
    }
}

/// Ends the current attempt: drops its future (a timed-out call is
/// cancelled here) and its timer, and takes what finishing it needs.
#[inline]
fn end_attempt<F, C, R>(this: &mut Projected<'_, F, C, R>) -> Option<Pending<C>> {
    this.stage.set(Stage::Done);
    // Usually there is no timer: skip the call to drop one.
    if this.deadline.is_some() {
        *this.deadline = None;
    }
    this.pending.take()
}

/// Starts the retry on stable after `failed` failed (`cause`: `error`,
/// `failure`, `timeout`, `panic`), if one is planned and possible. Counts
/// and logs it (or its impossibility) under the failed version.
fn try_restart<F, C, R>(
    this: &mut Projected<'_, F, C, R>,
    decider: &Arc<Decider>,
    failed: Chosen,
    cause: &'static str,
    restart: &impl Fn(R, &Decider) -> Result<Restart<F, C>, &'static str>,
) -> bool {
    let Some(plan) = this.retry.take() else {
        return false;
    };
    let bulkheads = decider.bulkheads();
    let index = failed.index().get();
    let next = match restart(plan, decider) {
        Ok(next) => next,
        Err(reason) => {
            bulkheads.count(index, |s| &s.fallback_skipped);
            bulkheads.log_fallback_skipped(index, cause, reason);
            return false;
        }
    };
    bulkheads.count(index, |s| &s.fallbacks);
    bulkheads.log_fallback(index, cause);
    let deadline = crate::isolation::sleep(bulkheads.timeout(next.chosen.index().get()));
    this.stage.set(Stage::Call { fut: next.fut });
    *this.deadline = deadline;
    *this.pending = Some(Pending {
        classifier: next.classifier,
        start: decider.start_timer(),
        chosen: next.chosen,
        decider: decider.clone(),
        permit: next.permit,
        method: next.method,
        span: otel::request_span(decider.flag_key(), next.chosen),
    });
    true
}

impl<F, C, B, E> Future for ResponseFuture<F, C, NoRetry>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyResponse,
{
    type Output = Result<Response<ResponseBody<B, C::ClassifyEos>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_attempts(
            self.project(),
            cx,
            |never: NoRetry, _| -> Result<_, &'static str> { match never {} },
        )
    }
}

impl<S, C, ReqB, B> Future
    for ResponseFuture<Oneshot<S, Request<ReplayBody<ReqB>>>, C, FallbackRetry<S, C>>
where
    S: Service<Request<ReplayBody<ReqB>>, Response = Response<B>>,
    C: ClassifyResponse,
    ReqB: Body<Data = Bytes>,
    ReqB::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B, C::ClassifyEos>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_attempts(self.project(), cx, |plan: FallbackRetry<S, C>, decider| {
            let replay = plan.replay::<ReqB>(decider.bulkheads(), decider.extension())?;
            let method = crate::isolation::incident::method_name(replay.request.method());
            Ok(Restart {
                fut: replay.service.oneshot(replay.request),
                classifier: replay.classifier,
                chosen: replay.chosen,
                permit: replay.permit,
                method,
            })
        })
    }
}

impl<F, C, R> fmt::Debug for ResponseFuture<F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("chosen", &self.pending.as_ref().map(|p| p.chosen))
            .field("deadline", &self.deadline.is_some())
            .field("fallback", &self.retry.is_some())
            .finish_non_exhaustive()
    }
}
