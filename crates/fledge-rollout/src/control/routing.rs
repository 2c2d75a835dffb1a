//! [`RolloutRouting`]: the serving handle the request path reads without locks.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use arc_swap::ArcSwap;

use fledge_gate::Recorder;
use fledge_select::{Selector, VersionId, VersionIndex, Weight};
use fledge_sticky::Bucketer;

use crate::machine::Traffic;
use crate::plan::{Attributes, TargetRule};

/// What the request path reads: swapped whole on every publish.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) traffic: Traffic,
    pub(crate) bucketer: Bucketer,
    pub(crate) rules: Vec<(TargetRule, VersionIndex)>,
}

/// Where [`RolloutRouting::resolve`] sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Routed {
    /// A targeting rule forces this version.
    Targeted(VersionIndex),
    /// The key's sticky bucket lies in this version's range (the pick is
    /// counted by the selector).
    Sticky(VersionIndex),
    /// No key and no matching rule: the caller decides.
    NoKey,
}

/// [`Shared::seed`] when the view needs loading.
const NO_SEED: u64 = u64::MAX;

struct Shared {
    selector: Arc<Selector>,
    recorder: Arc<Recorder>,
    view: ArcSwap<View>,
    /// The view's Fledge-mode seed while it has no rules (the usual case),
    /// so that a request routes without loading the view; [`NO_SEED`]
    /// otherwise (other hash modes, active rules, or a seed that happens to
    /// equal it). Written after the view: a request reads the old or the
    /// new state, each whole.
    seed: AtomicU64,
    /// The view's mirror share in basis points, for the shadow layer.
    mirror: AtomicU32,
    candidate: VersionIndex,
    baseline: VersionIndex,
}

/// Everything the serving layer needs per request, published by the
/// controller: the selector (candidate listed first), the current attempt's
/// sticky bucketer, the active targeting rules and the gate recorder.
///
/// Cheap to clone (an `Arc` inside). Every method is lock-free and
/// allocation-free. A request's whole routing cost is: extract the key →
/// [`bucket`](Self::bucket) → [`target`](Self::target) (only if rules exist)
/// → [`selector`](Self::selector)`.pick_by_bucket` → call the version →
/// [`recorder`](Self::recorder)`.record`. [`route`](Self::route) (or
/// [`resolve`](Self::resolve), which also says why) does the first four in
/// one call, reading the published view once.
#[derive(Clone)]
pub struct RolloutRouting {
    shared: Arc<Shared>,
}

impl fmt::Debug for RolloutRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RolloutRouting")
            .field("selector", &self.shared.selector)
            .field("view", &*self.shared.view.load())
            .finish_non_exhaustive()
    }
}

/// The seed requests may use instead of loading `view`.
fn fast_seed(view: &View) -> u64 {
    match view.bucketer.fledge_seed() {
        Some(seed) if view.rules.is_empty() => seed,
        _ => NO_SEED,
    }
}

impl RolloutRouting {
    pub(crate) fn new(
        selector: Arc<Selector>,
        recorder: Arc<Recorder>,
        view: View,
        candidate: VersionIndex,
        baseline: VersionIndex,
    ) -> Self {
        RolloutRouting {
            shared: Arc::new(Shared {
                selector,
                recorder,
                seed: AtomicU64::new(fast_seed(&view)),
                mirror: AtomicU32::new(view.traffic.mirror.bps()),
                view: ArcSwap::from_pointee(view),
                candidate,
                baseline,
            }),
        }
    }

    pub(crate) fn store(&self, view: View) {
        let seed = fast_seed(&view);
        let mirror = view.traffic.mirror.bps();
        self.shared.view.store(Arc::new(view));
        self.shared.seed.store(seed, Ordering::Release);
        self.shared.mirror.store(mirror, Ordering::Relaxed);
    }

    /// The selector: a fixed variant set, the candidate listed first (it
    /// owns buckets `[0, w)`), the baseline second.
    pub fn selector(&self) -> &Selector {
        &self.shared.selector
    }

    /// The selector, shared.
    pub fn selector_arc(&self) -> &Arc<Selector> {
        &self.shared.selector
    }

    /// A key's sticky bucket, `0..10_000`, under the current attempt's salt.
    pub fn bucket(&self, key: &[u8]) -> u32 {
        match self.shared.seed.load(Ordering::Acquire) {
            NO_SEED => self.shared.view.load().bucketer.bucket(key),
            seed => Bucketer::fledge_bucket(seed, key),
        }
    }

    /// The version a targeting rule forces for this request, if any. Rules
    /// are active only while the rollout runs.
    pub fn target<A: Attributes + ?Sized>(&self, request: &A) -> Option<VersionIndex> {
        let view = self.shared.view.load();
        view.rules
            .iter()
            .find(|(rule, _)| rule.matches(request))
            .map(|(_, index)| *index)
    }

    /// Whether any targeting rule is active (skip extracting attributes if not).
    pub fn has_rules(&self) -> bool {
        self.shared.seed.load(Ordering::Acquire) == NO_SEED
            && !self.shared.view.load().rules.is_empty()
    }

