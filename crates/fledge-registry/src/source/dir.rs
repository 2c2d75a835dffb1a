//! [`DirSource`]: a model registry kept in a directory tree.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ModelSource, Op, SourceError, version_order};
use crate::ModelVersion;

/// The alias file in a model's directory.
pub const ALIASES_FILE: &str = "aliases.json";
/// The tag file in a version's directory.
pub const TAGS_FILE: &str = "tags.json";
const LOCK_FILE: &str = ".lock";

/// A model registry in a directory, for teams without a registry server
/// and for tests:
///
/// ```text
/// ROOT/
///   forecaster/                 a registered model
///     aliases.json              {"champion": "3", "challenger": "4"}
///     3/                        a version: its artifacts ...
///       model.json
///       tags.json               ... and its tags: {"fledge.verdict": "promoted"}
///     4/
///       model.json
/// ```
///
/// A version is a sub-directory whose name does not start with `.`; its
/// artifacts are the directory itself (the loader gets its path; nothing is
/// copied), `tags.json` beside them. Both JSON files are objects of
/// strings and may be missing (no aliases, no tags). fledge writes them
/// atomically (a temporary file renamed over the old one) under an
/// exclusive lock on `NAME/.lock`, so a tool that takes the same lock (or
/// writes atomically) may change them while fledge runs.
///
/// ```
/// use fledge_registry::{DirSource, ModelSource};
/// let root = tempfile::tempdir()?;
/// let source = DirSource::new(root.path());
/// let dir = source.create_version("forecaster", "1")?;
/// std::fs::write(dir.join("model.json"), r#"{"kind": "mean"}"#)?;
/// source.set_alias("forecaster", "champion", "1")?;
/// assert_eq!(source.alias("forecaster", "champion")?.map(|v| v.version), Some("1".to_owned()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn check_name(op: Op, target: &str, what: &str, name: &str) -> Result<(), SourceError> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.trim() != name;
    if bad {
        return Err(SourceError::Invalid {
            op,
            target: target.to_owned(),
            message: format!(
                "{what} {name:?} cannot be a directory name (empty, leading '.', a path separator or surrounding spaces)"
            ),
        });
    }
    Ok(())
}

