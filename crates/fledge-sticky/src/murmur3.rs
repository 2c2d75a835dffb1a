//! MurmurHash3 x86 32-bit (Austin Appleby, public domain), streaming.

use crate::utf16::{self, Text};

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3 x86 32-bit of `data` with `seed`: the hash Unleash uses for
/// gradual rollouts and variants.
///
/// Little-endian 4-byte blocks and the `fmix32` finalizer, as in the
/// reference implementation; verified against its SMHasher verification value
/// and published test vectors.
///
/// ```
/// assert_eq!(fledge_sticky::murmur3_x86_32(b"Hello, world!", 0), 0xc036_3e43);
/// assert_eq!(fledge_sticky::murmur3_x86_32(b"", 0), 0);
/// ```
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut state = Murmur3::new(seed);
    state.write(data);
    state.finish()
}

/// A MurmurHash3 x86_32 computation fed in pieces, so that
/// `group_id + ":" + key` can be hashed without building the string.
/// Feeding `a` then `b` gives the hash of their concatenation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Murmur3 {
    h1: u32,
    /// Bytes of an unfinished block, little-endian in the low `tail_len` bytes.
    tail: u32,
    tail_len: u32,
    /// Total length mod 2^32, as the reference implementation keeps it.
    len: u32,
}

#[inline]
fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn mix_block(h1: u32, k1: u32) -> u32 {
    (h1 ^ mix_k1(k1))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

impl Murmur3 {
    pub(crate) const fn new(seed: u32) -> Self {
        Murmur3 {
            h1: seed,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    pub(crate) fn write(&mut self, data: &[u8]) {
        self.write_seen(data);
    }

    /// [`write`](Murmur3::write), returning the OR of every byte written
    /// (a high bit set: `data` is not ASCII). The OR costs one instruction
    /// per block, off the hash's dependency chain; unused, it compiles away.
    #[inline]
    fn write_seen(&mut self, mut data: &[u8]) -> u32 {
        let mut seen = 0u32;
        // The reference hashes a length given as `int`; only the low 32 bits
        // reach the finalizer.
        self.len = self.len.wrapping_add(data.len() as u32);
        // Complete a block left over from the previous piece.
        while self.tail_len > 0 {
            let Some((&byte, rest)) = data.split_first() else {
                return seen;
            };
            seen |= u32::from(byte);
            self.tail |= u32::from(byte) << (8 * self.tail_len);
            self.tail_len += 1;
            data = rest;
            if self.tail_len == 4 {
                self.h1 = mix_block(self.h1, self.tail);
                self.tail = 0;
                self.tail_len = 0;
            }
        }
        let mut blocks = data.chunks_exact(4);
        for block in &mut blocks {
            let k1 = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
            seen |= k1;
            self.h1 = mix_block(self.h1, k1);
        }
        for (i, &byte) in blocks.remainder().iter().enumerate() {
            seen |= u32::from(byte);
            self.tail |= u32::from(byte) << (8 * i);
        }
        // The remainder is 0..=3 bytes.
        self.tail_len = blocks.remainder().len() as u32;
        seen
    }

    /// Feeds `data` read as `text`: its bytes, or the low byte of each of its
    /// UTF-16 code units, as the `murmurhash3js` package that Unleash's Node
    /// SDK uses does (`key.charCodeAt(i) & 0xff`, length in code units).
    ///
    /// For UTF-16 the bytes are hashed first, as they are: for ASCII (an
    /// ASCII byte is its own code unit) that is the answer, at the cost of
    /// the byte path. Otherwise the state is rolled back and `data` is
    /// transcoded.
    #[inline]
    pub(crate) fn write_text(&mut self, text: Text, data: &[u8]) {
        match text {
            Text::Utf8 => self.write(data),
            Text::Utf16 => {
                let before = *self;
                let seen = self.write_seen(data);
                if seen & 0x8080_8080 != 0 {
                    *self = before;
                    self.write_utf16_low_bytes(data);
                }
            }
        }
    }

    /// The low bytes of the UTF-16 code units of `data`, transcoded on the
    /// fly through a stack buffer. Out of line: the ASCII path stays small.
    #[inline(never)]
    fn write_utf16_low_bytes(&mut self, data: &[u8]) {
        let mut buf = [0u8; 64];
        let mut len = 0;
        utf16::for_each_unit(data, |unit| {
            // Truncation to the low byte is the point.
            buf[len] = unit as u8;
            len += 1;
            if len == buf.len() {
                self.write(&buf);
                len = 0;
            }
        });
        self.write(&buf[..len]);
    }

    pub(crate) fn finish(self) -> u32 {
        let mut h1 = self.h1;
        if self.tail_len > 0 {
            h1 ^= mix_k1(self.tail);
        }
        fmix32(h1 ^ self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 0), 0xc036_3e43);
        assert_eq!(murmur3_x86_32(b"1", 0), 0x9416_ac93);
        assert_eq!(murmur3_x86_32(b"12", 0), 0xf9d2_ef15);
    }

    #[test]
    fn utf16_low_bytes() {
        let low = |s: &str| -> Vec<u8> { s.encode_utf16().map(|u| u as u8).collect() };
        // Long enough to go through the stack buffer more than once.
        let long = "用户😀é".repeat(30);
        for s in ["", "abc", "josé", "用户", "😀", "Ł", long.as_str()] {
            let mut state = Murmur3::new(7);
            state.write_text(Text::Utf16, s.as_bytes());
            assert_eq!(state.finish(), murmur3_x86_32(&low(s), 7), "{s}");
        }
        // "Ł" is U+0141: its low byte is "A".
        let mut state = Murmur3::new(0);
        state.write_text(Text::Utf16, "Ł".as_bytes());
        assert_eq!(state.finish(), murmur3_x86_32(b"A", 0));
    }

    #[test]
    fn streaming_in_any_pieces_equals_one_shot() {
        let data: Vec<u8> = (0u8..=40).collect();
        for seed in [0, 1, 86_028_157] {
            let whole = murmur3_x86_32(&data, seed);
            for a in 0..data.len() {
                for b in a..data.len() {
                    let mut state = Murmur3::new(seed);
                    state.write(&data[..a]);
                    state.write(&data[a..b]);
                    state.write(&data[b..]);
                    assert_eq!(state.finish(), whole, "split at {a}, {b}");
                }
            }
        }
    }
}
