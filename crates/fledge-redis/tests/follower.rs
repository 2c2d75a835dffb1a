//! Followers on a real redis-server: the leader's saves reach other
//! replicas' routing — split, salt, targeting rules, mirror share — by
//! polling and by pub/sub.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::plan;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_redis::{Fleet, Follower, RedisError};
use fledge_rollout::{Controller, Plan, Store};
use fledge_select::{Selector, Split, VersionId, Weight};
use fledge_test::redis::RedisServer;
use fledge_test::wait;

fn controller_of(fleet: &Fleet, plan: &Plan, clock: &ManualClock) -> Arc<Controller> {
    Arc::new(
        Controller::builder(plan.clone())
            .clock(clock.clone())
            .store(fleet.store(&plan.name))
            .build()
            .unwrap(),
    )
}

fn controller(fleet: &Fleet, clock: &ManualClock) -> Arc<Controller> {
    controller_of(fleet, &plan("predict"), clock)
}

fn candidate_bps(controller: &Controller) -> u32 {
    controller
        .selector()
        .split()
        .weight_of("v2")
        .map_or(u32::MAX, |w| w.bps())
}

/// How 1,000 users are routed without attributes, as version indexes.
fn routes(controller: &Controller) -> Vec<usize> {
    (0..1_000)
        .map(|user| {
            let key = format!("user-{user}");
            controller.routing().route(Some(key.as_bytes()), &()).get()
        })
        .collect()
}

#[test]
fn a_follower_applies_a_rollback_within_one_poll_interval() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let leader = controller(&fleet, &clock);
    leader.promote("alice").unwrap(); // 25 %

    let replica = controller(&fleet, &clock);
    assert_eq!(candidate_bps(&replica), 2_500);
    // Bounds with room for a loaded CI machine: one poll interval plus a
    // second of slack still tells "the next poll" from "two polls later".
    let interval = Duration::from_millis(1_500);
    let following = Follower::for_controller(replica.clone()).spawn(interval);
    wait::timed(Duration::from_secs(5), || following.follower().polls() >= 1).unwrap();

    leader.rollback("alice", Some("bad canary")).unwrap();
    let took = wait::timed(Duration::from_secs(10), || candidate_bps(&replica) == 0)
        .expect("the rollback reaches the replica");
    assert!(took <= interval + Duration::from_secs(1), "took {took:?}");
    // Every user on the replica goes to the baseline now.
    for user in 0..1_000 {
        let key = format!("user-{user}");
        let version = replica.routing().route(Some(key.as_bytes()), &());
        assert_eq!(version, replica.routing().baseline());
    }
    let followed = following.follower().current().unwrap();
    assert_eq!(followed.state, leader.state());
    assert_eq!(followed.published, Weight::ZERO);
    assert_eq!(replica.events(), leader.events());
    assert_eq!(following.follower().last_error(), None);
    assert!(following.is_running());
    following.stop();
}

#[test]
fn notifications_apply_a_change_long_before_the_poll_interval() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let leader = controller(&fleet, &clock);
    let replica = controller(&fleet, &clock);
    let following = Follower::for_controller(replica.clone())
        .spawn_with_notifications(&fleet.store("predict"), Duration::from_secs(30));
    // Subscribed, then polled once.
    wait::timed(Duration::from_secs(5), || following.follower().polls() >= 1).unwrap();

    // Far below the 30 s poll interval: the announcement did it.
    for (step, bps) in [(1, 2_500), (2, 5_000), (3, 10_000)] {
        leader.promote("alice").unwrap();
        let took = wait::timed(Duration::from_secs(10), || candidate_bps(&replica) == bps)
            .unwrap_or_else(|| panic!("step {step} did not arrive"));
        assert!(took < Duration::from_secs(5), "step {step} took {took:?}");
    }
    assert_eq!(following.follower().current().unwrap().state.step, Some(3));
    assert_eq!(replica.state(), leader.state());
}

/// A shadow step (mirror 10 %), an always-on testers' rule, and a step
/// adding a region rule.
fn ranker_plan() -> Plan {
    Plan::from_toml(
        r#"
        name = "ranker"
        baseline = "v1"
        candidate = "v2"
        interval = "30s"
        targeting = [{ header = "x-tester", equals = "true", version = "v2" }]
        steps = [
          { weight = 0, mirror = 10 },
          { weight = 5 },
          { weight = 20, targeting = [{ attribute = "region", in = ["eu-west-1"], version = "v2" }] },
          { weight = 100 },
        ]
        "#,
    )
    .expect("ranker plan")
}

