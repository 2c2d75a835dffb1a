//! Fleet members in one process on a real redis-server: joining together
//! on an empty store, one leader judging the fleet's merged windows,
//! commands from any replica, hand-over at shutdown.

use std::time::Duration;

use fledge_redis::{Fleet, FleetError, LeaderLease, Member, ReplicaId, Role};
use fledge_rollout::Plan;
use fledge_rollout::machine::{Command, PhaseName};
use fledge_test::redis::RedisServer;
use fledge_test::wait;

fn plan() -> Plan {
    Plan::from_toml(
        r#"
        name = "predict"
        baseline = "v1"
        candidate = "v2"
        steps = [10, 50, 100]
        interval = "1s"

        [[gates]]
        name = "errors"
        kind = "threshold"
        metric = "error_rate"
        max = 0.05
        min_samples = 20
        "#,
    )
    .unwrap()
}

fn fleet(server: &RedisServer) -> Fleet {
    Fleet::open(server.url()).unwrap()
}

async fn member(fleet: &Fleet, id: &str) -> Member {
    fleet
        .join(plan(), ReplicaId::new(id).unwrap())
        .tick(Duration::from_millis(100))
        .publish_every(Duration::from_millis(100))
        .lease_ttl(Duration::from_secs(1))
        .command_timeout(Duration::from_secs(5))
        .spawn()
        .await
        .unwrap()
}

fn leaders(members: &[Member]) -> Vec<String> {
    members
        .iter()
        .filter(|m| m.status().role == Role::Leader)
        .map(|m| m.replica().to_string())
        .collect()
}

