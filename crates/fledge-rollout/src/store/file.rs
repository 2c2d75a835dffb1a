//! [`FileStore`]: a JSON snapshot file, replaced atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{Snapshot, Store, StoreError, next_version};

/// Keeps the latest snapshot in one JSON file.
///
/// A save writes the new snapshot to a temporary file in the same directory,
/// fsyncs it, renames it over the old one and fsyncs the directory, so the file
/// is always either the old snapshot or the new one, never half of each.
/// The compare-and-swap version is checked under an exclusive OS lock on a
/// lock file beside the snapshot (`.NAME.lock`, left in place), held from
/// the read to the rename, so two handles or two processes saving the same
/// file cannot both win: the second gets [`StoreError::Conflict`].
///
/// A file that is corrupt or not a fledge snapshot is never overwritten.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    /// A store writing `path` (created on the first save; the directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn origin(&self) -> String {
        self.path.display().to_string()
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            origin: self.origin(),
            source,
        }
    }

    fn read(&self) -> Result<Option<Snapshot>, StoreError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => Snapshot::from_json(&text, &self.origin()).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == ErrorKind::InvalidData => Err(StoreError::Corrupt {
                origin: self.origin(),
                detail: "it is not UTF-8 text".to_owned(),
            }),
            Err(e) => Err(self.io(e)),
        }
    }
}

impl Store for FileStore {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.read()
    }

    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "snapshot".to_owned());
        // Compare-and-swap across handles and processes: an exclusive OS
        // lock on a lock file beside the snapshot spans read, check and
        // rename (the mutex above only orders this handle's own threads).
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!(".{name}.lock")))
            .map_err(|e| self.io(e))?;
        lock_file.lock().map_err(|e| self.io(e))?;
        // Reading first also refuses to overwrite a corrupt or foreign file.
        let found = self.read()?.map(|s| s.version);
        let saved = next_version(snapshot, found, expected, || self.origin())?;
        let json = saved.to_json()?;
        let temp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(json.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        };
        if let Err(e) = write() {
            // Best effort: do not leave the temp file behind.
            let _ = fs::remove_file(&temp);
            return Err(self.io(e));
        }
        // Make the rename durable too. The new snapshot is in place either
        // way, so a failure here (some file systems refuse to sync a
        // directory) does not undo the save.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(saved.version)
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}
