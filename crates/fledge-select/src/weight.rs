//! [`Weight`]: a share of traffic in basis points.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::SelectError;

/// A share of traffic in basis points: `0..=10_000`, where 10 000 is 100 %.
///
/// One basis point is one bucket of the 10 000 that sticky hashing produces,
/// so a weight of `w` bps owns exactly `w` buckets.
///
/// Serde: a plain number of basis points, checked on deserialize.
///
/// ```
/// use fledge_select::Weight;
///
/// let w = Weight::from_percent(2.5)?;
/// assert_eq!(w.bps(), 250);
/// assert_eq!(w, Weight::from_bps(250)?);
/// assert_eq!(w.to_string(), "2.5%");
/// assert!(Weight::from_bps(10_001).is_err());
/// # Ok::<(), fledge_select::SelectError>(())
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct Weight(u16);

impl Weight {
    /// The largest weight in basis points: 10 000, all the traffic.
    pub const MAX_BPS: u32 = 10_000;
    /// No traffic.
    pub const ZERO: Weight = Weight(0);
    /// All the traffic.
    pub const FULL: Weight = Weight(10_000);

    /// A weight of `bps` basis points; fails above 10 000.
    pub const fn from_bps(bps: u32) -> Result<Self, SelectError> {
        if bps > Self::MAX_BPS {
            return Err(SelectError::WeightOutOfRange { bps: bps as u64 });
        }
        // In range: 10_000 fits in a u16.
        Ok(Weight(bps as u16))
    }

    /// A weight of `percent` %, which must be finite, in `0..=100`, and a
    /// whole number of basis points (at most two decimals, e.g. `0.25`).
    pub fn from_percent(percent: f64) -> Result<Self, SelectError> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(SelectError::PercentOutOfRange { percent });
        }
        let scaled = percent * 100.0;
        let bps = scaled.round();
        // `percent * 100` is not exact in binary (0.07 * 100 = 7.000000000000001),
        // so accept anything within a millionth of a basis point.
        if (scaled - bps).abs() > 1e-6 {
            return Err(SelectError::PercentNotWholeBps { percent });
        }
        // `bps` is a whole number in 0..=10_000 here.
        Self::from_bps(bps as u32)
    }

    /// The weight in basis points, `0..=10_000`.
    pub const fn bps(self) -> u32 {
        self.0 as u32
    }

    /// The weight as a percentage, `0.0..=100.0`.
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// The weight as a fraction of all traffic, `0.0..=1.0`.
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// What is left of all the traffic: `10_000 - self.bps()`.
    pub const fn complement(self) -> Weight {
        Weight(10_000 - self.0)
    }

    /// Whether this weight is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl TryFrom<u32> for Weight {
    type Error = SelectError;

    fn try_from(bps: u32) -> Result<Self, Self::Error> {
        Weight::from_bps(bps)
    }
}

impl From<Weight> for u32 {
    fn from(weight: Weight) -> u32 {
        weight.bps()
    }
}

/// Formats as a percentage with at most two decimals: `5%`, `0.5%`, `12.34%`.
impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 100;
        let frac = self.0 % 100;
        if frac == 0 {
            write!(f, "{whole}%")
        } else if frac.is_multiple_of(10) {
            write!(f, "{whole}.{}%", frac / 10)
        } else {
            write!(f, "{whole}.{frac:02}%")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bps_bounds() {
        assert_eq!(Weight::from_bps(0), Ok(Weight::ZERO));
        assert_eq!(Weight::from_bps(10_000), Ok(Weight::FULL));
        assert_eq!(
            Weight::from_bps(10_001),
            Err(SelectError::WeightOutOfRange { bps: 10_001 })
        );
        assert!(Weight::from_bps(u32::MAX).is_err());
    }

    #[test]
    fn percent_conversions() {
        assert_eq!(Weight::from_percent(5.0).map(Weight::bps), Ok(500));
        assert_eq!(Weight::from_percent(0.07).map(Weight::bps), Ok(7));
        assert_eq!(Weight::from_percent(100.0), Ok(Weight::FULL));
        assert_eq!(Weight::from_percent(0.0), Ok(Weight::ZERO));
        assert!(matches!(
            Weight::from_percent(0.005),
            Err(SelectError::PercentNotWholeBps { .. })
        ));
        for bad in [-0.01, 100.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                Weight::from_percent(bad),
                Err(SelectError::PercentOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn every_bps_round_trips_through_percent() {
        for bps in 0..=10_000 {
            let w = Weight::from_bps(bps).expect("in range");
            assert_eq!(Weight::from_percent(w.percent()), Ok(w));
        }
    }

    #[test]
    fn display() {
        let shown = |bps| Weight::from_bps(bps).expect("in range").to_string();
        assert_eq!(shown(500), "5%");
        assert_eq!(shown(50), "0.5%");
        assert_eq!(shown(1234), "12.34%");
        assert_eq!(shown(1), "0.01%");
        assert_eq!(shown(10_000), "100%");
    }

    #[test]
    fn serde_is_a_checked_number() {
        let w: Weight = serde_json::from_str("250").expect("valid");
        assert_eq!(w.bps(), 250);
        assert_eq!(serde_json::to_string(&w).expect("serializes"), "250");
        assert!(serde_json::from_str::<Weight>("10001").is_err());
        assert!(serde_json::from_str::<Weight>("-1").is_err());
        assert!(serde_json::from_str::<Weight>("2.5").is_err());
    }

    #[test]
    fn complement() {
        let w = Weight::from_bps(300).expect("in range");
        assert_eq!(w.complement().bps(), 9_700);
        assert_eq!(Weight::ZERO.complement(), Weight::FULL);
    }
}
