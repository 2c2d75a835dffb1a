//! The routes and their handlers.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fledge_rollout::machine::Command;
use fledge_rollout::{ControlError, Controller};
use fledge_select::Weight;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{Operator, ReadAccess, Shared, valid_operator};
use crate::view::{ErrorBody, EventPage, EventView, RolloutList, status_of};

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest `reason` accepted, in characters.
pub const MAX_REASON_LEN: usize = 1_000;
/// The most events one `GET /rollouts/{name}/events` returns.
pub const MAX_EVENTS_PAGE: usize = 1_000;

/// The commands, by their path segment.
pub(crate) const COMMANDS: &[(&str, Option<Command>)] = &[
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

type Ctx = Arc<Shared>;

pub(crate) fn routes(shared: Ctx) -> Router {
    Router::new()
        .route("/", get(crate::dashboard::page))
        .route("/rollouts", get(list))
        .route("/rollouts/{name}", get(status))
        .route("/rollouts/{name}/events", get(events))
        .route("/rollouts/{name}/{command}", post(command))
        .fallback(not_found)
        .with_state(shared)
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error(
        "missing or wrong admin token: send `Authorization: Bearer <token>` with the token the API was built with"
    )]
    Unauthorized,
    #[error("no rollout named {name:?}; this API serves {known:?}")]
    UnknownRollout { name: String, known: Vec<String> },
    #[error("no command {command:?}; use one of {}", command_names())]
    UnknownCommand { command: String },
    #[error("no route {path}; see GET /rollouts, or the dashboard at /")]
    NoRoute { path: String },
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The state machine refused the command; the refusal is in the event log.
    #[error("{0}")]
    Refused(String),
    #[error(
        "the command was applied and published, but its snapshot could not be saved: {0}; the store is behind until the next successful save"
    )]
    NotPersisted(String),
    #[error("{0}")]
    Internal(String),
}

fn command_names() -> String {
    COMMANDS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::UnknownRollout { .. }
            | ApiError::UnknownCommand { .. }
            | ApiError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::Field { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused(_) => StatusCode::CONFLICT,
            ApiError::NotPersisted(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn field(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Field {
            field,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let field = match &self {
            ApiError::Field { field, .. } => Some((*field).to_owned()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.to_string(),
            field,
        };
        let mut response = json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fledge-admin\""),
            );
        }
        response
    }
}

/// A JSON answer that no cache keeps.
fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            status,
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        )
            .into_response(),
    }
}

/// Checks `Authorization: Bearer <token>`.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .and_then(|v| {
            let (scheme, rest) = v.split_at_checked(7)?;
            scheme
                .eq_ignore_ascii_case(b"bearer ")
                .then(|| rest.trim_ascii())
        });
    match given {
        Some(token) if shared.token.matches(token) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

fn authorize_command(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize(shared, headers).inspect_err(|_| {
        tracing::warn!("fledge-admin: command without a valid admin token refused");
    })
}

fn authorize_read(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    match shared.reads {
        ReadAccess::Open => Ok(()),
        // A dashboard left open without a token polls every second: debug.
        ReadAccess::Token => authorize(shared, headers).inspect_err(|_| {
            tracing::debug!("fledge-admin: read without a valid admin token refused");
        }),
    }
}

fn rollout(shared: &Shared, name: &str) -> Result<Arc<Controller>, ApiError> {
    shared
        .rollouts
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::UnknownRollout {
            name: name.to_owned(),
            known: shared.rollouts.keys().cloned().collect(),
        })
}

/// Runs `f` on the blocking pool: controller calls take its lock, which a
/// tick holds while its store saves (a file, a network store).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("the controller call failed: {e}")))
}

fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::BadRequest(format!("bad path: {}", rejection.body_text()))
}

async fn list(State(shared): State<Ctx>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize_read(&shared, &headers)?;
    let controllers: Vec<Arc<Controller>> = shared.rollouts.values().cloned().collect();
    let rollouts = blocking(move || controllers.iter().map(|c| status_of(c)).collect()).await?;
    Ok(json(StatusCode::OK, &RolloutList { rollouts }))
}

