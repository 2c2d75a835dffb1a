//! The API's errors: each one a status and an [`ErrorBody`] saying what is
//! wrong and, for a bad field, which one.

use axum::response::{IntoResponse, Response};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

use crate::view::{ErrorBody, json};

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error(
        "missing or wrong admin token: send `Authorization: Bearer <token>` with the token the API was built with"
    )]
    Unauthorized,
    #[error("no rollout named {name:?}; this API serves {known:?}")]
    UnknownRollout { name: String, known: Vec<String> },
    #[error("no command {command:?}; use one of {known}")]
    UnknownCommand {
        command: String,
        /// The commands there are, comma-separated.
        known: String,
    },
    #[error("no route {path}; see GET /rollouts, or the dashboard at /")]
    NoRoute { path: String },
    #[error("{method} is not allowed on {path}; reads are GET, commands are POST")]
    MethodNotAllowed { method: String, path: String },
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The state machine refused the command; the refusal is in the event log.
    #[error("{0}")]
    Refused(String),
    #[error(
        "the command was applied and published, but its snapshot could not be saved: {0}; the store is behind until the next successful save"
    )]
    NotPersisted(String),
    /// Nobody could apply the command now (a fleet without a leader, Redis
    /// unreachable, the leader could not save it): not applied, retry.
    #[error("{0}")]
    Unavailable(String),
    /// The command was handed to the fleet's leader, but no answer came in
    /// time: it may or may not have been applied.
    #[error("{0}")]
    TimedOut(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of the answer.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::UnknownRollout { .. }
            | ApiError::UnknownCommand { .. }
            | ApiError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Field { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Refused(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::NotPersisted(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bad request whose culprit is the body field or query parameter `field`.
    pub(crate) fn field(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Field {
            field,
            message: message.into(),
        }
    }

    /// The field at fault, if one is.
    pub(crate) fn field_name(&self) -> Option<&'static str> {
        match self {
            ApiError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.to_string(),
            field: self.field_name().map(str::to_owned),
        };
        let mut response = json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fledge-admin\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A fleet elects a leader within a tick, or within the lease's
            // TTL after one died.
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
