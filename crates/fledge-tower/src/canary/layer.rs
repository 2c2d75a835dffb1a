use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use http::header::HeaderName;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_layer::Layer;

use super::Canary;
use crate::decide::Decider;
use crate::error::ConfigError;
use crate::isolation::{Fallback, Isolation, IsolationHandle, NoFallback, WithFallback};
use crate::key::{KeySource, NoKey};
use crate::qa::QaOverride;
use crate::router::VersionRouter;
use crate::routes::RoutingSource;

/// Chooses a version for every request and records its outcome: the layer
/// users add to their service.
///
/// - [`Layer::layer`] wraps one service (an axum `Router`, a handler) in a
///   [`Canary`]: the chosen version travels as a [`Chosen`](crate::Chosen)
///   request extension and the handler calls that version's model.
/// - [`CanaryLayer::router`] builds a [`VersionRouter`] over one service per
///   version (two model servers, two clients).
///
/// `M` makes the classifier telling success from failure
/// (`tower-http`'s [`MakeClassifier`](tower_http::classify::MakeClassifier));
/// by default 5xx responses and service errors are failures. `P` is
/// [`NoFallback`] or, after [`fallback`](Self::fallback), [`WithFallback`].
///
/// Isolation between versions (bulkheads, timeouts, panic containment,
/// fallback) is set with [`isolation`](Self::isolation) and
/// [`fallback`](Self::fallback); see [`crate::isolation`].
///
/// ```
/// use std::sync::Arc;
/// use fledge_gate::{Recorder, RecorderConfig};
/// use fledge_select::{Selector, Split};
/// use fledge_sticky::{Bucketer, HashMode};
/// use fledge_tower::{CanaryLayer, KeySource, NoKey, FixedRouting};
///
/// let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 500), ("v1", 9_500)])?));
/// let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
/// let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "demo"), recorder);
///
/// let layer = CanaryLayer::new(routes)
///     .key(KeySource::cookie("uid"))
///     .no_key(NoKey::Stable)
///     .response_header(None); // no x-fledge-version header
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CanaryLayer<M = SharedClassifier<ServerErrorsAsFailures>, P = NoFallback> {
    decider: Decider,
    make_classifier: M,
    mode: PhantomData<fn() -> P>,
}

impl<M: Clone, P> Clone for CanaryLayer<M, P> {
    fn clone(&self) -> Self {
        CanaryLayer {
            decider: self.decider.clone(),
            make_classifier: self.make_classifier.clone(),
            mode: PhantomData,
        }
    }
}

impl CanaryLayer {
    /// A layer reading `routes` (the rollout's serving handle or a
    /// [`FixedRouting`](crate::FixedRouting)) with the defaults: key from the
    /// `x-user-id` header, a random pick without one, the `x-fledge-version`
    /// response header, the [`Chosen`](crate::Chosen) extension, 5xx and
    /// errors as failures.
    pub fn new<R: RoutingSource>(routes: R) -> Self {
        Self::from_decider(Decider::new(routes))
    }

    /// A layer around a configured [`Decider`].
    pub fn from_decider(decider: Decider) -> Self {
        CanaryLayer {
            decider,
            make_classifier: ServerErrorsAsFailures::make_classifier(),
            mode: PhantomData,
        }
    }
}

impl<M, P> CanaryLayer<M, P> {
    /// Where the routing key comes from (default: the `x-user-id` header).
    pub fn key(mut self, key: KeySource) -> Self {
        self.decider.set_key(key);
        self
    }

    /// What to do with requests without a key (default: random pick).
    pub fn no_key(mut self, no_key: NoKey) -> Self {
        self.decider.set_no_key(no_key);
        self
    }

    /// Honour a QA override header carrying a secret.
    pub fn qa_override(mut self, qa: QaOverride) -> Self {
        self.decider.set_qa_override(Some(qa));
        self
    }

    /// The response header naming the version (default `x-fledge-version`);
    /// `None` sends no header. `http` hashes a custom header name byte by
    /// byte, so this header is one of the dearer parts of the layer (see
    /// "What it costs" in the crate docs): turn it off where clients do not
    /// need it.
    pub fn response_header(mut self, name: Option<HeaderName>) -> Self {
        self.decider.set_response_header(name);
        self
    }

