//! [`Split`]: ordered versions whose weights lay out the 10 000 buckets.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{BUCKETS, MAX_VERSIONS, SelectError, VersionId, VersionIndex, Weight};

/// One entry of a [`Split`]: a version id and its weight.
///
/// Serde: `{"id": "canary", "weight": 500}` (weight in basis points).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionWeight {
    id: VersionId,
    weight: Weight,
}

impl VersionWeight {
    /// A version `id` with `weight`.
    pub fn new(id: VersionId, weight: Weight) -> Self {
        VersionWeight { id, weight }
    }

    /// The version's id.
    pub fn id(&self) -> &VersionId {
        &self.id
    }

    /// The version's weight.
    pub fn weight(&self) -> Weight {
        self.weight
    }
}

/// How traffic is shared between versions: 1 to 64 versions with unique ids,
/// in a fixed order, whose weights sum to exactly 10 000 basis points.
///
/// # Bucket layout
///
/// Buckets `0..10_000` are laid out in version order from 0: the first version
/// owns `[0, w0)`, the next `[w0, w0 + w1)`, and so on. A canary listed first
/// therefore owns `[0, w)`, and raising its weight only adds buckets to it:
/// nobody already on the canary moves off it. A version of weight 0 owns no
/// bucket.
///
/// A split is immutable and cheap to clone (a reference count).
///
/// # Serde
///
/// `{"versions": [{"id": "canary", "weight": 500}, {"id": "stable", "weight": 9500}]}`,
/// validated on deserialize; unknown fields are rejected.
///
/// ```
/// use fledge_select::{Split, Weight};
///
/// let split = Split::from_pairs([("canary", 500), ("stable", 9_500)])?;
/// assert_eq!(split.version_for_bucket(499).get(), 0);
/// assert_eq!(split.version_for_bucket(500).get(), 1);
/// assert_eq!(split.bucket_range(split.index_of("stable").unwrap()), 500..10_000);
///
/// let json = serde_json::to_string(&split).unwrap();
/// assert_eq!(json, r#"{"versions":[{"id":"canary","weight":500},{"id":"stable","weight":9500}]}"#);
/// let bad = r#"{"versions":[{"id":"canary","weight":500},{"id":"stable","weight":9000}]}"#;
/// assert!(serde_json::from_str::<Split>(bad).is_err());
/// # Ok::<(), fledge_select::SelectError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "SplitRepr", into = "SplitRepr")]
pub struct Split {
    inner: Arc<SplitInner>,
}

#[derive(PartialEq, Eq, Hash)]
struct SplitInner {
    versions: Box<[VersionWeight]>,
    /// `ends[i]` = sum of the weights of versions `0..=i`; the last is 10 000.
    ends: Box<[u16]>,
}

/// The serde shape of a split.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitRepr {
    #[serde(alias = "variants")]
    versions: Vec<VersionWeight>,
}

impl TryFrom<SplitRepr> for Split {
    type Error = SelectError;

    fn try_from(repr: SplitRepr) -> Result<Self, Self::Error> {
        Split::new(repr.versions)
    }
}

impl From<Split> for SplitRepr {
    fn from(split: Split) -> SplitRepr {
        SplitRepr {
            versions: split.versions().to_vec(),
        }
    }
}

impl Split {
    /// Checks `versions` (1 to 64, unique ids, weights summing to exactly
    /// 10 000) and makes a split. Order matters: see the bucket layout above.
    pub fn new(versions: impl IntoIterator<Item = VersionWeight>) -> Result<Self, SelectError> {
        let versions: Vec<VersionWeight> = versions.into_iter().collect();
        if versions.is_empty() {
            return Err(SelectError::Empty);
        }
        if versions.len() > MAX_VERSIONS {
            return Err(SelectError::TooManyVariants {
                count: versions.len(),
            });
        }
        let mut seen = HashSet::with_capacity(versions.len());
        for v in &versions {
            if !seen.insert(v.id.as_str()) {
                return Err(SelectError::DuplicateId {
                    id: v.id.as_str().to_owned(),
                });
            }
        }
        let sum: u64 = versions.iter().map(|v| u64::from(v.weight.bps())).sum();
        if sum != u64::from(BUCKETS) {
            return Err(SelectError::WrongSum { sum });
        }
        let mut total = 0u16;
        let ends = versions
            .iter()
            .map(|v| {
                // At most 64 weights of at most 10_000 whose sum was checked to
                // be exactly 10_000: every running total fits in a u16.
                total += v.weight.bps() as u16;
                total
            })
            .collect();
        Ok(Split {
            inner: Arc::new(SplitInner {
                versions: versions.into_boxed_slice(),
                ends,
            }),
        })
    }

