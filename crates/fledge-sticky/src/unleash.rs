//! Unleash-compatible bucketing: the same user lands in the same gradual
//! rollout and the same variant as in any Unleash SDK.
//!
//! Unleash hashes `group_id + ":" + identifier` (UTF-8) with MurmurHash3
//! x86_32, seed 0 for rollouts and seed [`VARIANT_SEED`] for variants, and
//! normalizes the hash to `1..=normalizer`. A user is in a rollout of `p` %
//! iff `p > 0 && value <= p` ([`in_rollout`]); a variant is the first, in
//! order and skipping weight 0, whose running weight total reaches the
//! normalized value ([`select_variant`]).
//!
//! `group_id` is the strategy's `groupId` parameter (for `flexibleRollout` it
//! defaults to the feature name; for feature-level variants it is the feature
//! name). Choosing the identifier (the `stickiness` field) and evaluating
//! constraints is flag evaluation, which fledge leaves to Unleash.
//!
//! ```
//! use fledge_sticky::unleash;
//!
//! // Unleash's spec 03: user "122" in group "AB12A" has normalized value 23.
//! assert_eq!(unleash::normalized_hash("AB12A", "122", 100), 23);
//! assert!(unleash::in_rollout("AB12A", "122", 50));
//! assert!(!unleash::in_rollout("AB12A", "122", 0));
//! ```

use crate::murmur3::Murmur3;

/// The MurmurHash3 seed of gradual rollouts.
pub const STRATEGY_SEED: u32 = 0;

/// The MurmurHash3 seed of variant selection.
pub const VARIANT_SEED: u32 = 86_028_157;

/// The normalizer of gradual rollouts: values are percentages `1..=100`.
pub const ROLLOUT_NORMALIZER: u32 = 100;

/// `murmur3_x86_32(utf8(group_id + ":" + identifier), seed)`, streamed
/// without building the string.
pub(crate) fn hash_with_seed(group_id: &[u8], identifier: &[u8], seed: u32) -> u32 {
    let mut state = Murmur3::new(seed);
    state.write(group_id);
    state.write(b":");
    state.write(identifier);
    state.finish()
}

/// Unleash's `normalizedValue`: `murmur3_x86_32(utf8(group_id + ":" +
/// identifier), 0) % normalizer + 1`, a value in `1..=normalizer`.
///
/// A `normalizer` of 0 has no valid value and returns 0.
pub fn normalized_hash(group_id: &str, identifier: &str, normalizer: u32) -> u32 {
    normalize(
        hash_with_seed(group_id.as_bytes(), identifier.as_bytes(), STRATEGY_SEED),
        normalizer,
    )
}

/// Unleash's variant hash: like [`normalized_hash`] with seed
/// [`VARIANT_SEED`] (86028157), a value in `1..=normalizer` (0 when
/// `normalizer` is 0).
pub fn normalized_variant_hash(group_id: &str, identifier: &str, normalizer: u32) -> u32 {
    normalize(
        hash_with_seed(group_id.as_bytes(), identifier.as_bytes(), VARIANT_SEED),
        normalizer,
    )
}

#[inline]
fn normalize(hash: u32, normalizer: u32) -> u32 {
    hash.checked_rem(normalizer).map_or(0, |r| r + 1)
}

/// Whether `identifier` is in a gradual rollout of `rollout_percent` % for
/// `group_id`, exactly as Unleash decides it: `rollout_percent > 0 &&
/// normalized_hash(group_id, identifier, 100) <= rollout_percent`.
pub fn in_rollout(group_id: &str, identifier: &str, rollout_percent: u32) -> bool {
    rollout_percent > 0
        && normalized_hash(group_id, identifier, ROLLOUT_NORMALIZER) <= rollout_percent
}

/// Unleash variant selection: the index of the variant `identifier` gets for
/// `group_id`, given the variants' `weights` in order.
///
/// The target is [`normalized_variant_hash`] with the total weight as
/// normalizer; see [`variant_for_target`]. `None` when the total weight is 0
/// (Unleash then returns no variant).
///
/// ```
/// use fledge_sticky::unleash;
///
/// // Unleash's spec 08: three variants of weight 33 for feature C.
/// let weights = [33, 33, 33];
/// assert_eq!(unleash::select_variant("Feature.Variants.C", "232", &weights), Some(0));
/// assert_eq!(unleash::select_variant("Feature.Variants.C", "607", &weights), Some(1));
/// assert_eq!(unleash::select_variant("Feature.Variants.C", "656", &weights), Some(2));
/// ```
pub fn select_variant(group_id: &str, identifier: &str, weights: &[u32]) -> Option<usize> {
    let total = total_weight(weights)?;
    variant_for_target(
        weights,
        normalized_variant_hash(group_id, identifier, total),
    )
}

/// The variant owning `target` (in `1..=total weight`): walking `weights` in
/// order and skipping zeros, the first whose running total is `>= target`.
/// `None` when no running total reaches `target`.
pub fn variant_for_target(weights: &[u32], target: u32) -> Option<usize> {
    let mut running = 0u64;
    weights.iter().position(|&w| {
        if w == 0 {
            return false;
        }
        running += u64::from(w);
        running >= u64::from(target)
    })
}

/// The sum of `weights` when it is positive and fits Unleash's 32-bit
/// normalizer.
fn total_weight(weights: &[u32]) -> Option<u32> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    u32::try_from(total).ok().filter(|&t| t > 0)
}

/// The fledge bucket of an Unleash rollout value `v` in `1..=100`:
/// `v * 100 - 1`, so that "bucket < w" holds exactly when Unleash's
/// "v <= w / 100" does, for every weight `w` in basis points.
#[inline]
pub(crate) fn rollout_value_to_bucket(value: u32) -> u32 {
    value * 100 - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizer_zero_does_not_panic() {
        assert_eq!(normalized_hash("g", "u", 0), 0);
        assert_eq!(normalized_variant_hash("g", "u", 0), 0);
        assert_eq!(select_variant("g", "u", &[]), None);
        assert_eq!(select_variant("g", "u", &[0, 0]), None);
    }

    #[test]
    fn values_stay_in_range() {
        for i in 0..1_000 {
            let id = i.to_string();
            let v = normalized_hash("group", &id, 100);
            assert!((1..=100).contains(&v));
            let t = normalized_variant_hash("group", &id, 7);
            assert!((1..=7).contains(&t));
        }
    }

    #[test]
    fn variant_walk_skips_zero_weights() {
        assert_eq!(variant_for_target(&[0, 1, 1], 1), Some(1));
        assert_eq!(variant_for_target(&[0, 1, 1], 2), Some(2));
        assert_eq!(variant_for_target(&[1, 1], 3), None);
    }

    #[test]
    fn bucket_mapping_matches_the_rollout_rule_for_every_weight() {
        for value in 1..=100u32 {
            let bucket = rollout_value_to_bucket(value);
            for w in 0..=10_000u32 {
                let unleash = w > 0 && f64::from(value) <= f64::from(w) / 100.0;
                assert_eq!(bucket < w, unleash, "value {value}, weight {w}");
            }
        }
    }
}
