//! Persistence: restart from a snapshot, corrupt and foreign snapshots, CAS.

use std::time::Duration;

use fledge_rollout::control::{ControlError, Controller};
use fledge_rollout::machine::PhaseName;
use fledge_rollout::plan::PlanBuilder;
use fledge_rollout::store::{FileStore, MemoryStore, Snapshot, Store, StoreError};

fn plan() -> fledge_rollout::plan::Plan {
    fledge_test::plans::canary("persist")
}

#[test]
fn a_restarted_controller_resumes_the_same_step_with_the_same_salt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.json");
    let clock = fledge_test::clock::manual();
    let (state, buckets) = {
        let c = Controller::builder(plan())
            .clock(clock.clone())
            .store(FileStore::new(&path))
            .build()
            .unwrap();
        c.promote("alice").unwrap();
        c.promote("alice").unwrap();
        c.restart("alice").unwrap_err(); // refused, but recorded
        let buckets: Vec<u32> = (0..100)
            .map(|i| c.routing().bucket(format!("u{i}").as_bytes()))
            .collect();
        (c.state(), buckets)
    };
    assert_eq!(state.step, Some(2));
    let c = Controller::builder(plan())
        .clock(clock.clone())
        .store(FileStore::new(&path))
        .build()
        .unwrap();
    assert_eq!(c.state(), state);
    assert_eq!(c.traffic().candidate.bps(), 5_000);
    assert_eq!(c.selector().split().weight_of("v2").unwrap().bps(), 5_000);
    let again: Vec<u32> = (0..100)
        .map(|i| c.routing().bucket(format!("u{i}").as_bytes()))
        .collect();
    assert_eq!(again, buckets, "users keep their bucket across the restart");
    assert!(c.verify_log().unwrap());
    // It keeps going from there and keeps saving (compare-and-swap versions move on).
    c.promote("bob").unwrap();
    let saved = FileStore::new(&path).load().unwrap().unwrap();
    assert_eq!(saved.state.step, Some(3));
    assert_eq!(saved.version, saved.state.seq);
}

#[test]
fn a_restarted_restart_keeps_the_new_salt() {
    let store = MemoryStore::new();
    let clock = fledge_test::clock::manual();
    let c = Controller::builder(plan())
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap();
    c.rollback("alice", None).unwrap();
    c.restart("alice").unwrap();
    let salt = c.state().salt;
    assert_eq!(salt, "persist/v2#1");
    drop(c);
    let c = Controller::builder(plan())
        .clock(clock)
        .store(store)
        .build()
        .unwrap();
    assert_eq!(c.state().salt, salt);
    assert_eq!(c.state().attempt, 1);
}

#[test]
fn a_corrupt_snapshot_is_reported_left_untouched_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.json");
    for garbage in [
        "{ not json",
        "",
        "\u{feff}[1, 2",
        "{\"format\": \"fledge-rollout-snapshot\", \"format_version\": 1, \"version\": 3}",
    ] {
        std::fs::write(&path, garbage).unwrap();
        let err = refused(FileStore::new(&path));
        assert!(
            matches!(err, ControlError::Store(StoreError::Corrupt { .. })),
            "{garbage:?}: {err}"
        );
        assert!(
            err.to_string().contains("rollout.json") && err.to_string().contains("untouched"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            garbage,
            "left untouched"
        );
        // Saving over it is refused too.
        let snap = Snapshot::new(plan(), dummy_state(), Vec::new(), fledge_test::clock::T0);
        assert!(FileStore::new(&path).save(&snap, None).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), garbage);
    }
    std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        refused(FileStore::new(&path)),
        ControlError::Store(StoreError::Corrupt { .. })
    ));
}

/// The error of a controller refusing to start from `store`.
fn refused(store: impl Store + 'static) -> ControlError {
    Controller::builder(plan())
        .store(store)
        .build()
        .unwrap_err()
}

fn dummy_state() -> fledge_rollout::machine::State {
    let m = fledge_rollout::machine::Machine::new(plan().check().unwrap());
    m.start(fledge_test::clock::T0).state
}

