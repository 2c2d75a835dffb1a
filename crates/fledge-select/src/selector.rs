//! [`Selector`]: the current split behind an atomic pointer, picked from
//! without locks.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::counters::PickCounters;
use crate::split::index_for_bucket;
use crate::{BUCKETS, MAX_VERSIONS, SelectError, Split, VersionId, VersionIndex, local};

/// Picks a version for each request from the current [`Split`], which the
/// control path replaces with [`publish`](Selector::publish).
///
/// - Picking ([`pick_by_bucket`](Selector::pick_by_bucket),
///   [`pick_random`](Selector::pick_random)) takes no lock and allocates
///   nothing, and counts the pick in counters only the picking thread writes.
/// - [`publish`](Selector::publish) swaps the split atomically; every thread
///   sees it on its next pick. Each publish increments the
///   [`generation`](Selector::generation).
/// - The version set (ids and their order) is fixed when the selector is
///   built, so a [`VersionIndex`] it returns stays valid for its whole life.
///
/// The current split lives behind `arc-swap`. Splits of up to
/// [`PACKED_VARIANTS`](Selector::PACKED_VARIANTS) versions (canary / stable,
/// A/B/n tests) are also mirrored into one atomic word holding their bucket
/// boundaries, so a pick reads a single `u64` instead of taking an `arc-swap`
/// guard; larger splits are read through `arc-swap`.
///
/// `Selector` is `Send + Sync`; share it with an `Arc`.
///
/// ```
/// use fledge_select::{Selector, Split};
///
/// let selector = Selector::new(Split::from_pairs([("canary", 0), ("stable", 10_000)])?);
/// assert_eq!(selector.pick_by_bucket(42).get(), 1);
///
/// let generation = selector.publish(Split::from_pairs([("canary", 500), ("stable", 9_500)])?)?;
/// assert_eq!(generation, 1);
/// assert_eq!(selector.pick_by_bucket(42).get(), 0); // bucket 42 < 500: canary
/// assert_eq!(selector.picks(), [1, 1]);
///
/// // The version set is fixed: publishing other ids is an error.
/// assert!(selector.publish(Split::from_pairs([("other", 10_000)])?).is_err());
/// # Ok::<(), fledge_select::SelectError>(())
/// ```
pub struct Selector {
    /// The source of truth: split, generation and running totals.
    table: ArcSwap<Table>,
    /// The running totals of all but the last version, 16 bits each, unused
    /// lanes `0xFFFF`; meaningful only when `packed_ok`.
    packed: AtomicU64,
    /// Whether the version count allows `packed` (fixed for life).
    packed_ok: bool,
    /// Serializes publishers so `table` and `packed` always change together.
    publish_lock: Mutex<()>,
    ids: Box<[VersionId]>,
    counters: PickCounters,
}

/// What a pick reads on the `arc-swap` path: the running totals inline, plus
/// the split and its generation for readers on the control path.
struct Table {
    len: usize,
    ends: [u16; MAX_VERSIONS],
    generation: u64,
    split: Split,
}

impl Table {
    fn new(split: Split, generation: u64) -> Self {
        let mut ends = [0u16; MAX_VERSIONS];
        let src = split.ends();
        // A split has 1..=64 versions, so `src` fits in `ends`.
        let len = src.len().min(MAX_VERSIONS);
        ends[..len].copy_from_slice(&src[..len]);
        Table {
            len,
            ends,
            generation,
            split,
        }
    }

    #[inline]
    fn index_for_bucket(&self, bucket: u32) -> usize {
        index_for_bucket(&self.ends[..self.len.min(MAX_VERSIONS)], bucket)
    }
}

/// Lanes of 16 bits in the packed word.
const LANES: usize = 4;

