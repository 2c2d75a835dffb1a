//! The conformance suite of [`Store`]: what every snapshot store promises
//! the controller, run against the memory, file and Redis stores.
//!
//! A backend under test implements [`Backend`]: it opens handles onto one
//! shared, initially empty place (two handles are two replicas, or two
//! processes) and can write raw bytes there, to plant a corrupt or foreign
//! value. [`conformance`] runs every check and panics with the first
//! broken promise.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use fledge_rollout::machine::{PhaseName, State};
use fledge_rollout::store::{Snapshot, Store, StoreError};
use fledge_rollout::{ControlError, Controller};

use crate::{clock, plans};

/// A place a store keeps one rollout's snapshot in.
pub trait Backend {
    /// The store type.
    type Store: Store + 'static;

    /// A new handle onto the shared place.
    fn open(&self) -> Self::Store;

    /// Replaces whatever is stored with `bytes`, bypassing the store;
    /// `false` when the place holds parsed snapshots, not bytes (the memory
    /// store), so there is nothing corrupt or foreign to plant.
    fn write_raw(&self, bytes: &[u8]) -> bool;

    /// The raw bytes stored, bypassing the store (`None`: nothing).
    fn read_raw(&self) -> Option<Vec<u8>>;

    /// Empties the place (between checks).
    fn clear(&self);
}

/// A named check of the suite.
type Check<B> = (&'static str, fn(&B));

/// Runs every check against `backend`, clearing it before each.
pub fn conformance<B: Backend>(backend: &B) {
    let checks: [Check<B>; 7] = [
        ("an empty store loads nothing", empty_loads_nothing),
        ("saves are versioned and read back whole", saves_round_trip),
        (
            "compare-and-swap refuses a stale writer",
            stale_writer_conflicts,
        ),
        ("one of racing first saves wins", racing_first_saves),
        (
            "a corrupt value is refused and left untouched",
            corrupt_is_refused,
        ),
        (
            "a foreign value is refused and left untouched",
            foreign_is_refused,
        ),
        (
            "a controller resumes from another handle",
            controller_resumes,
        ),
    ];
    for (name, check) in checks {
        backend.clear();
        check(backend);
        eprintln!("store conformance: {name}: ok");
    }
    backend.clear();
}

fn snapshot(step: Option<usize>) -> Snapshot {
    let plan = plans::canary("conformance");
    let controller = plans::controller(plan.clone(), &clock::manual());
    let mut state: State = controller.state();
    state.step = step;
    Snapshot::new(plan, state, controller.events(), clock::T0)
}

fn empty_loads_nothing<B: Backend>(backend: &B) {
    let store = backend.open();
    assert!(
        matches!(store.load(), Ok(None)),
        "{}: an empty store must load None",
        store.kind()
    );
}

fn saves_round_trip<B: Backend>(backend: &B) {
    let store = backend.open();
    let first = snapshot(Some(0));
    assert_eq!(store.save(&first, None).expect("first save"), 1);
    let loaded = store.load().expect("load").expect("a snapshot");
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.state, first.state);
    assert_eq!(loaded.plan, first.plan);
    assert_eq!(loaded.events, first.events);
    let second = snapshot(Some(1));
    assert_eq!(store.save(&second, Some(1)).expect("second save"), 2);
    let other = backend.open();
    let seen = other.load().expect("load").expect("a snapshot");
    assert_eq!((seen.version, seen.state.step), (2, Some(1)));
}

fn stale_writer_conflicts<B: Backend>(backend: &B) {
    let (a, b) = (backend.open(), backend.open());
    let snap = snapshot(Some(0));
    assert_eq!(a.save(&snap, None).expect("a saves first"), 1);
    assert_eq!(b.save(&snap, Some(1)).expect("b saves on top"), 2);
    let err = a.save(&snap, Some(1)).expect_err("a is stale");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: Some(1),
                found: Some(2),
                ..
            }
        ),
        "{}: {err}",
        a.kind()
    );
    let err = a
        .save(&snap, None)
        .expect_err("nothing is not what is stored");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(a.load().expect("load").expect("stored").version, 2);
}

fn racing_first_saves<B: Backend>(backend: &B) {
    let writers = 4;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let store = backend.open();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let snap = snapshot(Some(i));
                barrier.wait();
                store.save(&snap, None)
            })
        })
        .collect();
    let results: Vec<Result<u64, StoreError>> = handles
        .into_iter()
        .map(|h| h.join().expect("a writer thread"))
        .collect();
    let won = results.iter().filter(|r| matches!(r, Ok(1))).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
        .count();
    assert_eq!((won, lost), (1, writers - 1), "{results:?}");
}

fn corrupt_is_refused<B: Backend>(backend: &B) {
    let garbage = b"{\"format\": \"fledge-rollout-snapshot\", \"version\": ";
    if !backend.write_raw(garbage) {
        eprintln!("store conformance: holds no bytes, so nothing can be corrupt");
        return;
    }
    let store = backend.open();
    let err = store.load().expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let err = store
        .save(&snapshot(Some(0)), None)
        .expect_err("never overwritten");
    assert!(
        matches!(
            err,
            StoreError::Corrupt { .. } | StoreError::Conflict { .. }
        ),
        "{err}"
    );
    assert_eq!(backend.read_raw().as_deref(), Some(&garbage[..]));
    let refused = Controller::builder(plans::canary("conformance"))
        .clock(clock::manual())
        .store(backend.open())
        .build()
        .expect_err("a controller does not start from a corrupt snapshot");
    assert!(matches!(refused, ControlError::Store(_)), "{refused}");
}

fn foreign_is_refused<B: Backend>(backend: &B) {
    let foreign = br#"{"format": "someone-elses-file", "data": [1, 2, 3]}"#;
    if !backend.write_raw(foreign) {
        eprintln!("store conformance: holds no bytes, so nothing can be foreign");
        return;
    }
    let store = backend.open();
    let err = store.load().expect_err("foreign");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert_eq!(backend.read_raw().as_deref(), Some(&foreign[..]));
}

fn controller_resumes<B: Backend>(backend: &B) {
    let clock = clock::manual();
    let first = plans::controller_on(plans::canary("conformance"), &clock, backend.open());
    first.promote("alice").expect("promote");
    first.promote("alice").expect("promote");
    let buckets: Vec<u32> = (0..100)
        .map(|i| first.routing().bucket(format!("u{i}").as_bytes()))
        .collect();
    let state = first.state();
    clock.advance(Duration::from_secs(1));
    let second = plans::controller_on(plans::canary("conformance"), &clock, backend.open());
    assert_eq!(second.state(), state);
    assert_eq!(second.state().phase.name(), PhaseName::Progressing);
    assert_eq!(second.traffic().candidate.bps(), 5_000);
    let again: Vec<u32> = (0..100)
        .map(|i| second.routing().bucket(format!("u{i}").as_bytes()))
        .collect();
    assert_eq!(again, buckets, "users keep their bucket on another handle");
    // The first one is now behind: its next save conflicts.
    second.promote("bob").expect("the resumed one saves");
    let err = first.rollback("carol", None).expect_err("stale");
    assert!(
        matches!(err, ControlError::Store(StoreError::Conflict { .. })),
        "{err}"
    );
}