#[test]
fn a_foreign_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.json");
    // Not a fledge snapshot at all.
    std::fs::write(&path, r#"{"name": "something else"}"#).unwrap();
    let err = refused(FileStore::new(&path));
    assert!(
        matches!(err, ControlError::Store(StoreError::Foreign { .. })),
        "{err}"
    );
    // A fledge snapshot from the future.
    std::fs::write(
        &path,
        r#"{"format": "fledge-rollout-snapshot", "format_version": 99}"#,
    )
    .unwrap();
    let err = refused(FileStore::new(&path));
    assert!(
        matches!(err, ControlError::Store(StoreError::Foreign { .. })),
        "{err}"
    );
    // A snapshot of another rollout.
    std::fs::remove_file(&path).unwrap();
    let other = PlanBuilder::canary("other", "v1", "v3").build().unwrap();
    drop(
        Controller::builder(other)
            .store(FileStore::new(&path))
            .build()
            .unwrap(),
    );
    let before = std::fs::read_to_string(&path).unwrap();
    let err = refused(FileStore::new(&path));
    assert!(matches!(err, ControlError::ForeignSnapshot { .. }), "{err}");
    assert!(err.to_string().contains("\"other\""), "{err}");
    // The same rollout with a changed plan.
    let changed = PlanBuilder::canary("other", "v1", "v3")
        .failure_limit(4)
        .build()
        .unwrap();
    let err = Controller::builder(changed)
        .store(FileStore::new(&path))
        .build()
        .unwrap_err();
    assert!(matches!(err, ControlError::PlanChanged { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn an_inconsistent_snapshot_is_refused() {
    let store = MemoryStore::new();
    let mut state = dummy_state();
    state.step = Some(17);
    store
        .save(
            &Snapshot::new(plan(), state, Vec::new(), fledge_test::clock::T0),
            None,
        )
        .unwrap();
    let err = refused(store);
    assert!(matches!(err, ControlError::BadSnapshot { .. }), "{err}");
}

#[test]
fn compare_and_swap_detects_a_second_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.json");
    let snap = Snapshot::new(plan(), dummy_state(), Vec::new(), fledge_test::clock::T0);
    let a = FileStore::new(&path);
    let b = FileStore::new(&path);
    assert_eq!(a.save(&snap, None).unwrap(), 1);
    assert_eq!(b.save(&snap, Some(1)).unwrap(), 2);
    let err = a.save(&snap, Some(1)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: Some(1),
                found: Some(2),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(a.load().unwrap().unwrap().version, 2);
    // No temp files are left behind (the lock file stays, empty).
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".rollout.json.lock", "rollout.json"], "{names:?}");

    let m = MemoryStore::new();
    assert_eq!(m.save(&snap, None).unwrap(), 1);
    assert!(matches!(
        m.save(&snap, None),
        Err(StoreError::Conflict { .. })
    ));

    // Two controllers on one store: the second one's saves conflict, and the
    // error says so while its decisions still reach its selector.
    let store = MemoryStore::new();
    let one = Controller::builder(plan())
        .store(store.clone())
        .build()
        .unwrap();
    let two = Controller::builder(plan())
        .store(store.clone())
        .build()
        .unwrap();
    one.promote("alice").unwrap();
    let err = two.rollback("bob", None).unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Conflict { .. })),
        "{err}"
    );
    assert_eq!(two.state().phase.name(), PhaseName::RolledBack);
    assert_eq!(two.traffic().candidate.bps(), 0);
}

#[test]
fn a_missing_directory_is_an_io_error_not_a_panic() {
    let store = FileStore::new("/nonexistent-dir-for-fledge/rollout.json");
    let snap = Snapshot::new(plan(), dummy_state(), Vec::new(), fledge_test::clock::T0);
    assert!(matches!(
        store.save(&snap, None),
        Err(StoreError::Io { .. })
    ));
    assert!(store.load().unwrap().is_none());
}

/// What a user is routed to by `c` (no targeting attributes).
fn routes(c: &Controller) -> Vec<fledge_select::VersionIndex> {
    (0..500)
        .map(|i| c.routing().route(Some(format!("u{i}").as_bytes()), &()))
        .collect()
}

