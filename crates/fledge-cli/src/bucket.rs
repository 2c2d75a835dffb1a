//! `fledge bucket --hash MODE --salt S KEY... [--plan FILE --weight W]`.

use std::fmt::Write as _;
use std::path::PathBuf;

use fledge_rollout::plan::Plan;
use fledge_select::Weight;
use fledge_sticky::{Bucketer, HashMode};

use crate::Failure;
use crate::out;

/// Arguments of `fledge bucket`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The hash: fledge, unleash, growthbook-v1 or growthbook-v2 (default:
    /// the plan's, else fledge).
    #[arg(long)]
    hash: Option<String>,
    /// The salt (Unleash groupId, GrowthBook seed). Default: the plan's salt.
    #[arg(long)]
    salt: Option<String>,
    /// A plan, to print each key's version.
    #[arg(long, requires = "weight")]
    plan: Option<PathBuf>,
    /// The candidate's weight in percent (with --plan), e.g. 5 or 0.5.
    #[arg(long, requires = "plan")]
    weight: Option<f64>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// The keys (user ids, session ids).
    #[arg(required = true)]
    keys: Vec<String>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let plan = match &args.plan {
        Some(path) => Some(Plan::from_path(path)?),
        None => None,
    };
    let hash_text = args
        .hash
        .clone()
        .or_else(|| plan.as_ref().and_then(|p| p.sticky.hash.clone()))
        .unwrap_or_else(|| "fledge".to_owned());
    let mode: HashMode = hash_text.parse().map_err(|_| {
        Failure::Usage(format!(
            "unknown --hash {hash_text:?}: use fledge, unleash, growthbook-v1 or growthbook-v2"
        ))
    })?;
    let salt = match (&args.salt, &plan) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => p.base_salt(),
        (None, None) => {
            return Err(Failure::Usage(
                "--salt is required (or --plan, whose salt is used)".to_owned(),
            ));
        }
    };
    let weight = match args.weight {
        Some(w) => {
            Some(Weight::from_percent(w).map_err(|e| Failure::Usage(format!("--weight: {e}")))?)
        }
        None => None,
    };
    let bucketer = Bucketer::new(mode, &salt);
    let mut s = String::new();
    for key in &args.keys {
        let bucket = bucketer.bucket_str(key);
        let version = match (&plan, weight) {
            (Some(p), Some(w)) => Some(if bucket < w.bps() {
                &p.candidate
            } else {
                &p.baseline
            }),
            _ => None,
        };
        if args.json {
            let mut v = serde_json::json!({ "key": key, "bucket": bucket, "hash": mode.to_string(), "salt": salt });
            if let Some(version) = version {
                v["version"] = serde_json::Value::String(version.to_string());
            }
            let _ = writeln!(s, "{v}");
        } else {
            match version {
                Some(version) => {
                    let _ = writeln!(s, "{key}\t{bucket}\t{version}");
                }
                None => {
                    let _ = writeln!(s, "{key}\t{bucket}");
                }
            }
        }
    }
    out::print(&s)?;
    Ok(())
}
