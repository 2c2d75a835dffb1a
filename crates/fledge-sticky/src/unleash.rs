//! Unleash-compatible bucketing: the same user lands in the same gradual
//! rollout and the same variant as in the Unleash SDKs.
//!
//! Unleash hashes `group_id + ":" + identifier` with MurmurHash3 x86_32, seed
//! 0 for rollouts and seed [`VARIANT_SEED`] for variants, and normalizes the
//! hash to `1..=normalizer`. A user is in a rollout of `p` % iff
//! `p > 0 && value <= p` ([`in_rollout`]); a variant is the first, in order
//! and skipping weight 0, whose running weight total reaches the normalized
//! value ([`select_variant`]).
//!
//! The SDKs differ in what they hash for non-ASCII text:
//!
//! - The functions of this module hash the UTF-8 bytes, as Unleash's shared
//!   Rust engine, yggdrasil (`normalized_hash` in `strategy_parsing.rs`),
//!   does: the Python SDK (`UnleashClient` 6.x, through `yggdrasil-engine`)
//!   and the other SDKs built on it.
//! - [`node`] hashes the low byte of each UTF-16 code unit, as the Node SDK
//!   (`unleash-client` on npm) does through `murmurhash3js`
//!   (`key.charCodeAt(i) & 0xff`).
//!
//! For ASCII text the two agree.
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
//! // ASCII: the Node SDK agrees; "josé": it does not.
//! assert_eq!(unleash::node::normalized_hash("AB12A", "122", 100), 23);
//! assert_ne!(
//!     unleash::node::normalized_hash("AB12A", "josé", 100),
//!     unleash::normalized_hash("AB12A", "josé", 100)
//! );
//! ```

use crate::murmur3::Murmur3;
use crate::utf16::Text;

/// The MurmurHash3 seed of gradual rollouts.
pub const STRATEGY_SEED: u32 = 0;

/// The MurmurHash3 seed of variant selection.
pub const VARIANT_SEED: u32 = 86_028_157;

/// The normalizer of gradual rollouts: values are percentages `1..=100`.
pub const ROLLOUT_NORMALIZER: u32 = 100;

/// `murmur3_x86_32(group_id + ":" + identifier, seed)` with both read as
/// `text`, streamed without building the string.
fn hash_with_seed(text: Text, group_id: &[u8], identifier: &[u8], seed: u32) -> u32 {
    let mut state = Murmur3::new(seed);
    state.write_text(text, group_id);
    state.write(b":");
    state.write_text(text, identifier);
    state.finish()
}

fn normalized(text: Text, group_id: &str, identifier: &str, normalizer: u32, seed: u32) -> u32 {
    normalize(
        hash_with_seed(text, group_id.as_bytes(), identifier.as_bytes(), seed),
        normalizer,
    )
}

fn rollout(text: Text, group_id: &str, identifier: &str, rollout_percent: u32) -> bool {
    rollout_percent > 0
        && normalized(
            text,
            group_id,
            identifier,
            ROLLOUT_NORMALIZER,
            STRATEGY_SEED,
        ) <= rollout_percent
}

fn variant(text: Text, group_id: &str, identifier: &str, weights: &[u32]) -> Option<usize> {
    let total = total_weight(weights)?;
    variant_for_target(
        weights,
        normalized(text, group_id, identifier, total, VARIANT_SEED),
    )
}

/// Unleash's `normalizedValue`: `murmur3_x86_32(utf8(group_id + ":" +
/// identifier), 0) % normalizer + 1`, a value in `1..=normalizer`.
///
/// A `normalizer` of 0 has no valid value and returns 0.
pub fn normalized_hash(group_id: &str, identifier: &str, normalizer: u32) -> u32 {
    normalized(Text::Utf8, group_id, identifier, normalizer, STRATEGY_SEED)
}

/// Unleash's variant hash: like [`normalized_hash`] with seed
/// [`VARIANT_SEED`] (86028157), a value in `1..=normalizer` (0 when
/// `normalizer` is 0).
pub fn normalized_variant_hash(group_id: &str, identifier: &str, normalizer: u32) -> u32 {
    normalized(Text::Utf8, group_id, identifier, normalizer, VARIANT_SEED)
}

#[inline]
fn normalize(hash: u32, normalizer: u32) -> u32 {
    hash.checked_rem(normalizer).map_or(0, |r| r + 1)
}

/// Whether `identifier` is in a gradual rollout of `rollout_percent` % for
/// `group_id`, exactly as Unleash decides it: `rollout_percent > 0 &&
/// normalized_hash(group_id, identifier, 100) <= rollout_percent`.
pub fn in_rollout(group_id: &str, identifier: &str, rollout_percent: u32) -> bool {
    rollout(Text::Utf8, group_id, identifier, rollout_percent)
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
    variant(Text::Utf8, group_id, identifier, weights)
}

/// The Node SDK's bucketing (`unleash-client` on npm): the same as the parent
/// module's functions, except that `group_id + ":" + identifier` is hashed
/// as the low byte of each UTF-16 code unit, with the length in code units,
/// as `murmurhash3js`'s `x86.hash32` reads a JavaScript string. For ASCII
/// text the results are the same.
///
/// ```
/// use fledge_sticky::unleash;
///
/// // "Ł" is U+0141: the Node SDK hashes it as the byte 0x41, "A".
/// assert_eq!(
///     unleash::node::normalized_hash("g", "Ł", 100),
///     unleash::normalized_hash("g", "A", 100)
/// );
/// ```
pub mod node {
    use super::{STRATEGY_SEED, VARIANT_SEED};
    use super::{normalized, rollout, variant};
    use crate::utf16::Text;

    /// The Node SDK's `normalizedStrategyValue`, with any `normalizer`: a
    /// value in `1..=normalizer` (0 when `normalizer` is 0).
    pub fn normalized_hash(group_id: &str, identifier: &str, normalizer: u32) -> u32 {
        normalized(Text::Utf16, group_id, identifier, normalizer, STRATEGY_SEED)
    }

    /// The Node SDK's `normalizedVariantValue`: a value in `1..=normalizer`
    /// (0 when `normalizer` is 0).
    pub fn normalized_variant_hash(group_id: &str, identifier: &str, normalizer: u32) -> u32 {
        normalized(Text::Utf16, group_id, identifier, normalizer, VARIANT_SEED)
    }

    /// Whether the Node SDK puts `identifier` in a gradual rollout of
    /// `rollout_percent` % for `group_id`.
    pub fn in_rollout(group_id: &str, identifier: &str, rollout_percent: u32) -> bool {
        rollout(Text::Utf16, group_id, identifier, rollout_percent)
    }

    /// The variant the Node SDK gives `identifier`, as
    /// [`select_variant`](super::select_variant).
    pub fn select_variant(group_id: &str, identifier: &str, weights: &[u32]) -> Option<usize> {
        variant(Text::Utf16, group_id, identifier, weights)
    }
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