    /// A split from `(id, basis points)` pairs, checking ids and weights.
    ///
    /// ```
    /// # use fledge_select::Split;
    /// let split = Split::from_pairs([("a", 3_000), ("b", 3_000), ("c", 4_000)])?;
    /// assert_eq!(split.len(), 3);
    /// # Ok::<(), fledge_select::SelectError>(())
    /// ```
    pub fn from_pairs<I, S>(pairs: I) -> Result<Self, SelectError>
    where
        I: IntoIterator<Item = (S, u32)>,
        S: AsRef<str>,
    {
        let versions = pairs
            .into_iter()
            .map(|(id, bps)| {
                Ok(VersionWeight::new(
                    VersionId::new(id)?,
                    Weight::from_bps(bps)?,
                ))
            })
            .collect::<Result<Vec<_>, SelectError>>()?;
        Split::new(versions)
    }

    /// A split that sends everything to `id`.
    pub fn single(id: VersionId) -> Self {
        // One version at full weight satisfies every rule: no check needed.
        Split {
            inner: Arc::new(SplitInner {
                versions: Box::new([VersionWeight::new(id, Weight::FULL)]),
                ends: Box::new([BUCKETS as u16]),
            }),
        }
    }

    /// A two-version canary split: `canary` first with `canary_weight` (so it
    /// owns buckets `[0, canary_weight)`), then `stable` with the rest.
    ///
    /// ```
    /// # use fledge_select::{Split, VersionId, Weight};
    /// let split = Split::canary(
    ///     VersionId::new("v2")?,
    ///     VersionId::new("v1")?,
    ///     Weight::from_percent(5.0)?,
    /// )?;
    /// assert_eq!(split.bucket_range(split.index_of("v2").unwrap()), 0..500);
    /// # Ok::<(), fledge_select::SelectError>(())
    /// ```
    pub fn canary(
        canary: VersionId,
        stable: VersionId,
        canary_weight: Weight,
    ) -> Result<Self, SelectError> {
        Split::new([
            VersionWeight::new(canary, canary_weight),
            VersionWeight::new(stable, canary_weight.complement()),
        ])
    }

    /// The same ids in the same order as `self` with new `weights`, e.g. to
    /// publish a new step of a rollout or a bandit's new shares.
    pub fn with_weights(&self, weights: &[Weight]) -> Result<Self, SelectError> {
        if weights.len() != self.len() {
            return Err(SelectError::VariantSetMismatch {
                expected: self.id_list(),
                published: format!("{} weights", weights.len()),
            });
        }
        Split::new(
            self.versions()
                .iter()
                .zip(weights)
                .map(|(v, &w)| VersionWeight::new(v.id.clone(), w)),
        )
    }

    /// A split sharing the buckets as evenly as possible between `ids`, in
    /// order; the first `10_000 % n` versions get one basis point more.
    pub fn even(ids: impl IntoIterator<Item = VersionId>) -> Result<Self, SelectError> {
        let ids: Vec<VersionId> = ids.into_iter().collect();
        if ids.is_empty() {
            return Err(SelectError::Empty);
        }
        if ids.len() > MAX_VERSIONS {
            return Err(SelectError::TooManyVariants { count: ids.len() });
        }
        // 1..=64 versions: the count fits in a u32.
        let n = ids.len() as u32;
        let (base, extra) = (BUCKETS / n, BUCKETS % n);
        let versions = ids
            .into_iter()
            .zip(0u32..)
            .map(|(id, i)| {
                let bps = base + u32::from(i < extra);
                Ok(VersionWeight::new(id, Weight::from_bps(bps)?))
            })
            .collect::<Result<Vec<_>, SelectError>>()?;
        Split::new(versions)
    }

