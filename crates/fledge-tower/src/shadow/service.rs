use crate::clock::Stopwatch;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;
use tower::util::ServiceExt;
use tower_service::Service;

use fledge_gate::MetricId;
use fledge_select::{VersionIndex, random_bucket};

use super::tee::{CopyReceiver, CopySender, TeeBody};
use crate::BoxError;
use crate::chosen::{Chosen, Reason};
use crate::routes::RoutingSource;

/// The comparator of the shadow layer ([`Comparator`](super::Comparator)).
pub(crate) type CompareFn = Arc<dyn Fn(&Bytes, &Bytes) -> Option<f64> + Send + Sync>;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) mirrored: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) compared: AtomicU64,
}

/// What can change or count while serving, shared by the layer's services
/// and its handles.
#[derive(Default)]
pub(crate) struct Runtime {
    pub(crate) share_bps: AtomicU32,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) counters: Counters,
}

/// A shadow layer's settings, fixed once its services are made.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) routes: Arc<dyn RoutingSource>,
    pub(crate) index: VersionIndex,
    pub(crate) id: &'static str,
    pub(crate) follow_routes: bool,
    pub(crate) max_in_flight: usize,
    pub(crate) body_limit: usize,
    pub(crate) comparator: Option<(MetricId, CompareFn)>,
    pub(crate) rt: Arc<Runtime>,
}

impl Config {
    /// The share to mirror now, in basis points.
    pub(crate) fn share(&self) -> u32 {
        let own = self.rt.share_bps.load(Ordering::Relaxed);
        match self.routes.mirror() {
            Some(w) if self.follow_routes => own.max(w.bps()),
            _ => own,
        }
    }

    /// Takes an in-flight slot, or counts the request as dropped.
    pub(crate) fn acquire(self: &Arc<Self>) -> Option<Permit> {
        let in_flight = &self.rt.in_flight;
        let mut current = in_flight.load(Ordering::Relaxed);
        loop {
            if current >= self.max_in_flight {
                self.rt.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Permit(self.rt.clone())),
                Err(now) => current = now,
            }
        }
    }
}

