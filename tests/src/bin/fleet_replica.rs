//! One replica of a fleet, as a separate OS process, for the fleet
//! integration tests: an axum predict service behind the canary layer,
//! joined to the rollout with `Fleet::join`.
//!
//! ```text
//! fleet_replica --redis URL --id NAME --plan PLAN.toml [--regress errors]
//!               [--tick-ms 200] [--ttl-ms 1500] [--publish-ms 200]
//!               [--command-timeout-ms 5000] [--eligible false]
//!               [--admin-token TOKEN]
//! ```
//!
//! Prints `READY <addr>` on stdout once joined and serving (or exits 2 with
//! the join error on stderr). SIGTERM shuts down gracefully (the lease is
//! released); SIGKILL is a crash.
//!
//! - `POST /predict` (header `x-user-id`): `v1` or `v2` answers; with
//!   `--regress errors` v2 answers 500.
//! - `GET /routes?from=A&count=N`: the version of users `user-A` ..
//!   `user-(A+N-1)` as one string of `1`/`2`, with the snapshot version
//!   before and after (`<version> <versions> <version>`), without
//!   recording anything.
//! - `GET /status`: the member's status with the rollout's state.
//! - `POST /command` `{"command": .., "by": .., "reason": ..}`: forwarded
//!   to the leader; 200 with the event, 409 refused, 503 no leader, 504
//!   timeout.
//! - `/fledge/...`: fledge-admin's API and dashboard over the member
//!   (token from `--admin-token`, else `$FLEDGE_ADMIN_TOKEN`, else
//!   [`fledge_tests::fleet::ADMIN_TOKEN`]; reads need it too).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fledge_admin::Admin;
use fledge_axum::{CanaryLayer, Version};
use fledge_redis::{Fleet, FleetError, Member, ReplicaId};
use fledge_rollout::Plan;
use fledge_rollout::machine::Command;
use serde::Deserialize;

struct Args {
    redis: String,
    id: String,
    plan: String,
    regress: bool,
    tick_ms: u64,
    ttl_ms: u64,
    publish_ms: u64,
    command_timeout_ms: u64,
    eligible: bool,
    admin_token: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        redis: String::new(),
        id: String::new(),
        plan: String::new(),
        regress: false,
        tick_ms: 200,
        ttl_ms: 1_500,
        publish_ms: 200,
        command_timeout_ms: 5_000,
        eligible: true,
        admin_token: std::env::var("FLEDGE_ADMIN_TOKEN")
            .unwrap_or_else(|_| fledge_tests::fleet::ADMIN_TOKEN.to_owned()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--redis" => a.redis = value()?,
            "--id" => a.id = value()?,
            "--plan" => a.plan = value()?,
            "--regress" => a.regress = value()? == "errors",
            "--tick-ms" => a.tick_ms = value()?.parse().map_err(|e| format!("{e}"))?,
            "--ttl-ms" => a.ttl_ms = value()?.parse().map_err(|e| format!("{e}"))?,
            "--publish-ms" => a.publish_ms = value()?.parse().map_err(|e| format!("{e}"))?,
            "--command-timeout-ms" => {
                a.command_timeout_ms = value()?.parse().map_err(|e| format!("{e}"))?;
            }
            "--eligible" => a.eligible = value()?.parse().map_err(|e| format!("{e}"))?,
            "--admin-token" => a.admin_token = value()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.redis.is_empty() || a.id.is_empty() || a.plan.is_empty() {
        return Err("--redis, --id and --plan are required".into());
    }
    Ok(a)
}

#[derive(Clone)]
struct App {
    member: Arc<Member>,
    regress: bool,
}

async fn predict(version: Version, State(app): State<App>) -> Result<String, StatusCode> {
    if app.regress && version.id() == "v2" {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(version.id().to_owned())
}

#[derive(Deserialize)]
struct Range {
    from: u64,
    count: u64,
}

async fn routes(State(app): State<App>, Query(r): Query<Range>) -> String {
    let routing = app.member.routing();
    let before = app.member.status().version;
    let candidate = routing.candidate();
    let versions: String = (r.from..r.from + r.count.min(100_000))
        .map(|u| {
            let key = format!("user-{u}");
            let v = routing.route(Some(key.as_bytes()), &());
            if v == candidate { '2' } else { '1' }
        })
        .collect();
    let after = app.member.status().version;
    format!("{before} {versions} {after}")
}

async fn status(State(app): State<App>) -> Json<serde_json::Value> {
    let c = app.member.controller();
    let state = c.state();
    Json(serde_json::json!({
        "member": app.member.status(),
        "phase": state.phase.name().to_string(),
        "step": state.step,
        "salt": state.salt,
        "weight_bps": c.traffic().candidate.bps(),
        "leader": app.member.is_leader(),
    }))
}

#[derive(Deserialize)]
struct CommandRequest {
    command: Command,
    by: String,
    reason: Option<String>,
}

async fn command(
    State(app): State<App>,
    Json(req): Json<CommandRequest>,
) -> (StatusCode, Json<serde_json::Value>) {
    match app
        .member
        .command(req.command, &req.by, req.reason.as_deref())
        .await
    {
        Ok(event) => (StatusCode::OK, Json(serde_json::json!({ "event": event }))),
        Err(e) => {
            let code = match &e {
                FleetError::Rejected { .. } => StatusCode::CONFLICT,
                FleetError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (code, Json(serde_json::json!({ "error": e.to_string() })))
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fleet_replica: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("fleet_replica: {e}");
        std::process::exit(2);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let plan = Plan::from_toml(&std::fs::read_to_string(&args.plan)?)?;
    let fleet = Fleet::open(&args.redis)?;
    let member = fleet
        .join(plan, ReplicaId::new(args.id)?)
        .tick(Duration::from_millis(args.tick_ms))
        .lease_ttl(Duration::from_millis(args.ttl_ms))
        .publish_every(Duration::from_millis(args.publish_ms))
        .poll_every(Duration::from_millis(500))
        .command_timeout(Duration::from_millis(args.command_timeout_ms))
        .leader_eligible(args.eligible)
        .spawn()
        .await?;
    let member = Arc::new(member);
    // The admin API on every replica: a follower forwards commands to the
    // leader, and its status shows the fleet.
    let admin = Admin::builder()
        .rollout(member.clone())
        .token(args.admin_token.clone())
        .build()?;
    let app = App {
        member: member.clone(),
        regress: args.regress,
    };
    let serving = Router::new()
        .route("/predict", post(predict))
        .with_state(app.clone())
        .layer(CanaryLayer::new(member.routing().clone()));
    let ops = Router::new()
        .route("/routes", get(routes))
        .route("/status", get(status))
        .route("/command", post(command))
        .with_state(app)
        .nest("/fledge", admin.router());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("READY {}", listener.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    axum::serve(listener, serving.merge(ops))
        .with_graceful_shutdown(async move {
            term.recv().await;
        })
        .await?;
    if let Ok(member) = Arc::try_unwrap(member) {
        member.shutdown().await;
    }
    Ok(())
}
