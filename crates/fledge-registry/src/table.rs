//! [`ModelTable`]: the loaded models, read lock-free on the request path.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use fledge_select::VersionId;

use crate::ModelVersion;

/// A loaded model version: its fledge id, the registry's description and
/// the model itself. Handed to handlers as a [`Served`].
pub struct Loaded<M> {
    id: VersionId,
    version: ModelVersion,
    model: Arc<M>,
}

impl<M> Loaded<M> {
    pub(crate) fn new(id: VersionId, version: ModelVersion, model: Arc<M>) -> Self {
        Loaded { id, version, model }
    }

    /// The fledge id (`v4`): what routing, the `x-fledge-version` header
    /// and the `Chosen` extension name.
    pub fn id(&self) -> &VersionId {
        &self.id
    }

    /// The registry's version (`"4"`).
    pub fn version(&self) -> &ModelVersion {
        &self.version
    }

    /// The model.
    pub fn model(&self) -> &Arc<M> {
        &self.model
    }
}

impl<M> fmt::Debug for Loaded<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("id", &self.id.as_str())
            .field("version", &self.version.version)
            .finish_non_exhaustive()
    }
}

/// The model a request was routed to, inserted as a request extension by
/// the [`ModelLayer`](crate::ModelLayer) (read it with
/// `req.extensions().get::<Served<M>>()` or axum's `Extension<Served<M>>`).
///
/// Holding it keeps the model alive: a version that is unloaded while a
/// request still runs is dropped when the request's `Served` is.
pub struct Served<M>(Arc<Loaded<M>>);

impl<M> Clone for Served<M> {
    fn clone(&self) -> Self {
        Served(self.0.clone())
    }
}

impl<M> fmt::Debug for Served<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Served").field(&self.0).finish()
    }
}

impl<M> std::ops::Deref for Served<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.0.model
    }
}

impl<M> Served<M> {
    /// The fledge id of the version (`v4`).
    pub fn id(&self) -> &str {
        self.0.id.as_str()
    }

    /// The registry's version.
    pub fn version(&self) -> &ModelVersion {
        &self.0.version
    }

    /// The model.
    pub fn model(&self) -> &Arc<M> {
        &self.0.model
    }

    /// The loaded entry.
    pub fn loaded(&self) -> &Arc<Loaded<M>> {
        &self.0
    }
}

struct Entries<M> {
    /// The loaded versions (at most a handful: champion, challenger, the
    /// previous champion during the grace period).
    list: Vec<Arc<Loaded<M>>>,
    /// The champion's position in `list`.
    champion: usize,
}

/// The models loaded in this process, by fledge version id: the champion,
/// the challenger being canaried and (for a grace period after a promotion)
/// the previous champion.
///
/// The watcher publishes a new table with one atomic swap (`arc-swap`);
/// the request path reads it without a lock and without allocating
/// ([`get`](Self::get): a pointer load, a scan of a few entries, one
/// reference-count increment). Cheap to clone: clones share the table.
pub struct ModelTable<M> {
    inner: Arc<ArcSwap<Entries<M>>>,
}

impl<M> Clone for ModelTable<M> {
    fn clone(&self) -> Self {
        ModelTable {
            inner: self.inner.clone(),
        }
    }
}

impl<M> fmt::Debug for ModelTable<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.inner.load();
        f.debug_struct("ModelTable")
            .field(
                "versions",
                &entries
                    .list
                    .iter()
                    .map(|l| l.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("champion", &entries.list[entries.champion].id.as_str())
            .finish()
    }
}

impl<M> ModelTable<M> {
    pub(crate) fn new(champion: Arc<Loaded<M>>) -> Self {
        ModelTable {
            inner: Arc::new(ArcSwap::from_pointee(Entries {
                list: vec![champion],
                champion: 0,
            })),
        }
    }

    /// The model routed as `id` (`version.id()` of `fledge_axum::Version`,
    /// `Chosen::id()` of fledge-tower), if it is loaded.
    pub fn get(&self, id: &str) -> Option<Served<M>> {
        let entries = self.inner.load();
        entries
            .list
            .iter()
            .find(|l| l.id.as_str() == id)
            .map(|l| Served(l.clone()))
    }

