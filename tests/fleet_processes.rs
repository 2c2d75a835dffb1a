//! A fleet of separate replica processes (the `fleet_replica` binary) on a
//! real redis-server: the leader killed mid-rollout, replicas started
//! together on an empty store, Redis frozen mid-step, a command given to a
//! follower, and every replica routing every user alike at every step.
//!
//! The tests run one at a time (each starts Redis and three processes);
//! bounds leave room for a loaded 2-core machine: conditions are waited
//! for with generous deadlines, never slept for.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fledge_test::redis::RedisServer;
use fledge_test::wait;
use fledge_tests::fleet::{Load, Replica};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fleet_replica");
/// The replicas' lease TTL and tick (see `fleet_replica`'s defaults).
const TTL: Duration = Duration::from_millis(1_500);
const TICK: Duration = Duration::from_millis(200);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn plan(dir: &Path) -> PathBuf {
    let path = dir.join("plan.toml");
    std::fs::write(
        &path,
        r#"
name = "predict"
baseline = "v1"
candidate = "v2"
steps = [10, 30, 60, 100]
interval = "1500ms"
failure_limit = 1

[[gates]]
name = "errors"
kind = "threshold"
metric = "error_rate"
max = 0.05
min_samples = 20
"#,
    )
    .unwrap();
    path
}

struct Fleet {
    redis: RedisServer,
    replicas: Vec<Replica>,
    _dir: tempfile::TempDir,
}

fn fleet(n: usize) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let plan = plan(dir.path());
    let replicas = (0..n)
        .map(|i| Replica::start(Path::new(BIN), &redis.url(), &format!("r{i}"), &plan, &[]))
        .collect();
    Fleet {
        redis,
        replicas,
        _dir: dir,
    }
}

fn field<'a>(status: &'a Value, name: &str) -> &'a Value {
    &status[name]
}

fn step(s: &Value) -> Option<u64> {
    field(s, "step").as_u64()
}

fn phase(s: &Value) -> String {
    field(s, "phase").as_str().unwrap_or("").to_owned()
}

fn is_leader(s: &Value) -> bool {
    field(s, "leader").as_bool() == Some(true)
}

/// The index of the replica leading now, if exactly one says so.
fn leader(replicas: &[Replica]) -> Option<usize> {
    let leading: Vec<usize> = replicas
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status().is_some_and(|s| is_leader(&s)))
        .map(|(i, _)| i)
        .collect();
    (leading.len() == 1).then(|| leading[0])
}

fn all_promoted(replicas: &[Replica]) -> bool {
    replicas
        .iter()
        .all(|r| r.status().is_some_and(|s| phase(&s) == "promoted"))
}

#[test]
fn the_leader_killed_mid_rollout_another_completes_it_at_the_same_step() {
    let _one = serial();
    let mut f = fleet(3);
    let load = Load::start(f.replicas.iter().map(|r| r.addr).collect(), 3);
    // Midway: the leader at step 2 of 4.
    let mut at = None;
    assert!(wait::until(Duration::from_secs(60), || {
        at = leader(&f.replicas).and_then(|i| {
            let s = f.replicas[i].status()?;
            (step(&s) >= Some(1)).then_some((i, s))
        });
        at.is_some()
    }));
    let (old, before) = at.unwrap();
    let salt = field(&before, "salt").clone();
    load.remove(f.replicas[old].addr);
    f.replicas[old].kill();
    let killed = Instant::now();
    let rest: Vec<Replica> = f
        .replicas
        .drain(..)
        .enumerate()
        .filter(|(i, _)| *i != old)
        .map(|(_, r)| r)
        .collect();
    assert!(wait::until(Duration::from_secs(20), || leader(&rest).is_some()));
    let took = killed.elapsed();
    // Within the TTL plus one tick, with room for a loaded machine.
    assert!(took < TTL + TICK + Duration::from_secs(3), "{took:?}");
    let new = &rest[leader(&rest).unwrap()];
    let after = new.status().unwrap();
    assert_eq!(field(&after, "salt"), &salt, "the same sticky salt");
    let (b, a) = (step(&before).unwrap(), step(&after).unwrap_or(99));
    assert!(a == b || a == b + 1, "step {b} before the kill, {a} after");
    assert!(
        wait::until(Duration::from_secs(60), || all_promoted(&rest)),
        "{:?}",
        rest.iter().map(Replica::status).collect::<Vec<_>>()
    );
    let changes = field(&new.status().unwrap()["member"], "leader_changes")
        .as_u64()
        .unwrap();
    assert!(changes >= 2, "saw {changes} leaders");
    load.stop();
}