    /// Whether to insert the [`Chosen`](crate::Chosen) request extension
    /// (default: yes). `http` boxes every extension value, so inserting it is
    /// one small allocation per request (three when the request has no
    /// extensions yet; axum's router creates the map anyway). Turn it off
    /// when no handler reads it.
    pub fn extension(mut self, on: bool) -> Self {
        self.decider.set_extension(on);
        self
    }

    /// Classifies responses with `make_classifier` instead, e.g.
    /// `SharedClassifier::new(GrpcErrorsAsFailures::new())` for gRPC.
    pub fn classifier<M2>(self, make_classifier: M2) -> CanaryLayer<M2, P> {
        CanaryLayer {
            decider: self.decider,
            make_classifier,
            mode: PhantomData,
        }
    }

    /// Per-version bulkheads and timeouts, and where overflow goes (see
    /// [`crate::isolation`]). Fails on a version the routing source does not
    /// have, or a zero limit.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use fledge_gate::{Recorder, RecorderConfig};
    /// # use fledge_select::{Selector, Split};
    /// # use fledge_sticky::{Bucketer, HashMode};
    /// # use fledge_tower::FixedRouting;
    /// use fledge_tower::CanaryLayer;
    /// use fledge_tower::isolation::{Isolation, Overflow};
    /// # let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 500), ("v1", 9_500)])?));
    /// # let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
    /// # let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "demo"), recorder);
    ///
    /// let layer = CanaryLayer::new(routes).isolation(
    ///     Isolation::new()
    ///         .concurrency("v2", 16)
    ///         .overflow("v2", Overflow::Reject)
    ///         .timeout("v2", Duration::from_millis(200)),
    /// )?;
    /// let stats = layer.isolation_handle().stats("v2").unwrap();
    /// assert_eq!(stats.limit, Some(16));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn isolation(mut self, isolation: Isolation) -> Result<Self, ConfigError> {
        self.decider.set_isolation(isolation)?;
        Ok(self)
    }

    /// Retries a failed request once on stable where `fallback` allows it
    /// (opt-in per route; idempotent methods only unless declared). The inner
    /// services then see a [`ReplayBody`](crate::isolation::ReplayBody): the
    /// body is copied up to the fallback's limit as it is read.
    pub fn fallback(mut self, fallback: Fallback) -> CanaryLayer<M, WithFallback> {
        self.decider.set_fallback(Some(fallback));
        CanaryLayer {
            decider: self.decider,
            make_classifier: self.make_classifier,
            mode: PhantomData,
        }
    }

    /// Whether a panic in a version's service is caught, counted, recorded
    /// as its failure and answered with a 500 (default: yes). When off it is
    /// recorded and then propagated.
    pub fn catch_panics(mut self, on: bool) -> Self {
        self.decider.set_catch_panics(on);
        self
    }

    /// The isolation counters (shared by every service this layer makes).
    /// [`isolation`](Self::isolation) starts them anew: take the handle after
    /// it.
    pub fn isolation_handle(&self) -> IsolationHandle {
        self.decider.isolation()
    }

    /// The decider, e.g. to read [`Decider::overrides_rejected`].
    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// A [`VersionRouter`] sending each request to the service of its version.
    /// Every version of the selector needs exactly one service.
    pub fn router<S, I, K>(self, services: I) -> Result<VersionRouter<S, M, P>, ConfigError>
    where
        I: IntoIterator<Item = (K, S)>,
        K: AsRef<str>,
    {
        VersionRouter::new(self.decider, self.make_classifier, services)
    }
}

impl<S, M: Clone, P> Layer<S> for CanaryLayer<M, P> {
    type Service = Canary<S, M, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Canary::new(
            inner,
            Arc::new(self.decider.clone()),
            self.make_classifier.clone(),
        )
    }
}

impl<M, P> fmt::Debug for CanaryLayer<M, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryLayer")
            .field("decider", &self.decider)
            .finish_non_exhaustive()
    }
}
