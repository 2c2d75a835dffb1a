//! The binary primitives the output window codec ([`crate::output`]) and the
//! window summary codec ([`crate::summary`]) share: LEB128 varints,
//! little-endian `f64`s, length-prefixed UTF-8 strings, and a bounds-checked
//! [`Reader`] whose [`ReadError`]s each codec turns into its own error type.

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes, no overlong
/// form).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `v`'s 8 little-endian bytes.
pub(crate) fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `s` as its length (a varint) and its UTF-8 bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Why the [`Reader`] could not read a field (`what` names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The bytes end inside the field.
    Truncated { what: &'static str },
    /// A count or length above its limit.
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// A value the format does not allow.
    Invalid {
        what: &'static str,
        detail: &'static str,
    },
}

/// Reads fields off a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    canonical: bool,
}

impl<'a> Reader<'a> {
    /// A reader accepting varints in any form [`put_varint`]'s readers did.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            canonical: false,
        }
    }

    /// A reader refusing varints not in their shortest form (trailing zero
    /// groups; 0 is one zero byte), so that one value has one encoding.
    pub(crate) fn canonical(bytes: &'a [u8]) -> Self {
        Reader {
            canonical: true,
            ..Reader::new(bytes)
        }
    }

    /// The whole input's length, read or not.
    pub(crate) fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes not read yet.
    pub(crate) fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReadError> {
        if n > self.left() {
            return Err(ReadError::Truncated { what });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ReadError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn f64(&mut self, what: &'static str) -> Result<f64, ReadError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(f64::from_le_bytes(a))
    }

    /// An unsigned LEB128 varint, at most 10 bytes and at most 2^64 - 1
    /// (in its shortest form for a [`canonical`](Self::canonical) reader).
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, ReadError> {
        let invalid = |detail| ReadError::Invalid { what, detail };
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8(what)?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(invalid("a varint above 2^64 - 1"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                if self.canonical && b == 0 && i > 0 {
                    return Err(invalid("an overlong varint"));
                }
                return Ok(v);
            }
        }
        Err(invalid("a varint longer than 10 bytes"))
    }

    /// A count (a varint) of items of at least `min_size` bytes each: at
    /// most `limit`, and never more than the bytes left can hold.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        limit: u64,
        min_size: usize,
    ) -> Result<usize, ReadError> {
        let n = self.varint(what)?;
        if n > limit {
            return Err(ReadError::TooLarge {
                what,
                value: n,
                limit,
            });
        }
        let n = usize::try_from(n).map_err(|_| ReadError::Truncated { what })?;
        if n.saturating_mul(min_size.max(1)) > self.left() {
            return Err(ReadError::Truncated { what });
        }
        Ok(n)
    }

    /// A string of at most `limit` bytes, written by [`put_str`].
    pub(crate) fn string(&mut self, what: &'static str, limit: u64) -> Result<String, ReadError> {
        let n = self.count(what, limit, 1)?;
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| ReadError::Invalid {
                what,
                detail: "not UTF-8",
            })
    }
}

macro_rules! from_read_error {
    ($error:ty) => {
        impl From<crate::codec::ReadError> for $error {
            fn from(e: crate::codec::ReadError) -> Self {
                match e {
                    crate::codec::ReadError::Truncated { what } => Self::Truncated { what },
                    crate::codec::ReadError::TooLarge { what, value, limit } => {
                        Self::TooLarge { what, value, limit }
                    }
                    crate::codec::ReadError::Invalid { what, detail } => Self::Invalid {
                        what,
                        detail: detail.to_owned(),
                    },
                }
            }
        }
    };
}
pub(crate) use from_read_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_bad_bytes_are_refused() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            put_varint(&mut out, v);
        }
        put_f64(&mut out, -2.5);
        put_str(&mut out, "forecast");
        let mut r = Reader::canonical(&out);
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.varint("v"), Ok(v));
        }
        assert_eq!(r.f64("f"), Ok(-2.5));
        assert_eq!(r.string("s", 8), Ok("forecast".to_owned()));
        assert_eq!(r.left(), 0);
        assert_eq!(r.u8("end"), Err(ReadError::Truncated { what: "end" }));

        // 1 written in two bytes: read, but not by a canonical reader.
        assert_eq!(Reader::new(&[0x81, 0x00]).varint("v"), Ok(1));
        assert!(matches!(
            Reader::canonical(&[0x81, 0x00]).varint("v"),
            Err(ReadError::Invalid { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff; 11]).varint("v"),
            Err(ReadError::Invalid { .. })
        ));
        let mut long = Vec::new();
        put_str(&mut long, "forecast");
        assert_eq!(
            Reader::new(&long).string("s", 4),
            Err(ReadError::TooLarge {
                what: "s",
                value: 8,
                limit: 4
            })
        );
        assert_eq!(
            Reader::new(&long[..4]).string("s", 8),
            Err(ReadError::Truncated { what: "s" })
        );
        assert!(matches!(
            Reader::new(&[1, 0xff]).string("s", 8),
            Err(ReadError::Invalid { .. })
        ));
    }
}
