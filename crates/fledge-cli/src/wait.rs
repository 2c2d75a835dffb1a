//! `fledge wait --until promoted --timeout 30m`: block until the rollout
//! gets there, for CI pipelines. Exit 0 when it does, 1 when it ends
//! otherwise (rolled back, aborted: says why), 2 on time-out or bad usage.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::Failure;
use crate::api::Status;
use crate::connect::{self, Conn};
use crate::poll::{self, Poller};
use crate::{out, render};

/// Arguments of `fledge wait`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to wait for: promoted, paused, awaiting-approval, or step:N
    /// (the N-th step, counted from 1 as `fledge status` shows it, or later).
    #[arg(long, value_name = "STATE", default_value = "promoted")]
    until: Until,
    /// Give up after this long (exit 2), e.g. 30m, 1h30m.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = connect::duration)]
    timeout: Duration,
    /// How often to ask the API.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = connect::duration)]
    interval: Duration,
    /// Print nothing while waiting, only the outcome.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    conn: Conn,
}

/// A state to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    Promoted,
    Paused,
    AwaitingApproval,
    /// The step counted from 1.
    Step(usize),
}

impl FromStr for Until {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        match s.as_str() {
            "promoted" => Ok(Until::Promoted),
            "paused" => Ok(Until::Paused),
            "awaiting-approval" => Ok(Until::AwaitingApproval),
            _ => s
                .strip_prefix("step:")
                .and_then(|n| n.trim().parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .map(Until::Step)
                .ok_or_else(|| {
                    format!("{s:?}: use promoted, paused, awaiting-approval or step:N (N from 1)")
                }),
        }
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Until::Promoted => f.write_str("promoted"),
            Until::Paused => f.write_str("paused"),
            Until::AwaitingApproval => f.write_str("awaiting approval"),
            Until::Step(n) => write!(f, "at step {n}"),
        }
    }
}

impl Until {
    /// Whether `status` is there.
    fn reached(self, status: &Status) -> bool {
        let phase = status.phase.name.as_str();
        match self {
            Until::Promoted => phase == "promoted",
            Until::Paused => phase == "paused",
            Until::AwaitingApproval => phase == "awaiting_approval",
            Until::Step(n) => {
                !matches!(phase, "rolled_back" | "aborted")
                    && (phase == "promoted" || status.step.is_some_and(|i| i + 1 >= n))
            }
        }
    }
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    let interval = args.interval.max(Duration::from_millis(50));
    let mut poller = Poller::new(args.conn.target()?);
    let mut last = None;
    let mut where_it_is = String::from("not answering");
    let mut checked_step = false;
    let mut failing = false;
    loop {
        match poller.status()? {
            Ok(status) => {
                failing = false;
                if let (Until::Step(n), false) = (args.until, checked_step) {
                    checked_step = true;
                    if n > status.steps.len() {
                        return Err(Failure::Usage(format!(
                            "--until step:{n}: {} has {} steps",
                            status.name,
                            status.steps.len()
                        )));
                    }
                }
                let (key, line) = poll::line(&status);
                if !args.quiet && last.as_ref() != Some(&key) {
                    out::print(&format!("{line}\n"))?;
                }
                last = Some(key);
                where_it_is = format!(
                    "{}, step {}",
                    render::phase(&status),
                    render::step_progress(&status)
                );
                if args.until.reached(&status) {
                    out::print(&format!(
                        "{} is {} after {} ({}, step {})\n",
                        status.name,
                        args.until,
                        render::span(elapsed_ms(started)),
                        render::phase(&status),
                        render::step_progress(&status)
                    ))?;
                    return Ok(());
                }
                if status.terminal {
                    poll::settle(&status)?;
                    // Promoted, but that is not what was awaited.
                    return Err(Failure::Other(format!(
                        "{} was promoted before it was {}",
                        status.name, args.until
                    )));
                }
            }
            Err(e) => {
                // Once per outage, not once per poll.
                if !args.quiet && !failing {
                    eprintln!("warning: {e}; asking again until the time-out");
                }
                failing = true;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::Timeout(format!(
                "timed out after {}: {} is not {} but {where_it_is}",
                render::span(elapsed_ms(started)),
                poller.target.name,
                args.until
            )));
        }
        std::thread::sleep(interval.min(deadline - now));
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse() {
        assert_eq!("promoted".parse(), Ok(Until::Promoted));
        assert_eq!("awaiting_approval".parse(), Ok(Until::AwaitingApproval));
        assert_eq!("step:3".parse(), Ok(Until::Step(3)));
        assert!("step:0".parse::<Until>().is_err());
        assert!("done".parse::<Until>().is_err());
    }
}
