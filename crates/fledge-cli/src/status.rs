//! `fledge status`: where a live rollout stands.

use crate::Failure;
use crate::api::Status;
use crate::connect::Conn;
use crate::{out, render};

/// Arguments of `fledge status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the API's JSON as it answered.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let target = args.conn.target()?;
    let (status, answer) = target.client.get::<Status>(&target.path(""))?;
    if args.json {
        out::print(&format!("{}\n", answer.body.trim_end()))?;
    } else {
        out::print(&render::status(&status))?;
    }
    Ok(())
}
