use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_layer::Layer;

use super::service::CanaryService;
use crate::decide::{Decider, Settings};
use crate::error::ConfigError;
use crate::isolation::{Fallback, IsolationHandle, NoFallback, WithFallback};
use crate::router::VersionRouter;
use crate::routes::RoutingSource;

/// Chooses a version for every request and records its outcome: the layer
/// users add to their service.
///
/// - [`Layer::layer`] wraps one service (an axum `Router`, a handler) in a
///   [`CanaryService`]: the chosen version travels as a
///   [`Chosen`](crate::Chosen) request extension and the handler calls that
///   version's model.
/// - [`CanaryLayer::router`] builds a [`VersionRouter`] over one service per
///   version (two model servers, two clients).
///
/// How the version is chosen and announced (key, no-key policy, QA
/// override, response header, extension, isolation, panic containment) is
/// [`Settings`], shared with the other adapters:
/// [`CanaryLayer::new`] takes the defaults,
/// [`CanaryLayer::with_settings`] checks and applies others. What only the
/// tower layer can do is set here: the response classifier
/// ([`classifier`](Self::classifier)) and the fallback to stable
/// ([`fallback`](Self::fallback)).
///
/// `M` makes the classifier telling success from failure
/// (`tower-http`'s [`MakeClassifier`](tower_http::classify::MakeClassifier));
/// by default 5xx responses and service errors are failures. `P` is
/// [`NoFallback`] or, after [`fallback`](Self::fallback), [`WithFallback`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fledge_gate::{Recorder, RecorderConfig};
/// use fledge_select::{Selector, Split};
/// use fledge_sticky::{Bucketer, HashMode};
/// use fledge_tower::isolation::{Isolation, Overflow};
/// use fledge_tower::{CanaryLayer, FixedRouting, KeySource, NoKey, Settings};
///
/// let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 500), ("v1", 9_500)])?));
/// let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
/// let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "demo"), recorder);
///
/// let settings = Settings::new()
///     .key(KeySource::cookie("uid"))
///     .no_key(NoKey::Stable)
///     .isolation(
///         Isolation::new()
///             .concurrency("v2", 16)
///             .overflow("v2", Overflow::Reject)
///             .timeout("v2", Duration::from_millis(200)),
///     );
/// let layer = CanaryLayer::with_settings(routes, settings)?;
/// let stats = layer.isolation_handle().stats("v2").unwrap();
/// assert_eq!(stats.limit, Some(16));
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
    /// A layer reading `routing` (the rollout's
    /// [`RolloutRouting`](fledge_rollout::RolloutRouting), an experiment's
    /// routing or a [`FixedRouting`](crate::FixedRouting)) with the default
    /// [`Settings`]: key from the `x-user-id` header, a random pick without
    /// one, the `x-fledge-version` response header, the
    /// [`Chosen`](crate::Chosen) extension, no limits, panics contained, 5xx
    /// and errors as failures.
    pub fn new<R: RoutingSource>(routing: R) -> Self {
        Self::from_decider(Decider::with_defaults(routing))
    }

    /// A layer reading `routing` with `settings`. Fails when the settings'
    /// isolation names a version the routing source does not have, or sets
    /// a zero limit.
    pub fn with_settings<R: RoutingSource>(
        routing: R,
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        Ok(Self::from_decider(Decider::new(routing, settings)?))
    }

    /// A layer around a [`Decider`] already built (shared with another
    /// adapter: clones share its counters and bulkheads).
    pub fn from_decider(decider: Decider) -> Self {
        CanaryLayer {
            decider,
            make_classifier: ServerErrorsAsFailures::make_classifier(),
            mode: PhantomData,
        }
    }
}

impl<M, P> CanaryLayer<M, P> {
    /// Classifies responses with `make_classifier` instead, e.g.
    /// `SharedClassifier::new(GrpcErrorsAsFailures::new())` for gRPC.
    pub fn classifier<M2>(self, make_classifier: M2) -> CanaryLayer<M2, P> {
        CanaryLayer {
            decider: self.decider,
            make_classifier,
            mode: PhantomData,
        }
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

    /// The isolation counters (shared by every service this layer makes).
    pub fn isolation_handle(&self) -> IsolationHandle {
        self.decider.isolation()
    }

    /// The decider, e.g. to read [`Decider::overrides_rejected`].
    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// The settings the layer runs with.
    pub fn settings(&self) -> &Settings {
        self.decider.settings()
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
    type Service = CanaryService<S, M, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CanaryService::new(
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