/// An in-flight slot, released on drop.
pub(crate) struct Permit(Arc<Runtime>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The service of [`ShadowLayer`](super::ShadowLayer): calls the primary
/// service with the request, and for a share of requests also sends a copy
/// to the shadow service on a spawned task.
///
/// Readiness is the primary's: `poll_ready` forwards to it. The shadow
/// service is cloned per mirrored request and driven with `oneshot` on its
/// own task, so its readiness never holds up the primary.
pub struct Shadow<S, T> {
    inner: S,
    shadow: T,
    config: Arc<Config>,
}

impl<S, T> Shadow<S, T> {
    pub(crate) fn new(inner: S, shadow: T, config: Arc<Config>) -> Self {
        Shadow {
            inner,
            shadow,
            config,
        }
    }
}

impl<S: Clone, T: Clone> Clone for Shadow<S, T> {
    fn clone(&self) -> Self {
        Shadow {
            inner: self.inner.clone(),
            shadow: self.shadow.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for Shadow<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shadow")
            .field("inner", &self.inner)
            .field("version", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl<S, T, B, RB, TB> Service<Request<B>> for Shadow<S, T>
where
    S: Service<Request<TeeBody<B>>, Response = Response<RB>>,
    B: Body<Data = Bytes>,
    RB: Body,
    T: Service<Request<Full<Bytes>>, Response = Response<TB>> + Clone + Send + 'static,
    T::Future: Send,
    TB: Body<Data = Bytes> + Send + 'static,
    TB::Error: Into<BoxError>,
{
    type Response = Response<TeeBody<RB>>;
    type Error = S::Error;
    type Future = ShadowFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (req, response_tx) = self.mirror(req);
        ShadowFuture {
            inner: self.inner.call(req),
            response_tx,
            body_limit: self.config.body_limit,
        }
    }
}

impl<S, T> Shadow<S, T> {
    /// Decides whether to mirror `req`; when it does, spawns the shadow task
    /// and returns the request with a teeing body.
    fn mirror<B, TB>(&self, req: Request<B>) -> (Request<TeeBody<B>>, Option<CopySender>)
    where
        B: Body<Data = Bytes>,
        T: Service<Request<Full<Bytes>>, Response = Response<TB>> + Clone + Send + 'static,
        T::Future: Send,
        TB: Body<Data = Bytes> + Send + 'static,
        TB::Error: Into<BoxError>,
    {
        let config = &self.config;
        let share = config.share();
        let served_by_shadow = Chosen::current()
            .or_else(|| req.extensions().get::<Chosen>().copied())
            .is_some_and(|c| c.index() == config.index);
        if share == 0 || served_by_shadow || random_bucket() >= share {
            return (req.map(TeeBody::passthrough), None);
        }
        let Some(permit) = config.acquire() else {
            return (req.map(TeeBody::passthrough), None);
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            config.rt.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return (req.map(TeeBody::passthrough), None);
        };
        config.rt.counters.mirrored.fetch_add(1, Ordering::Relaxed);

        let (parts, body) = req.into_parts();
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        head.extensions_mut()
            .insert(Chosen::new(config.index, config.id, Reason::Shadow));
        let (head, ()) = head.into_parts();

        let (request_tx, request_rx) = oneshot::channel();
        let (response_tx, response_rx) = if config.comparator.is_some() {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let body = TeeBody::tee(body, config.body_limit, request_tx);
        let task = run_shadow(
            self.shadow.clone(),
            head,
            request_rx,
            response_rx,
            self.config.clone(),
            permit,
        );
        drop(runtime.spawn(task));
        (Request::from_parts(parts, body), response_tx)
    }
}

/// The shadow call: waits for the request body copy, calls the shadow,
/// records its latency and outcome, and compares outputs.
async fn run_shadow<T, TB>(
    shadow: T,
    head: http::request::Parts,
    request_rx: CopyReceiver,
    response_rx: Option<CopyReceiver>,
    config: Arc<Config>,
    permit: Permit,
) where
    T: Service<Request<Full<Bytes>>, Response = Response<TB>>,
    TB: Body<Data = Bytes>,
    TB::Error: Into<BoxError>,
{
    let _permit = permit;
    let counters = &config.rt.counters;
    let Ok(Ok(body)) = request_rx.await else {
        counters.skipped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let recorder = config.routes.recorder();
    let index = config.index.get();
    let start = Stopwatch::start();
    let response = match shadow
        .oneshot(Request::from_parts(head, Full::new(body)))
        .await
    {
        Ok(response) => response,
        Err(_) => {
            recorder.record(index, start.elapsed(), true);
            counters.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let failed = response.status().is_server_error();
    recorder.record(index, start.elapsed(), failed);
    if failed {
        counters.errors.fetch_add(1, Ordering::Relaxed);
    }
    // Drain the shadow's body (up to the limit) so its resources are freed,
    // and keep it for the comparator.
    let collected = Limited::new(response.into_body(), config.body_limit)
        .collect()
        .await
        .map(|c| c.to_bytes());
    let (Some((metric, compare)), Some(response_rx)) = (&config.comparator, response_rx) else {
        return;
    };
    let (Ok(shadow_bytes), Ok(Ok(primary_bytes))) = (collected, response_rx.await) else {
        counters.skipped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if let Some(value) = compare(&primary_bytes, &shadow_bytes) {
        recorder.record_metric(index, *metric, value);
        counters.compared.fetch_add(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// The response future of [`Shadow`]: the primary's response, its body
    /// copied for the comparator when the request was mirrored.
    pub struct ShadowFuture<F> {
        #[pin]
        inner: F,
        response_tx: Option<CopySender>,
        body_limit: usize,
    }
}

impl<F, RB, E> Future for ShadowFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    RB: Body,
{
    type Output = Result<Response<TeeBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let limit = *this.body_limit;
        Poll::Ready(result.map(|res| match this.response_tx.take() {
            Some(tx) => res.map(|b| TeeBody::tee(b, limit, tx)),
            None => res.map(TeeBody::passthrough),
        }))
    }
}

impl<F> fmt::Debug for ShadowFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowFuture")
            .field("comparing", &self.response_tx.is_some())
            .finish_non_exhaustive()
    }
}
