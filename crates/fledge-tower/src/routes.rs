//! [`Routes`]: what the layer reads on every request, and [`StaticRoutes`],
//! a fixed source for A/B tests and bandits that run without a controller.

use std::fmt;
use std::sync::Arc;

use fledge_gate::Recorder;
use fledge_rollout::Routing;
use fledge_rollout::plan::Attributes;
use fledge_select::{Selector, VariantIndex, Weight};
use fledge_sticky::Bucketer;

/// Where the serving layer reads routing decisions from and records outcomes
/// to: the rollout controller's serving handle, or a [`StaticRoutes`].
///
/// Every method runs on the request path: implementations must not lock,
/// block or allocate.
pub trait Routes: Send + Sync + fmt::Debug + 'static {
    /// The selector: its variant set (ids and order) is fixed, so a
    /// [`VariantIndex`] it returns stays valid.
    fn selector(&self) -> &Selector;

    /// The sticky bucket of `key` under the current salt, `0..10_000`.
    fn bucket(&self, key: &[u8]) -> u32;

    /// The version a targeting rule forces for this request, if any. The
    /// default has no rules.
    fn target(&self, request: &dyn Attributes) -> Option<VariantIndex> {
        let _ = request;
        None
    }

    /// Whether any targeting rule is active; when `false` the layer skips
    /// [`target`](Routes::target) entirely.
    fn has_targeting(&self) -> bool {
        false
    }

    /// Where latency, outcome and feedback are recorded, indexed by
    /// [`VariantIndex::get`].
    fn recorder(&self) -> &Recorder;

    /// The stable version: where overflow and fallback go (see
    /// [`isolation`](crate::isolation)). The default, `None`, means the last
    /// version of the selector (a canary is listed first).
    fn baseline(&self) -> Option<VariantIndex> {
        None
    }

    /// The share of requests to mirror to the shadow version right now, when
    /// the source decides it (a plan's `mirror` step). The
    /// [`ShadowLayer`](crate::shadow::ShadowLayer) mirrors the larger of this
    /// and its own configured share.
    fn mirror(&self) -> Option<Weight> {
        None
    }
}

impl<T: Routes + ?Sized> Routes for Arc<T> {
    fn selector(&self) -> &Selector {
        (**self).selector()
    }
    fn bucket(&self, key: &[u8]) -> u32 {
        (**self).bucket(key)
    }
    fn target(&self, request: &dyn Attributes) -> Option<VariantIndex> {
        (**self).target(request)
    }
    fn has_targeting(&self) -> bool {
        (**self).has_targeting()
    }
    fn recorder(&self) -> &Recorder {
        (**self).recorder()
    }
    fn mirror(&self) -> Option<Weight> {
        (**self).mirror()
    }
    fn baseline(&self) -> Option<VariantIndex> {
        (**self).baseline()
    }
}

/// The rollout controller's serving handle
/// ([`Controller::routing`](fledge_rollout::Controller::routing)): the split,
/// salt, targeting rules and mirror share it publishes on every tick.
impl Routes for Routing {
    fn selector(&self) -> &Selector {
        Routing::selector(self)
    }
    fn bucket(&self, key: &[u8]) -> u32 {
        Routing::bucket(self, key)
    }
    fn target(&self, request: &dyn Attributes) -> Option<VariantIndex> {
        Routing::target(self, request)
    }
    fn has_targeting(&self) -> bool {
        self.has_rules()
    }
    fn recorder(&self) -> &Recorder {
        Routing::recorder(self)
    }
    fn mirror(&self) -> Option<Weight> {
        Some(Routing::mirror(self))
    }
    fn baseline(&self) -> Option<VariantIndex> {
        Some(Routing::baseline(self))
    }
}

/// A fixed routing source: a [`Selector`] (whose split someone else may
/// publish, e.g. a bandit policy), a [`Bucketer`] and a [`Recorder`]. No
/// targeting rules.
///
/// ```
/// use std::sync::Arc;
/// use fledge_gate::{Recorder, RecorderConfig};
/// use fledge_select::{Selector, Split};
/// use fledge_sticky::{Bucketer, HashMode};
/// use fledge_tower::{Routes, StaticRoutes};
///
/// let selector = Arc::new(Selector::new(Split::from_pairs([("b", 5_000), ("a", 5_000)])?));
/// let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
/// let routes = StaticRoutes::new(selector, Bucketer::new(HashMode::Fledge, "ab-1"), recorder);
/// assert!(routes.bucket(b"user-1") < 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StaticRoutes {
    selector: Arc<Selector>,
    bucketer: Bucketer,
    recorder: Arc<Recorder>,
}

impl StaticRoutes {
    /// A source reading `selector`, hashing with `bucketer`, recording into
    /// `recorder` (which should have at least the selector's variant count).
    pub fn new(selector: Arc<Selector>, bucketer: Bucketer, recorder: Arc<Recorder>) -> Self {
        StaticRoutes {
            selector,
            bucketer,
            recorder,
        }
    }

    /// The shared selector, e.g. to publish a new split.
    pub fn selector_handle(&self) -> &Arc<Selector> {
        &self.selector
    }

    /// The shared recorder.
    pub fn recorder_handle(&self) -> &Arc<Recorder> {
        &self.recorder
    }
}

impl Routes for StaticRoutes {
    fn selector(&self) -> &Selector {
        &self.selector
    }
    fn bucket(&self, key: &[u8]) -> u32 {
        self.bucketer.bucket(key)
    }
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}
