//! [`ExperimentRouting`]: the serving handle of an experiment over two or
//! more variants, and [`Condition`]s that decide who enters it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fledge_gate::Recorder;
use fledge_select::{Selector, VersionId, VersionIndex};
use fledge_sticky::Bucketer;

use crate::error::ExperimentError;
use fledge_rollout::plan::Attributes;

/// A condition on one request header or attribute: who enters an
/// experiment's segment. The same type as the test of a plan's targeting
/// rule (fledge-rollout's [`Condition`](fledge_rollout::plan::Condition)):
/// `{ attribute = "country", in = ["fr", "de"] }`.
pub use fledge_rollout::plan::Condition;

/// The segment's `index`th condition, checked: why it cannot match, if so.
pub(crate) fn check(condition: &Condition, index: usize) -> Result<Condition, ExperimentError> {
    match condition.problem() {
        Some(problem) => Err(ExperimentError::BadCondition { index, problem }),
        None => Ok(condition.clone()),
    }
}

/// A counter on its own cache line, so variants do not contend.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Counter(AtomicU64);

struct Shared {
    selector: Arc<Selector>,
    bucketer: Bucketer,
    recorder: Arc<Recorder>,
    segment: Vec<Condition>,
    control: VersionIndex,
    exposures: Box<[Counter]>,
}

/// Where a request goes in an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The variant that serves it.
    pub variant: VersionIndex,
    /// Whether the request is in the experiment (in its segment). Requests
    /// outside are served by the control and are not exposures.
    pub in_experiment: bool,
}

/// The serving handle of an experiment ([`AbTest`](crate::AbTest),
/// [`ChampionChallenger`](crate::ChampionChallenger)): the selector over its
/// variants, the sticky bucketer, the segment, the recorder and the exposure
/// counters. Cheap to clone (an `Arc` inside); every method is lock-free and
/// allocation-free.
///
/// Request path, without a serving layer: [`route`](Self::route) (segment →
/// sticky bucket → selector; counts the exposure), call the variant, then
/// `recorder().record(variant.get(), latency, error)`. Behind the
/// `fledge-tower` layer (`ExperimentRouting` is a routing source there), the
/// layer makes the decision from [`selector`](Self::selector),
/// [`bucket`](Self::bucket) and [`target`](Self::target) and counts the
/// exposure itself, through [`expose`](Self::expose), for every request it
/// routes by its sticky bucket (not for those a segment sent to the
/// control, nor those without a key).
///
/// Feedback path: record the business metrics into
/// [`recorder`](Self::recorder) under the variant, for exposed requests only.
#[derive(Clone)]
pub struct ExperimentRouting {
    shared: Arc<Shared>,
}

impl fmt::Debug for ExperimentRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExperimentRouting")
            .field("selector", &self.shared.selector)
            .field("segment", &self.shared.segment)
            .field("exposures", &self.exposures())
            .finish_non_exhaustive()
    }
}

impl ExperimentRouting {
    pub(crate) fn new(
        selector: Arc<Selector>,
        bucketer: Bucketer,
        recorder: Arc<Recorder>,
        segment: Vec<Condition>,
        control: VersionIndex,
    ) -> Self {
        let exposures = (0..selector.len()).map(|_| Counter::default()).collect();
        ExperimentRouting {
            shared: Arc::new(Shared {
                selector,
                bucketer,
                recorder,
                segment,
                control,
                exposures,
            }),
        }
    }

    /// The selector over the experiment's variants, in their declared order.
    pub fn selector(&self) -> &Selector {
        &self.shared.selector
    }

    /// The selector, shared.
    pub fn selector_arc(&self) -> &Arc<Selector> {
        &self.shared.selector
    }

    /// A key's sticky bucket, `0..10_000`, under the experiment's salt.
    pub fn bucket(&self, key: &[u8]) -> u32 {
        self.shared.bucketer.bucket(key)
    }