async fn status(
    State(shared): State<Ctx>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize_read(&shared, &headers)?;
    let Path(name) = path.map_err(path_error)?;
    let controller = rollout(&shared, &name)?;
    let status = blocking(move || status_of(&controller)).await?;
    Ok(json(StatusCode::OK, &status))
}

/// `?since=N&limit=M`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

async fn events(
    State(shared): State<Ctx>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EventsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize_read(&shared, &headers)?;
    let Path(name) = path.map_err(path_error)?;
    let controller = rollout(&shared, &name)?;
    let Query(query) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}; the query takes `since` (an event seq, default 0) and `limit` (1 to {MAX_EVENTS_PAGE})",
            e.body_text()
        ))
    })?;
    let limit = query.limit.unwrap_or(MAX_EVENTS_PAGE);
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be 1 to {MAX_EVENTS_PAGE}, got {limit}"),
        ));
    }
    let all = blocking(move || controller.events()).await?;
    let total = all.len() as u64;
    let events: Vec<EventView> = all
        .into_iter()
        .filter(|e| e.seq >= query.since)
        .take(limit)
        .map(EventView::from)
        .collect();
    let next = events
        .last()
        .map_or(query.since.min(total), |e| e.seq.saturating_add(1));
    Ok(json(
        StatusCode::OK,
        &EventPage {
            events,
            next,
            total,
        },
    ))
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

/// The operator (`by`) of a command.
fn operator(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    match &shared.operator {
        Operator::Fixed(name) => Ok(name.clone()),
        Operator::Header(header) => {
            let value = headers.get(header).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "missing header {header}: the operator giving the command, normally set by the authenticating proxy in front of this API"
                ))
            })?;
            let name = value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|n| valid_operator(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "header {header}: the operator's name must be 1 to {} visible ASCII characters",
                        crate::config::MAX_OPERATOR_LEN
                    ))
                })?;
            Ok(name.to_owned())
        }
    }
}

async fn command(
    State(shared): State<Ctx>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Token first: nothing about rollouts is revealed, and no body is read,
    // without it.
    authorize_command(&shared, &headers)?;
    let Path((name, segment)) = path.map_err(path_error)?;
    let controller = rollout(&shared, &name)?;
    let command = COMMANDS
        .iter()
        .find(|(n, _)| *n == segment)
        .map(|(_, c)| *c)
        .ok_or_else(|| ApiError::UnknownCommand {
            command: segment.clone(),
        })?;
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let body = parse_body(&bytes, command.is_none())?;
    let command = match (command, body.weight) {
        (Some(c), _) => c,
        (None, Some(percent)) => {
            let weight = Weight::from_percent(percent).map_err(|e| {
                ApiError::field(
                    "weight",
                    format!("{e}; use a percentage with at most two decimals, e.g. 12.5"),
                )
            })?;
            Command::SetWeight { weight }
        }
        (None, None) => return Err(ApiError::field("weight", "missing")),
    };
    let by = operator(&shared, &headers)?;
    let reason = body.reason;
    let (by_log, reason_log) = (by.clone(), reason.clone());
    let result =
        blocking(move || controller.command(command, &by_log, reason_log.as_deref())).await?;
    match result {
        Ok(event) => {
            tracing::info!(rollout = %name, %command, by = %by, reason = ?reason, "fledge-admin: {event}");
            Ok(json(StatusCode::OK, &EventView::from(event)))
        }
        Err(ControlError::Rejected { reason }) => {
            tracing::info!(rollout = %name, %command, by = %by, "fledge-admin: {reason}");
            Err(ApiError::Refused(reason))
        }
        Err(ControlError::Store(e)) => {
            tracing::error!(rollout = %name, %command, by = %by, "fledge-admin: snapshot not saved: {e}");
            Err(ApiError::NotPersisted(e.to_string()))
        }
        Err(e) => {
            tracing::error!(rollout = %name, %command, by = %by, "fledge-admin: {e}");
            Err(ApiError::Internal(e.to_string()))
        }
    }
}

async fn not_found(uri: http::Uri) -> ApiError {
    ApiError::NoRoute {
        path: uri.path().to_owned(),
    }
}
