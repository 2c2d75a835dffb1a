//! The state machine's laws, as property tests over random plans and random
//! input sequences:
//!
//! 1. before promotion, the candidate's weight never exceeds the current
//!    step's weight (nor does any published weight);
//! 2. terminal states absorb every input but restart — except that, while a
//!    promoted plan keeps its baseline warm (`keep_warm`), a rollback or a
//!    failing verdict may switch back, publishing candidate weight 0;
//! 3. a rollback (operator or failing verdict) from a non-terminal state
//!    publishes candidate weight 0 in that same transition (frozen refuses
//!    the operator's rollback and holds its weights);
//! 4. replaying the event log from the start reproduces the state exactly.

use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_rollout::machine::{
    Action, Command, EventKind, Input, Machine, Outcome, Phase, PhaseName, State,
};
use fledge_rollout::plan::{Hold, PlanBuilder, StepDetail};
use fledge_select::Weight;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct StepShape {
    gap: f64,
    approval: bool,
    pause: Option<Option<u64>>,
    gated: bool,
}

#[derive(Debug, Clone)]
struct PlanShape {
    steps: Vec<StepShape>,
    failure_limit: u32,
    inconclusive_limit: u32,
    confirm: bool,
    keep_warm: Option<u64>,
}

fn plan_shape() -> impl Strategy<Value = PlanShape> {
    let step = (
        1u32..30,
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(None)),
            (1u64..5).prop_map(|s| Some(Some(s)))
        ],
        any::<bool>(),
    )
        .prop_map(|(gap, approval, pause, gated)| StepShape {
            gap: f64::from(gap),
            approval: approval && gap % 3 == 0,
            pause: if gap % 4 == 0 { pause } else { None },
            gated,
        });
    (
        prop::collection::vec(step, 1..6),
        1u32..4,
        1u32..4,
        any::<bool>(),
        prop_oneof![Just(None), (1u64..30).prop_map(Some)],
    )
        .prop_map(
            |(steps, failure_limit, inconclusive_limit, confirm, keep_warm)| PlanShape {
                steps,
                failure_limit,
                inconclusive_limit,
                confirm,
                keep_warm,
            },
        )
}

fn machine(shape: &PlanShape) -> Machine {
    let mut b = PlanBuilder::new("law", "v1", "v2")
        .interval(Duration::from_secs(10))
        .failure_limit(shape.failure_limit)
        .inconclusive_limit(shape.inconclusive_limit)
        .gate(
            toml::from_str(
                "name = \"p99\"\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50.0",
            )
            .unwrap(),
        );
    if let Some(secs) = shape.keep_warm {
        b = b.keep_warm(Duration::from_secs(secs));
    }
    let mut w = 0.0;
    for s in &shape.steps {
        w = f64::min(w + s.gap, 100.0);
        b = b.step(StepDetail {
            weight: w,
            approval: s.approval,
            pause: s.pause.map(|p| match p {
                None => Hold::Indefinite,
                Some(secs) => Hold::For(Duration::from_secs(secs)),
            }),
            gates: if s.gated { None } else { Some(Vec::new()) },
            ..StepDetail::default()
        });
        if w >= 100.0 {
            break;
        }
    }
    let plan = b.build().expect("generated plans are valid");
    Machine::new(plan.check().unwrap()).with_confirmation(shape.confirm)
}

/// The step weights a shape produces, in basis points.
fn weights_of(shape: &PlanShape) -> Vec<u32> {
    let mut out = Vec::new();
    let mut w = 0.0;
    for s in &shape.steps {
        w = f64::min(w + s.gap, 100.0);
        out.push((w * 100.0) as u32);
        if w >= 100.0 {
            break;
        }
    }
    out
}

/// Weights worth trying with `set-weight`: any, and each step's weight ± 1 bps.
fn interesting_weight(steps: Vec<u32>) -> impl Strategy<Value = Weight> {
    let near = prop::sample::select(steps).prop_flat_map(|w| {
        prop_oneof![
            Just(w.saturating_sub(1)),
            Just(w),
            Just((w + 1).min(10_000))
        ]
    });
    prop_oneof![0u32..=10_000, near].prop_map(|bps| Weight::from_bps(bps).unwrap())
}

