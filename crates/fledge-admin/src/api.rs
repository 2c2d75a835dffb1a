//! The routes and their handlers: authorize, find the rollout, call it (a
//! controller, or a fleet member forwarding commands to its leader) off
//! the async workers, answer JSON, log refusals with fields.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use fledge_gate::clock::Timestamp;
use fledge_rollout::ControlError;
use fledge_rollout::control::Operate;
use fledge_rollout::machine::Event;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde::Deserialize;

use crate::command::{self, MAX_BODY_BYTES};
use crate::dashboard;
use crate::error::ApiError;
use crate::state::{MAX_OPERATOR_LEN, Operator, ReadAccess, Shared, valid_operator};
use crate::view::{EventPage, EventView, RolloutList, json, status_of};

/// The most events one `GET /rollouts/{name}/events` returns.
pub const MAX_EVENTS_PAGE: usize = 1_000;

type Ctx = Arc<Shared>;

/// The admin routes over `shared`, for an application of any state `S`.
pub(crate) fn routes<S>(shared: Ctx) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(dashboard::page))
        .route("/rollouts", get(list))
        .route("/rollouts/{name}", get(status))
        .route("/rollouts/{name}/events", get(events))
        .route("/rollouts/{name}/series", get(series))
        .route("/rollouts/{name}/{command}", post(command))
        // After the routes: it applies to those declared so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(shared)
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

fn authorize_read(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    match shared.reads {
        ReadAccess::Open => Ok(()),
        ReadAccess::Token => authorize(shared, headers),
    }
}

fn rollout(shared: &Shared, name: &str) -> Result<Arc<dyn Operate>, ApiError> {
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
/// tick holds while its store saves (a file, a network store) and while its
/// evaluator judges (a PromQL gate queries Prometheus); a fleet member
/// waits for its leader's answer to a command and reads the fleet's
/// replicas from Redis.
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

/// What every read of one rollout does first: the token, the path, the
/// rollout it names.
fn open_read(
    shared: &Shared,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<(String, Arc<dyn Operate>), ApiError> {
    authorize_read(shared, headers)?;
    let Path(name) = path.map_err(path_error)?;
    let op = rollout(shared, &name)?;
    Ok((name, op))
}

/// A query string the handler could not read, with what it takes.
fn query_error(rejection: QueryRejection, takes: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{}; the query takes {takes}",
        rejection.body_text()
    ))
}

/// Logs a refused read. A dashboard left open without a token polls every
/// second, so refusals are `debug`; failures of the API itself are `error`.
fn log_read(read: &'static str, rollout: Option<&str>, error: &ApiError) {
    let status = error.status().as_u16();
    if error.status().is_server_error() {
        tracing::error!(read, rollout, status, reason = %error, "fledge-admin: read failed");
    } else {
        tracing::debug!(read, rollout, status, reason = %error, "fledge-admin: read refused");
    }
}

async fn list(State(shared): State<Ctx>, headers: HeaderMap) -> Result<Response, ApiError> {
    let answer = async {
        authorize_read(&shared, &headers)?;
        let all = shared.clone();
        let rollouts = blocking(move || {
            all.rollouts
                .iter()
                .map(|(name, r)| status_of(r.as_ref(), all.fleet_view(name, r.as_ref())))
                .collect()
        })
        .await?;
        Ok(json(StatusCode::OK, &RolloutList { rollouts }))
    };
    answer.await.inspect_err(|e| log_read("list", None, e))
}

async fn status(
    State(shared): State<Ctx>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = path.as_ref().ok().map(|Path(name)| name.clone());
    let answer = async {
        let (name, op) = open_read(&shared, &headers, path)?;
        let all = shared.clone();
        let status =
            blocking(move || status_of(op.as_ref(), all.fleet_view(&name, op.as_ref()))).await?;
        Ok(json(StatusCode::OK, &status))
    };
    answer
        .await
        .inspect_err(|e| log_read("status", name.as_deref(), e))
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
    let name = path.as_ref().ok().map(|Path(name)| name.clone());
    let answer = async {
        let (_, controller) = open_read(&shared, &headers, path)?;
        let Query(query) = query.map_err(|e| {
            query_error(
                e,
                &format!("`since` (an event seq, default 0) and `limit` (1 to {MAX_EVENTS_PAGE})"),
            )
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
    };
    answer
        .await
        .inspect_err(|e| log_read("events", name.as_deref(), e))
}

/// `?since=<ms>`: kept as text, so that a bad value is a 400 naming `since`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeriesQuery {
    since: Option<String>,
}

/// `since`: milliseconds since the Unix epoch, 0 when absent.
fn since_of(query: &SeriesQuery) -> Result<Timestamp, ApiError> {
    match query.since.as_deref().map(str::trim) {
        None | Some("") => Ok(Timestamp::EPOCH),
        Some(text) => text.parse::<u64>().map(Timestamp::from_millis).map_err(|_| {
            ApiError::field(
                "since",
                format!(
                    "must be a time in milliseconds since the Unix epoch (a whole number, 0 or more; the last answer's `next`), got {text:?}"
                ),
            )
        }),
    }
}

async fn series(
    State(shared): State<Ctx>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<SeriesQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = path.as_ref().ok().map(|Path(name)| name.clone());
    let answer = async {
        let (_, controller) = open_read(&shared, &headers, path)?;
        let Query(query) = query.map_err(|e| {
            query_error(e, "`since` (milliseconds since the Unix epoch, default 0)")
        })?;
        let since = since_of(&query)?;
        let series = blocking(move || controller.controller().series(since)).await?;
        Ok(json(StatusCode::OK, &series))
    };
    answer
        .await
        .inspect_err(|e| log_read("series", name.as_deref(), e))
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
                        "header {header}: the operator's name must be 1 to {MAX_OPERATOR_LEN} visible ASCII characters"
                    ))
                })?;
            Ok(name.to_owned())
        }
    }
}