    /// The model routed as `id`, or the champion when `id` is not loaded
    /// (any more): a request routed to a version an instant before it was
    /// rolled back and unloaded is served by the champion.
    pub fn get_or_champion(&self, id: &str) -> Served<M> {
        let entries = self.inner.load();
        let loaded = entries
            .list
            .iter()
            .find(|l| l.id.as_str() == id)
            .unwrap_or(&entries.list[entries.champion]);
        Served(loaded.clone())
    }

    /// The champion.
    pub fn champion(&self) -> Served<M> {
        let entries = self.inner.load();
        Served(entries.list[entries.champion].clone())
    }

    /// The ids of the loaded versions, the champion first.
    pub fn ids(&self) -> Vec<VersionId> {
        let entries = self.inner.load();
        let mut ids = vec![entries.list[entries.champion].id.clone()];
        ids.extend(
            entries
                .list
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != entries.champion)
                .map(|(_, l)| l.id.clone()),
        );
        ids
    }

    // ------------------------------------------------------------ control path

    /// Adds (or replaces) `loaded`, not as champion.
    pub(crate) fn insert(&self, loaded: Arc<Loaded<M>>) {
        self.inner.rcu(|e| {
            let champion_id = e.list[e.champion].id.clone();
            let mut list: Vec<_> = e
                .list
                .iter()
                .filter(|l| l.id != loaded.id || l.id == champion_id)
                .cloned()
                .collect();
            if loaded.id != champion_id {
                list.push(loaded.clone());
            }
            let champion = list.iter().position(|l| l.id == champion_id).unwrap_or(0);
            Entries { list, champion }
        });
    }

    /// Makes the loaded version `id` the champion; false if it is not loaded.
    pub(crate) fn set_champion(&self, id: &VersionId) -> bool {
        let mut found = false;
        self.inner.rcu(|e| {
            let pos = e.list.iter().position(|l| &l.id == id);
            found = pos.is_some();
            Entries {
                list: e.list.clone(),
                champion: pos.unwrap_or(e.champion),
            }
        });
        found
    }

    /// Unloads `id` (never the champion); returns it.
    pub(crate) fn remove(&self, id: &VersionId) -> Option<Arc<Loaded<M>>> {
        let mut removed = None;
        self.inner.rcu(|e| {
            let champion_id = e.list[e.champion].id.clone();
            removed = e
                .list
                .iter()
                .find(|l| &l.id == id && l.id != champion_id)
                .cloned();
            let list: Vec<_> = e
                .list
                .iter()
                .filter(|l| &l.id != id || l.id == champion_id)
                .cloned()
                .collect();
            let champion = list.iter().position(|l| l.id == champion_id).unwrap_or(0);
            Entries { list, champion }
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(id: &str, model: u32) -> Arc<Loaded<u32>> {
        Arc::new(Loaded::new(
            VersionId::new(id).unwrap(),
            ModelVersion::new("m", id.trim_start_matches('v')),
            Arc::new(model),
        ))
    }

    #[test]
    fn champion_challenger_and_fallback() {
        let table = ModelTable::new(loaded("v1", 1));
        assert_eq!(*table.champion(), 1);
        table.insert(loaded("v2", 2));
        assert_eq!(table.get("v2").map(|s| **s.model()), Some(2));
        assert_eq!(table.ids().len(), 2);
        let held = table.get("v2").unwrap();
        assert!(table.set_champion(&VersionId::new("v2").unwrap()));
        assert_eq!(table.champion().id(), "v2");
        assert!(
            table.remove(&VersionId::new("v2").unwrap()).is_none(),
            "never the champion"
        );
        assert!(table.remove(&VersionId::new("v1").unwrap()).is_some());
        assert!(table.get("v1").is_none());
        assert_eq!(table.get_or_champion("v1").id(), "v2");
        // A removed model lives as long as a request holds it.
        let weak = Arc::downgrade(held.loaded());
        drop(table);
        assert!(weak.upgrade().is_some());
        drop(held);
        assert!(weak.upgrade().is_none());
    }
}