    /// The sticky bucketer (hash mode and salt).
    pub fn bucketer(&self) -> &Bucketer {
        &self.shared.bucketer
    }

    /// Whether a request is in the experiment's segment (always, without one).
    pub fn in_segment<A: Attributes + ?Sized>(&self, request: &A) -> bool {
        self.shared.segment.iter().all(|c| c.matches(request))
    }

    /// The variant a segment forces: the control for requests outside the
    /// segment, `None` (use the sticky bucket) for requests inside.
    pub fn target<A: Attributes + ?Sized>(&self, request: &A) -> Option<VersionIndex> {
        (!self.in_segment(request)).then_some(self.shared.control)
    }

    /// Whether the experiment has a segment (skip extracting attributes if not).
    pub fn has_rules(&self) -> bool {
        !self.shared.segment.is_empty()
    }

    /// Where a request goes, without counting an exposure: outside the
    /// segment the control; inside, the key's sticky bucket (at random
    /// without a key).
    pub fn assign<A: Attributes + ?Sized>(&self, key: Option<&[u8]>, request: &A) -> Assignment {
        if !self.in_segment(request) {
            return Assignment {
                variant: self.shared.control,
                in_experiment: false,
            };
        }
        let variant = match key {
            Some(key) => self
                .shared
                .selector
                .pick_by_bucket(self.shared.bucketer.bucket(key)),
            None => self.shared.selector.pick_random(),
        };
        Assignment {
            variant,
            in_experiment: true,
        }
    }

    /// [`assign`](Self::assign), counting an exposure for requests in the
    /// experiment.
    pub fn route<A: Attributes + ?Sized>(&self, key: Option<&[u8]>, request: &A) -> Assignment {
        let a = self.assign(key, request);
        if a.in_experiment {
            self.expose(a.variant);
        }
        a
    }

    /// Counts one exposure of `variant` (out-of-range indexes are ignored).
    pub fn expose(&self, variant: VersionIndex) {
        if let Some(c) = self.shared.exposures.get(variant.get()) {
            c.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exposures counted for `variant` since the experiment started.
    pub fn exposures_of(&self, variant: VersionIndex) -> u64 {
        self.shared
            .exposures
            .get(variant.get())
            .map_or(0, |c| c.0.load(Ordering::Relaxed))
    }

    /// Exposures per variant, in selector order.
    pub fn exposures(&self) -> Vec<u64> {
        self.shared
            .exposures
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .collect()
    }

    /// The recorder: latency and outcome per request, and the business
    /// metrics through feedback, under the variant's index (`index.get()`).
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.shared.recorder
    }

    /// The index of a variant by id.
    pub fn index_of(&self, id: &str) -> Option<VersionIndex> {
        self.shared.selector.index_of(id)
    }

    /// The id of a variant by index.
    pub fn id(&self, index: VersionIndex) -> Option<&VersionId> {
        self.shared.selector.id(index)
    }

    /// The control's index (where requests outside the segment go).
    pub fn control(&self) -> VersionIndex {
        self.shared.control
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_match_headers_and_attributes() {
        let c = Condition::attribute_in("country", ["fr", "de"]);
        let fr: &[(&str, &str)] = &[("country", "fr")];
        let us: &[(&str, &str)] = &[("country", "us")];
        assert!(c.matches(fr));
        assert!(!c.matches(us));
        assert!(!c.matches(&()));
        let h = Condition::header_equals("X-Beta", "1");
        let req: &[(&str, &str)] = &[("x-beta", "1")];
        assert!(h.matches(req));
        let bad = Condition {
            header: None,
            attribute: None,
            equals: None,
            one_of: None,
        };
        assert!(
            check(&bad, 2)
                .unwrap_err()
                .to_string()
                .contains("segment[2]")
        );
        let parsed: Condition = toml::from_str("attribute = \"country\"\nin = [\"fr\"]").unwrap();
        assert_eq!(parsed, Condition::attribute_in("country", ["fr"]));
    }
}
