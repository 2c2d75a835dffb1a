//! FNV-1a 32-bit (Fowler, Noll, Vo; public domain).

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
    data.iter()
        .fold(hash, |h, &b| (h ^ u32::from(b)).wrapping_mul(PRIME))
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
}