/// Serves `n` requests on each member: v2 fails `v2_errors` of the time.
fn serve(members: &[Member], n: u32, v2_errors: u32) {
    for m in members {
        let routing = m.routing();
        for i in 0..n {
            let key = format!("user-{i}");
            let v = routing.route(Some(key.as_bytes()), &());
            let error = v == routing.candidate() && v2_errors > 0 && i % v2_errors == 0;
            routing
                .recorder()
                .record(v.get(), Duration::from_millis(5), error);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_joining_together_run_one_rollout_judged_fleet_wide() {
    let server = RedisServer::start();
    let fleet = fleet(&server);
    // All at once on an empty store: no error, one rollout.
    let (a, b, c) = tokio::join!(
        member(&fleet, "replica-a"),
        member(&fleet, "replica-b"),
        member(&fleet, "replica-c")
    );
    let members = vec![a, b, c];
    let salt = members[0].controller().state().salt;
    for m in &members {
        assert_eq!(m.controller().state().salt, salt, "{}", m.replica());
    }
    assert!(wait::until_async(Duration::from_secs(10), || leaders(&members).len() == 1).await);
    let leader = leaders(&members)[0].clone();
    // Every replica serves; the leader judges all three.
    let done = async {
        loop {
            serve(&members, 200, 0);
            let phase = members[0].controller().state().phase.name();
            if phase == PhaseName::Promoted {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .expect("the rollout ends promoted");
    let lead = members
        .iter()
        .find(|m| m.replica().as_str() == leader)
        .unwrap();
    let status = lead.status();
    let coverage = status.coverage.expect("the leader judged with coverage");
    assert_eq!(coverage.replicas_known(), 3, "{coverage:?}");
    assert_eq!(coverage.replicas_counted(), 3, "{coverage:?}");
    let reason = lead.fleet_judgement().unwrap().judgement.reason;
    assert!(reason.contains("fleet: 3/3 replicas"), "{reason}");
    for m in &members {
        assert_eq!(
            m.status().last_error,
            None,
            "{}: {:?}",
            m.replica(),
            m.status()
        );
        assert_eq!(m.status().leader.as_deref(), Some(leader.as_str()));
        assert!(m.status().summaries_published > 0);
    }
    // Followers saw the saves announced and measured the delay.
    let follower = members
        .iter()
        .find(|m| m.replica().as_str() != leader)
        .unwrap();
    assert!(!follower.status().applied.is_empty());
    let view = follower.fleet_view().await.unwrap();
    assert_eq!(view.leader.as_deref(), Some(leader.as_str()));
    assert_eq!(view.replicas.len(), 3);
    assert!(view.replicas.iter().all(|r| r.live), "{view:?}");
    for m in members {
        m.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_errors_roll_it_back() {
    let server = RedisServer::start();
    let fleet = fleet(&server);
    let members = vec![
        member(&fleet, "a").await,
        member(&fleet, "b").await,
        member(&fleet, "c").await,
    ];
    let done = async {
        loop {
            serve(&members, 200, 3);
            if members[1].controller().state().phase.name() == PhaseName::RolledBack {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), done)
        .await
        .expect("the rollout rolls back");
    for m in &members {
        assert!(
            wait::until_async(Duration::from_secs(5), || m
                .routing()
                .traffic()
                .candidate
                .bps()
                == 0)
            .await,
            "{}",
            m.replica()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_given_to_a_follower_is_applied_by_the_leader() {
    let server = RedisServer::start();
    let fleet = fleet(&server);
    let members = vec![member(&fleet, "a").await, member(&fleet, "b").await];
    assert!(wait::until_async(Duration::from_secs(10), || leaders(&members).len() == 1).await);
    let follower = members
        .iter()
        .find(|m| m.status().role == Role::Follower)
        .unwrap();
    let event = follower
        .command(Command::Pause, "alice", Some("checking p99"))
        .await
        .unwrap();
    assert!(event.reason.contains("alice"), "{event}");
    for m in &members {
        assert!(
            wait::until_async(Duration::from_secs(5), || m
                .controller()
                .state()
                .phase
                .name()
                == PhaseName::Paused)
            .await
        );
    }
    // Refused by the state machine: its reason comes back.
    let err = follower
        .command(Command::Approve, "bob", None)
        .await
        .unwrap_err();
    assert!(matches!(err, FleetError::Rejected { .. }), "{err:?}");
    assert_eq!(follower.status().commands_forwarded, 2);
    // Blocking callers and the Operate trait work the same.
    let f2 = members
        .iter()
        .find(|m| m.status().role == Role::Follower)
        .unwrap();
    let resumed = tokio::task::block_in_place(|| {
        fledge_rollout::control::Operate::command(f2, Command::Resume, "carol", None)
    })
    .unwrap();
    assert!(resumed.reason.contains("carol"), "{resumed}");
    for m in members {
        m.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_leader_and_a_silent_leader_are_typed_errors() {
    let server = RedisServer::start();
    let fleet = fleet(&server);
    let follower = fleet
        .join(plan(), ReplicaId::new("eligible-not").unwrap())
        .leader_eligible(false)
        .tick(Duration::from_millis(100))
        .command_timeout(Duration::from_millis(500))
        .spawn()
        .await
        .unwrap();
    let err = follower
        .command(Command::Pause, "alice", None)
        .await
        .unwrap_err();
    assert!(matches!(err, FleetError::NoLeader { .. }), "{err:?}");
    assert!(err.to_string().contains("no leader"), "{err}");
    // A lease holder that never answers: a timeout, "may or may not".
    let ghost = fleet
        .lease("predict", "ghost")
        .with_ttl(Duration::from_secs(30));
    assert!(tokio::task::block_in_place(|| ghost.try_acquire()).unwrap());
    let err = follower
        .command(Command::Pause, "alice", None)
        .await
        .unwrap_err();
    assert!(matches!(err, FleetError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("may or may not"), "{err}");
    let _: &LeaderLease = &ghost;
    follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_shutting_down_hands_over_at_once() {
    let server = RedisServer::start();
    let fleet = fleet(&server);
    let mut members = vec![member(&fleet, "a").await, member(&fleet, "b").await];
    assert!(wait::until_async(Duration::from_secs(10), || leaders(&members).len() == 1).await);
    let i = members
        .iter()
        .position(|m| m.status().role == Role::Leader)
        .unwrap();
    let old = members.remove(i);
    let started = std::time::Instant::now();
    old.shutdown().await;
    // Far sooner than the 1 s TTL would allow after a crash: within a few ticks.
    assert!(wait::until_async(Duration::from_secs(5), || leaders(&members).len() == 1).await);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    for m in members {
        m.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_redis_lost_is_restored_by_the_next_leader() {
    let server = RedisServer::start();
    let fleet = fleet(&server);
    let members = vec![member(&fleet, "a").await, member(&fleet, "b").await];
    assert!(wait::until_async(Duration::from_secs(10), || leaders(&members).len() == 1).await);
    let first = members[0].controller().clone();
    let lead = members.iter().find(|m| m.is_leader()).unwrap();
    lead.command(Command::Promote, "alice", None).await.unwrap();
    assert!(wait::until_async(Duration::from_secs(5), || first.state().step == Some(1)).await);
    let (salt, version) = (first.state().salt, first.snapshot().version);
    // Redis restarted without persistence: everything is gone.
    let reply = server.raw(&[b"FLUSHALL"]);
    assert!(reply.starts_with(b"+OK"), "{reply:?}");
    let store = fleet.store("predict");
    let restored = wait::until_async(Duration::from_secs(10), || {
        tokio::task::block_in_place(|| {
            fledge_rollout::Store::load(&store)
                .ok()
                .flatten()
                .is_some_and(|s| s.version >= version)
        })
    })
    .await;
    assert!(restored, "the leader wrote the snapshot back");
    let snapshot = tokio::task::block_in_place(|| fledge_rollout::Store::load(&store))
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.state.step, Some(1), "{:#?}", snapshot.events);
    assert_eq!(snapshot.state.salt, salt);
    // And the rollout goes on: a command saves on top of it.
    assert!(wait::until_async(Duration::from_secs(10), || leaders(&members).len() == 1).await);
    let lead = members.iter().find(|m| m.is_leader()).unwrap();
    lead.command(Command::Pause, "alice", None).await.unwrap();
    for m in &members {
        assert!(
            wait::until_async(Duration::from_secs(5), || m
                .controller()
                .state()
                .phase
                .name()
                == PhaseName::Paused)
            .await
        );
    }
    for m in members {
        m.shutdown().await;
    }
}
