//! Shared helpers for fledge's cross-crate integration tests.
//!
//! The tests themselves live next to this file, one file per behaviour, each
//! declared as a `[[test]]` in `tests/Cargo.toml`.

use std::path::PathBuf;

/// Path of a file under the repository's `testdata/` folder.
///
/// `testdata/conformance/` is a copy of the public conformance data described in
/// `testdata/conformance/README.md`.
pub fn testdata(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("testdata")
        .join(relative)
}

/// Reads and parses a JSON file under `testdata/`, panicking with the path on
/// failure (test helper: a missing fixture must fail the test loudly).
pub fn testdata_json(relative: &str) -> serde_json::Value {
    let path = testdata(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}
