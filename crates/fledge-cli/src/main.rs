//! The `fledge` command: drive a live rollout through its admin API, and
//! check and simulate rollout plans offline.
//!
//! # A live rollout
//!
//! Point it at the admin API (fledge-admin) of the serving process, where
//! the service mounts it, with the admin token:
//!
//! ```text
//! export FLEDGE_URL=http://host:8080/fledge      # or --url
//! export FLEDGE_ADMIN_TOKEN=...                  # or --token-file PATH
//! fledge status                  # phase, step 2/4, weights, the last verdict per check
//! fledge status --json           # the API's JSON as it answered
//! fledge watch                   # live view until the rollout ends (lines when piped)
//! fledge history --since 10      # the events: decisions and why (--json)
//! fledge pause --reason "lunch"  # also promote [--full], resume, approve, freeze,
//! fledge weight 25               #   rollback, abort, restart; each prints its event
//! fledge wait --until promoted --timeout 30m   # for CI: 0 promoted, 1 rolled back, 2 time-out
//! ```
//!
//! The rollout is `--rollout NAME` (or `FLEDGE_ROLLOUT`), else the only one
//! the API serves. Commands send the operator (`--by`, default `$USER`) in
//! the header the API reads it from (`--operator-header`, default
//! `x-forwarded-user`), and need the token; reads send it when there is one.
//! The token is never printed. Requests time out after `--http-timeout`
//! (10 s); the client follows no redirect and uses no proxy. `https://`
//! needs the `rustls` feature.
//!
//! `watch` and `wait` poll the status (`--interval`); after a first answer
//! they ride out a service restart. On a terminal, `watch` redraws in place
//! (alternate screen, restored on exit and Ctrl-C) with sparklines of each
//! version's req/s, error rate, p99 and feedback metrics from
//! `GET /rollouts/{name}/series`; with an API that has no series it shows
//! req/s from the selector's counts and the rest from the last verdict.
//! Piped (or `--display lines`) it prints one line per change. Both end
//! when the rollout does.
//!
//! # Offline
//!
//! ```text
//! fledge plan check examples/plans/canary.toml
//! fledge simulate examples/plans/canary.toml --canary-error-rate 0.05
//! fledge simulate examples/plans/drift.toml --output-shift 0.05   # forecasts 5 % too high
//! fledge bucket --hash unleash --salt checkout user-1 user-2
//! ```
//!
//! # Exit codes
//!
//! 0 success (`wait`, `watch`: the rollout got there, promoted); 1 a
//! failure: the rollout was rolled back or aborted (`wait`, `watch`: the
//! reason is printed), the API refused the command (409, with the state
//! machine's reason) or the token (401), the API cannot be reached or is not
//! at `--url`, an unreadable file, a failed `--expect`; 2 an invalid plan,
//! bad usage (a missing `--url`, a bad option or field, no token for a
//! command, an unknown rollout) or `wait`'s time-out. Errors are one message
//! on stderr, never a panic or a backtrace.
#![forbid(unsafe_code)]

mod api;
mod bucket;
mod check;
mod connect;
mod control;
mod history;
mod out;
mod poll;
mod render;
mod simulate;
mod status;
mod wait;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Progressive delivery inside your Rust serving process: drive a live
/// rollout through its admin API, check and rehearse plans offline.
#[derive(Debug, Parser)]
#[command(name = "fledge", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Work with plan files.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// Run a plan on simulated traffic with a simulated clock, through the
    /// real controller and gates, and print the timeline.
    Simulate(simulate::Args),
    /// Print each key's sticky bucket (0..10000) and, with a plan and a
    /// weight, its version.
    Bucket(bucket::Args),
    /// Where a live rollout stands: phase, step, weights, the last verdict.
    Status(status::Args),
    /// A live view of the rollout until it ends (a line per change when piped).
    Watch(watch::Args),
    /// The rollout's events: each decision and why.
    History(history::Args),
    /// Wait until the rollout is promoted (or paused, awaiting approval, at
    /// a step): exit 0, 1 when it ends otherwise, 2 on time-out. For CI.
    Wait(wait::Args),
    /// Take the next step now (--full: go to 100 %).
    Promote(control::PromoteArgs),
    /// Hold the current weights; no promotion (failing gates still roll back).
    Pause(control::Args),
    /// Resume a paused or frozen rollout.
    Resume(control::Args),
    /// Approve the step that awaits approval.
    Approve(control::Args),
    /// Hold the weights with neither promotion nor rollback.
    Freeze(control::Args),
    /// Send every request back to the baseline.
    Rollback(control::Args),
    /// Stop the rollout; the candidate gets no traffic.
    Abort(control::Args),
    /// Start a rolled back, aborted or promoted rollout again from its first step.
    Restart(control::Args),
    /// Set the candidate's weight, in percent (0 to 100).
    Weight(control::WeightArgs),
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Validate a plan (TOML, JSON or YAML) and print a summary of its steps and gates.
    Check {
        /// The plan file (.toml, .json, .yaml or .yml).
        file: PathBuf,
        /// Print the checked plan as JSON instead.
        #[arg(long)]
        json: bool,
    },
}

/// A failure, with the exit code it deserves.
#[derive(Debug)]
enum Failure {
    /// An invalid plan or bad usage: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Other(String),
    /// `fledge wait` gave up: exit 2.
    Timeout(String),
}

impl From<fledge_rollout::plan::PlanError> for Failure {
    fn from(e: fledge_rollout::plan::PlanError) -> Self {
        use fledge_rollout::plan::PlanError;
        match e {
            PlanError::Io { .. } => Failure::Other(e.to_string()),
            _ => Failure::Usage(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print to stdout and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = match cli.command {
        Top::Plan {
            command: PlanCommand::Check { file, json },
        } => check::run(&file, json),
        Top::Simulate(args) => simulate::run(&args),
        Top::Bucket(args) => bucket::run(&args),
        Top::Status(args) => status::run(&args),
        Top::Watch(args) => watch::run(&args),
        Top::History(args) => history::run(&args),
        Top::Wait(args) => wait::run(&args),
        Top::Promote(args) => control::promote(&args),
        Top::Pause(args) => control::give(&args, "pause", serde_json::Value::Null),
        Top::Resume(args) => control::give(&args, "resume", serde_json::Value::Null),
        Top::Approve(args) => control::give(&args, "approve", serde_json::Value::Null),
        Top::Freeze(args) => control::give(&args, "freeze", serde_json::Value::Null),
        Top::Rollback(args) => control::give(&args, "rollback", serde_json::Value::Null),
        Top::Abort(args) => control::give(&args, "abort", serde_json::Value::Null),
        Top::Restart(args) => control::give(&args, "restart", serde_json::Value::Null),
        Top::Weight(args) => control::weight(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg) | Failure::Timeout(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