#[test]
fn replicas_started_together_on_an_empty_store_run_one_rollout() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let plan = plan(dir.path());
    let url = redis.url();
    // The same moment: three processes race to start the rollout.
    let replicas: Vec<Replica> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (url, plan) = (&url, &plan);
                s.spawn(move || Replica::start(Path::new(BIN), url, &format!("r{i}"), plan, &[]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every one joined (no error reached the user) and serves one rollout.
    let salts: Vec<Value> = replicas
        .iter()
        .map(|r| field(&r.status().unwrap(), "salt").clone())
        .collect();
    assert!(salts.iter().all(|s| *s == salts[0]), "{salts:?}");
    assert!(wait::until(Duration::from_secs(20), || leader(&replicas).is_some()));
    let versions: Vec<u64> = replicas
        .iter()
        .map(|r| r.status().unwrap()["member"]["version"].as_u64().unwrap())
        .collect();
    assert!(versions.iter().all(|v| *v >= 1), "{versions:?}");
    drop(redis);
}

#[test]
fn redis_frozen_mid_step_replicas_keep_serving_and_the_rollout_goes_on() {
    let _one = serial();
    let f = fleet(3);
    let load = Load::start(f.replicas.iter().map(|r| r.addr).collect(), 3);
    assert!(wait::until(Duration::from_secs(60), || {
        f.replicas
            .iter()
            .all(|r| r.status().is_some_and(|s| step(&s) >= Some(1)))
    }));
    let before: Vec<String> = f
        .replicas
        .iter()
        .map(|r| r.routes(0, 2_000).unwrap().1)
        .collect();
    f.redis.pause();
    let frozen = Instant::now();
    let served = load.ok.load(std::sync::atomic::Ordering::Relaxed);
    // Frozen for 3 s: every replica answers, with its last split.
    while frozen.elapsed() < Duration::from_secs(3) {
        for (r, b) in f.replicas.iter().zip(&before) {
            let (_, now, _) = r.routes(0, 2_000).expect("answers while Redis is frozen");
            let moved = now.chars().zip(b.chars()).filter(|(x, y)| x != y).count();
            // The step may have advanced just before the freeze: users only
            // ever move from v1 to v2 then.
            assert!(
                now.chars()
                    .zip(b.chars())
                    .all(|(x, y)| x == y || (y == '1' && x == '2')),
                "{moved} users moved back"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(load.ok.load(std::sync::atomic::Ordering::Relaxed) > served);
    f.redis.resume();
    assert!(
        wait::until(Duration::from_secs(90), || all_promoted(&f.replicas)),
        "{:?}",
        f.replicas.iter().map(Replica::status).collect::<Vec<_>>()
    );
    load.stop();
}

#[test]
fn a_command_sent_to_a_follower_is_applied_by_the_leader() {
    let _one = serial();
    let f = fleet(3);
    assert!(wait::until(Duration::from_secs(20), || leader(&f.replicas).is_some()));
    let l = leader(&f.replicas).unwrap();
    let follower = &f.replicas[(l + 1) % 3];
    let (code, answer) = follower.command("pause", "alice");
    assert_eq!(code, 200, "{answer}");
    assert!(
        answer["event"]["reason"]
            .as_str()
            .unwrap()
            .contains("alice")
    );
    assert!(wait::until(Duration::from_secs(10), || {
        f.replicas
            .iter()
            .all(|r| r.status().is_some_and(|s| phase(&s) == "paused"))
    }));
    // Refused by the state machine: its reason, as a conflict.
    let (code, answer) = follower.command("approve", "bob");
    assert_eq!(code, 409, "{answer}");
    let (code, answer) = follower.command("resume", "alice");
    assert_eq!(code, 200, "{answer}");
}

#[test]
fn every_replica_routes_every_user_alike_at_every_step() {
    let _one = serial();
    let f = fleet(3);
    let load = Load::start(f.replicas.iter().map(|r| r.addr).collect(), 2);
    let users = 5_000;
    let mut weights_checked = std::collections::BTreeSet::new();
    let (mut compared, mut in_propagation) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let seen: Vec<(u64, String, u64)> = f
            .replicas
            .iter()
            .filter_map(|r| r.routes(0, users))
            .collect();
        let settled = seen.len() == 3 && seen.iter().all(|(b, _, a)| b == a && *b == seen[0].0);
        if settled {
            for (_, v, _) in &seen {
                assert_eq!(v, &seen[0].1, "two replicas route users differently");
            }
            let share = seen[0].1.chars().filter(|c| *c == '2').count() * 100 / users as usize;
            weights_checked.insert(share);
            compared += 1;
        } else {
            in_propagation += 1;
        }
        if all_promoted(&f.replicas) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(all_promoted(&f.replicas));
    // 10, 30, 60 and 100 % (to within sampling of 5,000 users).
    assert!(weights_checked.len() >= 4, "{weights_checked:?}");
    assert!(
        compared > in_propagation,
        "{compared} compared, {in_propagation} skipped"
    );
    load.stop();
}

/// A plan that moves on by itself only after a minute: commands alone
/// change it during the test.
fn slow_plan(dir: &Path) -> PathBuf {
    let path = dir.join("slow.toml");
    std::fs::write(
        &path,
        r#"
name = "predict"
baseline = "v1"
candidate = "v2"
steps = [10, 30, 60, 100]
interval = "60s"
"#,
    )
    .unwrap();
    path
}

fn admin_phase(r: &Replica) -> Option<String> {
    r.admin_status("predict")
        .and_then(|s| s["phase"]["name"].as_str().map(str::to_owned))
}

#[test]
fn the_admin_api_of_any_replica_forwards_commands_and_shows_the_fleet() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let plan = slow_plan(dir.path());
    // r0 alone may lead, so that once it is killed nobody takes its lease:
    // the followers then answer "no leader". A long TTL leaves a window
    // where the dead leader still holds the lease: a forwarded command
    // then times out.
    let ttl = Duration::from_secs(6);
    let ttl_ms = ttl.as_millis().to_string();
    let common = ["--ttl-ms", &ttl_ms, "--command-timeout-ms", "2000"];
    let follower: Vec<&str> = common
        .iter()
        .copied()
        .chain(["--eligible", "false"])
        .collect();
    let bin = Path::new(BIN);
    let mut r0 = Replica::start(bin, &redis.url(), "r0", &plan, &common);
    let r1 = Replica::start(bin, &redis.url(), "r1", &plan, &follower);
    let r2 = Replica::start(bin, &redis.url(), "r2", &plan, &follower);
    let started = Instant::now();

    // A follower's status shows the fleet: every replica, r0 leading.
    let mut fleet = Value::Null;
    assert!(
        wait::until(Duration::from_secs(30), || {
            fleet = r1
                .admin_status("predict")
                .map_or(Value::Null, |s| s["fleet"].clone());
            fleet["leader"] == "r0"
                && fleet["replicas"].as_array().is_some_and(|r| {
                    r.len() == 3
                        && r.iter()
                            .all(|x| x["live"] == true && x["summary_age"].is_u64())
                })
        }),
        "{fleet}"
    );
    assert_eq!(fleet["replica"], "r1");
    let ids: Vec<&str> = fleet["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r0", "r1", "r2"]);
    let leaders: Vec<bool> = fleet["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["leader"] == true)
        .collect();
    assert_eq!(leaders, [true, false, false]);

    // Pause through a follower's admin API: 200 with the event, applied by
    // the leader, served by every replica.
    let (code, event) = r1.admin(
        "POST",
        "/rollouts/predict/pause",
        r#"{"reason": "checking p99"}"#,
    );
    assert_eq!(code, 200, "{event}");
    assert_eq!(event["kind"], "paused", "{event}");
    assert_eq!(event["by"], "admin", "{event}");
    assert!(
        event["reason"].as_str().unwrap().contains("checking p99"),
        "{event}"
    );
    let forwarded = r1.status().unwrap()["member"]["commands_forwarded"].as_u64();
    let applied = r0.status().unwrap()["member"]["commands_applied"].as_u64();
    assert_eq!(forwarded, Some(1), "r1 forwarded it");
    assert_eq!(applied, Some(1), "r0, the leader, applied it");
    assert!(
        wait::until(Duration::from_secs(10), || {
            [&r0, &r1, &r2]
                .iter()
                .all(|r| admin_phase(r).as_deref() == Some("paused"))
        }),
        "{:?}",
        [&r0, &r1, &r2].map(admin_phase)
    );
    // The event is in every replica's log.
    let (code, page) = r2.admin("GET", "/rollouts/predict/events", "");
    assert_eq!(code, 200, "{page}");
    assert!(
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "paused" && e["by"] == "admin"),
        "{page}"
    );

    // Refused by the leader's state machine: 409 with its reason.
    let (code, error) = r2.admin("POST", "/rollouts/predict/approve", "");
    assert_eq!(code, 409, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("no step waits for approval"),
        "{error}"
    );

    // The leader crashes. Its lease lives on for the TTL: a command sent
    // now is queued for a leader that never answers (504).
    r0.kill();
    let killed = Instant::now();
    let (code, error) = r1.admin("POST", "/rollouts/predict/resume", "");
    if killed.elapsed() < ttl - Duration::from_secs(3) {
        assert_eq!(code, 504, "{error}");
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("may or may not have been applied"),
            "{error}"
        );
    }
    // Once the lease expires, nobody leads (r1 and r2 may not): 503,
    // naming it, and nothing applied.
    let mut answer = (0, Value::Null);
    assert!(
        wait::until(Duration::from_secs(30), || {
            answer = r1.admin("POST", "/rollouts/predict/resume", "");
            answer.0 == 503
        }),
        "{answer:?}"
    );
    assert!(
        answer.1["error"]
            .as_str()
            .unwrap()
            .contains("has no leader"),
        "{answer:?}"
    );
    assert!(killed.elapsed() >= ttl - Duration::from_millis(500));
    for r in [&r1, &r2] {
        let s = r.admin_status("predict").unwrap();
        assert_eq!(s["phase"]["name"], "paused", "not applied: {s}");
        assert!(s["fleet"]["leader"].is_null(), "{}", s["fleet"]);
    }
    println!(
        "admin API over a fleet: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
