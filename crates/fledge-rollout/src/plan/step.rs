//! One step of a plan as written: a percentage, or a table with more settings.

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::TargetRule;
use crate::duration;

/// A step as written in a plan: `25` (percent) or a table
/// `{ weight = 25, interval = "5m", approval = true, ... }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDetail {
    /// A label shown in events and summaries (`"internal"`, `"beta"`).
    #[serde(default)]
    pub name: Option<String>,
    /// Percent of traffic on the candidate, `0..=100`. `0` is allowed only for
    /// a step that mirrors traffic (shadow) or has targeting rules (internal).
    pub weight: f64,
    /// This step's bake time, overriding the plan's `interval`.
    #[serde(default, with = "duration::serde_opt")]
    pub interval: Option<Duration>,
    /// The names of the plan's gates this step must pass (default: all of
    /// them; `[]` for none).
    #[serde(default)]
    pub gates: Option<Vec<String>>,
    /// Wait for a human's approval before taking this step.
    #[serde(default)]
    pub approval: bool,
    /// After taking this step, hold: `true` until resumed, or a duration.
    #[serde(default, deserialize_with = "deserialize_hold")]
    pub pause: Option<Hold>,
    /// Percent of requests mirrored to the candidate (shadow traffic;
    /// responses discarded).
    #[serde(default)]
    pub mirror: Option<f64>,
    /// Targeting rules added during this step.
    #[serde(default)]
    pub targeting: Vec<TargetRule>,
}

/// One step of a plan as written. Serde: a number (percent), or a table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSpec(pub StepDetail);

impl StepSpec {
    /// A plain step of `percent` % with the plan's defaults.
    pub fn percent(percent: f64) -> Self {
        StepSpec(StepDetail {
            weight: percent,
            ..StepDetail::default()
        })
    }

    /// The step's settings.
    pub fn detail(&self) -> &StepDetail {
        &self.0
    }

    fn is_plain(&self) -> bool {
        let d = &self.0;
        d.name.is_none()
            && d.interval.is_none()
            && d.gates.is_none()
            && !d.approval
            && d.pause.is_none()
            && d.mirror.is_none()
            && d.targeting.is_empty()
    }
}

impl From<StepDetail> for StepSpec {
    fn from(detail: StepDetail) -> Self {
        StepSpec(detail)
    }
}

impl<'de> Deserialize<'de> for StepSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = StepSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: a percentage like 25, or a table like { weight = 25, approval = true }")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StepSpec, E> {
                // Precision loss is impossible for the range that validation accepts.
                Ok(StepSpec::percent(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StepSpec, E> {
                Ok(StepSpec::percent(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StepSpec, E> {
                Ok(StepSpec::percent(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StepSpec, A::Error> {
                StepDetail::deserialize(MapAccessDeserializer::new(map)).map(StepSpec)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for StepSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let d = &self.0;
        if self.is_plain() {
            return serialize_percent(d.weight, serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        if let Some(name) = &d.name {
            map.serialize_entry("name", name)?;
        }
        map.serialize_entry("weight", &Percent(d.weight))?;
        if let Some(interval) = d.interval {
            map.serialize_entry("interval", &duration::Display(interval).to_string())?;
        }
        if let Some(gates) = &d.gates {
            map.serialize_entry("gates", gates)?;
        }
        if d.approval {
            map.serialize_entry("approval", &true)?;
        }
        if let Some(pause) = &d.pause {
            map.serialize_entry("pause", pause)?;
        }
        if let Some(mirror) = d.mirror {
            map.serialize_entry("mirror", &Percent(mirror))?;
        }
        if !d.targeting.is_empty() {
            map.serialize_entry("targeting", &d.targeting)?;
        }
        map.end()
    }
}

/// A percentage written as an integer when it is one (`25`, not `25.0`).
struct Percent(f64);

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_percent(self.0, serializer)
    }
}

fn serialize_percent<S: Serializer>(p: f64, serializer: S) -> Result<S::Ok, S::Error> {
    if p.fract() == 0.0 && (0.0..=1e15).contains(&p) {
        // Whole and in range: exact as an integer.
        serializer.serialize_u64(p as u64)
    } else {
        serializer.serialize_f64(p)
    }
}

/// How long a step holds after it is taken (`pause` in a plan).
///
/// Serde: `true` for [`Hold::Indefinite`], a duration string for [`Hold::For`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Until an operator resumes (`pause = true`).
    Indefinite,
    /// For this long, then the step bakes as usual (`pause = "10m"`).
    For(Duration),
}

impl Serialize for Hold {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Hold::Indefinite => serializer.serialize_bool(true),
            Hold::For(d) => serializer.collect_str(&duration::Display(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for Hold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_hold(deserializer)?
            .ok_or_else(|| de::Error::custom("`pause = false` holds nothing: remove it"))
    }
}

fn deserialize_hold<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Hold>, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = Option<Hold>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("`true` (hold until resumed), `false`, or a duration like \"10m\"")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<Hold>, E> {
            Ok(v.then_some(Hold::Indefinite))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Hold>, E> {
            duration::parse(v)
                .map(|d| Some(Hold::For(d)))
                .map_err(E::custom)
        }
    }
    deserializer.deserialize_any(Visitor)
}

impl Serialize for StepDetail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StepSpec(self.clone()).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Doc {
        steps: Vec<StepSpec>,
    }

    #[test]
    fn numbers_and_tables_mix() {
        let doc: Doc = toml::from_str(
            r#"steps = [5, { weight = 25, approval = true, pause = "10m" }, 50.5, { weight = 100, pause = true }]"#,
        )
        .unwrap();
        assert_eq!(doc.steps[0], StepSpec::percent(5.0));
        assert!(doc.steps[1].0.approval);
        assert_eq!(
            doc.steps[1].0.pause,
            Some(Hold::For(Duration::from_secs(600)))
        );
        assert_eq!(doc.steps[2].0.weight, 50.5);
        assert_eq!(doc.steps[3].0.pause, Some(Hold::Indefinite));
        let back: Doc = toml::from_str(&toml::to_string(&doc).unwrap()).unwrap();
        assert_eq!(back.steps, doc.steps);
    }

    #[test]
    fn unknown_step_fields_are_rejected() {
        let err = toml::from_str::<Doc>(r#"steps = [{ weight = 5, wieght = 6 }]"#).unwrap_err();
        assert!(err.to_string().contains("wieght"), "{err}");
        let err = toml::from_str::<Doc>(r#"steps = ["5%"]"#).unwrap_err();
        assert!(err.to_string().contains("a step"), "{err}");
    }
}