fn input(steps: Vec<u32>) -> impl Strategy<Value = (u64, Input)> {
    let command = prop_oneof![
        Just(Command::Promote),
        Just(Command::PromoteFull),
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::Approve),
        Just(Command::Freeze),
        Just(Command::Rollback),
        Just(Command::Abort),
        interesting_weight(steps).prop_map(|weight| Command::SetWeight { weight }),
        Just(Command::Restart),
    ];
    let input = prop_oneof![
        3 => Just(Input::Tick),
        3 => prop_oneof![Just(Outcome::Pass), Just(Outcome::Fail), Just(Outcome::Inconclusive)]
            .prop_map(|o| Input::verdict(o, "generated")),
        2 => command.prop_map(|c| Input::command(c, "prop")),
    ];
    (0u64..15_000, input)
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn laws_hold((shape, inputs) in plan_shape().prop_flat_map(|shape| {
        let steps = weights_of(&shape);
        (Just(shape), prop::collection::vec(input(steps), 0..80))
    })) {
        let m = machine(&shape);
        let mut now = Timestamp::from_millis(1_000_000);
        let start = m.start(now);
        let mut state = start.state.clone();
        let mut log = vec![start.event().cloned().unwrap()];
        for (dt, input) in inputs {
            now = now + Duration::from_millis(dt);
            let t = m.transition(&state, &input, now);
            let restart = matches!(input, Input::Command { command: Command::Restart, .. });

            // Law 1: weight never exceeds the step's before promotion.
            if t.state.phase != Phase::Promoted {
                prop_assert!(t.state.traffic.candidate <= step_weight(&m, &t.state),
                    "weight {} above step weight {} in {:?}", t.state.traffic.candidate, step_weight(&m, &t.state), t.state);
                for w in published(&t.actions) {
                    prop_assert!(w <= step_weight(&m, &t.state));
                }
            }

            // Law 2: terminal states absorb everything but restart, and a
            // rollback or failing verdict while the baseline is kept warm.
            let switch_back = m.keeps_warm(&state, now)
                && matches!(
                    input,
                    Input::Command { command: Command::Rollback, .. }
                        | Input::Verdict { outcome: Outcome::Fail, .. }
                );
            if switch_back {
                prop_assert!(matches!(t.state.phase.name(), PhaseName::RolledBack | PhaseName::Promoted));
                if t.state.phase.name() == PhaseName::RolledBack {
                    prop_assert_eq!(published(&t.actions), vec![Weight::ZERO]);
                }
            }
            if !m.keeps_warm(&state, now) && state.phase == Phase::Promoted {
                prop_assert_eq!(m.warm_until(&state).is_some(), shape.keep_warm.is_some());
            }
            if state.is_terminal() && !restart && !switch_back {
                let mut same = t.state.clone();
                same.seq = state.seq;
                prop_assert_eq!(&same, &state);
                prop_assert!(published(&t.actions).is_empty());
                if let Some(e) = t.event() {
                    prop_assert_eq!(e.kind, EventKind::Rejected);
                }
            }

            // Law 3: rollback publishes weight 0 in the same transition.
            if !state.is_terminal() {
                let operator_rollback = matches!(input, Input::Command { command: Command::Rollback | Command::Abort, .. });
                if operator_rollback && state.phase != Phase::Frozen {
                    prop_assert!(matches!(t.state.phase.name(), PhaseName::RolledBack | PhaseName::Aborted));
                    prop_assert_eq!(published(&t.actions), vec![Weight::ZERO]);
                }
                if operator_rollback && state.phase == Phase::Frozen {
                    prop_assert_eq!(t.state.traffic, state.traffic);
                    prop_assert!(published(&t.actions).is_empty());
                }
                if t.state.phase.name() == PhaseName::RolledBack {
                    prop_assert_eq!(published(&t.actions), vec![Weight::ZERO]);
                    prop_assert_eq!(t.state.traffic.candidate, Weight::ZERO);
                }
            }

            // Every state change comes with exactly one event, in sequence,
            // published before it is emitted and persisted after.
            if t.state != state {
                let e = t.event().cloned();
                prop_assert!(e.is_some());
                let e = e.unwrap();
                prop_assert_eq!(e.seq, state.seq);
                prop_assert_eq!(t.state.seq, state.seq + 1);
                prop_assert_eq!(t.actions.last(), Some(&Action::Persist));
                if !matches!(t.actions.first(), Some(Action::Publish(_))) {
                    prop_assert!(published(&t.actions).is_empty());
                }
                log.push(e);
            } else {
                prop_assert!(t.actions.is_empty());
            }
            state = t.state;
        }

        // Law 4: replaying the log reproduces the state exactly.
        let replayed = m.replay(&log);
        prop_assert_eq!(replayed, Ok(state));
    }
}

#[test]
fn replay_detects_a_tampered_log() {
    let shape = PlanShape {
        steps: vec![
            StepShape {
                gap: 5.0,
                approval: false,
                pause: None,
                gated: true,
            },
            StepShape {
                gap: 20.0,
                approval: false,
                pause: None,
                gated: true,
            },
        ],
        failure_limit: 1,
        inconclusive_limit: 2,
        confirm: false,
        keep_warm: None,
    };
    let m = machine(&shape);
    let t0 = Timestamp::from_millis(0);
    let s0 = m.start(t0);
    let t1 = m.transition(
        &s0.state,
        &Input::verdict(Outcome::Fail, "bad"),
        t0 + Duration::from_secs(1),
    );
    let mut log = vec![s0.event().cloned().unwrap(), t1.event().cloned().unwrap()];
    assert_eq!(m.replay(&log), Ok(t1.state.clone()));
    log[1].input = Input::verdict(Outcome::Pass, "forged");
    assert!(m.replay(&log).is_err());
    assert!(m.replay(&[]).is_err());
    assert!(m.replay(&log[1..]).is_err());
}
