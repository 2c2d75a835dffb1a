//! RedisStore on a real redis-server: compare-and-swap, refusal of values
//! it cannot read, and a controller resuming on another replica.

mod common;

use std::time::Duration;

use common::plan;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_redis::{Fleet, RedisStore};
use fledge_rollout::control::ControlError;
use fledge_rollout::machine::PhaseName;
use fledge_rollout::{Controller, Snapshot, Store, StoreError};
use fledge_test::redis::RedisServer;

fn snapshot(name: &str) -> Snapshot {
    let clock = ManualClock::new(Timestamp::from_millis(0));
    Controller::builder(plan(name))
        .clock(clock)
        .build()
        .unwrap()
        .snapshot()
}

#[test]
fn saves_and_loads_a_snapshot_as_readable_json() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url(), "predict").unwrap();
    assert_eq!(store.key(), "fledge:rollout:predict");
    assert!(store.load().unwrap().is_none());

    let s = snapshot("predict");
    assert_eq!(store.save(&s, None).unwrap(), 1);
    assert_eq!(store.save(&s, Some(1)).unwrap(), 2);
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.state, s.state);
    assert_eq!(loaded.plan, s.plan);

    // The value is the snapshot's own JSON, for redis-cli users.
    let raw = String::from_utf8(store.raw().unwrap().unwrap()).unwrap();
    assert_eq!(Snapshot::from_json(&raw, "test").unwrap(), loaded);
    assert!(raw.contains("\"format\": \"fledge-rollout-snapshot\""));

    assert!(store.delete().unwrap());
    assert!(store.load().unwrap().is_none());
    assert!(!store.delete().unwrap());
}

#[test]
fn compare_and_swap_conflicts_between_two_stores() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let (a, b) = (fleet.store("predict"), fleet.store("predict"));
    let s = snapshot("predict");

    assert_eq!(a.save(&s, None).unwrap(), 1);
    // B thinks nothing is stored.
    match b.save(&s, None) {
        Err(StoreError::Conflict {
            expected: None,
            found: Some(1),
            origin,
        }) => assert!(origin.contains("fledge:rollout:predict"), "{origin}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(b.save(&s, Some(1)).unwrap(), 2);
    let before = a.raw().unwrap();
    // A is one version behind now: refused, nothing changed.
    let err = a.save(&s, Some(1)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: Some(1),
                found: Some(2),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("another controller"), "{err}");
    assert_eq!(a.raw().unwrap(), before);
    // Expecting a version from the future is a conflict too.
    assert!(matches!(
        a.save(&s, Some(7)),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(a.load().unwrap().unwrap().version, 2);

    // Many racing savers from the same version: exactly one wins.
    let racers: Vec<_> = (0..8).map(|_| fleet.store("predict")).collect();
    let wins = std::thread::scope(|scope| {
        let handles: Vec<_> = racers
            .iter()
            .map(|store| scope.spawn(|| store.save(&s, Some(2)).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&won| won)
            .count()
    });
    assert_eq!(wins, 1);
    assert_eq!(a.load().unwrap().unwrap().version, 3);
}

#[test]
fn corrupt_and_foreign_values_are_refused_and_left_untouched() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url(), "predict").unwrap();
    let key = store.key().as_bytes().to_vec();
    let s = snapshot("predict");
    let future = future_snapshot(&s);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("corrupt", b"{\"format\": \"fledge-rollout-snap".to_vec()),
        ("not utf-8", vec![0xff, 0xfe, 0x00, 0x41]),
        (
            "foreign",
            br#"{"format": "something-else", "version": 3}"#.to_vec(),
        ),
        ("no format", br#"{"version": 3}"#.to_vec()),
        ("future", future.into_bytes()),
        ("plain text", b"hello".to_vec()),
    ];
    for (what, value) in cases {
        server.raw(&[b"SET", &key, &value]);
        let err = store.load().unwrap_err();
        match what {
            "corrupt" | "not utf-8" | "plain text" => {
                assert!(matches!(err, StoreError::Corrupt { .. }), "{what}: {err:?}")
            }
            _ => assert!(matches!(err, StoreError::Foreign { .. }), "{what}: {err:?}"),
        }
        assert!(err.to_string().contains("left untouched"), "{what}: {err}");
        // Neither a first save nor a CAS on any version overwrites it.
        for expected in [None, Some(1), Some(3)] {
            let save = store.save(&s, expected).unwrap_err();
            assert!(
                matches!(
                    save,
                    StoreError::Corrupt { .. } | StoreError::Foreign { .. }
                ),
                "{what}: {save:?}"
            );
        }
        assert_eq!(store.raw().unwrap().unwrap(), value, "{what}");
    }

    // A key of another Redis type.
    server.raw(&[b"DEL", &key]);
    server.raw(&[b"HSET", &key, b"field", b"value"]);
    let err = store.load().unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("hash"), "{err}");
    assert!(matches!(
        store.save(&s, None),
        Err(StoreError::Foreign { .. })
    ));
    assert_eq!(server.raw(&[b"HGET", &key, b"field"]), b"$5\r\nvalue\r\n");

    // A controller refuses to start from it.
    let err = Controller::builder(plan("predict"))
        .store(RedisStore::open(&server.url(), "predict").unwrap())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Foreign { .. })),
        "{err:?}"
    );
}

/// A valid snapshot whose format version is from the future.
fn future_snapshot(s: &Snapshot) -> String {
    s.to_json()
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 99")
}

#[test]
fn a_controller_restarted_on_another_replica_resumes_step_and_salt() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url())
        .unwrap()
        .key_prefix("test:fledge:");
    let clock = ManualClock::new(Timestamp::from_millis(0));

    let a = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    clock.advance(Duration::from_secs(1));
    a.promote("alice").unwrap();
    a.promote("alice").unwrap();
    let state = a.state();
    assert_eq!(state.step, Some(2));
    assert_eq!(a.traffic().candidate.bps(), 5_000);

    // Replica B, its own connection: same step, same salt, same buckets.
    let b = Controller::builder(plan("predict"))
        .clock(clock.clone())
        .store(fleet.store("predict"))
        .build()
        .unwrap();
    assert_eq!(b.state(), state);
    assert_eq!(b.events(), a.events());
    assert_eq!(b.traffic(), a.traffic());
    for user in 0..500 {
        let key = format!("user-{user}");
        assert_eq!(
            b.routing().route(Some(key.as_bytes()), &()),
            a.routing().route(Some(key.as_bytes()), &())
        );
    }

    // B leads on; A is stale and cannot overwrite B's decision.
    b.promote("bob").unwrap();
    let err = a.pause("alice", Some("stale")).unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Conflict { .. })),
        "{err:?}"
    );
    let stored = fleet.store("predict").load().unwrap().unwrap();
    assert_eq!(stored.state.step, Some(3));
    assert_eq!(stored.state.phase.name(), PhaseName::Progressing);
    assert_eq!(stored.state.salt, state.salt);

    // Another prefix is another rollout store.
    assert!(
        Fleet::open(server.url())
            .unwrap()
            .store("predict")
            .load()
            .unwrap()
            .is_none()
    );
}

#[test]
fn saves_announce_the_new_version_and_can_be_silenced() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let loud = fleet.store("predict");
    assert_eq!(loud.channel(), "fledge:rollout:predict:saved");
    let s = snapshot("predict");
    // PUBLISH's reply counts subscribers; here the script just must not fail
    // with or without a channel.
    assert_eq!(loud.save(&s, None).unwrap(), 1);
    let quiet = fleet.store("predict").without_announcements();
    assert_eq!(quiet.save(&s, Some(1)).unwrap(), 2);
}
