//! Arbitrary input sequences into the rollout state machine, checking its laws:
//! the candidate's weight never exceeds the current step's before promotion;
//! terminal states absorb every input but restart; a rollback publishes weight
//! 0 in the same transition; replaying the event log reproduces the state.
#![no_main]

use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_rollout::machine::{Action, Command, Input, Machine, Outcome, Phase, PhaseName, State};
use fledge_rollout::plan::{Hold, PlanBuilder, StepDetail};
use fledge_select::Weight;
use libfuzzer_sys::fuzz_target;

fn machine(config: &[u8]) -> Option<Machine> {
    let (&head, steps) = config.split_first()?;
    let mut b = PlanBuilder::new("fuzz", "v1", "v2")
        .interval(Duration::from_secs(10))
        .failure_limit(u32::from(head % 4) + 1)
        .inconclusive_limit(u32::from((head >> 2) % 4) + 1);
    let mut w = 0u32;
    for &s in steps.iter().take(6) {
        w = (w + u32::from(s % 40) + 1).min(100);
        b = b.step(StepDetail {
            weight: f64::from(w),
            approval: s & 0x40 != 0,
            pause: match s >> 6 {
                3 => Some(Hold::Indefinite),
                2 => Some(Hold::For(Duration::from_secs(5))),
                _ => None,
            },
            gates: Some(Vec::new()),
            mirror: (s & 0x80 != 0).then_some(10.0),
            ..StepDetail::default()
        });
        if w == 100 {
            break;
        }
    }
    let plan = b.build().ok()?;
    Some(Machine::new(plan.check().ok()?).with_confirmation(head & 0x80 != 0))
}

fn input(kind: u8, param: u8) -> Input {
    match kind % 14 {
        0 | 1 => Input::Tick,
        2 => Input::verdict(Outcome::Pass, "fuzz"),
        3 => Input::verdict(Outcome::Fail, "fuzz"),
        4 => Input::verdict(Outcome::Inconclusive, "fuzz"),
        5 => Input::command(Command::Promote, "fuzz"),
        6 => Input::command(Command::PromoteFull, "fuzz"),
        7 => Input::command(Command::Pause, "fuzz"),
        8 => Input::command(Command::Resume, "fuzz"),
        9 => Input::command(Command::Approve, "fuzz"),
        10 => Input::command(Command::Freeze, "fuzz"),
        11 => Input::command(
            if param % 2 == 0 {
                Command::Rollback
            } else {
                Command::Abort
            },
            "fuzz",
        ),
        12 => Input::command(
            Command::SetWeight {
                weight: Weight::from_bps(u32::from(param) * 40).unwrap_or(Weight::FULL),
            },
            "fuzz",
        ),
        _ => Input::command(Command::Restart, "fuzz"),
    }
}

fn step_weight(m: &Machine, s: &State) -> Weight {
    s.step
        .and_then(|i| m.plan().step(i))
        .map_or(Weight::ZERO, |st| st.weight)
}

fn published(actions: &[Action]) -> Vec<Weight> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Publish(t) => Some(t.candidate),
            _ => None,
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 7) + 1;
    if rest.len() < n {
        return;
    }
    let (config, inputs) = rest.split_at(n);
    let Some(m) = machine(config) else { return };
    let mut now = Timestamp::from_millis(0);
    let start = m.start(now);
    let mut state = start.state.clone();
    let mut log = vec![start.event().cloned().expect("start emits")];
    for chunk in inputs.chunks_exact(3) {
        now = now + Duration::from_millis(u64::from(chunk[0]) * 100);
        let input = input(chunk[1], chunk[2]);
        let t = m.transition(&state, &input, now);
        let restart = matches!(
            input,
            Input::Command {
                command: Command::Restart,
                ..
            }
        );
        if t.state.phase != Phase::Promoted {
            assert!(t.state.traffic.candidate <= step_weight(&m, &t.state));
            for w in published(&t.actions) {
                assert!(w <= step_weight(&m, &t.state));
            }
        }
        if state.is_terminal() && !restart {
            let mut same = t.state.clone();
            same.seq = state.seq;
            assert_eq!(same, state);
            assert!(published(&t.actions).is_empty());
        }
        if t.state.phase.name() == PhaseName::RolledBack && !state.is_terminal() {
            assert_eq!(published(&t.actions), vec![Weight::ZERO]);
        }
        if let Some(e) = t.event() {
            assert_eq!(e.seq, state.seq);
            log.push(e.clone());
        } else {
            assert_eq!(t.state, state);
        }
        state = t.state;
    }
    assert_eq!(m.replay(&log), Ok(state));
});
