//! Followers on a real redis-server: the leader's split reaches other
//! replicas by polling and by pub/sub.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{RedisServer, plan, wait_until};
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_redis::{Fleet, Follower, RedisError};
use fledge_rollout::Controller;
use fledge_select::{Selector, Split, VariantId, Weight};

fn controller(fleet: &Fleet, clock: &ManualClock) -> Controller {
    Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap()
}

fn candidate_bps(controller: &Controller) -> u32 {
    controller
        .selector()
        .split()
        .weight_of("v2")
        .map_or(u32::MAX, |w| w.bps())
}

#[test]
fn a_follower_applies_a_rollback_within_one_poll_interval() {
    let server = RedisServer::start();
    let fleet = Fleet::open(&server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let leader = controller(&fleet, &clock);
    leader.promote("alice").unwrap(); // 25 %

    let replica = controller(&fleet, &clock);
    assert_eq!(candidate_bps(&replica), 2_500);
    let interval = Duration::from_millis(200);
    let following = Follower::for_controller(fleet.store("predict"), &replica).spawn(interval);
    assert!(
        wait_until(Duration::from_secs(2), || following
            .follower()
            .current()
            .is_some())
        .is_some()
    );

    leader.rollback("alice", Some("bad canary")).unwrap();
    let took = wait_until(Duration::from_secs(2), || candidate_bps(&replica) == 0)
        .expect("the rollback reaches the replica");
    assert!(
        took <= interval + Duration::from_millis(250),
        "took {took:?}"
    );
    // Every user on the replica goes to the baseline now.
    for user in 0..1_000 {
        let key = format!("user-{user}");
        let version = replica.routing().route(Some(key.as_bytes()), &());
        assert_eq!(version, replica.routing().baseline());
    }
    let followed = following.follower().current().unwrap();
    assert_eq!(followed.state.traffic.candidate, Weight::ZERO);
    assert_eq!(followed.published, Weight::ZERO);
    assert_eq!(following.follower().last_error(), None);
    assert!(following.is_running());
    following.stop();
}

#[test]
fn notifications_apply_a_change_long_before_the_poll_interval() {
    let server = RedisServer::start();
    let fleet = Fleet::open(&server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let leader = controller(&fleet, &clock);
    let replica = controller(&fleet, &clock);
    let store = fleet.store("predict");
    let following = Follower::for_controller(fleet.store("predict"), &replica)
        .spawn_with_notifications(&store, Duration::from_secs(30));
    // Subscribed, then polled once.
    wait_until(Duration::from_secs(2), || following.follower().polls() >= 1).unwrap();

    for (step, bps) in [(1, 2_500), (2, 5_000), (3, 10_000)] {
        leader.promote("alice").unwrap();
        let took = wait_until(Duration::from_secs(2), || candidate_bps(&replica) == bps)
            .unwrap_or_else(|| panic!("step {step} did not arrive"));
        assert!(took < Duration::from_secs(1), "step {step} took {took:?}");
    }
    assert_eq!(following.follower().current().unwrap().state.step, Some(3));
}

#[test]
fn a_follower_of_a_bare_selector_keeps_the_leaders_salt() {
    let server = RedisServer::start();
    let fleet = Fleet::open(&server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));

    let selector = Arc::new(Selector::new(
        Split::canary(
            VariantId::new("v2").unwrap(),
            VariantId::new("v1").unwrap(),
            Weight::ZERO,
        )
        .unwrap(),
    ));
    let follower = Follower::new(fleet.store("predict"), selector.clone());
    // Nothing stored yet: nothing to apply.
    assert!(follower.poll().unwrap().is_none());
    assert_eq!(follower.bucket(b"user-1"), None);

    let leader = controller(&fleet, &clock);
    leader.promote("alice").unwrap();
    let applied = follower.poll().unwrap().expect("a new version");
    assert_eq!(applied.state.salt, leader.state().salt);
    assert_eq!(selector.split(), leader.selector().split());
    // Unchanged: nothing to do.
    assert!(follower.poll().unwrap().is_none());

    for user in 0..1_000 {
        let key = format!("user-{user}");
        let bucket = follower.bucket(key.as_bytes()).unwrap();
        assert_eq!(bucket, leader.routing().bucket(key.as_bytes()));
        assert_eq!(
            selector.variant_for_bucket(bucket),
            leader.selector().variant_for_bucket(bucket)
        );
    }

    // A restart brings a new salt: a bare follower takes it.
    leader.rollback("alice", None).unwrap();
    leader.restart("alice").unwrap();
    let applied = follower.poll().unwrap().unwrap();
    assert_eq!(applied.state.attempt, 1);
    assert_eq!(applied.state.salt, leader.state().salt);
    assert_eq!(
        follower.bucket(b"user-7"),
        Some(leader.routing().bucket(b"user-7"))
    );
}

#[test]
fn a_new_salt_a_controller_cannot_take_sends_the_replica_to_the_baseline() {
    let server = RedisServer::start();
    let fleet = Fleet::open(&server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let leader = controller(&fleet, &clock);
    let replica = controller(&fleet, &clock);
    let follower = Follower::for_controller(fleet.store("predict"), &replica);
    assert!(follower.poll().unwrap().is_some());
    assert_eq!(candidate_bps(&replica), 500);

    leader.rollback("alice", None).unwrap();
    leader.restart("alice").unwrap();
    assert_eq!(leader.traffic().candidate.bps(), 500);
    let err = follower.poll().unwrap_err();
    assert!(
        matches!(err, RedisError::SaltChanged { attempt: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("rebuild the controller"), "{err}");
    assert_eq!(candidate_bps(&replica), 0);
    // Reported on every poll until rebuilt, and kept for the background thread.
    assert!(matches!(
        follower.poll(),
        Err(RedisError::SaltChanged { .. })
    ));
    assert!(follower.last_error().unwrap().contains("new sticky salt"));

    // Rebuilt from the store, the replica routes like the leader again.
    let rebuilt = controller(&fleet, &clock);
    let follower = Follower::for_controller(fleet.store("predict"), &rebuilt);
    assert!(follower.poll().unwrap().is_some());
    for user in 0..200 {
        let key = format!("user-{user}");
        assert_eq!(
            rebuilt.routing().route(Some(key.as_bytes()), &()),
            leader.routing().route(Some(key.as_bytes()), &())
        );
    }
}

#[test]
fn a_selector_of_other_versions_or_another_rollout_is_refused() {
    let server = RedisServer::start();
    let fleet = Fleet::open(&server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let _leader = controller(&fleet, &clock);

    // Baseline first: the candidate would get the baseline's buckets.
    let swapped = Arc::new(Selector::new(
        Split::canary(
            VariantId::new("v1").unwrap(),
            VariantId::new("v2").unwrap(),
            Weight::ZERO,
        )
        .unwrap(),
    ));
    let err = Follower::new(fleet.store("predict"), swapped.clone())
        .poll()
        .unwrap_err();
    assert!(matches!(err, RedisError::WrongSelector { .. }), "{err:?}");
    assert!(err.to_string().contains("[v2, v1]"), "{err}");
    assert_eq!(swapped.split().weight_of("v1"), Some(Weight::ZERO));

    // A controller of another rollout following this rollout's key.
    let other = Controller::builder(plan("other"))
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = Follower::for_controller(fleet.store("predict"), &other)
        .poll()
        .unwrap_err();
    assert!(matches!(err, RedisError::OtherRollout { .. }), "{err:?}");
}