#[test]
fn salt_rules_and_mirror_follow_the_leader_through_a_restart() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let plan = ranker_plan();
    let leader = controller_of(&fleet, &plan, &clock);
    let replica = controller_of(&fleet, &plan, &clock);
    let following = Follower::for_controller(replica.clone())
        .spawn_with_notifications(&fleet.store("ranker"), Duration::from_millis(500));
    let in_step = || replica.state() == leader.state() && replica.traffic() == leader.traffic();
    let tester: &[(&str, &str)] = &[("x-tester", "true")];
    let eu: &[(&str, &str)] = &[("region", "eu-west-1")];
    let candidate = replica.routing().candidate();
    let baseline = replica.routing().baseline();

    // Shadow step: mirror 10 %, testers on the candidate, nobody else.
    assert_eq!(replica.routing().mirror().bps(), 1_000);
    assert_eq!(replica.routing().route(Some(b"u"), tester), candidate);
    assert_eq!(replica.routing().route(Some(b"u"), eu), baseline);

    // Beta: 20 % and the region rule; no more mirroring.
    leader.promote("alice").unwrap();
    leader.promote("alice").unwrap();
    wait::timed(Duration::from_secs(2), in_step).expect("beta reaches the replica");
    assert_eq!(replica.routing().mirror(), Weight::ZERO);
    assert_eq!(candidate_bps(&replica), 2_000);
    for user in 0..100 {
        let key = format!("user-{user}");
        assert_eq!(replica.routing().route(Some(key.as_bytes()), eu), candidate);
        assert_eq!(
            replica.routing().route(Some(key.as_bytes()), tester),
            candidate
        );
    }
    let before = routes(&replica);
    assert_eq!(before, routes(&leader));

    // The leader restarts the rollout: a new salt, from the shadow step.
    leader.rollback("alice", Some("p99")).unwrap();
    wait::timed(Duration::from_secs(2), in_step).expect("the rollback arrives");
    assert_eq!(replica.routing().route(Some(b"u"), eu), baseline);
    let old_salt = leader.state().salt;
    leader.restart("alice").unwrap();
    assert_ne!(leader.state().salt, old_salt);
    wait::timed(Duration::from_secs(2), in_step).expect("the restart arrives");
    assert_eq!(replica.state().salt, leader.state().salt);
    assert_eq!(replica.routing().mirror().bps(), 1_000, "shadowing again");

    // Back at 20 %: every user is routed as on the leader, under the new salt.
    leader.promote("alice").unwrap();
    leader.promote("alice").unwrap();
    wait::timed(Duration::from_secs(2), in_step).expect("beta arrives again");
    let after = routes(&replica);
    assert_eq!(
        after,
        routes(&leader),
        "1,000 users routed as on the leader"
    );
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert!(moved > 50, "the new salt reshuffles users ({moved} moved)");
    for user in 0..1_000 {
        let key = format!("user-{user}");
        assert_eq!(
            following.follower().bucket(key.as_bytes()),
            Some(leader.routing().bucket(key.as_bytes()))
        );
    }
    assert_eq!(replica.events(), leader.events());
    assert!(replica.verify_log().unwrap());
    assert_eq!(following.follower().last_error(), None);
}

#[test]
fn a_follower_of_a_bare_selector_keeps_the_leaders_salt() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));

    let selector = Arc::new(Selector::new(
        Split::canary(
            VersionId::new("v2").unwrap(),
            VersionId::new("v1").unwrap(),
            Weight::ZERO,
        )
        .unwrap(),
    ));
    let follower = Follower::new(fleet.store("predict"), selector.clone());
    // Nothing stored yet: nothing to apply.
    assert!(follower.poll().unwrap().is_none());
    assert_eq!(follower.bucket(b"user-1"), None);
    assert!(follower.controller().is_none());

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
            selector.version_for_bucket(bucket),
            leader.selector().version_for_bucket(bucket)
        );
    }

    // A restart brings a new salt: a bare follower takes it.
    leader.rollback("alice", None).unwrap();
    leader.restart("alice").unwrap();
    let applied = follower.poll().unwrap().unwrap();
    assert_eq!(applied.state.attempt, 1);
    assert_eq!(applied.state.salt, leader.state().salt);
    assert_eq!(applied.published, leader.traffic().candidate);
    assert_eq!(
        follower.bucket(b"user-7"),
        Some(leader.routing().bucket(b"user-7"))
    );
}

#[test]
fn a_selector_of_other_versions_or_another_rollout_is_refused() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let replica = controller(&fleet, &clock);

    // Baseline first: the candidate would get the baseline's buckets.
    let swapped = Arc::new(Selector::new(
        Split::canary(
            VersionId::new("v1").unwrap(),
            VersionId::new("v2").unwrap(),
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

    // Another rollout (other versions, same name) written under the key:
    // the followed controller refuses it and keeps serving.
    let store = fleet.store("predict");
    let mut foreign = replica.snapshot();
    foreign.plan.candidate = VersionId::new("v3").unwrap();
    let version = store.load().unwrap().unwrap().version;
    store.save(&foreign, Some(version)).unwrap();
    let split = replica.selector().split();
    let follower = Follower::for_controller(replica.clone());
    let err = follower.poll().unwrap_err();
    assert!(matches!(err, RedisError::OtherRollout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("v1 -> v3") && text.contains("key prefix"),
        "{text}"
    );
    assert_eq!(replica.selector().split(), split);
    assert!(follower.last_error().is_some());
}
