//! Replicas on a real redis-server, wired as the crate docs say: one
//! controller per replica, followed; the lease holder resyncs it once and
//! ticks it; leadership moves when the leader stops renewing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::plan;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_redis::{Fleet, Follower, FollowerHandle};
use fledge_rollout::control::ControlError;
use fledge_rollout::{Controller, Store, StoreError};
use fledge_test::redis::RedisServer;
use fledge_test::wait;

struct Replica {
    controller: Arc<Controller>,
    following: Option<FollowerHandle>,
}

fn controller(fleet: &Fleet, clock: &ManualClock) -> Arc<Controller> {
    Arc::new(
        Controller::builder(plan("predict"))
            .clock(clock.clone())
            .store(fleet.store("predict"))
            .build()
            .unwrap(),
    )
}

fn follow(fleet: &Fleet, controller: &Arc<Controller>) -> FollowerHandle {
    Follower::for_controller(controller.clone())
        .spawn_with_notifications(&fleet.store("predict"), Duration::from_millis(200))
}

fn replica(fleet: &Fleet, clock: &ManualClock) -> Replica {
    let controller = controller(fleet, clock);
    let following = Some(follow(fleet, &controller));
    Replica {
        controller,
        following,
    }
}

fn serving_bps(r: &Replica) -> u32 {
    r.controller
        .selector()
        .split()
        .weight_of("v2")
        .map_or(0, |w| w.bps())
}

fn stored_version(fleet: &Fleet) -> u64 {
    fleet.store("predict").load().unwrap().unwrap().version
}

fn is_conflict(err: &ControlError) -> bool {
    matches!(err, ControlError::Store(StoreError::Conflict { .. }))
}

#[test]
fn leadership_moves_and_every_replica_serves_the_leaders_state() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let ttl = Duration::from_millis(1_000);
    let (mut a, b) = (replica(&fleet, &clock), replica(&fleet, &clock));
    let (lease_a, lease_b) = (
        fleet.lease("predict", "a").with_ttl(ttl),
        fleet.lease("predict", "b").with_ttl(ttl),
    );

    // A leads and takes a step; both replicas serve it.
    assert!(lease_a.try_acquire().unwrap());
    assert!(!lease_b.try_acquire().unwrap());
    assert!(!a.controller.resync().unwrap(), "nothing newer yet");
    a.controller.promote("a").unwrap();
    for r in [&a, &b] {
        wait::timed(Duration::from_secs(2), || serving_bps(r) == 2_500).unwrap();
    }

    // A is paused (its follower too) and stops renewing; B takes over once
    // the TTL has passed, resyncs and ticks on from A's state.
    if let Some(following) = a.following.take() {
        following.stop();
    }
    wait::timed(ttl * 3, || lease_b.try_acquire().unwrap()).expect("B takes over");
    assert!(!lease_a.is_leader());
    b.controller.resync().unwrap();
    assert_eq!(b.controller.state(), a.controller.state());
    let before = stored_version(&fleet);
    clock.advance(Duration::from_secs(31));
    b.controller.tick_now().unwrap(); // the step's interval passed: 50 %
    assert_eq!(b.controller.traffic().candidate.bps(), 5_000);
    assert_eq!(stored_version(&fleet), before + 1, "saved on A's chain");
    wait::timed(Duration::from_secs(2), || serving_bps(&b) == 5_000).unwrap();

    // A wakes up and acts on its stale state: its save is refused, so it
    // stops leading and resyncs to B's state.
    let err = a.controller.rollback("a", Some("stale")).unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert!(!lease_a.renew().unwrap());
    assert_eq!(stored_version(&fleet), before + 1, "nothing overwritten");
    assert!(a.controller.resync().unwrap());
    assert_eq!(a.controller.state(), b.controller.state());
    assert_eq!(a.controller.events(), b.controller.events());
    a.following = Some(follow(&fleet, &a.controller));

    // B keeps leading: its next tick saves without conflict and reaches A.
    clock.advance(Duration::from_secs(31));
    b.controller.tick_now().unwrap(); // 100 %
    for r in [&a, &b] {
        wait::timed(Duration::from_secs(2), || serving_bps(r) == 10_000).unwrap();
    }
    b.controller.rollback("b", Some("drill")).unwrap();
    for r in [&a, &b] {
        wait::timed(Duration::from_secs(2), || serving_bps(r) == 0).unwrap();
    }
    assert_eq!(a.controller.state(), b.controller.state());
    for r in [&a, &b] {
        let following = r.following.as_ref().unwrap();
        assert_eq!(following.follower().last_error(), None);
    }
}

#[test]
fn a_new_leader_behind_the_store_resyncs_before_its_first_tick() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let lease_a = fleet.lease("predict", "a");
    let lease_c = fleet.lease("predict", "c");
    // A leads; C and D were built at the start and followed nothing since.
    let a = controller(&fleet, &clock);
    let c = controller(&fleet, &clock);
    let d = controller(&fleet, &clock);
    assert!(lease_a.try_acquire().unwrap());
    a.promote("a").unwrap();
    a.promote("a").unwrap();
    assert!(lease_a.release().unwrap());

    // Without a resync, a replica behind the store conflicts...
    let err = d.promote("d").unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    // ...with one, the new leader continues A's rollout.
    assert!(lease_c.try_acquire().unwrap());
    assert!(c.resync().unwrap());
    assert_eq!(c.state(), a.state());
    assert_eq!(c.traffic(), a.traffic());
    clock.advance(Duration::from_secs(31));
    let report = c.tick_now().unwrap();
    assert!(!report.events.is_empty());
    assert_eq!(c.traffic().candidate.bps(), 10_000);
    assert_eq!(
        fleet.store("predict").load().unwrap().unwrap().state,
        c.state()
    );
    // The old leader, without the lease, is refused.
    let err = a.rollback("a", None).unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
}