/// Packs the running totals of all but the last version (the last always
/// ends at 10 000); `None` when there are more than `LANES` of them.
fn pack(ends: &[u16]) -> Option<u64> {
    let boundaries = ends.split_last().map_or(&[][..], |(_, rest)| rest);
    if boundaries.len() > LANES {
        return None;
    }
    let mut packed = u64::MAX;
    for (lane, &end) in boundaries.iter().enumerate() {
        packed &= !(0xFFFF << (16 * lane));
        packed |= u64::from(end) << (16 * lane);
    }
    Some(packed)
}

/// The version owning `bucket` (already below 10 000) given packed
/// boundaries: how many boundaries are at or below it. Unused lanes hold
/// 0xFFFF, above every bucket.
#[inline]
fn index_packed(packed: u64, bucket: u32) -> usize {
    (0..LANES)
        .map(|lane| usize::from(((packed >> (16 * lane)) & 0xFFFF) as u32 <= bucket))
        .sum()
}

impl Selector {
    /// The largest split whose boundaries fit in one atomic word: picks from
    /// it never touch `arc-swap`.
    pub const PACKED_VARIANTS: usize = LANES + 1;

    /// A selector whose version set is `split`'s, at generation 0.
    pub fn new(split: Split) -> Self {
        Selector::with_generation(split, 0)
    }

    /// A selector starting at `generation`, e.g. when restoring a persisted
    /// rollout so that generations keep increasing across restarts.
    pub fn with_generation(split: Split, generation: u64) -> Self {
        let ids: Box<[VersionId]> = split.ids().cloned().collect();
        let counters = PickCounters::new(ids.len());
        let packed = pack(split.ends());
        Selector {
            table: ArcSwap::from_pointee(Table::new(split, generation)),
            packed: AtomicU64::new(packed.unwrap_or(u64::MAX)),
            packed_ok: packed.is_some(),
            publish_lock: Mutex::new(()),
            ids,
            counters,
        }
    }

    /// The version owning `bucket` in the current split, counted as a pick.
    ///
    /// Buckets are `0..10_000` (what `fledge-sticky` produces); a larger value
    /// is taken modulo 10 000. No lock, no allocation.
    #[inline]
    pub fn pick_by_bucket(&self, bucket: u32) -> VersionIndex {
        let index = self.index_for_bucket(bucket);
        self.counters.add(index);
        VersionIndex::new_unchecked(index)
    }

    #[inline]
    fn index_for_bucket(&self, bucket: u32) -> usize {
        if self.packed_ok {
            let bucket = if bucket < BUCKETS {
                bucket
            } else {
                bucket % BUCKETS
            };
            index_packed(self.packed.load(Ordering::Acquire), bucket)
        } else {
            self.table.load().index_for_bucket(bucket)
        }
    }

    /// A version drawn at random with the current split's weights, counted as
    /// a pick. Uses a per-thread wyrand generator seeded once per thread: no
    /// lock, no allocation, no shared state.
    #[inline]
    pub fn pick_random(&self) -> VersionIndex {
        self.pick_by_bucket(local::random_bucket())
    }

    /// The version owning `bucket` in the current split, without counting it.
    pub fn version_for_bucket(&self, bucket: u32) -> VersionIndex {
        VersionIndex::new_unchecked(self.index_for_bucket(bucket))
    }

    /// Replaces the current split with `split` in one atomic swap and returns
    /// the new generation (the previous one plus 1).
    ///
    /// Fails with [`SelectError::VariantSetMismatch`] when `split`'s ids or
    /// their order differ from the selector's.
    pub fn publish(&self, split: Split) -> Result<u64, SelectError> {
        if !split.ids().eq(self.ids.iter()) {
            return Err(SelectError::VariantSetMismatch {
                expected: join_ids(&self.ids),
                published: split.id_list(),
            });
        }
        // Publishing is the cold path: one publisher at a time keeps the
        // table and the packed word in step. Picks never take this lock.
        let _publishing = self
            .publish_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let generation = self.table.load().generation.wrapping_add(1);
        let packed = pack(split.ends());
        self.table.store(Arc::new(Table::new(split, generation)));
        if let Some(packed) = packed {
            self.packed.store(packed, Ordering::Release);
        }
        Ok(generation)
    }

