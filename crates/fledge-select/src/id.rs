//! [`VersionId`] (a version's name) and [`VersionIndex`] (its position).

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use crate::{MAX_VERSIONS, SelectError};

/// The longest version id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// The name of a version: `stable`, `canary`, `model-v2`, `ranker_b.3`.
///
/// An id is 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`, and
/// starts with a letter or a digit, so it is safe in metric labels, URLs, file
/// names and logs. Cloning is cheap (a reference count).
///
/// Serde: a string, checked on deserialize.
///
/// ```
/// use fledge_select::VersionId;
///
/// let id = VersionId::new("model-v2")?;
/// assert_eq!(id.as_str(), "model-v2");
/// assert_eq!(id, "model-v2");
/// assert!(VersionId::new("").is_err());
/// assert!(VersionId::new("has space").is_err());
/// # Ok::<(), fledge_select::SelectError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct VersionId(Arc<str>);

impl VersionId {
    /// Checks `id` against the naming rule and makes a `VersionId`.
    pub fn new(id: impl AsRef<str>) -> Result<Self, SelectError> {
        let id = id.as_ref();
        validate(id)?;
        Ok(VersionId(Arc::from(id)))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(id: &str) -> Result<(), SelectError> {
    let invalid = |reason| {
        Err(SelectError::InvalidId {
            id: id.to_owned(),
            reason,
        })
    };
    let Some(first) = id.bytes().next() else {
        return invalid("an id must not be empty");
    };
    if id.len() > MAX_ID_LEN {
        return invalid("an id is at most 64 bytes long");
    }
    if !first.is_ascii_alphanumeric() {
        return invalid("an id starts with an ASCII letter or digit");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return invalid("an id holds only ASCII letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

impl fmt::Debug for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for VersionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for VersionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for VersionId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for VersionId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl FromStr for VersionId {
    type Err = SelectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VersionId::new(s)
    }
}

impl TryFrom<&str> for VersionId {
    type Error = SelectError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        VersionId::new(s)
    }
}

impl TryFrom<String> for VersionId {
    type Error = SelectError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(&s)?;
        Ok(VersionId(Arc::from(s)))
    }
}

impl Serialize for VersionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The position of a version in its [`Split`](crate::Split) and
/// [`Selector`](crate::Selector): `0..64`.
///
/// A selector's version set never changes, so an index it returned stays valid
/// for its whole life, and per-version state (recorders, counters) can live in
/// an array indexed by [`get`](VersionIndex::get).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionIndex(u8);

impl VersionIndex {
    /// The index `index`, or `None` when it is not below
    /// [`MAX_VERSIONS`](crate::MAX_VERSIONS).
    pub const fn new(index: usize) -> Option<Self> {
        if index < MAX_VERSIONS {
            // Below 64: fits in a u8.
            Some(VersionIndex(index as u8))
        } else {
            None
        }
    }

    /// Builds an index known to be below `MAX_VERSIONS`.
    pub(crate) const fn new_unchecked(index: usize) -> Self {
        debug_assert!(index < MAX_VERSIONS);
        VersionIndex(index as u8)
    }

    /// The position as a `usize`, for indexing arrays.
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for VersionIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<VersionIndex> for usize {
    fn from(index: VersionIndex) -> usize {
        index.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["stable", "canary", "v2", "model-v2", "ranker_b.3", "0", "A"] {
            assert_eq!(VersionId::new(ok).expect("valid").as_str(), ok);
        }
        let longest = "a".repeat(MAX_ID_LEN);
        assert!(VersionId::new(&longest).is_ok());
    }

    #[test]
    fn rejects_with_a_reason() {
        for bad in ["", "-lead", ".hidden", "has space", "slash/y", "ünï", "a\n"] {
            match VersionId::new(bad) {
                Err(SelectError::InvalidId { id, .. }) => assert_eq!(id, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(VersionId::new("a".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn serde_is_a_checked_string() {
        let id: VersionId = serde_json::from_str("\"canary\"").expect("valid");
        assert_eq!(id, "canary");
        assert_eq!(
            serde_json::to_string(&id).expect("serializes"),
            "\"canary\""
        );
        assert!(serde_json::from_str::<VersionId>("\"no good\"").is_err());
        assert!(serde_json::from_str::<VersionId>("3").is_err());
    }

    #[test]
    fn borrow_as_str_in_maps() {
        let mut map = std::collections::HashMap::new();
        map.insert(VersionId::new("canary").expect("valid"), 1);
        assert_eq!(map.get("canary"), Some(&1));
    }

    #[test]
    fn index_bounds() {
        assert_eq!(VersionIndex::new(0).map(VersionIndex::get), Some(0));
        assert_eq!(VersionIndex::new(63).map(VersionIndex::get), Some(63));
        assert_eq!(VersionIndex::new(64), None);
    }
}