    /// Picks the version for a request: the first matching targeting rule,
    /// else the key's sticky bucket, else (no key) at random.
    pub fn route<A: Attributes + ?Sized>(&self, key: Option<&[u8]>, request: &A) -> VersionIndex {
        match self.resolve(key, request) {
            Routed::Targeted(index) | Routed::Sticky(index) => index,
            Routed::NoKey => self.shared.selector.pick_random(),
        }
    }

    /// [`route`](Self::route), saying why, and leaving requests without a key
    /// to the caller (the serving layer picks at random or sends them to
    /// stable). Reads the published view once: the serving layer's whole
    /// routing decision.
    pub fn resolve<A: Attributes + ?Sized>(&self, key: Option<&[u8]>, request: &A) -> Routed {
        let seed = self.shared.seed.load(Ordering::Acquire);
        if seed != NO_SEED {
            return match key {
                Some(key) => Routed::Sticky(
                    self.shared
                        .selector
                        .pick_by_bucket(Bucketer::fledge_bucket(seed, key)),
                ),
                None => Routed::NoKey,
            };
        }
        let view = self.shared.view.load();
        if let Some((_, index)) = view.rules.iter().find(|(rule, _)| rule.matches(request)) {
            return Routed::Targeted(*index);
        }
        match key {
            Some(key) => Routed::Sticky(
                self.shared
                    .selector
                    .pick_by_bucket(view.bucketer.bucket(key)),
            ),
            None => Routed::NoKey,
        }
    }

    /// The gate recorder: record latency and outcome per request, and
    /// feedback metrics, under the version's index (`index.get()`).
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.shared.recorder
    }

    /// The index of a version by id.
    pub fn index_of(&self, id: &str) -> Option<VersionIndex> {
        self.shared.selector.index_of(id)
    }

    /// The id of a version by index.
    pub fn id(&self, index: VersionIndex) -> Option<&VersionId> {
        self.shared.selector.id(index)
    }

    /// The candidate's index.
    pub fn candidate(&self) -> VersionIndex {
        self.shared.candidate
    }

    /// The baseline's index.
    pub fn baseline(&self) -> VersionIndex {
        self.shared.baseline
    }

    /// What is published now: candidate weight, mirror share, rules.
    pub fn traffic(&self) -> Traffic {
        self.shared.view.load().traffic
    }

    /// The share of requests to mirror to the candidate (shadow traffic).
    pub fn mirror(&self) -> Weight {
        Weight::from_bps(self.shared.mirror.load(Ordering::Relaxed)).unwrap_or(Weight::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use fledge_gate::RecorderConfig;
    use fledge_select::Split;
    use fledge_sticky::HashMode;

    use super::*;

    fn view(mode: HashMode, salt: &str, rules: Vec<(TargetRule, VersionIndex)>) -> View {
        View {
            traffic: Traffic::BASELINE,
            bucketer: Bucketer::new(mode, salt),
            rules,
        }
    }

    /// Without rules in the Fledge mode, requests route from the seed word;
    /// every publish (new salt, rules, another mode) is followed exactly.
    #[test]
    fn the_seed_word_follows_every_publish() {
        let selector = Arc::new(Selector::new(
            Split::from_pairs([("v2", 5_000), ("v1", 5_000)]).unwrap(),
        ));
        let recorder = Arc::new(Recorder::new(RecorderConfig::new(2)).unwrap());
        let (v2, v1) = (VersionIndex::new(0).unwrap(), VersionIndex::new(1).unwrap());
        let routing = RolloutRouting::new(
            selector,
            recorder,
            view(HashMode::Fledge, "a", Vec::new()),
            v2,
            v1,
        );
        let keys: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
        let check = |mode: HashMode, salt: &str| {
            let expected = Bucketer::new(mode, salt);
            for key in &keys {
                assert_eq!(
                    routing.bucket(key.as_bytes()),
                    expected.bucket(key.as_bytes())
                );
                let want = routing
                    .selector()
                    .version_for_bucket(expected.bucket(key.as_bytes()));
                assert_eq!(
                    routing.resolve(Some(key.as_bytes()), &()),
                    Routed::Sticky(want)
                );
            }
            assert_eq!(routing.resolve(None, &()), Routed::NoKey);
        };
        check(HashMode::Fledge, "a");
        assert!(!routing.has_rules());

        routing.store(view(HashMode::Fledge, "b", Vec::new()));
        check(HashMode::Fledge, "b");

        let rule = TargetRule::header_equals("x-tester", "1", VersionId::new("v2").unwrap());
        routing.store(view(HashMode::Fledge, "b", vec![(rule, v2)]));
        assert!(routing.has_rules());
        let tester: &[(&str, &str)] = &[("x-tester", "1")];
        assert_eq!(routing.resolve(Some(b"u"), tester), Routed::Targeted(v2));
        check(HashMode::Fledge, "b");

        routing.store(view(HashMode::Unleash, "b", Vec::new()));
        assert!(!routing.has_rules());
        check(HashMode::Unleash, "b");

        routing.store(view(HashMode::Fledge, "c", Vec::new()));
        check(HashMode::Fledge, "c");
    }
}