    /// The number of publishes so far (plus the starting generation).
    pub fn generation(&self) -> u64 {
        self.table.load().generation
    }

    /// The current split (a cheap clone).
    pub fn split(&self) -> Split {
        self.table.load().split.clone()
    }

    /// The current split and its generation, read together.
    pub fn current(&self) -> (Split, u64) {
        let table = self.table.load();
        (table.split.clone(), table.generation)
    }

    /// The version ids, in order; fixed for the selector's life.
    pub fn ids(&self) -> &[VersionId] {
        &self.ids
    }

    /// How many versions the selector has.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The id of the version at `index`, if in range.
    pub fn id(&self, index: VersionIndex) -> Option<&VersionId> {
        self.ids.get(index.get())
    }

    /// The index of `id`, if the selector has it.
    pub fn index_of(&self, id: &str) -> Option<VersionIndex> {
        self.ids
            .iter()
            .position(|v| v == id)
            .map(VersionIndex::new_unchecked)
    }

    /// How many times `index` was picked so far (summed over the per-thread rows;
    /// picks racing with this read may or may not be included).
    pub fn picks_of(&self, index: VersionIndex) -> u64 {
        self.counters.get(index.get())
    }

    /// The pick counts of every version, in order.
    pub fn picks(&self) -> Vec<u64> {
        (0..self.ids.len()).map(|i| self.counters.get(i)).collect()
    }
}