/// What is known of a command request so far, for its log line.
#[derive(Debug, Default)]
struct Attempt {
    rollout: Option<String>,
    /// The path segment, then the decoded command (`set-weight 25%`).
    command: Option<String>,
    operator: Option<String>,
    /// The operator's reason.
    reason: Option<String>,
}

impl Attempt {
    /// Logs an applied command: the operator's reason and the event it caused.
    fn applied(&self, event: &Event) {
        tracing::info!(
            operator = self.operator.as_deref(),
            command = self.command.as_deref(),
            rollout = self.rollout.as_deref(),
            reason = self.reason.as_deref(),
            event = %event.kind,
            seq = event.seq,
            "fledge-admin: command applied"
        );
    }

    /// Logs a command not applied (or applied but not saved), `reason` being
    /// why: `warn` without the token, `error` for the API's own failures,
    /// `info` for the others (a bad body, the state machine's refusal).
    fn refused(&self, error: &ApiError) {
        let (operator, command, rollout) = (
            self.operator.as_deref(),
            self.command.as_deref(),
            self.rollout.as_deref(),
        );
        let status = error.status().as_u16();
        let field = error.field_name();
        if error.status().is_server_error() {
            tracing::error!(operator, command, rollout, status, reason = %error, "fledge-admin: command failed");
        } else if error.status() == StatusCode::UNAUTHORIZED {
            tracing::warn!(operator, command, rollout, status, reason = %error, "fledge-admin: command refused");
        } else {
            tracing::info!(operator, command, rollout, status, field, reason = %error, "fledge-admin: command refused");
        }
    }
}

async fn command(
    State(shared): State<Ctx>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut attempt = Attempt::default();
    if let Ok(Path((name, segment))) = &path {
        attempt.rollout = Some(name.clone());
        attempt.command = Some(segment.clone());
    }
    match give(&shared, path, &headers, body, &mut attempt).await {
        Ok(event) => {
            attempt.applied(&event);
            Ok(json(StatusCode::OK, &EventView::from(event)))
        }
        Err(error) => {
            attempt.refused(&error);
            Err(error)
        }
    }
}

/// Checks and gives a command, filling `attempt` as it learns.
async fn give(
    shared: &Shared,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: &HeaderMap,
    body: Body,
    attempt: &mut Attempt,
) -> Result<Event, ApiError> {
    // Token first: nothing about rollouts is revealed, and no body is read,
    // without it.
    authorize(shared, headers)?;
    let Path((name, segment)) = path.map_err(path_error)?;
    let controller = rollout(shared, &name)?;
    let verb = command::verb(&segment)?;
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge {
            limit: MAX_BODY_BYTES,
        })?;
    let request = command::decode(verb, &bytes)?;
    attempt.command = Some(request.command.to_string());
    attempt.reason.clone_from(&request.reason);
    let by = operator(shared, headers)?;
    attempt.operator = Some(by.clone());
    let command = request.command;
    let reason = request.reason;
    // A fleet member forwards the command to the leader and waits for its
    // answer (up to its command timeout): a blocking thread waits, not an
    // async worker.
    let result = blocking(move || controller.command(command, &by, reason.as_deref())).await?;
    result.map_err(|e| match e {
        ControlError::Rejected { reason } => ApiError::Refused(reason),
        ControlError::Store(e) => ApiError::NotPersisted(e.to_string()),
        ControlError::Unavailable { reason } => ApiError::Unavailable(reason),
        ControlError::TimedOut { reason } => ApiError::TimedOut(reason),
        e => ApiError::Internal(e.to_string()),
    })
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NoRoute {
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