#[test]
fn a_replica_resyncs_from_a_shared_store_salt_and_all() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let clock = fledge_test::clock::manual();
    let leader = Controller::builder(plan())
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap();
    let replica = Controller::builder(plan())
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap();
    // Nothing newer than what the replica loaded at start.
    assert!(!replica.resync().unwrap());

    leader.promote("alice").unwrap();
    leader.promote("alice").unwrap();
    assert!(replica.resync().unwrap());
    assert_eq!(replica.state(), leader.state());
    assert_eq!(replica.events(), leader.events());
    assert_eq!(replica.selector().split(), leader.selector().split());
    assert_eq!(routes(&replica), routes(&leader));
    assert!(
        !replica.resync().unwrap(),
        "the same version twice changes nothing"
    );

    // The leader rolls back and restarts: a new salt reaches the replica.
    leader.rollback("alice", Some("p99")).unwrap();
    leader.restart("alice").unwrap();
    leader.promote("alice").unwrap();
    let old_salt = replica.state().salt;
    assert!(replica.resync().unwrap());
    assert_ne!(replica.state().salt, old_salt);
    assert_eq!(replica.state(), leader.state());
    assert_eq!(routes(&replica), routes(&leader), "same salt, same users");
    assert!(replica.verify_log().unwrap());

    // The replica takes over: its next decision saves on top, no conflict.
    replica.promote("bob").unwrap();
    assert_eq!(store.load().unwrap().unwrap().state, replica.state());
    // The old leader, now stale, cannot overwrite it...
    let err = leader.promote("alice").unwrap_err();
    assert!(
        matches!(err, ControlError::Store(StoreError::Conflict { .. })),
        "{err}"
    );
    // ...until it resyncs.
    assert!(leader.resync().unwrap());
    assert_eq!(leader.state(), replica.state());
}

#[test]
fn resync_refuses_another_rollout_and_keeps_serving() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let replica = Controller::builder(plan())
        .store(store.clone())
        .build_at(fledge_test::clock::T0)
        .unwrap();
    replica.promote("alice").unwrap();
    let split = replica.selector().split();
    let other = PlanBuilder::canary("other", "v1", "v2")
        .interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut foreign = replica.snapshot();
    foreign.plan = other;
    foreign.version = 0;
    let v = store.load().unwrap().unwrap().version;
    store.save(&foreign, Some(v)).unwrap();
    let err = replica.resync().unwrap_err();
    assert!(matches!(err, ControlError::ForeignSnapshot { .. }), "{err}");
    assert_eq!(
        replica.selector().split(),
        split,
        "the current traffic keeps serving"
    );
}

#[test]
fn resync_tells_subscribers_and_refuses_a_store_that_lost_data() {
    /// A store whose content a test can wipe, as a Redis restart without
    /// persistence would.
    #[derive(Debug, Default)]
    struct Wipeable(std::sync::Mutex<MemoryStore>);
    impl Store for Wipeable {
        fn load(&self) -> Result<Option<Snapshot>, StoreError> {
            self.0.lock().unwrap().load()
        }
        fn save(&self, s: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
            self.0.lock().unwrap().save(s, expected)
        }
    }
    let store = std::sync::Arc::new(Wipeable::default());
    let leader = Controller::builder(plan())
        .store(store.clone())
        .build_at(fledge_test::clock::T0)
        .unwrap();
    let replica = Controller::builder(plan())
        .store(store.clone())
        .build_at(fledge_test::clock::T0)
        .unwrap();
    let seen = replica.subscribe();
    leader.promote("alice").unwrap();
    leader.pause("alice", Some("lunch")).unwrap();
    assert!(replica.resync().unwrap());
    let got: Vec<_> = seen.try_iter().map(|e| e.seq).collect();
    let expected: Vec<_> = leader.events()[1..].iter().map(|e| e.seq).collect();
    assert_eq!(
        got, expected,
        "the replica's subscribers see the leader's new events"
    );

    // The store loses its data: the replica says so and keeps serving.
    let split = replica.selector().split();
    *store.0.lock().unwrap() = MemoryStore::new();
    let err = replica.resync().unwrap_err();
    assert!(matches!(err, ControlError::StoreBehind { .. }), "{err}");
    assert!(err.to_string().contains("lost data"), "{err}");
    assert_eq!(replica.selector().split(), split);
}
