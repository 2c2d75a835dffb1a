//! Persistence: a [`Store`] keeps the latest [`Snapshot`] of a rollout.
//!
//! The controller saves a snapshot after every decision and loads one when it
//! starts, so a restarted process resumes the same step with the same salt and
//! every user keeps their version. Two stores come with the crate:
//! [`MemoryStore`] (the embedded default) and [`FileStore`] (a JSON file
//! replaced atomically: temp file, fsync, rename).
//!
//! Every save names the version it expects to replace (compare-and-swap), so
//! two controllers writing the same store cannot silently overwrite each
//! other: the second gets [`StoreError::Conflict`].
//!
//! A snapshot that cannot be read — corrupt JSON, another program's file, a
//! format version from the future — is reported with a [`StoreError`] naming
//! the file and the problem, is never overwritten, and the controller refuses
//! to start from it.

mod file;
mod memory;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;

use crate::machine::{Event, State};
use crate::plan::Plan;

pub use file::FileStore;
pub use memory::MemoryStore;

/// The `format` field of every snapshot.
pub const SNAPSHOT_FORMAT: &str = "fledge-rollout-snapshot";
/// The snapshot format version this crate writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

/// Everything needed to resume a rollout: the plan, the state (step, weights,
/// salt, counters) and the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`]: tells a fledge snapshot from another file.
    pub format: String,
    /// [`SNAPSHOT_FORMAT_VERSION`] when written by this crate.
    pub format_version: u32,
    /// The store's version of this snapshot (1 for the first save), used
    /// for compare-and-swap. Set by the store on save.
    pub version: u64,
    /// When it was taken.
    pub saved_at: Timestamp,
    /// The plan in effect.
    pub plan: Plan,
    /// The rollout's state.
    pub state: State,
    /// The event log from the rollout's start.
    pub events: Vec<Event>,
}

impl Snapshot {
    /// A snapshot of `state` under `plan` (version 0 until a store saves it).
    pub fn new(plan: Plan, state: State, events: Vec<Event>, saved_at: Timestamp) -> Self {
        Snapshot {
            format: SNAPSHOT_FORMAT.to_owned(),
            format_version: SNAPSHOT_FORMAT_VERSION,
            version: 0,
            saved_at,
            plan,
            state,
            events,
        }
    }

    /// Reads a snapshot from JSON; `origin` names where it came from in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Snapshot, StoreError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
                origin: origin.to_owned(),
                detail: e.to_string(),
            })?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(SNAPSHOT_FORMAT) => {}
            found => {
                return Err(StoreError::Foreign {
                    origin: origin.to_owned(),
                    detail: match found {
                        Some(f) => format!("its format is {f:?}, not {SNAPSHOT_FORMAT:?}"),
                        None => "it has no \"format\" field".to_owned(),
                    },
                });
            }
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SNAPSHOT_FORMAT_VERSION) => {}
            found => {
                return Err(StoreError::Foreign {
                    origin: origin.to_owned(),
                    detail: format!(
                        "format version {} is not supported (this build reads {SNAPSHOT_FORMAT_VERSION})",
                        found.map_or("missing".to_owned(), |v| v.to_string())
                    ),
                });
            }
        }
        let snapshot: Snapshot =
            serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
                origin: origin.to_owned(),
                detail: e.to_string(),
            })?;
        snapshot.plan.check().map_err(|e| StoreError::Corrupt {
            origin: origin.to_owned(),
            detail: format!("its plan is invalid: {e}"),
        })?;
        Ok(snapshot)
    }

    /// Writes the snapshot as pretty JSON.
    pub fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string_pretty(self).map_err(|e| StoreError::Serialize {
            detail: e.to_string(),
        })
    }
}

/// Why a snapshot could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("snapshot store {origin}: {source}")]
    Io {
        /// The file or store.
        origin: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot exists but cannot be read. It was left untouched.
    #[error(
        "snapshot {origin} is corrupt ({detail}); it was left untouched: repair or delete it to start over"
    )]
    Corrupt {
        /// The file or store.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The file is not a fledge rollout snapshot (or of an unsupported
    /// format version). It was left untouched.
    #[error(
        "{origin} is not a fledge rollout snapshot this build can read: {detail}; it was left untouched"
    )]
    Foreign {
        /// The file or store.
        origin: String,
        /// What was found.
        detail: String,
    },
    /// Compare-and-swap failed: someone else saved since we loaded.
    #[error(
        "snapshot {origin} changed underneath: expected version {expected:?}, found {found:?}; another controller may be running the same rollout"
    )]
    Conflict {
        /// The file or store.
        origin: String,
        /// The version we expected to replace (`None`: nothing).
        expected: Option<u64>,
        /// The version stored.
        found: Option<u64>,
    },
    /// The snapshot could not be written as JSON.
    #[error("cannot serialize snapshot: {detail}")]
    Serialize {
        /// The serializer's message.
        detail: String,
    },
}

/// The compare-and-swap step of [`Store::save`]: `snapshot` with the next
/// version if the stored version `found` is the `expected` one, else
/// [`StoreError::Conflict`] naming `origin`.
fn next_version(
    snapshot: &Snapshot,
    found: Option<u64>,
    expected: Option<u64>,
    origin: impl FnOnce() -> String,
) -> Result<Snapshot, StoreError> {
    if found != expected {
        return Err(StoreError::Conflict {
            origin: origin(),
            expected,
            found,
        });
    }
    let mut saved = snapshot.clone();
    saved.version = found.map_or(1, |v| v.saturating_add(1));
    Ok(saved)
}

/// Where snapshots live. Implementations must be safe to share between threads.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The latest snapshot, or `None` if nothing was saved yet.
    fn load(&self) -> Result<Option<Snapshot>, StoreError>;

    /// Saves `snapshot` if the stored version is still `expected` (`None`:
    /// nothing stored yet); returns the new version. A mismatch is
    /// [`StoreError::Conflict`] and changes nothing.
    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError>;

    /// A short name for the kind of store (`"memory"`, `"file"`), the
    /// `store` field of the controller's `rollout.store_failed` log events
    /// (see [`crate::log`]). Defaults to the type's name.
    fn kind(&self) -> &'static str {
        let name = std::any::type_name::<Self>();
        let name = name.split('<').next().unwrap_or(name);
        name.rsplit("::").next().unwrap_or(name)
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        (**self).load()
    }
    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
        (**self).save(snapshot, expected)
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        (**self).load()
    }
    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
        (**self).save(snapshot, expected)
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}
