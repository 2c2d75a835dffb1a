//! A member's background tasks: following the leader's saves, publishing
//! window summaries, and leading (lease, judging the fleet, ticking,
//! commands).

use std::sync::{Arc, LazyLock, PoisonError};
use std::time::{Duration, Instant};

use fledge_rollout::StoreError;
use fledge_rollout::control::ControlError;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::command;
use super::{Applied, Role, Shared, holder_of, push_capped, since_ms, unix_ms};
use crate::coverage::{Policy, controller_summary, merge};
use crate::follower::resync_error;
use crate::lease::RELEASE;

/// Takes the lease if it is free (`ARGV[3]` = `1`) or extends it if we
/// hold it; answers the holder's token after (`""`: nobody).
const LEASE_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return cur
end
if cur then
  return cur
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return ''
"#;

static LEASE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LEASE_SCRIPT));

/// How many applied saves a status keeps.
const APPLIED_KEPT: usize = 256;

fn interval(every: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(every);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

// ---------------------------------------------------------------- following

/// Keeps the controller in step with the leader's saves: woken by each
/// save's announcement, and polling every `poll_every` in case one was
/// missed or the subscription is down.
pub(super) async fn follow(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut poll = interval(shared.config.poll_every);
    let subscribing = "subscribing to the leader's announcements";
    loop {
        if *stop.borrow() {
            return;
        }
        let subscribed = async {
            let mut pubsub = shared.fleet.pubsub(subscribing).await?;
            let channels = [shared.keys.saved.as_str(), shared.keys.wake.as_str()];
            shared
                .fleet
                .io(
                    subscribing,
                    shared.fleet.io_limit(),
                    pubsub.subscribe(&channels[..]),
                )
                .await?;
            Ok::<_, crate::RedisError>(pubsub)
        }
        .await;
        match subscribed {
            Err(e) => {
                shared.note_error(subscribing, &e);
                // Poll until the next attempt.
                let retry =
                    tokio::time::sleep(shared.config.poll_every.max(Duration::from_millis(500)));
                tokio::pin!(retry);
                loop {
                    tokio::select! {
                        _ = poll.tick() => poll_once(&shared).await,
                        _ = &mut retry => break,
                        _ = stop.changed() => return,
                    }
                }
            }
            Ok(mut pubsub) => {
                shared.note_ok(subscribing);
                // Subscribed first, then read: no save slips between.
                resync(&shared, None).await;
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(m) => on_message(&shared, &m).await,
                            None => {
                                shared.note_error(
                                    "listening to the leader's announcements",
                                    &"the subscription's connection closed; following by polling until it is back",
                                );
                                break;
                            }
                        },
                        _ = poll.tick() => poll_once(&shared).await,
                        _ = stop.changed() => return,
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

async fn on_message(shared: &Shared, message: &redis::Msg) {
    let channel = message.get_channel_name();
    if channel == shared.keys.wake {
        shared.wake.notify_one();
        return;
    }
    if channel != shared.keys.saved {
        return;
    }
    // `version micros` (older writers: `version`).
    let payload: String = message.get_payload().unwrap_or_default();
    let mut parts = payload.split(' ');
    let version = parts.next().and_then(|v| v.parse::<u64>().ok());
    let micros = parts.next().and_then(|v| v.parse::<u64>().ok());
    resync(shared, version.zip(micros)).await;
}

async fn poll_once(shared: &Shared) {
    resync(shared, None).await;
    if shared.status().role != Role::Leader {
        command::read_judgement(shared).await;
    }
}

/// Takes the stored snapshot if it is newer; `announced` is the save's
/// `(version, micros)` when an announcement woke us, to measure how long
/// it took to reach this replica.
pub(super) async fn resync(shared: &Shared, announced: Option<(u64, u64)>) {
    let _one = shared.resyncing.lock().await;
    let controller = shared.controller.clone();
    let restore = shared.fleet.store(&shared.rollout);
    let leading = shared.status().role == Role::Leader;
    let result = tokio::task::spawn_blocking(move || {
        // A follower never saves: at an equal version it takes the stored
        // state (the store is the truth). The leader keeps decisions it
        // could not save yet; its next save stores them.
        let synced = if leading {
            controller.resync()
        } else {
            controller.resync_discarding_unsaved()
        };
        let changed = match synced {
            // Redis lost data: write back this replica's state if it is
            // newer than what is stored (every replica does; the newest
            // wins), and follow whatever is stored then.
            Err(ControlError::StoreBehind { .. }) => restore
                .restore(&controller.snapshot())
                .map(|written| {
                    if written {
                        tracing::warn!(version = controller.snapshot().version, "the stored snapshot was lost or older than this replica's; wrote this replica's back");
                    }
                    false
                })
                .map_err(|e| e.to_string()),
            other => other.map_err(|e| resync_error(&controller.plan(), e).to_string()),
        };
        (changed, controller.snapshot().version)
    })
    .await;
    let what = "following the leader's saves";
    match result {
        Ok((Ok(changed), version)) => {
            shared.note_ok(what);
            let mut status = shared.status();
            status.version = version;
            if let Some((v, micros)) = announced
                && version >= v
                && status.role != Role::Leader
            {
                let delay_ms = since_ms(micros);
                push_capped(
                    &mut status.applied,
                    Applied {
                        version: v,
                        delay_ms,
                    },
                    APPLIED_KEPT,
                );
            }
            drop(status);
            if changed {
                tracing::debug!(rollout = %shared.rollout, replica = %shared.replica, version, "applied the leader's save");
            }
        }
        Ok((Err(e), _)) => shared.note_error(what, &e),
        Err(e) => shared.note_error(what, &e),
    }
}

// ---------------------------------------------------------------- publishing

/// Publishes this replica's window summary every `publish_every`.
pub(super) async fn publish(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut ticker = interval(shared.config.publish_every());
    let what = "publishing the window summary";
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let seq = shared
            .seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let s = shared.clone();
        let bytes = match tokio::task::spawn_blocking(move || summarize(&s, seq)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                shared.note_error("taking the window summary", &e);
                continue;
            }
            Err(e) => {
                shared.note_error("taking the window summary", &e);
                continue;
            }
        };
        match shared
            .summaries
            .publish_bytes(shared.replica.as_str(), &bytes)
            .await
        {
            Ok(()) => {
                shared.note_ok(what);
                let mut status = shared.status();
                status.summaries_published += 1;
                status.summary_bytes += bytes.len() as u64;
                status.last_summary_ms = Some(unix_ms());
            }
            Err(e) => shared.note_error(what, &e),
        }
    }
}

/// This replica's windows over the span of the step it serves.
fn summarize(shared: &Shared, seq: u64) -> Result<Vec<u8>, fledge_gate::RecorderError> {
    controller_summary(
        &shared.controller,
        shared.replica.as_str(),
        seq,
        shared.config.summary_samples,
    )
    .map(|s| s.encode())
}

// ---------------------------------------------------------------- leading

/// Contends for the lease every tick; while holding it, applies forwarded
/// commands and ticks the rollout on the fleet's merged windows. Releases
/// the lease when stopped.
pub(super) async fn lead(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut ticker = interval(shared.config.tick);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.wake.notified() => {
                if shared.holds_lease() {
                    command::drain(&shared).await;
                }
                continue;
            }
            _ = stop.changed() => break,
        }
        lease_round(&shared).await;
        if shared.holds_lease() {
            command::drain(&shared).await;
            leader_tick(&shared).await;
        }
    }
    if shared.status().role == Role::Leader {
        release(&shared).await;
        let mut status = shared.status();
        status.role = Role::Follower;
        status.leading_since_ms = None;
        drop(status);
        tracing::info!(rollout = %shared.rollout, replica = %shared.replica, "released the lease at shutdown");
    }
}

