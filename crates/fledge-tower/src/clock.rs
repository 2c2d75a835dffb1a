//! [`Stopwatch`]: how the request path times a request (two clock reads),
//! and [`LatencyClock`]: which clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Which clock the layer times requests with ([`Settings::latency_clock`](crate::Settings::latency_clock)).
///
/// The default reads the CPU's time-stamp counter where the kernel keeps
/// time with it (two reads: about 20 ns, 25 instructions here), otherwise
/// `Instant::now()`. On a virtual machine whose clock source is not the TSC
/// (`kvm-clock`, `hyperv_clocksource_tsc_page`, `xen`, ... in
/// `/sys/devices/system/clocksource/clocksource0/current_clocksource`),
/// `Instant::now()` reads a paravirtual clock through the vDSO (tens of
/// nanoseconds) or, where the vDSO cannot (`xen`, `acpi_pm`), makes a
/// system call (0.1 to 1 µs each): two per request. [`LatencyClock::Coarse`]
/// replaces them with two loads of a time a background thread advances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LatencyClock {
    /// The time-stamp counter or `Instant::now()` (the default): exact to
    /// well under a microsecond.
    #[default]
    Precise,
    /// A time advanced every `resolution` by a background thread
    /// (`quanta`'s upkeep thread, one per process, started by the first
    /// layer built with it; a process already running one keeps its
    /// interval). Reading it is one atomic load. The trade-offs:
    /// latencies are known to within `resolution` only (a request shorter
    /// than it may record zero), so latency gates should judge values at
    /// least ten times larger (1 ms for p99 limits of 10 ms and more); and
    /// the thread wakes every `resolution` (1,000 times a second at 1 ms,
    /// a few milliseconds of CPU a second), which is only cheaper than two
    /// precise reads per request when those cost a system call or the
    /// request rate is high.
    Coarse(Duration),
}

/// The upkeep thread of [`LatencyClock::Coarse`], started once.
static UPKEEP: OnceLock<Option<quanta::Handle>> = OnceLock::new();

/// Starts the coarse clock's thread (once per process: the first interval
/// wins; a thread someone else started is used as it is).
pub(crate) fn start_coarse(resolution: Duration) {
    UPKEEP.get_or_init(|| {
        let resolution = resolution.max(Duration::from_micros(100));
        // `UpkeepRunning`: another part of the process keeps it already.
        quanta::Upkeep::new(resolution).start().ok()
    });
}

/// The CPU's time-stamp counter, calibrated, when the kernel itself keeps
/// time with it; `None` otherwise.
static COUNTER: OnceLock<Option<quanta::Clock>> = OnceLock::new();

#[inline]
fn counter() -> Option<&'static quanta::Clock> {
    COUNTER.get_or_init(detect).as_ref()
}

fn detect() -> Option<quanta::Clock> {
    kernel_keeps_time_with_tsc().then(quanta::Clock::new)
}

/// Linux checks at boot that the time-stamp counters of all CPUs agree and
/// keeps watching them; it keeps time with them only when they do.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn kernel_keeps_time_with_tsc() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|source| source.trim() == "tsc")
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn kernel_keeps_time_with_tsc() -> bool {
    false
}

/// Measures the latency of one request: [`start`](Stopwatch::start) when it
/// is sent to its version, [`elapsed`](Stopwatch::elapsed) when it is over.
///
/// On Linux on x86-64, where the kernel keeps time with the CPU's
/// time-stamp counter (`current_clocksource` is `tsc`: the kernel has
/// checked that all CPUs' counters agree), it reads that counter through
/// `quanta` (calibrated against the monotonic clock once per process, when
/// the first layer is built: about a millisecond); two reads cost 21 ns
/// on the development VM against 51 ns for two `Instant::now()`. Elsewhere
/// it is [`std::time::Instant`]. Both are monotonic; the counter agrees with
/// the monotonic clock to within about a microsecond over 100 ms (about 10
/// parts per million).
///
/// ```
/// let watch = fledge_tower::Stopwatch::start();
/// assert!(watch.elapsed() < std::time::Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Start);

#[derive(Debug, Clone, Copy)]
enum Start {
    Counter(u64),
    Os(Instant),
    Coarse(quanta::Instant),
}

impl Stopwatch {
    /// Starts timing now.
    #[inline]
    pub fn start() -> Self {
        Stopwatch(match counter() {
            Some(clock) => Start::Counter(clock.raw()),
            None => Start::Os(Instant::now()),
        })
    }

    /// Starts timing now on the coarse clock ([`LatencyClock::Coarse`]):
    /// one atomic load, exact to within the clock's resolution.
    #[inline]
    pub fn start_coarse() -> Self {
        Stopwatch(Start::Coarse(quanta::Instant::recent()))
    }

    /// Starts timing now on `clock`.
    #[inline]
    pub fn start_on(clock: LatencyClock) -> Self {
        match clock {
            LatencyClock::Coarse(_) => Self::start_coarse(),
            _ => Self::start(),
        }
    }

    /// The time since [`start`](Stopwatch::start).
    #[inline]
    pub fn elapsed(&self) -> Duration {
        match self.0 {
            Start::Counter(raw) => counter().map_or(Duration::ZERO, |c| c.delta(raw, c.raw())),
            Start::Os(at) => at.elapsed(),
            Start::Coarse(at) => quanta::Instant::recent().saturating_duration_since(at),
        }
    }

    /// Whether this process times requests with the time-stamp counter.
    /// The first call calibrates it (layers call this when they are built).
    pub fn uses_counter() -> bool {
        counter().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_moves_in_steps() {
        start_coarse(Duration::from_millis(1));
        let watch = Stopwatch::start_on(LatencyClock::Coarse(Duration::from_millis(1)));
        let os = Instant::now();
        while os.elapsed() < Duration::from_millis(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let ours = watch.elapsed();
        // Within the resolution (plus a loaded machine's scheduling delay
        // of the upkeep thread).
        assert!(ours <= os.elapsed() + Duration::from_millis(2), "{ours:?}");
        assert!(
            ours + Duration::from_millis(25) >= Duration::from_millis(30),
            "{ours:?}"
        );
    }

    #[test]
    fn agrees_with_the_monotonic_clock() {
        for wait in [
            Duration::ZERO,
            Duration::from_micros(50),
            Duration::from_millis(5),
        ] {
            let os = Instant::now();
            let watch = Stopwatch::start();
            while os.elapsed() < wait {
                std::hint::spin_loop();
            }
            let ours = watch.elapsed();
            let theirs = os.elapsed();
            // Ours started later and ended earlier; allow scheduling noise
            // and the counter's calibration error (a loaded machine has
            // been seen 0.05 % off over 12 ms).
            assert!(
                ours <= theirs + Duration::from_micros(1) + theirs / 500,
                "{ours:?} vs {theirs:?}"
            );
            assert!(
                ours + Duration::from_millis(50) >= theirs,
                "{ours:?} vs {theirs:?}"
            );
        }
    }
}
