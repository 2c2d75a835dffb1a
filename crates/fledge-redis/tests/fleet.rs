//! Two replicas on a real redis-server, as the crate docs wire them: both
//! serve from followed controllers, the lease holder runs the control loop,
//! and leadership moves when the leader stops renewing.

mod common;

use std::time::Duration;

use common::{RedisServer, plan, wait_until};
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_redis::{Fleet, Follower};
use fledge_rollout::control::ControlError;
use fledge_rollout::{Controller, StoreError};

struct Replica {
    serving: Controller,
    _following: fledge_redis::FollowerHandle,
}

fn replica(fleet: &Fleet, clock: &ManualClock) -> Replica {
    let serving = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    let following = Follower::for_controller(fleet.store("predict"), &serving)
        .spawn_with_notifications(&fleet.store("predict"), Duration::from_millis(200));
    Replica {
        serving,
        _following: following,
    }
}

fn serving_bps(r: &Replica) -> u32 {
    r.serving
        .selector()
        .split()
        .weight_of("v2")
        .map_or(0, |w| w.bps())
}

#[test]
fn leadership_moves_and_every_replica_serves_the_leaders_split() {
    let server = RedisServer::start();
    let fleet = Fleet::open(&server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let ttl = Duration::from_millis(300);
    let (a, b) = (replica(&fleet, &clock), replica(&fleet, &clock));
    let (lease_a, lease_b) = (
        fleet.lease("predict", "a").with_ttl(ttl),
        fleet.lease("predict", "b").with_ttl(ttl),
    );

    // A leads and takes a step; both replicas serve it.
    assert!(lease_a.try_acquire().unwrap());
    assert!(!lease_b.try_acquire().unwrap());
    let control_a = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    control_a.promote("a").unwrap();
    for r in [&a, &b] {
        wait_until(Duration::from_secs(2), || serving_bps(r) == 2_500).unwrap();
    }

    // A stops renewing; B takes over once the TTL has passed and resumes
    // A's step and salt from Redis.
    wait_until(ttl * 3, || lease_b.try_acquire().unwrap()).expect("B takes over");
    assert!(!lease_a.is_leader());
    let control_b = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    assert_eq!(control_b.state(), control_a.state());
    control_b.promote("b").unwrap();
    for r in [&a, &b] {
        wait_until(Duration::from_secs(2), || serving_bps(r) == 5_000).unwrap();
    }

    // A wakes up and acts on its stale state: its save is refused and the
    // replicas keep serving B's split.
    let err = control_a.rollback("a", Some("stale")).unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Conflict { .. })),
        "{err:?}"
    );
    assert!(!lease_a.renew().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(serving_bps(&a), 5_000);
    assert_eq!(serving_bps(&b), 5_000);

    // Every user is routed the same way on both replicas.
    for user in 0..1_000 {
        let key = format!("user-{user}");
        assert_eq!(
            a.serving.routing().route(Some(key.as_bytes()), &()),
            b.serving.routing().route(Some(key.as_bytes()), &())
        );
    }
}
