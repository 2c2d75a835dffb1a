//! The UTF-16 code units of a key given as UTF-8 bytes, produced on the fly
//! (no buffer): what JavaScript's `str.charCodeAt(i)` and Python's
//! `s.encode("utf-16-le")` see for the same text.
//!
//! A key that is not valid UTF-8 (bytes from a header) is read the way
//! `String::from_utf8_lossy`, JavaScript's `TextDecoder` and Node's
//! `Buffer.toString("utf8")` read it: each maximal invalid subsequence
//! becomes one U+FFFD. Nothing panics.

/// What a hash reads from a key: its UTF-8 bytes, or the UTF-16 code units
/// of the text those bytes encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text {
    /// The bytes as given (UTF-8 for a `&str`).
    Utf8,
    /// UTF-16 code units, invalid UTF-8 read as U+FFFD.
    Utf16,
}

/// The replacement character, U+FFFD, as one UTF-16 code unit.
const REPLACEMENT: u16 = 0xfffd;

/// Calls `unit` with each UTF-16 code unit of `bytes` read as UTF-8, in order.
/// Characters above U+FFFF give a surrogate pair; each maximal invalid
/// subsequence gives one U+FFFD.
#[inline]
pub(crate) fn for_each_unit(bytes: &[u8], mut unit: impl FnMut(u16)) {
    for chunk in bytes.utf8_chunks() {
        chunk.valid().encode_utf16().for_each(&mut unit);
        if !chunk.invalid().is_empty() {
            unit(REPLACEMENT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(bytes: &[u8]) -> Vec<u16> {
        let mut out = Vec::new();
        for_each_unit(bytes, |u| out.push(u));
        out
    }

    #[test]
    fn valid_text_gives_its_utf16() {
        for s in [
            "",
            "abc",
            "josé",
            "用户",
            "😀",
            "a👩\u{200d}💻b",
            "\u{ffff}\u{10000}",
        ] {
            assert_eq!(
                units(s.as_bytes()),
                s.encode_utf16().collect::<Vec<_>>(),
                "{s}"
            );
        }
        assert_eq!(units("😀".as_bytes()), [0xd83d, 0xde00]);
    }

    #[test]
    fn invalid_bytes_read_like_from_utf8_lossy() {
        let cases: &[&[u8]] = &[
            b"\xff",
            b"a\xffb",
            b"\xc3",                // truncated 2-byte sequence
            b"\xe7\x94",            // truncated 3-byte sequence: one U+FFFD
            b"\xf0\x9f\x98",        // truncated 4-byte sequence: one U+FFFD
            b"\xed\xa0\x80",        // an encoded surrogate: three U+FFFD
            b"\xc0\xaf",            // overlong: two U+FFFD
            b"\xf4\x90\x80\x80",    // above U+10FFFF
            b"\x80\x80jos\xc3\xa9", // stray continuation bytes, then text
        ];
        for &bytes in cases {
            let lossy = String::from_utf8_lossy(bytes);
            assert_eq!(
                units(bytes),
                lossy.encode_utf16().collect::<Vec<_>>(),
                "{bytes:x?}"
            );
        }
        assert_eq!(units(b"\xe7\x94"), [0xfffd]);
        assert_eq!(units(b"\xed\xa0\x80"), [0xfffd; 3]);
    }
}
