//! GrowthBook-compatible bucketing: the same user lands in the same
//! experiment variation as in GrowthBook's JavaScript and Python SDKs.
//!
//! GrowthBook hashes with FNV-1a 32:
//!
//! - v1: `fnv1a_32(value + seed) % 1000 / 1000`
//! - v2: `fnv1a_32(decimal(fnv1a_32(seed + value))) % 10000 / 10000`
//!
//! and a user whose hash is `n` gets the variation whose range `[start, end)`
//! holds `n` ([`get_bucket_ranges`], [`choose_variation`]). Experiments can
//! be confined to a slice of a namespace ([`in_namespace`]).
//!
//! The JavaScript SDK (`@growthbook/growthbook`, `hashFnv32a`) XORs in each
//! UTF-16 code unit (`str.charCodeAt(i)`), not each UTF-8 byte, and the
//! Python SDK (`growthbook` 4.0.0, `fnv1a32`) does the same on purpose, so
//! [`hash`] and [`in_namespace`] hash UTF-16 code units: `"josé"` or `"用户"`
//! land where those SDKs put them. The Go and Ruby SDKs hash UTF-8 bytes;
//! [`utf8`] has their variant. For ASCII text the two agree.
//!
//! ```
//! use fledge_sticky::growthbook;
//!
//! assert_eq!(growthbook::hash("seed", "a", 2), Some(0.0505));
//! assert_eq!(growthbook::hash("", "a", 1), Some(0.22));
//! assert_eq!(growthbook::hash("abc", "def", 99), None);
//! // As the JavaScript and Python SDKs hash it, and as the Go SDK does.
//! assert_eq!(growthbook::hash("s", "josé", 2), Some(0.7152));
//! assert_ne!(growthbook::utf8::hash("s", "josé", 2), Some(0.7152));
//!
//! let ranges = growthbook::get_bucket_ranges(2, 1.0, Some(&[0.1, 0.9]));
//! assert_eq!(growthbook::choose_variation(0.05, &ranges), Some(0));
//! ```

use crate::fnv;
use crate::utf16::Text;

/// The hash versions GrowthBook defines.
pub const VERSIONS: [u32; 2] = [1, 2];

/// v1's raw bucket: `fnv1a_32(value + seed) % 1000`, in `0..1000`, hashing
/// both as `text`.
#[inline]
pub(crate) fn v1_raw(text: Text, seed: &[u8], value: &[u8]) -> u32 {
    let h = fnv::update_text(fnv::OFFSET, text, value);
    fnv::update_text(h, text, seed) % 1_000
}

/// v2's raw bucket: `fnv1a_32(decimal(fnv1a_32(seed + value))) % 10000`, in
/// `0..10000`, hashing seed and value as `text`. The decimal string (ASCII)
/// lives in a stack buffer.
#[inline]
pub(crate) fn v2_raw(text: Text, seed: &[u8], value: &[u8]) -> u32 {
    let inner = fnv::update_text(fnv::update_text(fnv::OFFSET, text, seed), text, value);
    v2_raw_from_inner(inner)
}

/// The outer part of v2 given the inner hash.
#[inline]
pub(crate) fn v2_raw_from_inner(inner: u32) -> u32 {
    let mut buf = [0u8; 10];
    fnv1a_decimal(inner, &mut buf) % 10_000
}

