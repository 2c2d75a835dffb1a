//! The commands that steer a live rollout: `promote`, `pause`, `resume`,
//! `approve`, `freeze`, `rollback`, `abort`, `restart`, `weight`. Each
//! prints the event it caused; a refusal (409) prints the state machine's
//! reason and exits 1.

use serde_json::{Value, json};

use crate::Failure;
use crate::api::Event;
use crate::connect::{Conn, Operator};
use crate::{out, render};

/// What every command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Why, in words: recorded in the event and the API's log.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Print the API's JSON (the event) as it answered.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    operator: Operator,
    #[command(flatten)]
    conn: Conn,
}

/// `fledge promote`.
#[derive(Debug, clap::Args)]
pub(crate) struct PromoteArgs {
    /// Promote to 100 % at once (`promote-full`) instead of taking the next step.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    args: Args,
}

/// `fledge weight PERCENT`.
#[derive(Debug, clap::Args)]
pub(crate) struct WeightArgs {
    /// The candidate's share of traffic in percent, 0 to 100 (e.g. 25 or
    /// 12.5; a trailing % is fine).
    #[arg(value_name = "PERCENT", allow_hyphen_values = true)]
    weight: String,
    #[command(flatten)]
    args: Args,
}

/// `fledge promote [--full]`.
pub(crate) fn promote(args: &PromoteArgs) -> Result<(), Failure> {
    let verb = if args.full { "promote-full" } else { "promote" };
    give(&args.args, verb, Value::Null)
}

/// `fledge weight PERCENT`.
pub(crate) fn weight(args: &WeightArgs) -> Result<(), Failure> {
    let text = args.weight.trim();
    let number = text.strip_suffix('%').unwrap_or(text).trim();
    let weight: f64 = number
        .parse()
        .ok()
        .filter(|w: &f64| (0.0..=100.0).contains(w))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "weight {text:?}: give the candidate's share in percent, 0 to 100 (e.g. 25 or 12.5)"
            ))
        })?;
    give(&args.args, "weight", json!(weight))
}

/// Gives `verb` (the API's path segment) and prints the event.
pub(crate) fn give(args: &Args, verb: &str, weight: Value) -> Result<(), Failure> {
    let target = args.conn.command_target(&args.operator)?;
    let mut body = serde_json::Map::new();
    if let Some(reason) = args
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        body.insert("reason".to_owned(), json!(reason));
    }
    if !weight.is_null() {
        body.insert("weight".to_owned(), weight);
    }
    let path = target.path(&format!("/{verb}"));
    let (event, answer) = target
        .client
        .post::<Event>(&path, &Value::Object(body))
        .map_err(|e| match e {
            crate::api::ApiError::Refused(reason) => {
                Failure::Other(format!("{} refused {verb} (409): {reason}", target.name))
            }
            e => e.into(),
        })?;
    if args.json {
        out::print(&format!("{}\n", answer.body.trim_end()))?;
    } else {
        out::print(&format!("{}: {}\n", target.name, render::event(&event)))?;
    }
    Ok(())
}
