//! [`SourceError`]: what went wrong talking to a registry, with the model,
//! version or alias concerned and (MLflow) the HTTP status and MLflow's
//! `error_code` and message.

use std::fmt;
use std::path::PathBuf;

/// The registry operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Reading a registered model (its aliases).
    GetModel,
    /// Reading a model version (its tags and source).
    GetVersion,
    /// Listing a model's versions.
    SearchVersions,
    /// Moving an alias.
    SetAlias,
    /// Removing an alias.
    DeleteAlias,
    /// Writing a tag.
    SetTag,
    /// Downloading artifacts.
    Download,
    /// Creating a model, a run or a version, or uploading an artifact
    /// (the helpers tests and examples use).
    Create,
}

impl Op {
    /// `get registered model`, `get model version`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Op::GetModel => "get registered model",
            Op::GetVersion => "get model version",
            Op::SearchVersions => "search model versions",
            Op::SetAlias => "set alias",
            Op::DeleteAlias => "delete alias",
            Op::SetTag => "set model version tag",
            Op::Download => "download artifacts",
            Op::Create => "create",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registry call that failed. Every variant names the operation and its
/// target (`forecaster`, `forecaster version 4`, `forecaster@challenger`);
/// URLs never carry credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The server could not be reached (refused, time-out, DNS, broken
    /// connection). Retried with backoff by the watcher.
    #[error(
        "{op} {target}: cannot reach the registry at {url}: {message} (is the tracking server running, and MLFLOW_TRACKING_URI right?)"
    )]
    Unreachable {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// The URL, without credentials.
        url: String,
        /// The transport's explanation.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{op} {target}: HTTP {status} from {url}{}: {message}{}", code_part(error_code), hint_part(*status))]
    Api {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// The URL, without credentials.
        url: String,
        /// The HTTP status.
        status: u16,
        /// MLflow's `error_code` (`RESOURCE_DOES_NOT_EXIST`,
        /// `INVALID_PARAMETER_VALUE`, ...), when the body had one.
        error_code: Option<String>,
        /// MLflow's `message`, or the start of the body.
        message: String,
    },
    /// The server answered something fledge cannot read.
    #[error("{op} {target}: unexpected answer from {url}: {message}")]
    BadResponse {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// The URL, without credentials.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The model, version or alias does not exist (directory source).
    #[error("{op} {target}: not found ({path})")]
    NotFound {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{op} {target}: {}: {source}", path.display())]
    Io {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A registry file is not what fledge expects (bad JSON, wrong shape).
    #[error("{op} {target}: {} is malformed: {message}", path.display())]
    BadFile {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The version's artifacts live where fledge cannot download from.
    #[error("{op} {target}: cannot download artifact URI {uri:?}: {hint}")]
    UnsupportedUri {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// The URI.
        uri: String,
        /// What to do instead.
        hint: String,
    },
    /// A name, version or alias is not usable (empty, a path separator).
    #[error("{op} {target}: {message}")]
    Invalid {
        /// The operation.
        op: Op,
        /// What it was about.
        target: String,
        /// What was wrong.
        message: String,
    },
}

fn code_part(code: &Option<String>) -> String {
    code.as_ref().map_or(String::new(), |c| format!(" ({c})"))
}

fn hint_part(status: u16) -> &'static str {
    match status {
        401 => {
            " (set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)"
        }
        403 => " (the credentials lack permission on this model)",
        _ => "",
    }
}

impl SourceError {
    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            SourceError::Unreachable { op, .. }
            | SourceError::Api { op, .. }
            | SourceError::BadResponse { op, .. }
            | SourceError::NotFound { op, .. }
            | SourceError::Io { op, .. }
            | SourceError::BadFile { op, .. }
            | SourceError::UnsupportedUri { op, .. }
            | SourceError::Invalid { op, .. } => *op,
        }
    }

    /// Whether the model, version or alias does not exist (MLflow's
    /// `RESOURCE_DOES_NOT_EXIST` or HTTP 404; a missing directory).
    pub fn is_not_found(&self) -> bool {
        match self {
            SourceError::NotFound { .. } => true,
            SourceError::Api {
                status, error_code, ..
            } => *status == 404 || error_code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST"),
            _ => false,
        }
    }

    /// Whether trying again later may succeed: the server was unreachable,
    /// overloaded (429) or failing (5xx), or a file could not be read.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Unreachable { .. } | SourceError::Io { .. } => true,
            SourceError::Api { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status, for errors the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SourceError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// MLflow's `error_code`, when it sent one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            SourceError::Api { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }
}

/// A source that cannot be built: a bad tracking URI or header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The tracking URI is not an `http://` or `https://` URL.
    #[error(
        "tracking URI {uri:?} is not an http:// or https:// URL: {reason} (fledge talks to an MLflow tracking server's REST API; for a local directory use DirSource)"
    )]
    BadUri {
        /// The URI (credentials removed).
        uri: String,
        /// Why.
        reason: &'static str,
    },
    /// `https://` without the `rustls` feature.
    #[error("tracking URI {uri:?} needs TLS: enable the `rustls` feature of fledge-registry")]
    NoTls {
        /// The URI (credentials removed).
        uri: String,
    },
    /// No tracking URI in the environment.
    #[error(
        "MLFLOW_TRACKING_URI is not set: set it to the tracking server's URL (http://host:5000)"
    )]
    NoUri,
    /// A token or password holds characters an HTTP header cannot.
    #[error("the {what} cannot be sent in an HTTP header (control characters)")]
    BadCredential {
        /// `token` or `password`.
        what: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_target_and_the_code() {
        let e = SourceError::Api {
            op: Op::GetVersion,
            target: "forecaster version 9".into(),
            url: "http://127.0.0.1:5000/api/2.0/mlflow/model-versions/get".into(),
            status: 404,
            error_code: Some("RESOURCE_DOES_NOT_EXIST".into()),
            message: "Model Version (name=forecaster, version=9) not found".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("get model version forecaster version 9"),
            "{text}"
        );
        assert!(text.contains("HTTP 404") && text.contains("(RESOURCE_DOES_NOT_EXIST)"));
        assert!(e.is_not_found() && !e.is_transient());
        assert_eq!(e.status(), Some(404));
        let e = SourceError::Unreachable {
            op: Op::GetModel,
            target: "forecaster".into(),
            url: "http://127.0.0.1:9".into(),
            message: "connection refused".into(),
        };
        assert!(e.is_transient() && !e.is_not_found());
        assert!(e.to_string().contains("MLFLOW_TRACKING_URI"));
    }
}