fn join_ids(ids: &[VersionId]) -> String {
    let ids: Vec<&str> = ids.iter().map(VersionId::as_str).collect();
    ids.join(", ")
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.table.load();
        f.debug_struct("Selector")
            .field("generation", &table.generation)
            .field("split", &table.split)
            .field("picks", &self.picks())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pairs: &[(&str, u32)]) -> Split {
        Split::from_pairs(pairs.iter().copied()).expect("valid split")
    }

    #[test]
    fn publish_checks_the_variant_set_and_bumps_the_version() {
        let selector = Selector::new(split(&[("canary", 0), ("stable", 10_000)]));
        assert_eq!(selector.generation(), 0);
        assert_eq!(
            selector.publish(split(&[("canary", 100), ("stable", 9_900)])),
            Ok(1)
        );
        assert_eq!(
            selector.publish(split(&[("canary", 200), ("stable", 9_800)])),
            Ok(2)
        );
        assert_eq!(selector.generation(), 2);
        let swapped = selector.publish(split(&[("stable", 9_800), ("canary", 200)]));
        assert_eq!(
            swapped,
            Err(SelectError::VariantSetMismatch {
                expected: "canary, stable".into(),
                published: "stable, canary".into(),
            })
        );
        assert!(selector.publish(split(&[("canary", 10_000)])).is_err());
        assert_eq!(
            selector.generation(),
            2,
            "a rejected publish changes nothing"
        );
        let (current, generation) = selector.current();
        assert_eq!(current, split(&[("canary", 200), ("stable", 9_800)]));
        assert_eq!(generation, 2);
    }

    #[test]
    fn with_generation_continues_numbering() {
        let selector = Selector::with_generation(split(&[("a", 10_000)]), 41);
        assert_eq!(selector.publish(split(&[("a", 10_000)])), Ok(42));
    }

    #[test]
    fn picks_follow_the_published_split() {
        let selector = Selector::new(split(&[("canary", 0), ("stable", 10_000)]));
        assert_eq!(selector.pick_by_bucket(0).get(), 1);
        selector
            .publish(split(&[("canary", 10_000), ("stable", 0)]))
            .expect("same set");
        assert_eq!(selector.pick_by_bucket(9_999).get(), 0);
        assert_eq!(selector.pick_random().get(), 0);
        assert_eq!(selector.picks(), [2, 1]);
        assert_eq!(selector.version_for_bucket(5).get(), 0);
        assert_eq!(
            selector.picks(),
            [2, 1],
            "version_for_bucket does not count"
        );
    }

    #[test]
    fn random_picks_follow_the_weights() {
        let selector = Selector::new(split(&[("a", 1_000), ("b", 2_000), ("c", 7_000)]));
        let n = 200_000u64;
        for _ in 0..n {
            selector.pick_random();
        }
        let picks = selector.picks();
        assert_eq!(picks.iter().sum::<u64>(), n);
        for (got, bps) in picks.iter().zip([1_000u64, 2_000, 7_000]) {
            let expected = n * bps / 10_000;
            // Far beyond 5 standard deviations would be a bug, not bad luck.
            let sd = ((expected * (10_000 - bps)) as f64 / 10_000.0).sqrt();
            assert!(
                (*got as f64 - expected as f64).abs() < 6.0 * sd,
                "{picks:?}"
            );
        }
    }

    #[test]
    fn lookups() {
        let selector = Selector::new(split(&[("canary", 500), ("stable", 9_500)]));
        let stable = selector.index_of("stable").expect("present");
        assert_eq!(stable.get(), 1);
        assert_eq!(selector.id(stable).map(VersionId::as_str), Some("stable"));
        assert_eq!(selector.id(VersionIndex::new(5).expect("small")), None);
        assert_eq!(selector.index_of("missing"), None);
        assert_eq!(selector.len(), 2);
        assert_eq!(selector.ids().len(), 2);
        assert!(format!("{selector:?}").contains("generation: 0"));
    }

    #[test]
    fn concurrent_picks_and_publishes() {
        let selector = Arc::new(Selector::new(split(&[("a", 5_000), ("b", 5_000)])));
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let selector = &selector;
                scope.spawn(move || {
                    for i in 0..20_000u32 {
                        let v = selector.pick_by_bucket(i % 10_000);
                        assert!(v.get() < 2);
                    }
                });
            }
            let selector = &selector;
            scope.spawn(move || {
                for w in 0..100 {
                    selector
                        .publish(split(&[("a", w * 100), ("b", 10_000 - w * 100)]))
                        .expect("same set");
                }
            });
        });
        assert_eq!(selector.generation(), 100);
        assert_eq!(selector.picks().iter().sum::<u64>(), 40_000);
    }

    #[test]
    fn packed_and_table_paths_agree() {
        // 1..=5 versions use the packed word, 6 and more the table.
        for n in 1..=8usize {
            let weights: Vec<u32> = (0..n as u32)
                .map(|i| {
                    if i + 1 == n as u32 {
                        10_000 - 1_000 * i
                    } else {
                        1_000
                    }
                })
                .collect();
            let pairs: Vec<(String, u32)> = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (format!("v{i}"), w))
                .collect();
            let s = Split::from_pairs(pairs).expect("valid");
            let selector = Selector::new(s.clone());
            assert_eq!(selector.packed_ok, n <= Selector::PACKED_VARIANTS);
            for bucket in (0..10_000).chain([10_000, 10_999, u32::MAX]) {
                assert_eq!(
                    selector.version_for_bucket(bucket),
                    s.version_for_bucket(bucket)
                );
            }
        }
    }

    #[test]
    fn packing_zero_weights_and_edges() {
        assert_eq!(pack(&[10_000]), Some(u64::MAX));
        let p = pack(&[0, 0, 10_000]).expect("fits");
        assert_eq!(index_packed(p, 0), 2);
        let p = pack(&[10_000, 10_000]).expect("fits");
        assert_eq!(index_packed(p, 9_999), 0);
        assert_eq!(pack(&[1, 2, 3, 4, 5, 10_000]), None);
    }

    #[test]
    fn selector_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Selector>();
    }
}
