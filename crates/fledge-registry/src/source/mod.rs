//! Where models come from: the [`ModelSource`] trait, its errors, and two
//! sources, [`MlflowSource`] (an MLflow tracking server's REST API) and
//! [`DirSource`] (a directory tree).
//!
//! # Blocking, on the control path
//!
//! A source is **synchronous**: every method blocks the calling thread
//! until the registry answered (or its time-out). The
//! [`Watcher`](crate::Watcher) never calls it on an async worker: each call
//! runs on tokio's blocking pool ([`tokio::task::spawn_blocking`]). Nothing
//! on the request path ever calls a source: serving reads the in-process
//! [`ModelTable`](crate::ModelTable) only, so a registry that is down
//! leaves serving untouched.

mod dir;
mod error;
mod mlflow;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use dir::{ALIASES_FILE, DirSource, TAGS_FILE};
pub use error::{ConfigError, Op, SourceError};
pub use mlflow::{MlflowSource, Run};

use crate::ModelVersion;

/// A model registry: registered models with versions, aliases pointing at
/// versions, tags on versions, and artifacts to download.
///
/// Implementations must be cheap to share (`Send + Sync`); all methods
/// block (see the [module docs](self)).
pub trait ModelSource: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and errors: `"mlflow"`, `"directory"`.
    fn kind(&self) -> &'static str;

    /// Where it is, for logs and errors, without secrets: the tracking URL
    /// or the directory.
    fn location(&self) -> String;

    /// The aliases of `model`: alias → version. A model without aliases
    /// has an empty map; a model that does not exist is an error
    /// ([`SourceError::is_not_found`]).
    fn aliases(&self, model: &str) -> Result<BTreeMap<String, String>, SourceError>;

    /// One version of `model`, with its tags.
    fn version(&self, model: &str, version: &str) -> Result<ModelVersion, SourceError>;

    /// The version `alias` points at, if any.
    fn alias(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>, SourceError> {
        match self.aliases(model)?.get(alias) {
            Some(v) => self.version(model, v).map(Some),
            None => Ok(None),
        }
    }

    /// Every version of `model`, oldest first.
    fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, SourceError>;

    /// Points `alias` at `version` (creating or moving it).
    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), SourceError>;

    /// Removes `alias`; removing an alias that does not exist succeeds.
    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), SourceError>;

    /// Sets tag `key` of `version` to `value`.
    fn set_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), SourceError>;

    /// Makes `version`'s artifacts available on the local disk, under
    /// `cache` when they must be copied, and returns their directory (or
    /// file, when the version's source is a single file).
    fn download(&self, version: &ModelVersion, cache: &Path) -> Result<PathBuf, SourceError>;
}

impl<S: ModelSource + ?Sized> ModelSource for Arc<S> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn location(&self) -> String {
        (**self).location()
    }
    fn aliases(&self, model: &str) -> Result<BTreeMap<String, String>, SourceError> {
        (**self).aliases(model)
    }
    fn version(&self, model: &str, version: &str) -> Result<ModelVersion, SourceError> {
        (**self).version(model, version)
    }
    fn alias(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>, SourceError> {
        (**self).alias(model, alias)
    }
    fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, SourceError> {
        (**self).versions(model)
    }
    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), SourceError> {
        (**self).set_alias(model, alias, version)
    }
    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), SourceError> {
        (**self).delete_alias(model, alias)
    }
    fn set_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), SourceError> {
        (**self).set_tag(model, version, key, value)
    }
    fn download(&self, version: &ModelVersion, cache: &Path) -> Result<PathBuf, SourceError> {
        (**self).download(version, cache)
    }
}

/// Sorts versions oldest first: numerically when both are numbers, else by
/// name.
pub(crate) fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}