    /// The versions, in bucket-layout order.
    pub fn versions(&self) -> &[VersionWeight] {
        &self.inner.versions
    }

    /// How many versions the split has (1 to 64; a split is never empty).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.inner.versions.len()
    }

    /// The ids in order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &VersionId> + '_ {
        self.inner.versions.iter().map(|v| &v.id)
    }

    /// The position of `id`, if the split has it.
    pub fn index_of(&self, id: &str) -> Option<VersionIndex> {
        self.inner
            .versions
            .iter()
            .position(|v| v.id == *id)
            .map(VersionIndex::new_unchecked)
    }

    /// The weight of `id`, if the split has it.
    pub fn weight_of(&self, id: &str) -> Option<Weight> {
        self.inner
            .versions
            .iter()
            .find(|v| v.id == *id)
            .map(|v| v.weight)
    }

    /// The version at `index`, if it is in range.
    pub fn get(&self, index: VersionIndex) -> Option<&VersionWeight> {
        self.inner.versions.get(index.get())
    }

    /// The buckets owned by the version at `index` (empty when its weight is
    /// 0 or when `index` is out of range).
    pub fn bucket_range(&self, index: VersionIndex) -> Range<u32> {
        let i = index.get();
        let Some(&end) = self.inner.ends.get(i) else {
            return 0..0;
        };
        let start = if i == 0 { 0 } else { self.inner.ends[i - 1] };
        u32::from(start)..u32::from(end)
    }

    /// The version owning `bucket`. Buckets are `0..10_000`; a larger value is
    /// taken modulo 10 000, so this never fails.
    pub fn version_for_bucket(&self, bucket: u32) -> VersionIndex {
        VersionIndex::new_unchecked(index_for_bucket(&self.inner.ends, bucket))
    }

    /// The running totals of the weights: entry `i` is where version `i`'s
    /// buckets end.
    pub(crate) fn ends(&self) -> &[u16] {
        &self.inner.ends
    }

    /// Whether `other` has the same ids in the same order.
    pub fn same_versions(&self, other: &Split) -> bool {
        self.ids().eq(other.ids())
    }

    pub(crate) fn id_list(&self) -> String {
        let ids: Vec<&str> = self.ids().map(VersionId::as_str).collect();
        ids.join(", ")
    }
}

/// The index of the first running total above `bucket`, i.e. the number of
/// running totals at or below it (they are sorted). `ends` is non-empty and
/// ends at 10 000, so the result is a valid index.
#[inline]
pub(crate) fn index_for_bucket(ends: &[u16], bucket: u32) -> usize {
    let bucket = if bucket < BUCKETS {
        bucket
    } else {
        bucket % BUCKETS
    };
    let at_or_below = ends.iter().filter(|&&end| u32::from(end) <= bucket).count();
    // Only reachable with a malformed `ends`; stay in range regardless.
    at_or_below.min(ends.len().saturating_sub(1))
}

impl fmt::Debug for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.versions().iter().map(|v| (&v.id, v.weight)))
            .finish()
    }
}

