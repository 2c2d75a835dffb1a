//! The start of every call: decide, admit through the bulkhead, arm the
//! timeout, call (containing panics), plan the fallback.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;
use fledge_select::VersionIndex;
use http::Request;
use http_body::Body;
use http_body_util::Either;
use tokio::sync::oneshot;
use tower::util::{Oneshot, ServiceExt};
use tower_http::classify::MakeClassifier;
use tower_service::Service;

use super::future::{Pending, ResponseFuture};
use crate::chosen::Scope;
use crate::decide::Decider;
use crate::isolation::{self, Admission, FallbackRetry, ReplayBody, incident};
use crate::otel;
use crate::shadow::TeeBody;

/// What every call does before its version's service: decide, make the
/// classifier, start the clock, take the chosen version's bulkhead slot and
/// tag the request with the [`Chosen`](crate::Chosen) extension. `Err` is a
/// request the bulkhead rejected (overflow answered with 503), to record.
#[inline]
fn begin<M, B>(
    decider: &Arc<Decider>,
    make_classifier: &M,
    req: &mut Request<B>,
) -> Result<Pending<M::Classifier>, Pending<M::Classifier>>
where
    M: MakeClassifier,
{
    let chosen = decider.decide_http(req.uri(), req.headers(), req.extensions());
    let classifier = make_classifier.make_classifier(req);
    let start = decider.start_timer();
    let (chosen, permit) = match decider.admit(chosen) {
        Admission::Admitted { chosen, permit } => (chosen, permit),
        Admission::Rejected { chosen } => {
            return Err(Pending {
                classifier,
                start,
                chosen,
                decider: decider.clone(),
                permit: None,
                method: "",
                span: otel::request_span(decider.flag_key(), chosen),
            });
        }
    };
    if decider.extension() {
        req.extensions_mut().insert(chosen);
    }
    Ok(Pending {
        classifier,
        start,
        chosen,
        decider: decider.clone(),
        permit,
        method: "",
        span: otel::request_span(decider.flag_key(), chosen),
    })
}

/// Without fallback: `call` calls the chosen version's service.
#[inline]
pub(crate) fn call_direct<M, ReqB, F>(
    decider: &Arc<Decider>,
    make_classifier: &M,
    mut req: Request<ReqB>,
    call: impl FnOnce(VersionIndex, Request<ReqB>) -> F,
) -> ResponseFuture<F, M::Classifier>
where
    M: MakeClassifier,
{
    let mut pending = match begin(decider, make_classifier, &mut req) {
        Ok(pending) => pending,
        Err(rejected) => return ResponseFuture::rejected(rejected),
    };
    let chosen = pending.chosen;
    let deadline = isolation::sleep(decider.timeout(chosen.index()));
    if deadline.is_some() {
        pending.method = incident::method_name(req.method());
    }
    // The version (and the request's span) are in scope while its service
    // is called.
    let _scope = Scope::enter(chosen);
    let called = {
        let _span = otel::enter(&pending.span);
        if decider.catch_panics() {
            panic::catch_unwind(AssertUnwindSafe(|| call(chosen.index(), req)))
        } else {
            Ok(call(chosen.index(), req))
        }
    };
    match called {
        Ok(fut) => ResponseFuture::new(fut, pending, deadline, None),
        Err(payload) => ResponseFuture::panicked(pending, payload),
    }
}

/// The future of a service with fallback.
pub(crate) type FallbackFuture<S, ReqB, C> =
    ResponseFuture<Oneshot<S, Request<ReplayBody<ReqB>>>, C, FallbackRetry<S, C>>;

/// With fallback: `service_for` gives the chosen version's (ready) service,
/// `stable` a clone of stable's for the retry, taken only when the request
/// may fall back.
pub(crate) fn call_with_fallback<S, M, ReqB>(
    decider: &Arc<Decider>,
    make_classifier: &M,
    mut req: Request<ReqB>,
    service_for: impl FnOnce(VersionIndex) -> S,
    stable: impl FnOnce() -> S,
) -> FallbackFuture<S, ReqB, M::Classifier>
where
    S: Service<Request<ReplayBody<ReqB>>>,
    M: MakeClassifier,
    ReqB: Body<Data = Bytes>,
{
    let mut pending = match begin(decider, make_classifier, &mut req) {
        Ok(pending) => pending,
        Err(rejected) => return ResponseFuture::rejected(rejected),
    };
    let chosen = pending.chosen;
    let deadline = isolation::sleep(decider.timeout(chosen.index()));
    if deadline.is_some() {
        pending.method = incident::method_name(req.method());
    }
    let (req, retry) = if decider.fallback_allows(chosen, req.method(), req.uri()) {
        let retry_classifier = make_classifier.make_classifier(&req);
        let (parts, body) = req.into_parts();
        let head = parts.clone();
        let (tx, rx) = oneshot::channel();
        let body = Either::Left(TeeBody::tee(body, decider.fallback_body_limit(), tx));
        let retry = FallbackRetry {
            service: stable(),
            head,
            copy: rx,
            classifier: retry_classifier,
        };
        (Request::from_parts(parts, body), Some(retry))
    } else {
        (req.map(|b| Either::Left(TeeBody::passthrough(b))), None)
    };
    // `oneshot` calls the service inside the future's first poll, where a
    // panic is contained.
    let service = service_for(chosen.index());
    ResponseFuture::new(service.oneshot(req), pending, deadline, retry)
}
