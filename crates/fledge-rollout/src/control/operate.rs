//! [`Operate`]: what an operator-facing API (the admin API, a CLI, a
//! dashboard) needs from a rollout, whether it is one process's
//! [`Controller`] or a member of a fleet of replicas that forwards commands
//! to its leader.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ControlError, Controller, Judgement};
use crate::machine::{Command, Event, State, Traffic};
use crate::plan::Plan;

/// A rollout as an operator sees it: its state, log and last judgement,
/// and commands.
///
/// Implemented by [`Controller`] (commands are applied here) and by a fleet
/// member (e.g. `fledge_redis::Member`: commands go to the fleet's leader
/// and the answer comes back once applied). Every method may block briefly
/// (a store or a network round trip): call it off async worker threads
/// (`tokio::task::spawn_blocking`).
pub trait Operate: Send + Sync + fmt::Debug {
    /// The controller serving this process's traffic: read-only views
    /// (snapshot, checked plan, selector, clock) come from it. In a fleet it
    /// follows the leader's saves, so it shows the fleet's rollout.
    fn controller(&self) -> &Controller;

    /// The running plan.
    fn plan(&self) -> Plan {
        self.controller().plan()
    }

    /// The current state.
    fn state(&self) -> State {
        self.controller().state()
    }

    /// The event log from the rollout's start.
    fn events(&self) -> Vec<Event> {
        self.controller().events()
    }

    /// What is published now.
    fn traffic(&self) -> Traffic {
        self.controller().traffic()
    }

    /// The last judgement of the gates (in a fleet: the leader's, over the
    /// fleet's traffic).
    fn last_judgement(&self) -> Option<Judgement> {
        self.controller().last_judgement()
    }

    /// Gives an operator command and returns the event it produced once
    /// applied. Errors: [`ControlError::Rejected`] with the state
    /// machine's reason, [`ControlError::Unavailable`] when nobody can
    /// apply it now (HTTP 503), [`ControlError::TimedOut`] when it was
    /// handed over but not answered in time (HTTP 504).
    fn command(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, ControlError>;

    /// The fleet this rollout runs on, for a dashboard (`None`: one
    /// process).
    fn fleet(&self) -> Option<FleetView> {
        None
    }
}

impl Operate for Controller {
    fn controller(&self) -> &Controller {
        self
    }

    fn command(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, ControlError> {
        Controller::command(self, command, by, reason)
    }
}

/// A fleet of replicas as a dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    /// The replica answering.
    pub replica: String,
    /// The replica leading the rollout (`None`: nobody holds the lease now).
    pub leader: Option<String>,
    /// Every replica known to the fleet, by name.
    pub replicas: Vec<ReplicaView>,
}

/// One replica of a [`FleetView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// Its name.
    pub id: String,
    /// Whether it leads.
    pub leader: bool,
    /// How long ago its last window summary was published (by the shared
    /// store's clock), `None` if it has none.
    #[serde(with = "millis_opt")]
    pub summary_age: Option<Duration>,
    /// Requests in its last summary's windows.
    pub requests: u64,
    /// Whether its last summary is recent enough to be judged.
    pub live: bool,
}

mod millis_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
