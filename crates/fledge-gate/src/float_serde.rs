//! Serde for the floats of verdicts that may be infinite or NaN (an
//! always-valid interval before there is data is `[−∞, ∞]`). JSON has no
//! such numbers, and `serde_json` writes them as `null`, which then does not
//! read back; these write them as the strings `"inf"`, `"-inf"` and `"NaN"`
//! and read numbers, those strings and `null`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// One float, finite or not.
#[derive(Clone, Copy)]
struct Float(f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        if x.is_finite() {
            s.serialize_f64(x)
        } else if x.is_nan() {
            s.serialize_str("NaN")
        } else if x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or \"inf\", \"-inf\", \"NaN\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
                match v {
                    "inf" | "+inf" | "Infinity" => Ok(Float(f64::INFINITY)),
                    "-inf" | "-Infinity" => Ok(Float(f64::NEG_INFINITY)),
                    "NaN" | "nan" => Ok(Float(f64::NAN)),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `Option<f64>`.
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Float).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Float>::deserialize(d)?.map(|f| f.0))
    }
}

/// `Option<[f64; 2]>`.
pub(crate) mod option_pair {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<[f64; 2]>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|[a, b]| [Float(a), Float(b)]).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[f64; 2]>, D::Error> {
        // `null` inside the pair: written by earlier versions for ±∞.
        let pair = Option::<[Option<Float>; 2]>::deserialize(d)?;
        Ok(pair.map(|[a, b]| {
            [
                a.map_or(f64::NEG_INFINITY, |f| f.0),
                b.map_or(f64::INFINITY, |f| f.0),
            ]
        }))
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct T {
        #[serde(with = "super::option")]
        x: Option<f64>,
        #[serde(with = "super::option_pair")]
        i: Option<[f64; 2]>,
    }

    #[test]
    fn non_finite_values_round_trip_through_json() {
        for t in [
            T {
                x: Some(1.5),
                i: Some([f64::NEG_INFINITY, f64::INFINITY]),
            },
            T {
                x: Some(f64::INFINITY),
                i: Some([-0.25, 3.0]),
            },
            T { x: None, i: None },
        ] {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t, "{json}");
        }
        let nan: T = serde_json::from_str(r#"{"x":"NaN","i":null}"#).unwrap();
        assert!(nan.x.unwrap().is_nan());
        // What serde_json wrote before: null for infinite ends.
        let old: T = serde_json::from_str(r#"{"x":null,"i":[null,null]}"#).unwrap();
        assert_eq!(old.i, Some([f64::NEG_INFINITY, f64::INFINITY]));
        assert!(serde_json::from_str::<T>(r#"{"x":"big","i":null}"#).is_err());
    }
}
