//! Redis down: typed errors naming the URL, no panic, and recovery when it
//! comes back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::plan;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_redis::{Fleet, Follower, RedisError};
use fledge_rollout::control::ControlError;
use fledge_rollout::{Controller, Store, StoreError};
use fledge_select::{Selector, Split, VersionId, Weight};
use fledge_test::redis::RedisServer;
use fledge_test::server::free_port;
use fledge_test::wait;

fn nowhere() -> Fleet {
    Fleet::open(format!("redis://:hunter2@127.0.0.1:{}/", free_port()))
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
}

#[test]
fn a_store_without_redis_returns_io_errors_naming_the_server() {
    let fleet = nowhere();
    let store = fleet.store("predict");
    let err = store.load().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(text.contains("fledge:rollout:predict"), "{text}");
    assert!(text.contains("loading the snapshot"), "{text}");
    assert!(text.contains("redis-server is running"), "{text}");
    assert!(!text.contains("hunter2"), "the password leaked: {text}");

    let clock = ManualClock::new(Timestamp::from_millis(0));
    let snapshot = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .build()
        .unwrap()
        .snapshot();
    let err = store.save(&snapshot, None).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("saving the snapshot"), "{err}");

    // A controller cannot start without its state.
    let err = Controller::builder(plan("predict"))
        .clock(clock)
        .store(fleet.store("predict"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Io { .. })),
        "{err:?}"
    );

    assert!(matches!(fleet.ping(), Err(RedisError::Unreachable { .. })));
}

#[test]
fn a_lease_without_redis_is_an_error_and_nobody_leads() {
    let lease = nowhere().lease("predict", "a");
    let err = lease.try_acquire().unwrap_err();
    assert!(matches!(err, RedisError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("acquiring lease fledge:lease:predict"),
        "{err}"
    );
    assert!(!lease.is_leader());
    assert!(lease.renew().is_err());
    assert!(lease.release().is_err());
    assert!(lease.current_holder().is_err());
}

#[test]
fn a_follower_without_redis_keeps_its_split() {
    let selector = Arc::new(Selector::new(
        Split::canary(
            VersionId::new("v2").unwrap(),
            VersionId::new("v1").unwrap(),
            Weight::from_bps(2_500).unwrap(),
        )
        .unwrap(),
    ));
    let fleet = nowhere();
    let follower = Follower::new(fleet.store("predict"), selector.clone());
    let err = follower.poll().unwrap_err();
    assert!(
        matches!(err, RedisError::Store(StoreError::Io { .. })),
        "{err:?}"
    );
    let following =
        follower.spawn_with_notifications(&fleet.store("predict"), Duration::from_millis(20));
    wait::timed(Duration::from_secs(5), || follower.polls() >= 3).unwrap();
    assert!(follower.last_error().is_some());
    following.stop();
    assert_eq!(
        selector.split().weight_of("v2"),
        Weight::from_bps(2_500).ok()
    );
}

#[test]
fn everything_recovers_when_redis_comes_back() {
    let mut server = RedisServer::start();
    let fleet = Fleet::open(server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500));
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let leader = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    let lease = fleet
        .lease("predict", "a")
        .with_ttl(Duration::from_millis(1_000));
    assert!(lease.try_acquire().unwrap());
    let replica_selector = Arc::new(Selector::new(
        Split::canary(
            VersionId::new("v2").unwrap(),
            VersionId::new("v1").unwrap(),
            Weight::ZERO,
        )
        .unwrap(),
    ));
    let follower = Follower::new(fleet.store("predict"), replica_selector.clone());
    let following =
        follower.spawn_with_notifications(&fleet.store("predict"), Duration::from_millis(50));
    wait::timed(Duration::from_secs(2), || {
        replica_selector.split().weight_of("v2") == Weight::from_bps(500).ok()
    })
    .unwrap();

    server.stop();
    // The leader's decision is applied in memory; only the save fails.
    let err = leader.promote("alice").unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Io { .. })),
        "{err:?}"
    );
    assert_eq!(leader.traffic().candidate.bps(), 2_500);
    // The lease cannot be renewed; the leader steps down by its own clock.
    assert!(lease.renew().is_err());
    wait::timed(Duration::from_secs(3), || !lease.is_leader()).expect("leader steps down");
    // The follower keeps the last split it had.
    wait::timed(Duration::from_secs(2), || follower.last_error().is_some()).unwrap();
    assert_eq!(
        replica_selector.split().weight_of("v2"),
        Weight::from_bps(500).ok()
    );

    // Redis comes back (empty: no persistence in this test): connections
    // reopen by themselves.
    server.restart();
    assert!(lease.try_acquire().unwrap());
    let store = fleet.store("predict");
    wait::timed(Duration::from_secs(2), || store.load().is_ok()).expect("store reconnects");
    // The leader re-saves from an empty store (its next decision).
    let fresh = Controller::builder(plan("predict"))
        .clock(clock)
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    fresh.promote("alice").unwrap();
    wait::timed(Duration::from_secs(2), || {
        replica_selector.split().weight_of("v2") == Weight::from_bps(2_500).ok()
    })
    .expect("the follower resumes");
    wait::timed(Duration::from_secs(2), || follower.last_error().is_none()).unwrap();
    following.stop();
}
