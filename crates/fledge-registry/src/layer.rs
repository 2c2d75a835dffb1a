//! [`ModelLayer`]: the tower layer that routes each request to the champion
//! or the challenger of the rollout running now, and hands the handler the
//! routed model.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use arc_swap::{ArcSwap, ArcSwapOption};
use fledge_tower::classify::{ServerErrorsAsFailures, SharedClassifier};
use fledge_tower::{CanaryLayer, CanaryService, Chosen, RoutingSource};
use http::Request;
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_layer::Layer;
use tower_service::Service;

use crate::table::ModelTable;

/// Configures the [`CanaryLayer`] built for each rollout (key source,
/// no-key policy, response header, QA override, isolation).
pub type Configure = Arc<dyn Fn(CanaryLayer) -> CanaryLayer + Send + Sync>;

/// The layer the request path reads now: built once per routing change
/// (a rollout starts or ends), never per request.
pub(crate) struct Generation {
    id: u64,
    layer: CanaryLayer,
}

/// What the watcher publishes and every [`ModelService`] reads.
pub(crate) struct Serving {
    current: ArcSwap<Generation>,
    configure: Configure,
    next: AtomicU64,
}

impl fmt::Debug for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving")
            .field("generation", &self.current.load().id)
            .finish_non_exhaustive()
    }
}

impl Serving {
    pub(crate) fn new(configure: Configure, routes: impl RoutingSource) -> Self {
        let layer = configure(CanaryLayer::new(routes));
        Serving {
            current: ArcSwap::from_pointee(Generation { id: 0, layer }),
            configure,
            next: AtomicU64::new(1),
        }
    }

    /// Routes every request through `routes` from now on.
    pub(crate) fn publish(&self, routes: impl RoutingSource) {
        let layer = (self.configure)(CanaryLayer::new(routes));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.current.store(Arc::new(Generation { id, layer }));
    }
}

/// A tower [`Layer`] routing each request between the loaded versions of a
/// [`Watcher`](crate::Watcher)'s model: through the running rollout's
/// controller (its sticky split, its gate recorder) while one runs, to the
/// champion otherwise. From [`Watcher::layer`](crate::Watcher::layer).
///
/// For each request it does what fledge-tower's [`CanaryLayer`] does
/// (routing, the [`Chosen`] extension, the `x-fledge-version` header,
/// latency and outcome recorded into the gates) and also inserts the
/// routed model as a [`Served<M>`](crate::Served) extension, so a handler
/// calls it without any lookup:
///
/// ```ignore
/// async fn predict(Extension(model): Extension<Served<Forecaster>>, body: String) -> String {
///     model.predict(&body)
/// }
/// let app = Router::new().route("/predict", post(predict)).layer(watcher.layer());
/// ```
///
/// Why a layer of its own: a `CanaryLayer` reads one routing source whose
/// version set is fixed when it is built, and a registry brings a new
/// challenger (a new version set) with each rollout. This layer keeps a
/// `CanaryLayer` per rollout, swapped atomically when a rollout starts or
/// ends; a request reads the current one without a lock (one pointer load,
/// clones of reference-counted handles, no allocation once the layer for
/// the current rollout is built).
///
/// Readiness: the inner service is driven with `oneshot` (cloned per
/// request, polled ready inside the response future), like fledge-tower's
/// `VersionRouter`; `poll_ready` is always ready. Response classification
/// is fledge-tower's default (5xx and errors are failures).
pub struct ModelLayer<M> {
    serving: Arc<Serving>,
    table: ModelTable<M>,
}

impl<M> Clone for ModelLayer<M> {
    fn clone(&self) -> Self {
        ModelLayer {
            serving: self.serving.clone(),
            table: self.table.clone(),
        }
    }
}

impl<M> fmt::Debug for ModelLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelLayer")
            .field("serving", &self.serving)
            .field("table", &self.table)
            .finish()
    }
}

impl<M> ModelLayer<M> {
    pub(crate) fn new(serving: Arc<Serving>, table: ModelTable<M>) -> Self {
        ModelLayer { serving, table }
    }
}

impl<S, M> Layer<S> for ModelLayer<M> {
    type Service = ModelService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ModelService {
            inner: Attach {
                inner,
                table: self.table.clone(),
            },
            serving: self.serving.clone(),
            cache: Arc::new(ArcSwapOption::empty()),
        }
    }
}

type Classifier = SharedClassifier<ServerErrorsAsFailures>;

struct Cached<S, M> {
    generation: u64,
    canary: CanaryService<Attach<S, M>, Classifier>,
}

/// The service of a [`ModelLayer`].
pub struct ModelService<S, M> {
    inner: Attach<S, M>,
    serving: Arc<Serving>,
    /// The `Canary` built for the current generation, shared by the clones
    /// of this service (axum clones a route's service per request).
    cache: Arc<ArcSwapOption<Cached<S, M>>>,
}

impl<S: Clone, M> Clone for ModelService<S, M> {
    fn clone(&self) -> Self {
        ModelService {
            inner: self.inner.clone(),
            serving: self.serving.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<S, M> fmt::Debug for ModelService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelService")
            .field("serving", &self.serving)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, M> ModelService<S, M> {
    fn canary(&self) -> CanaryService<Attach<S, M>, Classifier> {
        let generation = self.serving.current.load();
        if let Some(cached) = &*self.cache.load()
            && cached.generation == generation.id
        {
            return cached.canary.clone();
        }
        let canary = generation.layer.layer(self.inner.clone());
        self.cache.store(Some(Arc::new(Cached {
            generation: generation.id,
            canary: canary.clone(),
        })));
        canary
    }
}

impl<S, M, B> Service<Request<B>> for ModelService<S, M>
where
    S: Clone,
    CanaryService<Attach<S, M>, Classifier>: Service<Request<B>>,
{
    type Response = <CanaryService<Attach<S, M>, Classifier> as Service<Request<B>>>::Response;
    type Error = <CanaryService<Attach<S, M>, Classifier> as Service<Request<B>>>::Error;
    type Future = Oneshot<CanaryService<Attach<S, M>, Classifier>, Request<B>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.canary().oneshot(req)
    }
}

/// Inserts the routed model ([`Served`](crate::Served)) into the request,
/// then calls the handler's service.
pub struct Attach<S, M> {
    inner: S,
    table: ModelTable<M>,
}

impl<S: Clone, M> Clone for Attach<S, M> {
    fn clone(&self) -> Self {
        Attach {
            inner: self.inner.clone(),
            table: self.table.clone(),
        }
    }
}

impl<S, M> fmt::Debug for Attach<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attach").finish_non_exhaustive()
    }
}

impl<S, M, B> Service<Request<B>> for Attach<S, M>
where
    S: Service<Request<B>>,
    M: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let served = match req.extensions().get::<Chosen>() {
            Some(chosen) => self.table.get_or_champion(chosen.id()),
            None => self.table.champion(),
        };
        req.extensions_mut().insert(served);
        self.inner.call(req)
    }
}
