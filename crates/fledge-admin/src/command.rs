//! What a command request says: which command (the path segment) and its
//! body, decoded field by field so that every error names its field.

use fledge_rollout::machine::Command;
use fledge_select::Weight;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest `reason` accepted, in characters.
pub const MAX_REASON_LEN: usize = 1_000;

/// The commands, by their path segment.
const COMMANDS: &[(&str, Option<Command>)] = &[
    ("promote", Some(Command::Promote)),
    ("promote-full", Some(Command::PromoteFull)),
    ("pause", Some(Command::Pause)),
    ("resume", Some(Command::Resume)),
    ("approve", Some(Command::Approve)),
    ("freeze", Some(Command::Freeze)),
    ("rollback", Some(Command::Rollback)),
    ("abort", Some(Command::Abort)),
    ("restart", Some(Command::Restart)),
    // The weight comes from the body.
    ("weight", None),
];

/// What a path segment asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verb {
    /// A command that takes `{"reason"}` at most.
    Plain(Command),
    /// `weight`: `{"weight", "reason"}`.
    SetWeight,
}

/// The command named by a path segment, or 404 listing those there are.
pub(crate) fn verb(segment: &str) -> Result<Verb, ApiError> {
    COMMANDS
        .iter()
        .find(|(name, _)| *name == segment)
        .map(|(_, c)| c.map_or(Verb::SetWeight, Verb::Plain))
        .ok_or_else(|| ApiError::UnknownCommand {
            command: segment.to_owned(),
            known: COMMANDS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A decoded command request: the command to give and the operator's reason.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) command: Command,
    pub(crate) reason: Option<String>,
}

/// Decodes the body of `verb`'s request.
pub(crate) fn decode(verb: Verb, bytes: &[u8]) -> Result<Request, ApiError> {
    let body = parse_body(bytes, matches!(verb, Verb::SetWeight))?;
    let command = match (verb, body.weight) {
        (Verb::Plain(command), _) => command,
        (Verb::SetWeight, Some(percent)) => {
            let weight = Weight::from_percent(percent).map_err(|e| {
                ApiError::field(
                    "weight",
                    format!("{e}; use a percentage with at most two decimals, e.g. 12.5"),
                )
            })?;
            Command::SetWeight { weight }
        }
        (Verb::SetWeight, None) => return Err(ApiError::field("weight", "missing")),
    };
    Ok(Request {
        command,
        reason: body.reason,
    })
}

/// The body of a command: `{"reason": ".."}` (optional), plus `"weight"` for
/// `POST .../weight`.
#[derive(Debug)]
struct CommandBody {
    reason: Option<String>,
    weight: Option<f64>,
}

/// Parses a command's body field by field, so that every error names its field.
fn parse_body(bytes: &[u8], wants_weight: bool) -> Result<CommandBody, ApiError> {
    let allowed = if wants_weight {
        "`weight` and `reason`"
    } else {
        "`reason`"
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if wants_weight {
            return Err(ApiError::field(
                "weight",
                "missing: send {\"weight\": <percent, 0 to 100>}",
            ));
        }
        return Ok(CommandBody {
            reason: None,
            weight: None,
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid JSON ({e}); send an object with {allowed}"
        ))
    })?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::BadRequest(format!(
            "the body must be a JSON object with {allowed}"
        )));
    };
    let reason = take_reason(&mut object)?;
    let weight = if wants_weight {
        Some(take_weight(&mut object)?)
    } else {
        None
    };
    if let Some(field) = object.keys().next() {
        return Err(ApiError::BadRequest(format!(
            "unknown field {field:?}; this command takes {allowed}"
        )));
    }
    Ok(CommandBody { reason, weight })
}

fn take_reason(object: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match object.remove("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > MAX_REASON_LEN {
                return Err(ApiError::field(
                    "reason",
                    format!("at most {MAX_REASON_LEN} characters"),
                ));
            }
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
        Some(other) => Err(ApiError::field(
            "reason",
            format!("must be a string, got {}", kind_of(&other)),
        )),
    }
}

fn take_weight(object: &mut Map<String, Value>) -> Result<f64, ApiError> {
    let weight = match object.remove("weight") {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| ApiError::field("weight", "must be a number of percent, 0 to 100"))?,
        None | Some(Value::Null) => {
            return Err(ApiError::field(
                "weight",
                "missing: send {\"weight\": <percent, 0 to 100>}",
            ));
        }
        Some(other) => {
            return Err(ApiError::field(
                "weight",
                format!(
                    "must be a number of percent, 0 to 100, got {}",
                    kind_of(&other)
                ),
            ));
        }
    };
    if !(0.0..=100.0).contains(&weight) {
        return Err(ApiError::field(
            "weight",
            format!("must be a percentage from 0 to 100, got {weight}"),
        ));
    }
    Ok(weight)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
