//! The Redis keys and channels of one rollout of a fleet.

use crate::fleet::Fleet;

/// Every key and channel a fleet member uses, for rollout `N` and prefix `P`.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `P rollout:N`: the snapshot (string, JSON; read and written by
    /// [`RedisStore`](crate::RedisStore), named here for the layout).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) snapshot: String,
    /// `P rollout:N:saved`: channel announcing each save (`version micros`).
    pub(crate) saved: String,
    /// `P lease:N`: the leader's token (string with a TTL).
    pub(crate) lease: String,
    /// `P fleet:N:replicas`: sorted set, replica → server time (ms) of its
    /// last summary.
    pub(crate) replicas: String,
    /// `P fleet:N:summary:` + replica: its last window summary (binary,
    /// with a TTL).
    summary_prefix: String,
    /// `P fleet:N:commands`: list of forwarded commands (JSON), consumed by
    /// the leader.
    pub(crate) commands: String,
    /// `P fleet:N:wake`: channel waking the leader for a forwarded command.
    pub(crate) wake: String,
    /// `P fleet:N:reply:` + id: list holding one command's answer (JSON,
    /// with a TTL).
    reply_prefix: String,
    /// `P fleet:N:judgement`: the leader's last judgement of the fleet
    /// (JSON, with a TTL).
    pub(crate) judgement: String,
}

impl Keys {
    pub(crate) fn new(fleet: &Fleet, rollout: &str) -> Keys {
        let snapshot = fleet.key("rollout", rollout);
        let base = fleet.key("fleet", rollout);
        Keys {
            saved: format!("{snapshot}:saved"),
            snapshot,
            lease: fleet.key("lease", rollout),
            replicas: format!("{base}:replicas"),
            summary_prefix: format!("{base}:summary:"),
            commands: format!("{base}:commands"),
            wake: format!("{base}:wake"),
            reply_prefix: format!("{base}:reply:"),
            judgement: format!("{base}:judgement"),
        }
    }

    pub(crate) fn summary(&self, replica: &str) -> String {
        format!("{}{replica}", self.summary_prefix)
    }

    pub(crate) fn reply(&self, id: &str) -> String {
        format!("{}{id}", self.reply_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout() {
        let fleet = Fleet::open("redis://127.0.0.1:1/")
            .unwrap()
            .key_prefix("p:");
        let k = Keys::new(&fleet, "predict");
        assert_eq!(k.snapshot, "p:rollout:predict");
        assert_eq!(k.saved, "p:rollout:predict:saved");
        assert_eq!(k.lease, "p:lease:predict");
        assert_eq!(k.replicas, "p:fleet:predict:replicas");
        assert_eq!(k.summary("a"), "p:fleet:predict:summary:a");
        assert_eq!(k.commands, "p:fleet:predict:commands");
        assert_eq!(k.wake, "p:fleet:predict:wake");
        assert_eq!(k.reply("x1"), "p:fleet:predict:reply:x1");
        assert_eq!(k.judgement, "p:fleet:predict:judgement");
    }
}
