//! Human-readable durations for plans: `"500ms"`, `"30s"`, `"2m"`, `"1h30m"`.
//!
//! A duration is one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`
//! and `d`. Whitespace between parts is allowed. Negative numbers, fractions and
//! bare numbers are rejected with a [`DurationError`] that says what to write instead.

use std::fmt;
use std::time::Duration;

/// Why a duration string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("empty duration: write a number with a unit, like \"30s\" or \"500ms\"")]
    Empty,
    /// A number has no unit after it.
    #[error(
        "duration {input:?} has a number without a unit: add one of ms, s, m, h, d (e.g. \"30s\")"
    )]
    MissingUnit {
        /// The text that was read.
        input: String,
    },
    /// A unit is not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("duration {input:?} has unknown unit {unit:?}: use ms, s, m, h or d")]
    UnknownUnit {
        /// The text that was read.
        input: String,
        /// The unit found.
        unit: String,
    },
    /// A character that is neither a digit, a unit nor whitespace.
    #[error(
        "duration {input:?} is not of the form \"<number><unit>\" (e.g. \"2m\", \"1h30m\"); negative and fractional values are not allowed"
    )]
    Malformed {
        /// The text that was read.
        input: String,
    },
    /// The value does not fit in 64-bit milliseconds.
    #[error("duration {input:?} is too large")]
    Overflow {
        /// The text that was read.
        input: String,
    },
}

/// Parses a duration such as `"30s"`, `"500ms"`, `"2m"` or `"1h30m"`.
///
/// ```
/// use std::time::Duration;
/// use fledge_rollout::duration::parse;
///
/// assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
/// assert!(parse("30").is_err());
/// ```
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms: u64 = 0;
    let overflow = || DurationError::Overflow {
        input: input.to_owned(),
    };
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(DurationError::Malformed {
                input: input.to_owned(),
            });
        }
        // `start` and `i` sit next to ASCII bytes: char boundaries, so the
        // slices below cannot panic.
        let number: u64 = s[start..i].parse().map_err(|_| overflow())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let factor: u64 = match unit {
            "" => {
                if i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    return Err(DurationError::Malformed {
                        input: input.to_owned(),
                    });
                }
                return Err(DurationError::MissingUnit {
                    input: input.to_owned(),
                });
            }
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    input: input.to_owned(),
                    unit: other.to_owned(),
                });
            }
        };
        let part = number.checked_mul(factor).ok_or_else(overflow)?;
        total_ms = total_ms.checked_add(part).ok_or_else(overflow)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Displays a duration the way plans write it (`"1m30s"`, `"250ms"`, `"0s"`).
///
/// Sub-millisecond parts are dropped: plans work in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Display(pub Duration);

impl fmt::Display for Display {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

/// Serde helpers: `#[serde(with = "fledge_rollout::duration::serde_str")]` on a
/// `Duration` field reads and writes it as a string like `"30s"`.
pub mod serde_str {
    use super::{Display, parse};
    use serde::{Deserializer, Serializer, de};
    use std::time::Duration;

    /// Writes the duration as a string like `"1m30s"`.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Display(*value))
    }

    /// Reads a duration string like `"30s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(Visitor)
    }

    pub(super) struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration string like \"30s\", \"500ms\" or \"2m\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "a bare number ({v}) is not a duration: write it with a unit, like \"{v}s\" or \"{v}ms\""
            )))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "a bare number ({v}) is not a duration: write a string with a unit, like \"30s\""
            )))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "a bare number ({v}) is not a duration: write a string with a unit, like \"30s\""
            )))
        }
    }
}

/// Serde helpers for `Option<Duration>` fields written as strings (`None` is omitted).
pub mod serde_opt {
    use super::Display;
    use serde::{Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `Some(duration)` as a string like `"30s"`.
    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.collect_str(&Display(*d)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an optional duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::serde_str::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(" 1d 2h "), Ok(Duration::from_secs(93_600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_input_with_typed_errors() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(matches!(
            parse("30"),
            Err(DurationError::MissingUnit { .. })
        ));
        assert!(matches!(
            parse("3w"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(parse("-5s"), Err(DurationError::Malformed { .. })));
        assert!(matches!(
            parse("1.5s"),
            Err(DurationError::Malformed { .. })
        ));
        assert!(matches!(
            parse("99999999999999999999s"),
            Err(DurationError::Overflow { .. })
        ));
        assert!(matches!(
            parse("999999999999999d"),
            Err(DurationError::Overflow { .. })
        ));
    }

    #[test]
    fn display_round_trips() {
        for ms in [
            0u64, 1, 999, 1000, 1500, 60_000, 90_000, 3_600_000, 93_784_005,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&Display(d).to_string()), Ok(d), "{ms}");
        }
        assert_eq!(Display(Duration::from_secs(90)).to_string(), "1m30s");
    }
}