fn ttl_ms(shared: &Shared) -> u64 {
    u64::try_from(shared.config.lease_ttl.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Acquires or renews the lease, and notices leadership changes.
async fn lease_round(shared: &Shared) {
    let leading = shared.status().role == Role::Leader;
    let started = Instant::now();
    let what = if leading {
        "renewing the lease"
    } else {
        "contending for the lease"
    };
    let mut conn = shared.conn.clone();
    let result = shared
        .fleet
        .io(what, shared.fleet.io_limit(), async {
            LEASE
                .key(&shared.keys.lease)
                .arg(&shared.lease_token)
                .arg(ttl_ms(shared))
                .arg(if leading || !shared.config.eligible {
                    "0"
                } else {
                    "1"
                })
                .invoke_async::<String>(&mut conn)
                .await
        })
        .await;
    let token = match result {
        Ok(token) => {
            shared.note_ok(what);
            token
        }
        Err(e) => {
            shared.note_error(what, &e);
            if leading && !shared.holds_lease() {
                step_down(
                    shared,
                    &format!("the lease could not be renewed before its TTL ran out: {e}"),
                )
                .await;
            }
            return;
        }
    };
    let ours = token == shared.lease_token;
    if ours {
        // Redis started the TTL after we sent the request; leave a margin
        // for our clock running slower than the server's.
        let ttl = shared.config.lease_ttl;
        *shared
            .held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(started + ttl - ttl / 50);
    }
    let holder = (!token.is_empty()).then(|| holder_of(&token));
    {
        let mut status = shared.status();
        if status.leader != holder {
            if holder.is_some() {
                status.leader_changes += 1;
                tracing::info!(rollout = %shared.rollout, replica = %shared.replica, leader = holder.as_deref().unwrap_or(""), "the fleet has a new leader");
            }
            status.leader = holder.clone();
        }
    }
    if ours && !leading {
        become_leader(shared).await;
    } else if !ours && leading {
        let why = match &holder {
            Some(h) => format!("the lease is held by {h} now"),
            None => "the lease expired before it was renewed".to_owned(),
        };
        step_down(shared, &why).await;
    }
}

/// Right after taking the lease: continue from the last leader's latest
/// save (restoring the snapshot if Redis lost it), then lead.
async fn become_leader(shared: &Shared) {
    let guard = shared.resyncing.lock().await;
    let controller = shared.controller.clone();
    let restore = shared.fleet.store(&shared.rollout);
    // All of it off the async workers: the controller's lock can be held
    // across a save, and the store is blocking.
    let result = tokio::task::spawn_blocking(move || {
        let restored = match controller.resync_discarding_unsaved() {
            Ok(_) => Ok(false),
            Err(ControlError::StoreBehind { .. }) => {
                // Redis lost data: this controller is newer than the store;
                // write it back, then lead from it.
                match restore.restore(&controller.snapshot()) {
                    Ok(true) => Ok(true),
                    Ok(false) => Err(
                        "the stored snapshot was lost and another replica wrote a newer one meanwhile; following it"
                            .to_owned(),
                    ),
                    Err(e) => Err(format!(
                        "the stored snapshot was lost and restoring it failed: {e}"
                    )),
                }
            }
            Err(e) => Err(resync_error(&controller.plan(), e).to_string()),
        };
        (
            restored,
            controller.snapshot().version,
            controller.state().step,
        )
    })
    .await;
    drop(guard);
    let (restored, version, step) = match result {
        Ok((Ok(restored), version, step)) => (restored, version, step),
        Ok((Err(why), _, _)) => return give_up_lease(shared, &why).await,
        Err(e) => return give_up_lease(shared, &e.to_string()).await,
    };
    if restored {
        tracing::warn!(rollout = %shared.rollout, replica = %shared.replica, version, "the stored snapshot was lost; restored it from this replica's controller");
    }
    {
        let mut status = shared.status();
        status.role = Role::Leader;
        status.leading_since_ms = Some(unix_ms());
        status.version = version;
    }
    tracing::info!(
        rollout = %shared.rollout,
        replica = %shared.replica,
        version,
        step = ?step,
        "became the leader"
    );
}

/// Could not take over after acquiring the lease: say why, release it.
async fn give_up_lease(shared: &Shared, why: &str) {
    shared.note_error("taking over as leader", &why);
    *shared
        .held_until
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = None;
    release(shared).await;
}

/// Stops leading: gives the lease up (if still ours) and takes the stored
/// state, discarding decisions this replica could not save.
pub(super) async fn step_down(shared: &Shared, why: &str) {
    *shared
        .held_until
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = None;
    {
        let mut status = shared.status();
        status.role = Role::Follower;
        status.leading_since_ms = None;
    }
    tracing::warn!(rollout = %shared.rollout, replica = %shared.replica, reason = why, "stepped down as leader");
    release(shared).await;
    let _one = shared.resyncing.lock().await;
    let controller = shared.controller.clone();
    let result = tokio::task::spawn_blocking(move || {
        controller
            .resync_discarding_unsaved()
            .map_err(|e| resync_error(&controller.plan(), e))
    })
    .await;
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => shared.note_error("resyncing after stepping down", &e),
        Err(e) => shared.note_error("resyncing after stepping down", &e),
    }
}

/// Deletes the lease if our token holds it.
async fn release(shared: &Shared) {
    let mut conn = shared.conn.clone();
    let result = shared
        .fleet
        .io("releasing the lease", shared.fleet.io_limit(), async {
            RELEASE
                .key(&shared.keys.lease)
                .arg(&shared.lease_token)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await;
    if let Err(e) = result {
        shared.note_error("releasing the lease", &e);
    }
}

/// One tick of the leader: read and merge every replica's summary, then
/// tick the controller, whose gates judge the merged windows.
async fn leader_tick(shared: &Shared) {
    let started = Instant::now();
    let routing = shared.controller.routing();
    let (candidate, baseline) = (routing.candidate().get(), routing.baseline().get());
    let policy = Policy {
        late_after: shared.config.late_after(),
        floor: shared.config.floor,
        samples: shared.config.merged_samples,
    };
    let merged = match shared.summaries.read().await {
        Ok(reading) => {
            tokio::task::spawn_blocking(move || merge(&reading, &policy, candidate, baseline))
                .await
                .map_err(|e| format!("merging the fleet's window summaries failed: {e}"))
        }
        Err(e) => {
            shared.note_error("reading the fleet's window summaries", &e);
            Err(format!("cannot read the fleet's window summaries: {e}"))
        }
    };
    shared.source.set(merged);
    if !shared.holds_lease() {
        return;
    }
    let controller = shared.controller.clone();
    let result = tokio::task::spawn_blocking(move || {
        let report = controller.tick_now();
        (report, controller.snapshot().version)
    })
    .await;
    let coverage = shared.source.coverage();
    let result = result.map(|(report, version)| {
        shared.status().version = version;
        report
    });
    match result {
        Ok(Ok(report)) => {
            {
                let mut status = shared.status();
                status.ticks += 1;
                status.last_tick_ms = Some(unix_ms());
                status.last_tick_took_ms = Some(started.elapsed().as_secs_f64() * 1e3);
                if report.judgement.is_some() {
                    status.coverage = coverage.clone();
                }
            }
            for event in &report.events {
                tracing::info!(rollout = %shared.rollout, replica = %shared.replica, event = %event, "rollout event");
            }
            if let Some(j) = report.judgement {
                tracing::debug!(rollout = %shared.rollout, replica = %shared.replica, outcome = %j.outcome, reason = %j.reason, "judged the fleet");
                command::publish_judgement(shared, j, coverage).await;
            }
        }
        Ok(Err(ControlError::Store(e @ StoreError::Conflict { .. }))) => {
            step_down(shared, &format!("another replica saved the rollout: {e}")).await;
        }
        Ok(Err(e)) => shared.note_error("ticking the rollout", &e),
        Err(e) => shared.note_error("ticking the rollout", &e),
    }
}
