//! The store conformance suite (`fledge_test::store`) against the memory
//! and file stores; `fledge-redis` runs it against a real Redis.

use std::path::PathBuf;
use std::sync::Mutex;

use fledge_rollout::store::{FileStore, MemoryStore};
use fledge_test::store::{Backend, conformance};

/// Clones of one `MemoryStore` share its snapshot; `clear` starts a new one.
struct Memory(Mutex<MemoryStore>);

impl Backend for Memory {
    type Store = MemoryStore;
    fn open(&self) -> MemoryStore {
        self.0.lock().expect("not poisoned").clone()
    }
    fn write_raw(&self, _bytes: &[u8]) -> bool {
        false // it holds parsed snapshots, not bytes
    }
    fn read_raw(&self) -> Option<Vec<u8>> {
        None
    }
    fn clear(&self) {
        *self.0.lock().expect("not poisoned") = MemoryStore::new();
    }
}

#[test]
fn the_memory_store_conforms() {
    conformance(&Memory(Mutex::new(MemoryStore::new())));
}

/// Every `FileStore` on one path shares the file.
struct File(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Backend for File {
    type Store = FileStore;
    fn open(&self) -> FileStore {
        FileStore::new(&self.0)
    }
    fn write_raw(&self, bytes: &[u8]) -> bool {
        std::fs::write(&self.0, bytes).expect("plant a raw value");
        true
    }
    fn read_raw(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.0).ok()
    }
    fn clear(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_file_store_conforms() {
    let dir = tempfile::tempdir().expect("a temp dir");
    conformance(&File(dir.path().join("rollout.json"), dir));
}
