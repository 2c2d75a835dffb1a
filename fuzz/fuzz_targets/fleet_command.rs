//! What a fleet's replicas read from each other through Redis: a command a
//! follower forwarded to the leader (popped from `fleet:N:commands`), the
//! leader's answer (from `fleet:N:reply:<id>`), the leader's published
//! `FleetJudgement`, and a replica's registry load report
//! (`fledge_registry::ReplicaReport`).
//!
//! `Forwarded` and `Reply` are private to `fledge-redis`
//! (`src/member/command.rs`); this target decodes with copies of them
//! (same fields, same serde attributes), whose parsing depth is in the
//! public `Command` and `Event` types they hold. The judgement and the
//! load report are the public types themselves.
//!
//! An error or a value, never a panic. A command that decodes re-encodes
//! to the same value and is applied like the leader does (`Controller::
//! command` on a fresh controller of the canonical plan, with the fuzzed
//! operator and reason): an event or a refusal, never a panic; the event's
//! weight is at most 100 %, the controller's event log replays to its
//! state, its snapshot round-trips, and the leader's `Reply` to it encodes
//! and decodes. A decoded reply, judgement or report re-encodes to JSON
//! that decodes to the same JSON; a judgement's coverage describes itself
//! without a panic.
//!
//! Byte 0 picks the value (`% 4`) and raw or edit mode (the edit splices
//! the rest into a real value at a position and length from bytes 1–3).

#![no_main]

use std::sync::OnceLock;

use fledge_redis::FleetJudgement;
use fledge_registry::ReplicaReport;
use fledge_rollout::machine::{Command, Event};
use fledge_rollout::{Controller, Plan, Snapshot};
use fledge_select::Weight;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

/// A copy of `fledge_redis::member::command::Forwarded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Forwarded {
    id: String,
    command: Command,
    by: String,
    reason: Option<String>,
    from: String,
    deadline_ms: u64,
}

/// A copy of `fledge_redis::member::command::Reply`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Applied { event: Event, leader: String },
    Rejected { reason: String },
    Failed { reason: String, leader: String },
}

const PLAN: &str = include_str!("../../examples/plans/canary.toml");

/// What `forward` pushes (as `serde_json::to_string` writes it).
const FORWARDED: &str = r#"{"id":"replica-b-3f9a0c2e71d4b508","command":{"set_weight":{"weight":250}},"by":"alice","reason":"hold at 2.5 % over the weekend","from":"replica-b","deadline_ms":1765036800000}"#;
/// The leader's published judgement.
const JUDGEMENT: &str = r#"{"leader":"replica-a","at_ms":1765036790000,"judgement":{"outcome":"pass","reason":"fleet: 3/3 replicas, 12034 requests (candidate 602): all gates pass"},"coverage":{"counted":["replica-a","replica-b"],"not_counted":[["replica-c","late: last summary 7.2 s ago"]],"requests":12034,"candidate_requests":602,"window_start_ms":1765036760000,"window_end_ms":1765036790000,"share":0.6666666666666666,"floor":0.5,"read_ms":1.4,"merge_ms":0.3}}"#;
/// A replica's load report.
const REPORT: &str = r#"{"loaded":{"forecaster":["3","4"]},"failed":{"forecaster":{"5":"model.json: expected value at line 1 column 1"}}}"#;

fn plan() -> &'static Plan {
    static PLAN_: OnceLock<Plan> = OnceLock::new();
    PLAN_.get_or_init(|| Plan::from_toml(PLAN).expect("the canonical plan parses"))
}

/// What the leader answers to `FORWARDED` (encoded from a real event).
fn reply_seed() -> &'static str {
    static SEED: OnceLock<String> = OnceLock::new();
    SEED.get_or_init(|| {
        let request: Forwarded = serde_json::from_str(FORWARDED).expect("the seed decodes");
        let controller = Controller::builder(plan().clone())
            .build()
            .expect("the controller starts");
        let event = controller
            .command(request.command, &request.by, request.reason.as_deref())
            .expect("the seed command applies");
        serde_json::to_string(&Reply::Applied {
            event,
            leader: "replica-a".into(),
        })
        .expect("encodes")
    })
}

fn splice(seed: &[u8], rest: &[u8]) -> Vec<u8> {
    let at = usize::from(u16::from_le_bytes([
        *rest.first().unwrap_or(&0),
        *rest.get(1).unwrap_or(&0),
    ])) % (seed.len() + 1);
    let len = usize::from(*rest.get(2).unwrap_or(&0) % 32).min(seed.len() - at);
    let mut edited = seed[..at].to_vec();
    edited.extend_from_slice(rest.get(3..).unwrap_or(&[]));
    edited.extend_from_slice(&seed[at + len..]);
    edited
}

/// Decoded, re-encoded and decoded again, `value` gives the same JSON.
fn stable<T: Serialize + for<'de> Deserialize<'de>>(value: &T) {
    let first = serde_json::to_value(value).expect("a decoded value encodes");
    let text = serde_json::to_string(value).expect("a decoded value encodes");
    let again: T = serde_json::from_str(&text).expect("its encoding decodes");
    assert_eq!(serde_json::to_value(&again).expect("encodes"), first);
}

fn apply(request: &Forwarded) {
    let controller = Controller::builder(plan().clone())
        .build()
        .expect("the controller starts");
    let reply = match controller.command(request.command, &request.by, request.reason.as_deref()) {
        Ok(event) => {
            assert!(event.weight <= Weight::FULL);
            let _ = event.to_string();
            Reply::Applied {
                event,
                leader: "replica-a".into(),
            }
        }
        Err(e) => {
            let reason = e.to_string();
            assert!(!reason.is_empty());
            Reply::Rejected { reason }
        }
    };
    assert_eq!(controller.verify_log().ok(), Some(true), "the log replays");
    let snapshot = controller.snapshot();
    let json = snapshot.to_json().expect("a snapshot encodes");
    Snapshot::from_json(&json, "fuzz").expect("a snapshot decodes");
    stable(&reply);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let kind = mode % 4;
    let seed = [FORWARDED, reply_seed(), JUDGEMENT, REPORT][usize::from(kind)];
    let bytes = if (mode / 4) % 2 == 1 {
        splice(seed.as_bytes(), rest)
    } else {
        rest.to_vec()
    };
    // Redis hands the leader a string: the same `from_str` as the members.
    let text = String::from_utf8_lossy(&bytes);
    match kind {
        0 => {
            if let Ok(request) = serde_json::from_str::<Forwarded>(&text) {
                let again: Forwarded =
                    serde_json::from_str(&serde_json::to_string(&request).expect("encodes"))
                        .expect("decodes");
                assert_eq!(again, request);
                apply(&request);
            }
        }
        1 => {
            if let Ok(reply) = serde_json::from_str::<Reply>(&text) {
                if let Reply::Applied { event, .. } = &reply {
                    let _ = event.to_string();
                }
                stable(&reply);
            }
        }
        2 => {
            if let Ok(judgement) = serde_json::from_str::<FleetJudgement>(&text) {
                if let Some(c) = &judgement.coverage {
                    let _ = (c.describe(), c.is_enough(), c.replicas_known());
                }
                stable(&judgement);
            }
        }
        _ => {
            if let Ok(report) = serde_json::from_str::<ReplicaReport>(&text) {
                let again: ReplicaReport =
                    serde_json::from_str(&serde_json::to_string(&report).expect("encodes"))
                        .expect("decodes");
                assert_eq!(again, report);
            }
        }
    }
});
