//! [`AxumLayer`]: the canary layer with axum's own body type in its
//! responses.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use fledge_tower::classify::{ClassifyEos, ServerErrorsAsFailures, SharedClassifier};
use fledge_tower::isolation::NoFallback;
use fledge_tower::{CanaryLayer, CanaryService, ResponseBody};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// [`CanaryLayer`] for axum: the same decisions, recording, isolation and
/// settings, and responses whose body is axum's [`Body`] again.
///
/// The tower layer's responses carry a
/// [`ResponseBody`] (it can record an outcome known only at the end of a
/// stream), so axum, which wants its own `Body`, boxes every response body
/// once more behind `Router::layer` (one allocation and a dynamic call per
/// frame), and `axum::serve` does not take a router wrapped in it. This
/// layer hands axum the inner body itself whenever nothing is left to do at
/// its end, which with the default classifier is always: no box.
///
/// Two ways to install it, the second the cheaper:
///
/// ```
/// # use axum::{Router, routing::get};
/// # use fledge_axum::{AxumLayer, CanaryLayer, FixedRouting};
/// # use fledge_gate::{Recorder, RecorderConfig};
/// # use fledge_select::{Selector, Split};
/// # use fledge_sticky::{Bucketer, HashMode};
/// # use std::sync::Arc;
/// # let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 500), ("v1", 9_500)])?));
/// # let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
/// # let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "demo"), recorder);
/// let layer = AxumLayer::new(CanaryLayer::new(routes)); // or `canary.axum_layer()`
/// let app: Router = Router::new().route("/", get(|| async { "hi" }));
///
/// // On every route, like any axum middleware:
/// let per_route: Router = app.clone().layer(layer.clone());
///
/// // Around the whole router: axum then wraps no route in an extra boxed
/// // service (about 1,000 instructions a request), so this is the cheapest.
/// let whole = tower_layer::Layer::layer(&layer, app).into_make_service();
/// // axum::serve(listener, whole).await?;
/// # let _ = (per_route, whole);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AxumLayer<M = SharedClassifier<ServerErrorsAsFailures>, P = NoFallback>(
    CanaryLayer<M, P>,
);

impl<M, P> AxumLayer<M, P> {
    /// Wraps a tower [`CanaryLayer`] (its settings, classifier and fallback
    /// unchanged).
    pub fn new(layer: CanaryLayer<M, P>) -> Self {
        AxumLayer(layer)
    }

    /// The tower layer inside.
    pub fn get_ref(&self) -> &CanaryLayer<M, P> {
        &self.0
    }

    /// The tower layer inside, back.
    pub fn into_inner(self) -> CanaryLayer<M, P> {
        self.0
    }
}

impl<M, P> From<CanaryLayer<M, P>> for AxumLayer<M, P> {
    fn from(layer: CanaryLayer<M, P>) -> Self {
        AxumLayer(layer)
    }
}

impl<M: Clone, P> Clone for AxumLayer<M, P> {
    fn clone(&self) -> Self {
        AxumLayer(self.0.clone())
    }
}

impl<S, M: Clone, P> Layer<S> for AxumLayer<M, P> {
    type Service = AxumService<CanaryService<S, M, P>>;

    fn layer(&self, inner: S) -> Self::Service {
        AxumService(self.0.layer(inner))
    }
}

impl<M, P> fmt::Debug for AxumLayer<M, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AxumLayer").field(&self.0).finish()
    }
}

/// The service of [`AxumLayer`]: a [`CanaryService`] whose responses have
/// axum's [`Body`].
#[derive(Clone, Debug)]
pub struct AxumService<S>(S);

impl<S> AxumService<S> {
    /// The canary service inside.
    pub fn get_ref(&self) -> &S {
        &self.0
    }

    /// A make-service for `axum::serve`, handing every connection a clone
    /// of this service: `axum::serve(listener, service.into_make_service())`.
    pub fn into_make_service(self) -> IntoMakeService<Self> {
        IntoMakeService(self)
    }
}

impl<S, R, B, E> Service<R> for AxumService<S>
where
    S: Service<R, Response = http::Response<ResponseBody<B, E>>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    E: ClassifyEos + Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AxumFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: R) -> Self::Future {
        AxumFuture {
            inner: self.0.call(req),
        }
    }
}

pin_project! {
    /// The response future of [`AxumService`].
    pub struct AxumFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E, Err> Future for AxumFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody<B, E>>, Err>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    E: ClassifyEos + Send + 'static,
{
    type Output = Result<Response, Err>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(res.map(axum_body)))
    }
}

impl<F> fmt::Debug for AxumFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumFuture").finish_non_exhaustive()
    }
}

/// axum's body for a response of the layer: the inner body itself when it
/// is one (`Body::new` of a `Body` does not box), boxed only when the end of
/// the stream is still to be classified.
#[inline]
fn axum_body<B, E>(body: ResponseBody<B, E>) -> Body
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    E: ClassifyEos + Send + 'static,
{
    match body.try_into_inner() {
        Ok(inner) => Body::new(inner),
        Err(body) if body.get_ref().is_none() => Body::empty(),
        Err(body) => Body::new(body),
    }
}

/// What [`AxumService::into_make_service`] returns: a make-service for
/// `axum::serve`.
#[derive(Clone, Debug)]
pub struct IntoMakeService<S>(S);

impl<S: Clone, T> Service<T> for IntoMakeService<S> {
    type Response = S;
    type Error = Infallible;
    type Future = Ready<Result<S, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _target: T) -> Self::Future {
        ready(Ok(self.0.clone()))
    }
}
