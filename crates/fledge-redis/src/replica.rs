//! [`ReplicaId`]: the name a replica goes by in its fleet.

use std::fmt;
use std::str::FromStr;

use crate::error::FleetError;

/// The longest replica name.
const MAX_LEN: usize = 128;

/// The name a replica goes by in its fleet: in the lease, in the summaries'
/// keys, in judgements and status. Unique per running process (two
/// processes with one name would overwrite each other's summaries); a
/// restarted process may take its predecessor's name, as a Kubernetes pod
/// keeps its host name across container restarts.
///
/// 1 to 128 bytes of printable text without whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicaId(String);

impl ReplicaId {
    /// `id`, checked.
    pub fn new(id: impl Into<String>) -> Result<ReplicaId, FleetError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("it is empty")
        } else if id.len() > MAX_LEN {
            Some("it is longer than 128 bytes")
        } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains whitespace or control characters")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(FleetError::ReplicaId { id, reason }),
            None => Ok(ReplicaId(id)),
        }
    }

    /// The first usable name of: the `FLEDGE_REPLICA` environment variable,
    /// `HOSTNAME` (a Kubernetes pod's name), `/etc/hostname`, and
    /// `replica-<process id>`.
    pub fn from_env_or_hostname() -> ReplicaId {
        let env = |name| std::env::var(name).ok().map(|v| v.trim().to_owned());
        let file = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|s| s.trim().to_owned());
        [env("FLEDGE_REPLICA"), env("HOSTNAME"), file]
            .into_iter()
            .flatten()
            .find_map(|id| ReplicaId::new(id).ok())
            .unwrap_or_else(|| ReplicaId(format!("replica-{}", std::process::id())))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ReplicaId {
    type Err = FleetError;
    fn from_str(s: &str) -> Result<ReplicaId, FleetError> {
        ReplicaId::new(s)
    }
}

impl TryFrom<&str> for ReplicaId {
    type Error = FleetError;
    fn try_from(s: &str) -> Result<ReplicaId, FleetError> {
        ReplicaId::new(s)
    }
}

impl AsRef<str> for ReplicaId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(ReplicaId::new("pod-7").unwrap().as_str(), "pod-7");
        for bad in ["", "a b", "a\nb", &"x".repeat(129)] {
            let err = ReplicaId::new(bad).unwrap_err();
            assert!(err.to_string().contains("invalid replica name"), "{err}");
        }
        assert!(!ReplicaId::from_env_or_hostname().as_str().is_empty());
    }
}
