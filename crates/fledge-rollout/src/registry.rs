//! A version registry: named versions of a model or service handle (`Arc<T>`)
//! and aliases (`stable`, `canary`) that can be repointed atomically.
//!
//! The request path holds an [`Alias`] and calls [`Alias::load`]: one atomic
//! load, no lock, no allocation. Repointing an alias (a promotion, a rollback
//! by pointer) is one atomic swap: requests in flight finish on the version they
//! loaded, the next ones get the new one, and nothing is interrupted.
//!
//! ```
//! use std::sync::Arc;
//! use fledge_rollout::registry::VersionRegistry;
//!
//! let registry: VersionRegistry<String> = VersionRegistry::new();
//! registry.register("v1", Arc::new("moving average".to_owned()))?;
//! registry.register("v2", Arc::new("exponential smoothing".to_owned()))?;
//! let stable = registry.point("stable", "v1")?;
//! let canary = registry.point("canary", "v2")?;
//! assert_eq!(*canary.load(), "exponential smoothing");
//!
//! // Rollback by pointer: the canary alias now serves v1.
//! registry.point("canary", "v1")?;
//! assert_eq!(*canary.load(), "moving average");
//! assert_eq!(canary.version(), "v1");
//! # drop(stable);
//! # Ok::<(), fledge_rollout::registry::RegistryError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use arc_swap::ArcSwap;

use crate::machine::{Event, EventKind};

/// The alias of the version serving by default.
pub const STABLE: &str = "stable";
/// The alias of the version being rolled out.
pub const CANARY: &str = "canary";

/// Why a registry operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A version with this name is already registered.
    #[error("version {0:?} is already registered: register the new build under a new name")]
    Duplicate(String),
    /// No version has this name.
    #[error("no version named {0:?} is registered")]
    UnknownVersion(String),
    /// The version cannot be removed while an alias points to it.
    #[error("version {version:?} is still the target of alias {alias:?}: repoint the alias first")]
    InUse {
        /// The version.
        version: String,
        /// An alias pointing to it.
        alias: String,
    },
}

struct Target<T> {
    version: Arc<str>,
    value: Arc<T>,
}

/// A named pointer to a version, shared with the registry: repointing the
/// alias in the registry is seen by every clone of this handle.
pub struct Alias<T> {
    name: Arc<str>,
    target: Arc<ArcSwap<Target<T>>>,
}

impl<T> Clone for Alias<T> {
    fn clone(&self) -> Self {
        Alias {
            name: self.name.clone(),
            target: self.target.clone(),
        }
    }
}

impl<T> fmt::Debug for Alias<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alias")
            .field("name", &self.name)
            .field("version", &self.version())
            .finish()
    }
}

impl<T> Alias<T> {
    /// The handle the alias points to now (lock-free).
    pub fn load(&self) -> Arc<T> {
        self.target.load().value.clone()
    }

    /// The name of the version the alias points to now.
    pub fn version(&self) -> String {
        self.target.load().version.to_string()
    }

    /// The alias's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

struct Inner<T> {
    versions: BTreeMap<String, Arc<T>>,
    aliases: BTreeMap<String, Alias<T>>,
}

/// Named versions and aliases. Cheap to clone: clones share the registry.
pub struct VersionRegistry<T> {
    inner: Arc<RwLock<Inner<T>>>,
}

impl<T> Clone for VersionRegistry<T> {
    fn clone(&self) -> Self {
        VersionRegistry {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for VersionRegistry<T> {
    fn default() -> Self {
        VersionRegistry {
            inner: Arc::new(RwLock::new(Inner {
                versions: BTreeMap::new(),
                aliases: BTreeMap::new(),
            })),
        }
    }
}

impl<T> fmt::Debug for VersionRegistry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("VersionRegistry")
            .field("versions", &inner.versions.keys().collect::<Vec<_>>())
            .field("aliases", &inner.aliases)
            .finish()
    }
}

impl<T> VersionRegistry<T> {
    /// An empty registry.
    pub fn new() -> Self {
        VersionRegistry::default()
    }

