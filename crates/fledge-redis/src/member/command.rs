//! Commands from any replica: forwarded to the leader through a Redis
//! list, applied by the leader, answered on a reply list.
//!
//! 1. The sender checks that someone holds the lease (else
//!    [`FleetError::NoLeader`]: nothing was sent), pushes the command
//!    (JSON, with an id and a deadline) onto `P fleet:N:commands` and
//!    publishes its id on `P fleet:N:wake`.
//! 2. The leader, woken by the announcement (or at its next tick at the
//!    latest), pops every waiting command, drops those past their
//!    deadline, applies the others to its controller in order, and pushes
//!    each answer onto `P fleet:N:reply:<id>` (with a TTL).
//! 3. The sender waits on the reply list (`BLPOP`) until its timeout.
//!
//! A command popped by a leader that dies before applying it is lost: its
//! sender times out ([`FleetError::Timeout`], "may or may not have been
//! applied").

use fledge_rollout::StoreError;
use fledge_rollout::control::{ControlError, Judgement};
use fledge_rollout::machine::{Command, Event};
use serde::{Deserialize, Serialize};

use super::{Shared, unix_ms};
use crate::coverage::Coverage;
use crate::error::FleetError;

/// A command on its way to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Forwarded {
    id: String,
    command: Command,
    by: String,
    reason: Option<String>,
    /// The replica that sent it.
    from: String,
    /// Past this (ms since the epoch, the sender's clock), nobody waits.
    deadline_ms: u64,
}

/// The leader's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Applied { event: Event, leader: String },
    Rejected { reason: String },
    Failed { reason: String, leader: String },
}

/// The leader's last judgement of the fleet, as published to every
/// replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetJudgement {
    /// The leader that judged.
    pub leader: String,
    /// When (ms since the epoch, the leader's clock).
    pub at_ms: u64,
    /// The judgement (its reason names the replicas and requests counted).
    pub judgement: Judgement,
    /// What it covered.
    pub coverage: Option<Coverage>,
}

/// Applies `command` here if this replica leads, else forwards it.
pub(super) async fn command(
    shared: &Shared,
    command: Command,
    by: &str,
    reason: Option<&str>,
) -> Result<Event, FleetError> {
    if shared.holds_lease() {
        return match apply(shared, command, by, reason).await {
            Reply::Applied { event, .. } => Ok(event),
            Reply::Rejected { reason } => Err(FleetError::Rejected { reason }),
            Reply::Failed { reason, leader } => Err(FleetError::Failed {
                leader,
                command: command.to_string(),
                reason,
            }),
        };
    }
    forward(shared, command, by, reason).await
}

/// Applies a command to the leader's controller (on a blocking thread).
async fn apply(shared: &Shared, command: Command, by: &str, reason: Option<&str>) -> Reply {
    let controller = shared.controller.clone();
    let (by_owned, reason_owned) = (by.to_owned(), reason.map(str::to_owned));
    // The controller's lock can be held across a save: read it here too,
    // off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        let result = controller.command(command, &by_owned, reason_owned.as_deref());
        (result, controller.snapshot().version)
    })
    .await
    .map(|(result, version)| {
        shared.status().version = version;
        result
    });
    let leader = shared.replica.to_string();
    let reply = match result {
        Err(e) => Reply::Failed {
            reason: format!("applying it panicked: {e}"),
            leader,
        },
        Ok(Ok(event)) => Reply::Applied { event, leader },
        Ok(Err(ControlError::Rejected { reason })) => Reply::Rejected { reason },
        Ok(Err(ControlError::Store(e @ StoreError::Conflict { .. }))) => {
            super::tasks::step_down(shared, &format!("applying {command}: {e}")).await;
            Reply::Failed {
                reason: format!(
                    "another replica saved the rollout meanwhile, so this one stepped down; nothing was applied ({e})"
                ),
                leader,
            }
        }
        Ok(Err(ControlError::Store(e))) => Reply::Failed {
            reason: format!(
                "it was applied on the leader but could not be saved, so other replicas do not serve it yet (the leader's next successful save carries it): {e}"
            ),
            leader,
        },
        Ok(Err(e)) => Reply::Failed {
            reason: e.to_string(),
            leader,
        },
    };
    shared.status().commands_applied += 1;
    let outcome = match &reply {
        Reply::Applied { .. } => "applied",
        Reply::Rejected { .. } => "rejected",
        Reply::Failed { .. } => "failed",
    };
    tracing::info!(
        rollout = %shared.rollout,
        replica = %shared.replica,
        command = %command,
        by,
        outcome,
        "command"
    );
    reply
}

