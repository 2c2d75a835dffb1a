//! [`MemoryStore`]: snapshots in memory, the embedded default.

use std::sync::{Arc, Mutex, PoisonError};

use super::{Snapshot, Store, StoreError, next_version};

/// Keeps the latest snapshot in memory. Clones share the same slot, so a test
/// can keep one handle to inspect what the controller saved, or hand it to a
/// second controller to simulate a restart.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    slot: Arc<Mutex<Option<Snapshot>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// The latest snapshot, if any.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.snapshot())
    }

    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let found = slot.as_ref().map(|s| s.version);
        let saved = next_version(snapshot, found, expected, || "memory store".to_owned())?;
        let version = saved.version;
        *slot = Some(saved);
        Ok(version)
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