/// FNV-1a 32 of the decimal representation of `n` (what JavaScript's
/// `n + ""` gives for a 32-bit unsigned integer), using `buf` as scratch.
fn fnv1a_decimal(mut n: u32, buf: &mut [u8; 10]) -> u32 {
    let mut start = buf.len();
    loop {
        start -= 1;
        // n % 10 < 10: fits in a u8.
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    fnv::update(fnv::OFFSET, &buf[start..])
}

fn hash_text(text: Text, seed: &str, value: &str, version: u32) -> Option<f64> {
    let (seed, value) = (seed.as_bytes(), value.as_bytes());
    match version {
        1 => Some(f64::from(v1_raw(text, seed, value)) / 1_000.0),
        2 => Some(f64::from(v2_raw(text, seed, value)) / 10_000.0),
        _ => None,
    }
}

fn in_namespace_text(
    text: Text,
    hash_value: &str,
    namespace_id: &str,
    start: f64,
    end: f64,
) -> bool {
    // v1 hashes `value + seed` = hash_value + "__" + namespace_id: streamed.
    let h = fnv::update_text(fnv::OFFSET, text, hash_value.as_bytes());
    let h = fnv::update(h, b"__");
    let n = f64::from(fnv::update_text(h, text, namespace_id.as_bytes()) % 1_000) / 1_000.0;
    in_range(n, (start, end))
}

/// GrowthBook's `hash(seed, value, version)` as the JavaScript and Python
/// SDKs compute it (FNV-1a over UTF-16 code units): a number in `[0, 1)` for
/// versions 1 and 2, `None` for any other version.
pub fn hash(seed: &str, value: &str, version: u32) -> Option<f64> {
    hash_text(Text::Utf16, seed, value, version)
}

/// GrowthBook's `getEqualWeights(n)`: `n` weights of `1 / n` (none for 0).
pub fn get_equal_weights(num_variations: usize) -> Vec<f64> {
    if num_variations == 0 {
        return Vec::new();
    }
    vec![1.0 / num_variations as f64; num_variations]
}

/// GrowthBook's `getBucketRanges(numVariations, coverage, weights)`: the
/// `[start, end)` range of each variation, computed with the same
/// floating-point steps as the SDK.
///
/// `coverage` is clamped to `[0, 1]`; `weights` fall back to equal weights
/// when missing, of the wrong length, or summing outside `[0.99, 1.01]`.
/// Variation `i` starts at the sum of the weights before it and covers
/// `coverage * weight`.
pub fn get_bucket_ranges(
    num_variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Vec<(f64, f64)> {
    // Like the SDK, NaN passes through (and then matches no range).
    let coverage = coverage.clamp(0.0, 1.0);
    let equal = get_equal_weights(num_variations);
    let mut weights = match weights {
        Some(w) if w.len() == num_variations => w,
        _ => &equal[..],
    };
    // Summed left to right from 0, like the SDK's `reduce`.
    let total = weights.iter().fold(0.0, |sum, w| sum + w);
    if !(0.99..=1.01).contains(&total) {
        weights = &equal[..];
    }
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|&w| {
            let start = cumulative;
            cumulative += w;
            (start, start + coverage * w)
        })
        .collect()
}

/// Whether `n` is in `[start, end)`, GrowthBook's `inRange`.
pub fn in_range(n: f64, range: (f64, f64)) -> bool {
    n >= range.0 && n < range.1
}

/// GrowthBook's `chooseVariation(n, ranges)`: the first range holding `n`,
/// or `None` (the SDK's `-1`) when `n` is in none of them.
pub fn choose_variation(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges.iter().position(|&range| in_range(n, range))
}

/// GrowthBook's `inNamespace(hashValue, [id, start, end])`: whether the
/// v1 hash of `hash_value` with seed `"__" + namespace_id` is in
/// `[start, end)`, hashing UTF-16 code units as the JavaScript and Python
/// SDKs do.
pub fn in_namespace(hash_value: &str, namespace_id: &str, start: f64, end: f64) -> bool {
    in_namespace_text(Text::Utf16, hash_value, namespace_id, start, end)
}

/// [`hash`] and [`in_namespace`] over UTF-8 bytes, as GrowthBook's Go SDK
/// (`hash.go`, `hashFnv32a` over `[]byte(s)`) and Ruby SDK (`FNV#fnv1a_32`
/// over `data.bytes`) compute them. Same results as the parent module's for
/// ASCII text.
///
/// ```
/// use fledge_sticky::growthbook;
///
/// assert_eq!(growthbook::utf8::hash("seed", "a", 2), growthbook::hash("seed", "a", 2));
/// assert_eq!(
///     growthbook::utf8::hash("s", "josé", 2),
///     Some(f64::from(fledge_sticky::fnv1a_32(
///         fledge_sticky::fnv1a_32("sjosé".as_bytes()).to_string().as_bytes()
///     ) % 10_000) / 10_000.0)
/// );
/// ```
pub mod utf8 {
    use super::{hash_text, in_namespace_text};
    use crate::utf16::Text;

    /// GrowthBook's `hash(seed, value, version)` over UTF-8 bytes: a number
    /// in `[0, 1)` for versions 1 and 2, `None` for any other version.
    pub fn hash(seed: &str, value: &str, version: u32) -> Option<f64> {
        hash_text(Text::Utf8, seed, value, version)
    }

    /// GrowthBook's `inNamespace` over UTF-8 bytes.
    pub fn in_namespace(hash_value: &str, namespace_id: &str, start: f64, end: f64) -> bool {
        in_namespace_text(Text::Utf8, hash_value, namespace_id, start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        let mut buf = [0u8; 10];
        for n in [0, 7, 10, 99, 12_345, u32::MAX] {
            assert_eq!(
                fnv1a_decimal(n, &mut buf),
                crate::fnv1a_32(n.to_string().as_bytes())
            );
        }
    }

    #[test]
    fn raw_values_match_the_float_hash() {
        for i in 0..500 {
            let id = format!("user-{i}-é");
            for text in [Text::Utf8, Text::Utf16] {
                assert_eq!(
                    hash_text(text, "s", &id, 1),
                    Some(f64::from(v1_raw(text, b"s", id.as_bytes())) / 1_000.0)
                );
                assert!(v2_raw(text, b"s", id.as_bytes()) < 10_000);
            }
        }
    }

    #[test]
    fn utf16_and_utf8_agree_on_ascii_only() {
        for version in VERSIONS {
            assert_eq!(
                hash("seed", "user-1", version),
                utf8::hash("seed", "user-1", version)
            );
            assert_ne!(
                hash("seed", "用户", version),
                utf8::hash("seed", "用户", version)
            );
        }
        assert_eq!(
            in_namespace("user-1", "ns", 0.0, 0.5),
            utf8::in_namespace("user-1", "ns", 0.0, 0.5)
        );
    }

    #[test]
    fn equal_weights() {
        assert!(get_equal_weights(0).is_empty());
        assert_eq!(get_equal_weights(4), [0.25; 4]);
    }

    #[test]
    fn nan_coverage_does_not_panic() {
        let ranges = get_bucket_ranges(2, f64::NAN, None);
        assert_eq!(choose_variation(0.1, &ranges), None);
    }
}