/// Sends a command to the leader and waits for its answer.
async fn forward(
    shared: &Shared,
    command: Command,
    by: &str,
    reason: Option<&str>,
) -> Result<Event, FleetError> {
    let leader = shared
        .read_leader()
        .await?
        .ok_or_else(|| FleetError::NoLeader {
            rollout: shared.rollout.clone(),
            key: shared.keys.lease.clone(),
            command: command.to_string(),
        })?;
    let timeout = shared.config.command_timeout;
    let id = format!("{}-{}", shared.replica, crate::lease::nonce());
    let request = Forwarded {
        id: id.clone(),
        command,
        by: by.to_owned(),
        reason: reason.map(str::to_owned),
        from: shared.replica.to_string(),
        deadline_ms: unix_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let json = serde_json::to_string(&request)
        .map_err(|e| FleetError::Runtime(format!("cannot encode the command: {e}")))?;
    let reply_key = shared.keys.reply(&id);
    // The wait's connection first, so the answer cannot come before we listen.
    let mut waiting = shared
        .fleet
        .dedicated("opening a connection to wait for the leader's answer")
        .await?;
    let mut conn = shared.conn.clone();
    let what = format!(
        "forwarding {command} to the leader on {}",
        shared.keys.commands
    );
    shared
        .fleet
        .io(&what, shared.fleet.io_limit(), async {
            redis::pipe()
                .cmd("RPUSH")
                .arg(&shared.keys.commands)
                .arg(&json)
                .ignore()
                .cmd("PUBLISH")
                .arg(&shared.keys.wake)
                .arg(&id)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
    shared.status().commands_forwarded += 1;
    tracing::info!(
        rollout = %shared.rollout,
        replica = %shared.replica,
        leader = %leader,
        command = %command,
        by,
        id = %id,
        "command forwarded to the leader"
    );
    let what = format!("waiting for the leader's answer on {reply_key}");
    let answer: Option<(String, String)> = shared
        .fleet
        .io(&what, timeout + shared.fleet.io_limit(), async {
            redis::cmd("BLPOP")
                .arg(&reply_key)
                .arg(timeout.as_secs_f64().max(0.01))
                .query_async(&mut waiting)
                .await
        })
        .await?;
    let Some((_, text)) = answer else {
        return Err(FleetError::Timeout {
            rollout: shared.rollout.clone(),
            leader,
            command: command.to_string(),
            after: timeout,
        });
    };
    match serde_json::from_str::<Reply>(&text) {
        Ok(Reply::Applied { event, .. }) => Ok(event),
        Ok(Reply::Rejected { reason }) => Err(FleetError::Rejected { reason }),
        Ok(Reply::Failed { reason, leader }) => Err(FleetError::Failed {
            leader,
            command: command.to_string(),
            reason,
        }),
        Err(e) => Err(FleetError::Failed {
            leader,
            command: command.to_string(),
            reason: format!("its answer could not be read: {e}"),
        }),
    }
}

/// The leader takes every waiting command, in order, and answers each.
pub(super) async fn drain(shared: &Shared) {
    loop {
        if !shared.holds_lease() {
            return;
        }
        let mut conn = shared.conn.clone();
        let what = format!("taking forwarded commands from {}", shared.keys.commands);
        let popped: Result<Option<Vec<String>>, _> = shared
            .fleet
            .io(&what, shared.fleet.io_limit(), async {
                redis::cmd("LPOP")
                    .arg(&shared.keys.commands)
                    .arg(16)
                    .query_async(&mut conn)
                    .await
            })
            .await;
        let batch = match popped {
            Ok(Some(batch)) if !batch.is_empty() => batch,
            Ok(_) => return,
            Err(e) => {
                shared.note_error("taking forwarded commands", &e);
                return;
            }
        };
        for text in batch {
            let request: Forwarded = match serde_json::from_str(&text) {
                Ok(r) => r,
                Err(e) => {
                    shared.note_error(
                        "reading a forwarded command",
                        &format!("dropped unreadable command {text:?}: {e}"),
                    );
                    continue;
                }
            };
            if unix_ms() > request.deadline_ms {
                tracing::warn!(
                    rollout = %shared.rollout,
                    replica = %shared.replica,
                    command = %request.command,
                    from = %request.from,
                    id = %request.id,
                    "dropped a forwarded command past its deadline (its sender has given up)"
                );
                continue;
            }
            let reply = apply(
                shared,
                request.command,
                &request.by,
                request.reason.as_deref(),
            )
            .await;
            answer(shared, &request.id, &reply).await;
        }
    }
}

async fn answer(shared: &Shared, id: &str, reply: &Reply) {
    let Ok(json) = serde_json::to_string(reply) else {
        return;
    };
    let key = shared.keys.reply(id);
    let ttl = u64::try_from((shared.config.command_timeout * 2).as_millis()).unwrap_or(u64::MAX);
    let mut conn = shared.conn.clone();
    let what = format!("answering a forwarded command on {key}");
    let result = shared
        .fleet
        .io(&what, shared.fleet.io_limit(), async {
            redis::pipe()
                .atomic()
                .cmd("RPUSH")
                .arg(&key)
                .arg(&json)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl.max(1))
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await;
    if let Err(e) = result {
        shared.note_error("answering a forwarded command", &e);
    }
}

/// Publishes the leader's last judgement for every replica to show.
pub(super) async fn publish_judgement(
    shared: &Shared,
    judgement: Judgement,
    coverage: Option<Coverage>,
) {
    let published = FleetJudgement {
        leader: shared.replica.to_string(),
        at_ms: unix_ms(),
        judgement,
        coverage,
    };
    *shared
        .judgement
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(published.clone());
    let Ok(json) = serde_json::to_string(&published) else {
        return;
    };
    let ttl = u64::try_from(shared.config.forget_after.as_millis()).unwrap_or(u64::MAX);
    let mut conn = shared.conn.clone();
    let result = shared
        .fleet
        .io(
            "publishing the fleet's judgement",
            shared.fleet.io_limit(),
            async {
                redis::cmd("SET")
                    .arg(&shared.keys.judgement)
                    .arg(&json)
                    .arg("PX")
                    .arg(ttl.max(1))
                    .query_async::<()>(&mut conn)
                    .await
            },
        )
        .await;
    if let Err(e) = result {
        shared.note_error("publishing the fleet's judgement", &e);
    }
}

/// Reads the leader's last published judgement.
pub(super) async fn read_judgement(shared: &Shared) {
    let mut conn = shared.conn.clone();
    let text: Result<Option<String>, _> = shared
        .fleet
        .io(
            "reading the fleet's judgement",
            shared.fleet.io_limit(),
            async {
                redis::cmd("GET")
                    .arg(&shared.keys.judgement)
                    .query_async(&mut conn)
                    .await
            },
        )
        .await;
    if let Ok(Some(text)) = text
        && let Ok(j) = serde_json::from_str::<FleetJudgement>(&text)
    {
        *shared
            .judgement
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(j);
    }
}
