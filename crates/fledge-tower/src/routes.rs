//! [`RoutingSource`]: what the layer reads on every request, and [`FixedRouting`],
//! a fixed source for A/B tests and bandits that run without a controller.

use std::fmt;
use std::sync::Arc;

use fledge_experiment::ExperimentRouting;
use fledge_gate::Recorder;
use fledge_rollout::plan::Attributes;
use fledge_rollout::{RolloutRouting, Routed};
use fledge_select::{Selector, VersionIndex, Weight};
use fledge_sticky::Bucketer;

/// Where the serving layer reads routing decisions from and records outcomes
/// to: the rollout controller's serving handle, or a [`FixedRouting`].
///
/// Every method runs on the request path: implementations must not lock,
/// block or allocate.
pub trait RoutingSource: Send + Sync + fmt::Debug + 'static {
    /// The selector: its variant set (ids and order) is fixed, so a
    /// [`VersionIndex`] it returns stays valid.
    fn selector(&self) -> &Selector;

    /// The sticky bucket of `key` under the current salt, `0..10_000`.
    fn bucket(&self, key: &[u8]) -> u32;

    /// The version a targeting rule forces for this request, if any. The
    /// default has no rules.
    fn target(&self, request: &dyn Attributes) -> Option<VersionIndex> {
        let _ = request;
        None
    }

    /// Whether any targeting rule is active; when `false` the layer skips
    /// [`target`](RoutingSource::target) entirely.
    fn has_targeting(&self) -> bool {
        false
    }

    /// The whole decision for a request (after the QA override), in one
    /// call: a targeting rule, else the key's sticky bucket; requests with
    /// neither are left to the layer's [`NoKey`](crate::NoKey). The default
    /// asks [`has_targeting`](RoutingSource::has_targeting),
    /// [`target`](RoutingSource::target), [`bucket`](RoutingSource::bucket) and the
    /// [`selector`](RoutingSource::selector); a source that publishes its rules and
    /// salt together overrides it to read them once.
    fn resolve(&self, key: Option<&[u8]>, request: &dyn Attributes) -> Routed {
        if self.has_targeting()
            && let Some(index) = self.target(request)
        {
            return Routed::Targeted(index);
        }
        match key {
            Some(key) => Routed::Sticky(self.selector().pick_by_bucket(self.bucket(key))),
            None => Routed::NoKey,
        }
    }

    /// Whether the source counts exposures (an experiment does): read once,
    /// when the layer is built. When `true`, the layer calls
    /// [`expose`](RoutingSource::expose) for every request it admits on the version
    /// its sticky bucket picked ([`Reason::Sticky`](crate::Reason::Sticky)).
    fn counts_exposures(&self) -> bool {
        false
    }

    /// Counts one exposure of the version at `index` (see
    /// [`counts_exposures`](RoutingSource::counts_exposures)). The default does
    /// nothing.
    fn expose(&self, index: VersionIndex) {
        let _ = index;
    }

    /// Where latency, outcome and feedback are recorded, indexed by
    /// [`VersionIndex::get`]. Read once, when a layer is built: the layer
    /// keeps a handle (a [`Recorder`] clone shares its state) and records
    /// through it.
    fn recorder(&self) -> &Recorder;

    /// The stable version: where overflow and fallback go (see
    /// [`isolation`](crate::isolation)). The default, `None`, means the last
    /// version of the selector (a canary is listed first).
    fn baseline(&self) -> Option<VersionIndex> {
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

impl<T: RoutingSource + ?Sized> RoutingSource for Arc<T> {
    fn selector(&self) -> &Selector {
        (**self).selector()
    }
    fn bucket(&self, key: &[u8]) -> u32 {
        (**self).bucket(key)
    }
    fn target(&self, request: &dyn Attributes) -> Option<VersionIndex> {
        (**self).target(request)
    }
    fn has_targeting(&self) -> bool {
        (**self).has_targeting()
    }
    fn resolve(&self, key: Option<&[u8]>, request: &dyn Attributes) -> Routed {
        (**self).resolve(key, request)
    }
    fn counts_exposures(&self) -> bool {
        (**self).counts_exposures()
    }
    fn expose(&self, index: VersionIndex) {
        (**self).expose(index)
    }
    fn recorder(&self) -> &Recorder {
        (**self).recorder()
    }
    fn mirror(&self) -> Option<Weight> {
        (**self).mirror()
    }
    fn baseline(&self) -> Option<VersionIndex> {
        (**self).baseline()
    }
}

/// The rollout controller's serving handle
/// ([`Controller::routing`](fledge_rollout::Controller::routing)): the split,
/// salt, targeting rules and mirror share it publishes on every tick.
impl RoutingSource for RolloutRouting {
    fn selector(&self) -> &Selector {
        RolloutRouting::selector(self)
    }
    fn bucket(&self, key: &[u8]) -> u32 {
        RolloutRouting::bucket(self, key)
    }
    fn target(&self, request: &dyn Attributes) -> Option<VersionIndex> {
        RolloutRouting::target(self, request)
    }
    fn has_targeting(&self) -> bool {
        self.has_rules()
    }
    fn resolve(&self, key: Option<&[u8]>, request: &dyn Attributes) -> Routed {
        RolloutRouting::resolve(self, key, request)
    }
    fn recorder(&self) -> &Recorder {
        RolloutRouting::recorder(self)
    }
    fn mirror(&self) -> Option<Weight> {
        Some(RolloutRouting::mirror(self))
    }
    fn baseline(&self) -> Option<VersionIndex> {
        Some(RolloutRouting::baseline(self))
    }
}

/// An experiment's serving handle
/// ([`AbTest::routing`](fledge_experiment::AbTest::routing),
/// [`ChampionChallenger::routing`](fledge_experiment::ChampionChallenger::routing)):
/// requests outside its segment go to the control (counted as
/// [`Reason::Targeted`](crate::Reason::Targeted)), the others by their
/// sticky bucket. The layer counts an exposure for every request it admits
/// on the version its sticky bucket picked, so handlers need not call
/// [`ExperimentRouting::expose`]. Not exposures: requests outside the
/// segment, requests without a key (picked at random or sent to stable by
/// [`NoKey`](crate::NoKey)), QA overrides, and requests a full bulkhead sent
/// to stable. Overflow and fallback go to the control.
impl RoutingSource for ExperimentRouting {
    fn selector(&self) -> &Selector {
        ExperimentRouting::selector(self)
    }
    fn bucket(&self, key: &[u8]) -> u32 {
        ExperimentRouting::bucket(self, key)
    }
    fn target(&self, request: &dyn Attributes) -> Option<VersionIndex> {
        ExperimentRouting::target(self, request)
    }
    fn has_targeting(&self) -> bool {
        self.has_rules()
    }
    fn counts_exposures(&self) -> bool {
        true
    }
    fn expose(&self, index: VersionIndex) {
        ExperimentRouting::expose(self, index);
    }
    fn recorder(&self) -> &Recorder {
        ExperimentRouting::recorder(self)
    }
    fn baseline(&self) -> Option<VersionIndex> {
        Some(self.control())
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
/// use fledge_tower::{RoutingSource, FixedRouting};
///
/// let selector = Arc::new(Selector::new(Split::from_pairs([("b", 5_000), ("a", 5_000)])?));
/// let recorder = Arc::new(Recorder::new(RecorderConfig::new(2))?);
/// let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "ab-1"), recorder);
/// assert!(routes.bucket(b"user-1") < 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FixedRouting {
    selector: Arc<Selector>,
    bucketer: Bucketer,
    recorder: Arc<Recorder>,
}

impl FixedRouting {
    /// A source reading `selector`, hashing with `bucketer`, recording into
    /// `recorder` (which should have at least the selector's variant count).
    pub fn new(selector: Arc<Selector>, bucketer: Bucketer, recorder: Arc<Recorder>) -> Self {
        FixedRouting {
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

impl RoutingSource for FixedRouting {
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
