//! The `fledge` command: check and simulate rollout plans offline, and show
//! which bucket (and version) a key lands in.
//!
//! ```text
//! fledge plan check examples/plans/canary.toml
//! fledge simulate examples/plans/canary.toml --canary-error-rate 0.05
//! fledge bucket --hash unleash --salt checkout user-1 user-2
//! ```
//!
//! Exit codes: 0 success, 2 an invalid plan or bad usage, 1 any other error
//! (an unreadable file, a failed `--expect`). Errors are one message on
//! stderr, never a panic or a backtrace.
#![forbid(unsafe_code)]

mod bucket;
mod check;
mod out;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Progressive delivery inside your Rust serving process: check and
/// rehearse rollout plans offline.
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
