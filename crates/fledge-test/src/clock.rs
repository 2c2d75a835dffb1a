//! A manual clock at a fixed, realistic epoch, so that tests never sleep.

use fledge_gate::clock::{ManualClock, Timestamp};

/// 2023-11-14T22:13:20Z: a fixed start for every test clock.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// A manual clock reading [`T0`].
pub fn manual() -> ManualClock {
    ManualClock::new(T0)
}