fn read_map(op: Op, target: &str, path: &Path) -> Result<BTreeMap<String, String>, SourceError> {
    match fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(BTreeMap::new()),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SourceError::BadFile {
            op,
            target: target.to_owned(),
            path: path.to_owned(),
            message: format!("expected a JSON object of strings: {e}"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(SourceError::Io {
            op,
            target: target.to_owned(),
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `map` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, renamed over `path`.
fn write_map(
    op: Op,
    target: &str,
    path: &Path,
    map: &BTreeMap<String, String>,
) -> Result<(), SourceError> {
    let io_err = |path: &Path, source| SourceError::Io {
        op,
        target: target.to_owned(),
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut body = serde_json::to_vec_pretty(map).unwrap_or_default();
    body.push(b'\n');
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&body).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

impl DirSource {
    /// A source reading `root` (which need not exist yet: reads fail with
    /// [`SourceError::NotFound`] until it does).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSource { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `version` of `model` (whether it exists or not).
    pub fn version_dir(&self, model: &str, version: &str) -> PathBuf {
        self.root.join(model).join(version)
    }

    /// Creates the directory of a new version (and of the model) and
    /// returns it: write the artifacts there, then point an alias at it.
    pub fn create_version(&self, model: &str, version: &str) -> Result<PathBuf, SourceError> {
        let target = format!("{model} version {version}");
        check_name(Op::Create, &target, "model", model)?;
        check_name(Op::Create, &target, "version", version)?;
        let dir = self.version_dir(model, version);
        fs::create_dir_all(&dir).map_err(|source| SourceError::Io {
            op: Op::Create,
            target,
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    fn model_dir(&self, op: Op, model: &str) -> Result<PathBuf, SourceError> {
        check_name(op, model, "model", model)?;
        let dir = self.root.join(model);
        if !dir.is_dir() {
            return Err(SourceError::NotFound {
                op,
                target: model.to_owned(),
                path: dir,
            });
        }
        Ok(dir)
    }

    fn existing_version(&self, op: Op, model: &str, version: &str) -> Result<PathBuf, SourceError> {
        let target = format!("{model} version {version}");
        check_name(op, &target, "version", version)?;
        let dir = self.model_dir(op, model)?.join(version);
        if !dir.is_dir() {
            return Err(SourceError::NotFound {
                op,
                target,
                path: dir,
            });
        }
        Ok(dir)
    }

    /// Runs `f` holding the model's lock file.
    fn locked<T>(
        &self,
        op: Op,
        model: &str,
        f: impl FnOnce(&Path) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let dir = self.model_dir(op, model)?;
        let path = dir.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .and_then(|file| file.lock().map(|()| file))
            .map_err(|source| SourceError::Io {
                op,
                target: model.to_owned(),
                path,
                source,
            })?;
        let result = f(&dir);
        drop(lock); // closing the file releases the lock
        result
    }
}

impl ModelSource for DirSource {
    fn kind(&self) -> &'static str {
        "directory"
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn aliases(&self, model: &str) -> Result<BTreeMap<String, String>, SourceError> {
        let dir = self.model_dir(Op::GetModel, model)?;
        read_map(Op::GetModel, model, &dir.join(ALIASES_FILE))
    }

    fn version(&self, model: &str, version: &str) -> Result<ModelVersion, SourceError> {
        let dir = self.existing_version(Op::GetVersion, model, version)?;
        let target = format!("{model} version {version}");
        let tags = read_map(Op::GetVersion, &target, &dir.join(TAGS_FILE))?;
        let aliases = self.aliases(model)?;
        let mut v = ModelVersion::new(model, version);
        v.source = Some(dir.display().to_string());
        v.tags = tags;
        v.aliases = aliases
            .into_iter()
            .filter(|(_, to)| to == version)
            .map(|(alias, _)| alias)
            .collect();
        Ok(v)
    }

    fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, SourceError> {
        let dir = self.model_dir(Op::SearchVersions, model)?;
        let entries = fs::read_dir(&dir).map_err(|source| SourceError::Io {
            op: Op::SearchVersions,
            target: model.to_owned(),
            path: dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort_by(|a, b| version_order(a, b));
        names.iter().map(|n| self.version(model, n)).collect()
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), SourceError> {
        let target = format!("{model}@{alias}");
        check_name(Op::SetAlias, &target, "alias", alias)?;
        self.existing_version(Op::SetAlias, model, version)?;
        self.locked(Op::SetAlias, model, |dir| {
            let path = dir.join(ALIASES_FILE);
            let mut map = read_map(Op::SetAlias, &target, &path)?;
            map.insert(alias.to_owned(), version.to_owned());
            write_map(Op::SetAlias, &target, &path, &map)
        })
    }

    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), SourceError> {
        let target = format!("{model}@{alias}");
        self.locked(Op::DeleteAlias, model, |dir| {
            let path = dir.join(ALIASES_FILE);
            let mut map = read_map(Op::DeleteAlias, &target, &path)?;
            if map.remove(alias).is_some() {
                write_map(Op::DeleteAlias, &target, &path, &map)?;
            }
            Ok(())
        })
    }

    fn set_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), SourceError> {
        let target = format!("{model} version {version}");
        let vdir = self.existing_version(Op::SetTag, model, version)?;
        self.locked(Op::SetTag, model, |_| {
            let path = vdir.join(TAGS_FILE);
            let mut map = read_map(Op::SetTag, &target, &path)?;
            map.insert(key.to_owned(), value.to_owned());
            write_map(Op::SetTag, &target, &path, &map)
        })
    }

    /// The version's own directory: nothing is copied, `cache` is unused.
    fn download(&self, version: &ModelVersion, _cache: &Path) -> Result<PathBuf, SourceError> {
        self.existing_version(Op::Download, &version.model, &version.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_tags_and_versions() {
        let root = tempfile::tempdir().unwrap();
        let s = DirSource::new(root.path());
        assert!(s.aliases("m").unwrap_err().is_not_found());
        for v in ["10", "2", "1"] {
            s.create_version("m", v).unwrap();
        }
        assert!(s.aliases("m").unwrap().is_empty());
        s.set_alias("m", "champion", "2").unwrap();
        s.set_alias("m", "challenger", "10").unwrap();
        assert!(
            s.set_alias("m", "champion", "7")
                .unwrap_err()
                .is_not_found()
        );
        s.set_tag("m", "10", "fledge.verdict", "rolled_back")
            .unwrap();
        let v = s.version("m", "10").unwrap();
        assert!(v.is_rejected());
        assert_eq!(v.aliases, vec!["challenger".to_owned()]);
        s.delete_alias("m", "challenger").unwrap();
        s.delete_alias("m", "challenger").unwrap();
        let aliases = s.aliases("m").unwrap();
        assert_eq!(aliases.len(), 1);
        let order: Vec<_> = s
            .versions("m")
            .unwrap()
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(order, ["1", "2", "10"]);
        assert!(matches!(
            s.create_version("m", "../x"),
            Err(SourceError::Invalid { .. })
        ));
        // No temporary files are left behind.
        let leftovers = fs::read_dir(root.path().join("m"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        let root = tempfile::tempdir().unwrap();
        let s = DirSource::new(root.path());
        s.create_version("m", "1").unwrap();
        fs::write(root.path().join("m").join(ALIASES_FILE), "[1, 2]").unwrap();
        let e = s.aliases("m").unwrap_err();
        assert!(matches!(e, SourceError::BadFile { .. }), "{e}");
        assert!(e.to_string().contains("aliases.json"));
    }
}
