//! Arbitrary bytes as a persisted rollout snapshot (the file store's JSON):
//! an error or a snapshot, never a panic; a snapshot that loads round-trips,
//! and a controller either refuses it with an error or resumes from it and
//! keeps working (ticks, commands, a rollback that reaches the selector).
//!
//! Random bytes rarely make valid JSON, so most inputs are applied as an
//! edit to a real snapshot (the canonical plan after a few ticks): byte 0
//! chooses raw mode or edit mode, bytes 1–4 the edit's position and length,
//! the rest is spliced in. Edits reach the fields a hand-edited or half-
//! written state file gets wrong: steps, weights, salts, counters, events.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_rollout::control::Controller;
use fledge_rollout::plan::{Format, Plan};
use fledge_rollout::store::{MemoryStore, Snapshot, Store};
use libfuzzer_sys::fuzz_target;

const PLAN: &str = include_str!("../../examples/plans/canary.toml");

fn t0() -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000)
}

/// A real snapshot: the canonical plan, started and ticked into step 1.
fn seed() -> &'static str {
    static SEED: OnceLock<String> = OnceLock::new();
    SEED.get_or_init(|| {
        let plan = Plan::parse(PLAN, Format::Toml).expect("the canonical plan is valid");
        let store = Arc::new(MemoryStore::new());
        let controller = Controller::builder(plan)
            .store(store.clone())
            .build_at(t0())
            .expect("a fresh controller starts");
        for s in 1..=5 {
            controller
                .tick(t0() + Duration::from_secs(s))
                .expect("ticks");
        }
        store
            .snapshot()
            .expect("the controller saved a snapshot")
            .to_json()
            .expect("serializes")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = if mode % 4 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let seed = seed().as_bytes();
        let word = |i: usize| {
            u16::from_le_bytes([*rest.get(i).unwrap_or(&0), *rest.get(i + 1).unwrap_or(&0)])
        };
        let at = usize::from(word(0)) % (seed.len() + 1);
        let len = usize::from(word(2) % 64).min(seed.len() - at);
        let patch = rest.get(4..).unwrap_or(&[]);
        let mut edited = Vec::with_capacity(seed.len() + patch.len());
        edited.extend_from_slice(&seed[..at]);
        edited.extend_from_slice(patch);
        edited.extend_from_slice(&seed[at + len..]);
        String::from_utf8_lossy(&edited).into_owned()
    };

    let Ok(snapshot) = Snapshot::from_json(&text, "fuzz") else {
        return;
    };
    let json = snapshot.to_json().expect("a loaded snapshot serializes");
    let again = Snapshot::from_json(&json, "fuzz round trip").expect("and loads again");
    assert_eq!(again, snapshot, "round trip changed the snapshot");

    let store = MemoryStore::new();
    if store.save(&snapshot, None).is_err() {
        return;
    }
    let Ok(controller) = Controller::builder(snapshot.plan.clone())
        .store(store)
        .build_at(snapshot.saved_at)
    else {
        return;
    };
    let mut now = snapshot.saved_at;
    for _ in 0..3 {
        now = now + Duration::from_secs(1);
        let _ = controller.tick(now);
    }
    let _ = controller.pause("fuzz", Some("fuzzing"));
    let _ = controller.resume("fuzz");
    if controller.rollback("fuzz", Some("fuzzing")).is_ok() {
        let split = controller.selector().split();
        let weight = split.weight_of(snapshot.plan.candidate.as_str());
        assert!(
            weight.is_none_or(|w| w == fledge_select::Weight::ZERO),
            "rollback left candidate traffic: {weight:?}"
        );
    }
});
