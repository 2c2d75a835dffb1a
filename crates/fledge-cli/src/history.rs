//! `fledge history`: the rollout's events, the decisions and why.

use serde_json::Value;

use crate::Failure;
use crate::api::EventPage;
use crate::connect::Conn;
use crate::{out, render};

/// Arguments of `fledge history`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Start at this event (its `seq`; the table's first column).
    #[arg(long, default_value_t = 0, value_name = "N")]
    since: u64,
    /// Print the API's JSON: one page `{"events", "next", "total"}` with
    /// every event from `--since` on.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let target = args.conn.target()?;
    let mut since = args.since;
    let mut events = Vec::new();
    let mut raw: Vec<Value> = Vec::new();
    let total = loop {
        let path = target.path(&format!("/events?since={since}"));
        let (page, answer) = target.client.get::<EventPage>(&path)?;
        if args.json {
            // The events as the API wrote them, fields this command does not know included.
            let value: Value = serde_json::from_str(&answer.body)
                .map_err(|e| Failure::Other(format!("the events page is not JSON: {e}")))?;
            if let Some(Value::Array(page_events)) = value.get("events") {
                raw.extend(page_events.iter().cloned());
            }
        }
        let done = page.events.is_empty() || page.next >= page.total || page.next <= since;
        since = page.next;
        events.extend(page.events);
        if done {
            break page.total;
        }
    };
    if args.json {
        let page = serde_json::json!({ "events": raw, "next": since, "total": total });
        out::print(&format!("{page}\n"))?;
    } else if events.is_empty() {
        out::print(&format!(
            "no events from #{} on ({total} in all)\n",
            args.since
        ))?;
    } else {
        out::print(&render::event_table(&events))?;
    }
    Ok(())
}
