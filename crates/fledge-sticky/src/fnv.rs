//! FNV-1a 32-bit (Fowler, Noll, Vo; public domain).

use crate::utf16::{self, Text};

/// The FNV-1a 32-bit offset basis.
pub(crate) const OFFSET: u32 = 0x811c_9dc5;
const PRIME: u32 = 0x0100_0193;

/// FNV-1a 32-bit of `data`: the hash GrowthBook uses for bucketing.
///
/// ```
/// assert_eq!(fledge_sticky::fnv1a_32(b""), 0x811c_9dc5);
/// assert_eq!(fledge_sticky::fnv1a_32(b"a"), 0xe40c_292c);
/// ```
pub fn fnv1a_32(data: &[u8]) -> u32 {
    update(OFFSET, data)
}

/// Continues an FNV-1a 32 computation at `hash` over `data`; starting at
/// [`OFFSET`], feeding `a` then `b` gives the hash of their concatenation.
#[inline]
pub(crate) fn update(hash: u32, data: &[u8]) -> u32 {
    data.iter().fold(hash, |h, &b| step(h, u32::from(b)))
}

/// One FNV-1a step: XOR in `unit` (a byte, or a whole UTF-16 code unit as
/// GrowthBook's JavaScript SDK does), then multiply by the prime.
#[inline]
fn step(hash: u32, unit: u32) -> u32 {
    (hash ^ unit).wrapping_mul(PRIME)
}

/// Continues FNV-1a at `hash` over `data` read as `text`: its bytes, or its
/// UTF-16 code units (see [`utf16`] for invalid UTF-8).
///
/// The bytes are hashed first, as they are, noting whether any has its high
/// bit set: for UTF-8, and for ASCII read as UTF-16 (an ASCII byte is its own
/// code unit), that is the answer, at the cost of the byte loop plus one OR
/// per four bytes beside the multiply chain. Otherwise, for UTF-16, `data` is
/// hashed again, transcoded.
#[inline]
pub(crate) fn update_text(hash: u32, text: Text, data: &[u8]) -> u32 {
    let (h, seen) = update_seen(hash, data);
    if text == Text::Utf16 && seen & 0x8080_8080 != 0 {
        return update_utf16(hash, data);
    }
    h
}

/// [`update`], also returning the OR of every byte (in one of four byte
/// lanes: a high bit set anywhere means `data` is not ASCII). Four bytes a
/// step, so that the OR is one instruction per four bytes beside the
/// multiply chain.
#[inline]
fn update_seen(hash: u32, data: &[u8]) -> (u32, u32) {
    let mut h = hash;
    let mut seen = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        seen |= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        h = w.iter().fold(h, |h, &b| step(h, u32::from(b)));
    }
    for &b in words.remainder() {
        seen |= u32::from(b);
        h = step(h, u32::from(b));
    }
    (h, seen)
}

/// FNV-1a over the UTF-16 code units of `data`, transcoded on the fly.
#[inline(never)]
fn update_utf16(hash: u32, data: &[u8]) -> u32 {
    let mut h = hash;
    utf16::for_each_unit(data, |unit| h = step(h, u32::from(unit)));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn update_concatenates() {
        assert_eq!(update(update(OFFSET, b"foo"), b"bar"), fnv1a_32(b"foobar"));
    }

    /// GrowthBook's `hashFnv32a` in JavaScript, spelled out: XOR each
    /// `charCodeAt(i)`, multiply by the prime mod 2^32.
    fn js_fnv(s: &str) -> u32 {
        s.encode_utf16()
            .fold(OFFSET, |h, u| (h ^ u32::from(u)).wrapping_mul(PRIME))
    }

    #[test]
    fn utf16_units_are_xored_whole() {
        for s in ["", "a", "user-1", "josé", "用户", "😀", "Ł", "e\u{301}"] {
            assert_eq!(
                update_text(OFFSET, Text::Utf16, s.as_bytes()),
                js_fnv(s),
                "{s}"
            );
        }
        // ASCII: bytes and code units agree.
        assert_eq!(update_text(OFFSET, Text::Utf16, b"abc"), fnv1a_32(b"abc"));
        // Not ASCII: they differ.
        assert_ne!(
            update_text(OFFSET, Text::Utf16, "josé".as_bytes()),
            fnv1a_32("josé".as_bytes())
        );
        // Invalid UTF-8 hashes as U+FFFD.
        assert_eq!(
            update_text(OFFSET, Text::Utf16, b"a\xffb"),
            js_fnv("a\u{fffd}b")
        );
    }
}
