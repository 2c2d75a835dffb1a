//! Arbitrary bytes as a rollout plan in TOML or JSON: errors, never panics; a
//! plan that parses is valid, round-trips through TOML and JSON, and starts a
//! state machine.
#![no_main]

use fledge_gate::clock::Timestamp;
use fledge_rollout::machine::Machine;
use fledge_rollout::plan::{Format, Plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if selector % 2 == 0 {
        Format::Toml
    } else {
        Format::Json
    };
    let Ok(plan) = Plan::parse(text, format) else {
        return;
    };
    let checked = plan.check().expect("a parsed plan is checked");
    assert!(!checked.steps().is_empty());
    for pair in checked.steps().windows(2) {
        assert!(pair[0].weight < pair[1].weight, "steps increase");
    }
    let json = plan.to_json().expect("serializes to JSON");
    assert_eq!(Plan::from_json(&json).expect("JSON round trip"), plan);
    if let Ok(toml) = plan.to_toml() {
        assert_eq!(Plan::from_toml(&toml).expect("TOML round trip"), plan);
    }
    let start = Machine::new(checked).start(Timestamp::from_millis(0));
    assert!(
        start.state.traffic.candidate
            <= start.state.step.map_or(fledge_select::Weight::ZERO, |i| {
                plan.check().unwrap().steps()[i].weight
            })
    );
});