/// Formats as `canary 5%, stable 95%`.
impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.versions().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", v.id, v.weight)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> VersionId {
        VersionId::new(s).expect("valid id")
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(Split::new([]), Err(SelectError::Empty));
        assert_eq!(
            Split::from_pairs([("a", 5_000), ("b", 4_000)]),
            Err(SelectError::WrongSum { sum: 9_000 })
        );
        assert_eq!(
            Split::from_pairs([("a", 5_000), ("a", 5_000)]),
            Err(SelectError::DuplicateId { id: "a".into() })
        );
        assert_eq!(
            Split::from_pairs([("a", 10_001)]),
            Err(SelectError::WeightOutOfRange { bps: 10_001 })
        );
        let many: Vec<(String, u32)> = (0..65).map(|i| (format!("v{i}"), 0)).collect();
        assert_eq!(
            Split::from_pairs(many),
            Err(SelectError::TooManyVariants { count: 65 })
        );
        assert!(matches!(
            Split::from_pairs([("bad id", 10_000)]),
            Err(SelectError::InvalidId { .. })
        ));
    }

    #[test]
    fn layout_in_order_from_zero() {
        let split =
            Split::from_pairs([("a", 100), ("z", 0), ("b", 9_000), ("c", 900)]).expect("valid");
        let at = |b| split.version_for_bucket(b).get();
        assert_eq!(at(0), 0);
        assert_eq!(at(99), 0);
        assert_eq!(at(100), 2);
        assert_eq!(at(9_099), 2);
        assert_eq!(at(9_100), 3);
        assert_eq!(at(9_999), 3);
        assert_eq!(at(10_000), 0, "taken modulo 10 000");
        assert_eq!(at(u32::MAX), at(u32::MAX % 10_000));
        let range = |i| split.bucket_range(VersionIndex::new(i).expect("small"));
        assert_eq!(range(0), 0..100);
        assert_eq!(range(1), 100..100);
        assert_eq!(range(2), 100..9_100);
        assert_eq!(range(3), 9_100..10_000);
        assert_eq!(range(4), 0..0);
    }

    #[test]
    fn sixty_four_versions() {
        let pairs: Vec<(String, u32)> = (0..64)
            .map(|i| {
                (
                    format!("v{i}"),
                    if i == 63 { 10_000 - 63 * 156 } else { 156 },
                )
            })
            .collect();
        let split = Split::from_pairs(pairs).expect("valid");
        assert_eq!(split.len(), 64);
        assert_eq!(split.version_for_bucket(9_999).get(), 63);
        assert_eq!(split.version_for_bucket(155).get(), 0);
        assert_eq!(split.version_for_bucket(156).get(), 1);
    }

    #[test]
    fn constructors() {
        let single = Split::single(id("only"));
        assert_eq!(single.version_for_bucket(9_999).get(), 0);
        let canary =
            Split::canary(id("v2"), id("v1"), Weight::from_bps(300).expect("ok")).expect("valid");
        assert_eq!(canary.to_string(), "v2 3%, v1 97%");
        let even = Split::even([id("a"), id("b"), id("c")]).expect("valid");
        let bps: Vec<u32> = even.versions().iter().map(|v| v.weight().bps()).collect();
        assert_eq!(bps, [3_334, 3_333, 3_333]);
        assert_eq!(Split::even([]), Err(SelectError::Empty));
        let reweighted = even
            .with_weights(&[Weight::ZERO, Weight::FULL, Weight::ZERO])
            .expect("valid");
        assert!(reweighted.same_versions(&even));
        assert_eq!(reweighted.version_for_bucket(0).get(), 1);
        assert!(matches!(
            even.with_weights(&[Weight::FULL]),
            Err(SelectError::VariantSetMismatch { .. })
        ));
    }

    #[test]
    fn lookups() {
        let split = Split::from_pairs([("canary", 500), ("stable", 9_500)]).expect("valid");
        assert_eq!(split.index_of("stable").map(VersionIndex::get), Some(1));
        assert_eq!(split.index_of("nope"), None);
        assert_eq!(split.weight_of("canary").map(Weight::bps), Some(500));
        let ids: Vec<&str> = split.ids().map(VersionId::as_str).collect();
        assert_eq!(ids, ["canary", "stable"]);
        assert_eq!(
            format!("{split:?}"),
            r#"{"canary": Weight(500), "stable": Weight(9500)}"#
        );
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let split = Split::from_pairs([("canary", 500), ("stable", 9_500)]).expect("valid");
        let json = serde_json::to_string(&split).expect("serializes");
        let back: Split = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, split);
        for bad in [
            r#"{"versions":[]}"#,
            r#"{"versions":[{"id":"a","weight":5000},{"id":"a","weight":5000}]}"#,
            r#"{"versions":[{"id":"a","weight":5000}]}"#,
            r#"{"versions":[{"id":"a","weight":10000}],"extra":1}"#,
            r#"{"versions":[{"id":"a","weight":10000,"extra":1}]}"#,
            r#"{"versions":[{"id":"a b","weight":10000}]}"#,
            r#"{"versions":[{"id":"a","weight":-1}]}"#,
            r#"{}"#,
        ] {
            assert!(serde_json::from_str::<Split>(bad).is_err(), "{bad}");
        }
    }
}
