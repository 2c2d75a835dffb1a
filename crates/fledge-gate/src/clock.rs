//! Injectable time: [`Timestamp`], the [`Clock`] trait, [`SystemClock`] and
//! [`ManualClock`].
//!
//! The request path never reads a clock; the control path reads one once per
//! tick and passes the resulting [`Timestamp`] down. Tests and simulations use a
//! [`ManualClock`] so nothing ever sleeps.
//!
//! ```
//! use std::time::Duration;
//! use fledge_gate::clock::{Clock, ManualClock, Timestamp};
//!
//! let clock = ManualClock::new(Timestamp::from_millis(1_000));
//! let handle = clock.clone();
//! handle.advance(Duration::from_secs(10));
//! assert_eq!(clock.now(), Timestamp::from_millis(11_000));
//! ```

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch.
///
/// Serializes as a plain number. Arithmetic with [`Duration`] saturates at
/// `0` and `u64::MAX` instead of panicking.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch (`0` ms).
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Converts a [`SystemTime`]; times before the epoch map to [`Timestamp::EPOCH`].
    pub fn from_system_time(time: SystemTime) -> Self {
        let ms = time
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }

    /// `self + duration`, saturating at `u64::MAX` milliseconds.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_ms(duration)))
    }

    /// `self - duration`, saturating at the epoch.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_sub(duration_ms(duration)))
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// The UTC calendar date and time of day; its `Display` is RFC 3339.
    ///
    /// ```
    /// use fledge_gate::clock::Timestamp;
    ///
    /// let t = Timestamp::from_millis(1_700_000_000_123).utc();
    /// assert_eq!((t.year, t.month, t.day, t.hour), (2023, 11, 14, 22));
    /// assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
    /// ```
    pub fn utc(self) -> UtcTime {
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        // Howard Hinnant's `civil_from_days`, for days on or after the epoch.
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        // All below but `year` fit in a u32 by construction.
        let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        UtcTime {
            year,
            month: small(month),
            day: small(day),
            hour: small(rem / 3600),
            minute: small(rem % 3600 / 60),
            second: small(rem % 60),
            millis: small(self.0 % 1000),
        }
    }
}

/// A [`Timestamp`] as a UTC calendar date and time of day
/// ([`Timestamp::utc`]). `Display`: RFC 3339 with milliseconds,
/// `2023-11-14T22:13:20.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (1970 or later).
    pub year: u64,
    /// The month, `1..=12`.
    pub month: u32,
    /// The day of the month, `1..=31`.
    pub day: u32,
    /// The hour, `0..=23`.
    pub hour: u32,
    /// The minute, `0..=59`.
    pub minute: u32,
    /// The second, `0..=59`.
    pub second: u32,
    /// The millisecond, `0..=999`.
    pub millis: u32,
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating addition (see [`Timestamp::saturating_add`]).
    fn add(self, rhs: Duration) -> Timestamp {
        self.saturating_add(rhs)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating subtraction (see [`Timestamp::saturating_sub`]).
    fn sub(self, rhs: Duration) -> Timestamp {
        self.saturating_sub(rhs)
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;
    /// Saturating difference (see [`Timestamp::duration_since`]).
    fn sub(self, rhs: Timestamp) -> Duration {
        self.duration_since(rhs)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Timestamp::from_system_time(time)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A source of the current time, injected into the control path.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The wall clock ([`SystemTime::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// Clones share the same time, so a test can keep one handle and give another to
/// the code under test.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            ms: Arc::new(AtomicU64::new(start.as_millis())),
        }
    }

    /// Sets the time (it may move backwards; the callers decide what that means).
    pub fn set(&self, now: Timestamp) {
        self.ms.store(now.as_millis(), Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (saturating) and returns the new time.
    pub fn advance(&self, by: Duration) -> Timestamp {
        let by = duration_ms(by);
        let previous = self
            .ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                Some(ms.saturating_add(by))
            })
            .unwrap_or_else(|ms| ms);
        Timestamp(previous.saturating_add(by))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        let utc = |ms| Timestamp::from_millis(ms).utc().to_string();
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_733_490_061_000), "2024-12-06T13:01:01.000Z");
        assert_eq!(utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(utc(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
        let far = Timestamp::from_millis(u64::MAX).utc(); // no overflow
        assert!((1..=12).contains(&far.month) && far.year > 500_000_000);
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_millis(5);
        assert_eq!(t - Duration::from_millis(10), Timestamp::EPOCH);
        assert_eq!(
            Timestamp::from_millis(u64::MAX) + Duration::from_millis(1),
            Timestamp::from_millis(u64::MAX)
        );
        assert_eq!(
            Timestamp::from_millis(10) - Timestamp::from_millis(4),
            Duration::from_millis(6)
        );
        assert_eq!(
            Timestamp::from_millis(4) - Timestamp::from_millis(10),
            Duration::ZERO
        );
    }

    #[test]
    fn timestamp_serde_is_a_number() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "1700000000123");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(Timestamp::from_millis(100));
        let b = a.clone();
        assert_eq!(
            b.advance(Duration::from_millis(50)),
            Timestamp::from_millis(150)
        );
        assert_eq!(a.now(), Timestamp::from_millis(150));
        a.set(Timestamp::from_millis(7));
        assert_eq!(b.now(), Timestamp::from_millis(7));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Timestamp::from_millis(1_577_836_800_000));
    }
}