    /// Registers `value` under `version`; names are never reused.
    pub fn register(&self, version: &str, value: Arc<T>) -> Result<(), RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.versions.contains_key(version) {
            return Err(RegistryError::Duplicate(version.to_owned()));
        }
        inner.versions.insert(version.to_owned(), value);
        Ok(())
    }

    /// Removes a version no alias points to, returning its handle.
    pub fn unregister(&self, version: &str) -> Result<Arc<T>, RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((alias, _)) = inner
            .aliases
            .iter()
            .find(|(_, a)| &*a.target.load().version == version)
        {
            return Err(RegistryError::InUse {
                version: version.to_owned(),
                alias: alias.clone(),
            });
        }
        inner
            .versions
            .remove(version)
            .ok_or_else(|| RegistryError::UnknownVersion(version.to_owned()))
    }

    /// The handle of a version, by its name.
    pub fn version(&self, version: &str) -> Option<Arc<T>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.versions.get(version).cloned()
    }

    /// The names of the registered versions, sorted.
    pub fn versions(&self) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.versions.keys().cloned().collect()
    }

    /// Points `alias` at `version` (creating the alias if needed) in one
    /// atomic swap, and returns the alias's handle.
    pub fn point(&self, alias: &str, version: &str) -> Result<Alias<T>, RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let value = inner
            .versions
            .get(version)
            .cloned()
            .ok_or_else(|| RegistryError::UnknownVersion(version.to_owned()))?;
        let target = Arc::new(Target {
            version: Arc::from(version),
            value,
        });
        if let Some(existing) = inner.aliases.get(alias) {
            existing.target.store(target);
            return Ok(existing.clone());
        }
        let handle = Alias {
            name: Arc::from(alias),
            target: Arc::new(ArcSwap::new(target)),
        };
        inner.aliases.insert(alias.to_owned(), handle.clone());
        Ok(handle)
    }

    /// The handle of an alias, if it exists.
    pub fn alias(&self, alias: &str) -> Option<Alias<T>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.aliases.get(alias).cloned()
    }

    /// The handle behind a name: an alias first, else a version.
    pub fn resolve(&self, name: &str) -> Option<Arc<T>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match inner.aliases.get(name) {
            Some(alias) => Some(alias.load()),
            None => inner.versions.get(name).cloned(),
        }
    }

    /// Moves the [`STABLE`] and [`CANARY`] aliases the way a rollout's event
    /// says: started → `stable` at the baseline, `canary` at the candidate;
    /// promoted → both at the candidate; rolled back or aborted → both at
    /// the baseline (a rollback by pointer, also after a promotion whose
    /// baseline is kept warm, as in blue-green). Other events change nothing. Subscribe it to a controller with
    /// [`Controller::subscribe_fn`](crate::control::Controller::subscribe_fn):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fledge_rollout::{Controller, PlanBuilder, VersionRegistry};
    ///
    /// let registry: VersionRegistry<&'static str> = VersionRegistry::new();
    /// registry.register("v1", Arc::new("moving average"))?;
    /// registry.register("v2", Arc::new("exponential smoothing"))?;
    /// registry.point("stable", "v1")?;
    /// let canary = registry.point("canary", "v2")?;
    ///
    /// let controller = Controller::builder(PlanBuilder::canary("demo", "v1", "v2").build()?).build()?;
    /// let r = registry.clone();
    /// controller.subscribe_fn(move |event| {
    ///     let _ = r.follow(event, "v1", "v2");
    /// });
    /// controller.rollback("alice", Some("bad forecasts"))?;
    /// assert_eq!(*canary.load(), "moving average"); // rollback by pointer
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn follow(
        &self,
        event: &Event,
        baseline: &str,
        candidate: &str,
    ) -> Result<(), RegistryError> {
        match event.kind {
            EventKind::Promoted => {
                self.point(STABLE, candidate)?;
                self.point(CANARY, candidate)?;
            }
            EventKind::RolledBack | EventKind::Aborted => {
                self.point(STABLE, baseline)?;
                self.point(CANARY, baseline)?;
            }
            EventKind::Started | EventKind::Restarted => {
                self.point(STABLE, baseline)?;
                self.point(CANARY, candidate)?;
            }
            _ => {}
        }
        Ok(())
    }
}
