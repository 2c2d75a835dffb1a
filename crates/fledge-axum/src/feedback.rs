//! [`Feedback`]: a `POST /feedback` route that joins delayed ground truth to
//! the version that served the request and records it into a gate metric.

use std::fmt;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use fledge_gate::MetricId;
use fledge_tower::RoutingSource;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::request_id::RequestId;

type Score = Arc<dyn Fn(&str, f64) -> Option<f64> + Send + Sync>;

/// The body of `POST /feedback`: `{"request_id": "v2~…~41.5", "value": 40.0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackBody {
    /// The id returned with the response ([`RequestId`]).
    pub request_id: String,
    /// The ground truth: the actual value, 1.0 for a click, ...
    pub value: f64,
}

/// Why a feedback was refused (the route answers 4xx with this text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// The metric is not declared in the recorder.
    #[error("metric `{0}` is not declared in the recorder")]
    UnknownMetric(String),
    /// The request id is not one fledge made.
    #[error("`{0}` is not a fledge request id")]
    BadRequestId(String),
    /// The request id names a version this rollout does not have.
    #[error("unknown version `{0}`")]
    UnknownVersion(String),
    /// The value is NaN or infinite, or the score rejected it.
    #[error("value {0} was not scored: not finite, or rejected by the score")]
    Rejected(f64),
}

impl IntoResponse for FeedbackError {
    fn into_response(self) -> Response {
        let status = match self {
            FeedbackError::UnknownMetric(_) => StatusCode::INTERNAL_SERVER_ERROR,
            FeedbackError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

/// Records feedback into custom metric `metric`, under the version encoded in
/// the request id.
///
/// The recorded value is `score(payload, value)`, where `payload` is what the
/// handler put into [`Version::request_id`](crate::Version::request_id). By
/// default it is `value` itself (a click as 1.0 / 0.0); for a forecast's
/// absolute error, put the forecast in the payload and score
/// `|forecast - actual|`.
#[derive(Clone)]
pub struct Feedback {
    routes: Arc<dyn RoutingSource>,
    metric: MetricId,
    score: Score,
    path: String,
}

impl Feedback {
    /// Feedback for metric `metric` (declared in `routes`' recorder).
    pub fn new<R: RoutingSource>(routes: R, metric: &str) -> Result<Self, FeedbackError> {
        let metric_id = routes
            .recorder()
            .metric_id(metric)
            .ok_or_else(|| FeedbackError::UnknownMetric(metric.to_owned()))?;
        Ok(Feedback {
            routes: Arc::new(routes),
            metric: metric_id,
            score: Arc::new(|_, value| Some(value)),
            path: "/feedback".to_owned(),
        })
    }

    /// How to turn `(payload, value)` into the metric's value; `None`
    /// rejects the feedback (422).
    pub fn score<F>(mut self, f: F) -> Self
    where
        F: Fn(&str, f64) -> Option<f64> + Send + Sync + 'static,
    {
        self.score = Arc::new(f);
        self
    }

    /// Mounts the route at `path` instead of `/feedback`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Records one feedback, as the route does.
    pub fn record(&self, request_id: &str, value: f64) -> Result<(), FeedbackError> {
        let (version, payload) = RequestId::parse(request_id)
            .ok_or_else(|| FeedbackError::BadRequestId(request_id.to_owned()))?;
        let index = self
            .routes
            .selector()
            .index_of(version)
            .ok_or_else(|| FeedbackError::UnknownVersion(version.to_owned()))?;
        if !value.is_finite() {
            return Err(FeedbackError::Rejected(value));
        }
        let scored = (self.score)(payload, value)
            .filter(|v| v.is_finite())
            .ok_or(FeedbackError::Rejected(value))?;
        self.routes
            .recorder()
            .record_metric(index.get(), self.metric, scored);
        Ok(())
    }

    /// A router with `POST <path>` (default `/feedback`): 204 when recorded,
    /// 400 for an unknown id or version, 422 for a rejected value. Merge it
    /// into the application's router (outside the canary layer, so feedback
    /// calls are not counted as traffic).
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let path = self.path.clone();
        Router::new().route(&path, post(handle).with_state(self))
    }
}

async fn handle(
    State(feedback): State<Feedback>,
    Json(body): Json<FeedbackBody>,
) -> Result<StatusCode, FeedbackError> {
    feedback.record(&body.request_id, body.value)?;
    Ok(StatusCode::NO_CONTENT)
}

impl fmt::Debug for Feedback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feedback")
            .field("metric", &self.metric)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
