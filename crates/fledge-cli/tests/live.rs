//! The real `fledge` binary against a real admin API on loopback (see
//! `support`): status, history, commands, weight, wait, watch, and the
//! errors of a wrong URL, a wrong or missing token.

mod support;

use std::io::Write as _;
use std::sync::atomic::Ordering;

use fledge_admin::{EventPage, RolloutStatus};
use fledge_rollout::machine::{EventKind, PhaseName};
use support::{NAME, Run, Running, Series, Service, TOKEN, fledge};

#[test]
fn status_in_words_and_as_the_apis_json() {
    let s = Service::start(Series::Absent);
    let r = s.run(&["status"]).expect(0);
    assert!(r.out.starts_with("predict-v2: v1 -> v2"), "{}", r.out);
    for want in [
        "phase     progressing",
        "step      ■□□□ 1/4 (5%)",
        "v2 5% (candidate), v1 95% (baseline)",
        "verdict   none yet",
        "#0 started",
    ] {
        assert!(r.out.contains(want), "{want:?} in\n{}", r.out);
    }

    // After some traffic: the verdict per check, with its figures.
    for _ in 0..3 {
        s.round(100, 5);
    }
    let r = s.run(&["status"]).expect(0);
    for want in [
        "verdict   ✓ pass",
        "✓ p99 latency",
        "latency_p99: candidate 5",
        "limit 50",
        "error rate",
    ] {
        assert!(r.out.contains(want), "{want:?} in\n{}", r.out);
    }

    let r = s.run(&["status", "--json"]).expect(0);
    let status: RolloutStatus = serde_json::from_str(&r.out).expect("the API's JSON");
    assert_eq!(status.name, NAME);
    assert_eq!(status.step, Some(0));
    assert!(status.verdict.is_some());
}

#[test]
fn history_as_a_table_and_as_json() {
    let s = Service::start(Series::Absent);
    s.run(&["pause", "--reason", "reading the dashboards"])
        .expect(0);
    s.run(&["resume"]).expect(0);
    let r = s.run(&["history"]).expect(0);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(
        lines[0].starts_with("SEQ") && lines[0].contains("REASON"),
        "{}",
        r.out
    );
    assert_eq!(lines.len(), 1 + s.controller.events().len(), "{}", r.out);
    assert!(
        r.out.contains("paused") && r.out.contains("alice"),
        "{}",
        r.out
    );
    assert!(r.out.contains("reading the dashboards"), "{}", r.out);
    assert!(r.out.contains("2024-12-06 13:00:00Z"), "{}", r.out);

    let r = s.run(&["history", "--since", "1", "--json"]).expect(0);
    let page: EventPage = serde_json::from_str(&r.out).expect("an event page");
    assert_eq!(page.events.first().map(|e| e.seq), Some(1));
    assert_eq!(page.total, s.controller.events().len() as u64);
    assert_eq!(page.events.last().map(|e| e.kind), Some(EventKind::Resumed));

    let r = s.run(&["history", "--since", "99"]).expect(0);
    assert!(r.out.contains("no events from #99 on"), "{}", r.out);
}

#[test]
fn commands_change_the_rollout_and_print_their_event() {
    let s = Service::start(Series::Absent);

    let r = s.run(&["pause", "--reason", "lunch"]).expect(0);
    assert!(
        r.out.starts_with(
            "predict-v2: #1 paused: pause by alice: lunch -> paused, step 1, candidate 5%"
        ),
        "{}",
        r.out
    );
    assert_eq!(s.phase(), PhaseName::Paused);

    let r = s.run(&["resume", "--by", "bob"]).expect(0);
    assert!(r.out.contains("resumed: resume by bob"), "{}", r.out);
    assert_eq!(s.phase(), PhaseName::Progressing);

    // Below the step's weight (5 %): above it, the API asks to promote instead.
    let r = s
        .run(&["weight", "2.5", "--reason", "less traffic"])
        .expect(0);
    assert!(
        r.out.contains("weight_set") && r.out.contains("candidate 2.5%"),
        "{}",
        r.out
    );
    assert_eq!(s.controller.traffic().candidate.percent(), 2.5);
    let r = s.run(&["weight", "25"]).expect(1);
    assert!(
        r.err.contains("refused weight (409)") && r.err.contains("promote instead"),
        "{}",
        r.err
    );

    let r = s.run(&["promote"]).expect(0);
    assert!(r.out.contains("step_taken"), "{}", r.out);
    assert_eq!(s.controller.state().step, Some(1));

    let r = s.run(&["freeze", "--reason", "schema migration"]).expect(0);
    assert!(r.out.contains("frozen"), "{}", r.out);
    assert_eq!(s.phase(), PhaseName::Frozen);
    s.run(&["resume"]).expect(0);

    let r = s.run(&["rollback", "--reason", "p99 regression"]).expect(0);
    assert!(
        r.out.contains("rolled_back") && r.out.contains("candidate 0%"),
        "{}",
        r.out
    );
    assert_eq!(s.phase(), PhaseName::RolledBack);

    let r = s.run(&["restart"]).expect(0);
    assert!(r.out.contains("restarted"), "{}", r.out);
    assert_eq!(s.phase(), PhaseName::Progressing);

    let r = s.run(&["promote", "--full", "--json"]).expect(0);
    let event: fledge_admin::EventView = serde_json::from_str(&r.out).expect("the event");
    assert_eq!(event.weight, 100.0);

    let r = s.run(&["restart"]).expect(0);
    assert!(r.out.contains("restarted"), "{}", r.out);
    let r = s.run(&["abort", "--reason", "wrong model"]).expect(0);
    assert!(
        r.out.contains("aborted") && r.out.contains("wrong model"),
        "{}",
        r.out
    );
    assert_eq!(s.phase(), PhaseName::Aborted);
}

#[test]
fn wait_for_approval_then_approve() {
    let plan = support::PLAN.replace(
        "steps = [5, 25, 50, 100]",
        "steps = [5, { weight = 25, approval = true }, 50, 100]",
    );
    let s = Service::with_plans(&[&plan], Series::Absent);
    let mut wait = Running::start(&mut s.fledge(&[
        "wait",
        "--until",
        "awaiting-approval",
        "--interval",
        "50ms",
    ]));
    wait.line("the first report", |l| l.contains("progressing"));
    for _ in 0..100 {
        if s.phase() == PhaseName::AwaitingApproval {
            break;
        }
        s.round(100, 5);
    }
    let r = wait.finish().expect(0);
    assert!(
        r.out.contains("predict-v2 is awaiting approval"),
        "{}",
        r.out
    );
    let r = s.run(&["status"]).expect(0);
    assert!(
        r.out.contains("phase     awaiting approval (manual)"),
        "{}",
        r.out
    );
    let r = s
        .run(&["approve", "--reason", "figures look right"])
        .expect(0);
    assert!(
        r.out.contains("by alice: ") && r.out.contains("step 2"),
        "{}",
        r.out
    );
    assert_eq!(s.controller.state().step, Some(1));
    assert_eq!(s.phase(), PhaseName::Progressing);
}

#[test]
fn a_refused_command_exits_1_with_the_state_machines_reason() {
    let s = Service::start(Series::Absent);
    let before = s.controller.state().phase;
    let r = s.run(&["approve"]).expect(1);
    assert!(
        r.err.contains("predict-v2 refused approve (409)"),
        "{}",
        r.err
    );
    assert_eq!(s.controller.state().phase, before);
    let r = s.run(&["resume"]).expect(1);
    assert!(r.err.contains("refused resume (409)"), "{}", r.err);
    assert_eq!(r.out, "");
}

#[test]
fn a_bad_weight_is_bad_usage_and_sends_nothing() {
    let s = Service::start(Series::Absent);
    let before = s.requests.load(Ordering::SeqCst);
    for bad in ["150", "-1", "lots", "NaN"] {
        let r = s.run(&["weight", bad]).expect(2);
        assert!(r.err.contains("0 to 100"), "{bad}: {}", r.err);
    }
    assert_eq!(s.requests.load(Ordering::SeqCst), before);
    s.run(&["weight", "1.25%"]).expect(0);
    assert_eq!(s.controller.traffic().candidate.percent(), 1.25);
}

#[test]
fn wait_exits_0_when_promoted() {
    let s = Service::start(Series::Absent);
    let mut wait = Running::start(&mut s.fledge(&[
        "wait",
        "--until",
        "promoted",
        "--timeout",
        "5m",
        "--interval",
        "50ms",
    ]));
    wait.line("the first report", |l| l.contains("progressing"));
    s.drive_to_promotion();
    let r = wait.finish().expect(0);
    assert!(r.out.contains("predict-v2 is promoted"), "{}", r.out);
}

#[test]
fn wait_exits_1_with_the_reason_when_rolled_back() {
    let s = Service::start(Series::Absent);
    let mut wait =
        Running::start(&mut s.fledge(&["wait", "--interval", "50ms", "--timeout", "5m"]));
    wait.line("the first report", |l| l.contains("progressing"));
    s.drive_to_rollback();
    let r = wait.finish().expect(1);
    assert!(r.err.contains("predict-v2 was rolled back: "), "{}", r.err);
    assert!(r.err.contains("p99"), "the gate's reason: {}", r.err);
}

#[test]
fn wait_for_a_step_or_a_pause() {
    let s = Service::start(Series::Absent);
    let mut wait =
        Running::start(&mut s.fledge(&["wait", "--until", "step:2", "--interval", "50ms"]));
    wait.line("the first report", |l| l.contains("1/4"));
    s.run(&["promote"]).expect(0);
    wait.finish().expect(0);

    let mut wait =
        Running::start(&mut s.fledge(&["wait", "--until", "paused", "--interval", "50ms"]));
    wait.line("the first report", |l| l.contains("progressing"));
    s.run(&["pause"]).expect(0);
    wait.finish().expect(0);

    s.run(&["wait", "--until", "step:9"]).expect(2);
    s.run(&["wait", "--until", "soon"]).expect(2);
}

#[test]
fn wait_times_out_with_exit_2() {
    let s = Service::start(Series::Absent);
    let r = s
        .run(&[
            "wait",
            "--until",
            "promoted",
            "--timeout",
            "300ms",
            "--interval",
            "50ms",
        ])
        .expect(2);
    assert!(
        r.err.contains("timed out after") && r.err.contains("progressing"),
        "{}",
        r.err
    );
}

#[test]
fn watch_piped_prints_a_line_per_change_and_stops_when_promoted() {
    let s = Service::start(Series::Absent);
    let mut watch = Running::start(&mut s.fledge(&["watch", "--interval", "20ms"]));
    watch.line("the first report", |l| l.contains("progressing: step 1/4"));
    // Many polls, no change: still one line.
    let polled = s.requests.load(Ordering::SeqCst);
    s.until("10 more polls", || {
        s.requests.load(Ordering::SeqCst) >= polled + 10
    });
    assert_eq!(watch.drain().len(), 1, "{:?}", watch.drain());

    s.drive_to_promotion();
    let r = watch.finish().expect(0);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(
        lines.last().is_some_and(|l| l.contains("promoted")),
        "{}",
        r.out
    );
    assert!(!r.out.contains('\x1b'), "plain lines: {:?}", r.out);
    // Far fewer lines than ticks and polls: steps, weights and verdicts.
    assert!(lines.len() < 40, "{}", r.out);
}

#[test]
fn watch_exits_1_when_rolled_back() {
    let s = Service::start(Series::Absent);
    let mut watch = Running::start(&mut s.fledge(&["watch", "--interval", "20ms"]));
    watch.line("the first report", |l| l.contains("progressing"));
    s.run(&["rollback", "--reason", "bad forecasts"]).expect(0);
    let r = watch.finish().expect(1);
    assert!(r.out.contains("rolled back: "), "{}", r.out);
    assert!(
        r.err.contains("predict-v2 was rolled back") && r.err.contains("bad forecasts"),
        "{}",
        r.err
    );
}

#[test]
fn watch_live_draws_sparklines_from_the_series() {
    let s = Service::start(Series::Served);
    for _ in 0..3 {
        s.round(100, 5);
    }
    let watch =
        Running::start(&mut s.fledge(&["watch", "--display", "live", "--interval", "20ms"]));
    s.until("two series polls", || {
        s.series_requests.load(Ordering::SeqCst) >= 2
    });
    s.drive_to_promotion();
    let r = watch.finish().expect(0);
    // The alternate screen and the cursor, entered and restored.
    assert!(r.out.starts_with("\x1b[?1049h\x1b[?25l"), "{:?}", r.out);
    assert!(r.out.contains("\x1b[?25h\x1b[?1049l"), "{:?}", r.out);
    // The last view, on the normal screen after the restore.
    let last = r.out.rsplit("\x1b[?1049l").next().expect("a last view");
    for want in [
        "predict-v2: v1 -> v2",
        "phase    promoted",
        "p99 (≤50.00ms)",
        "v2 candidate",
        "v1 baseline",
        "figures per span from the series",
    ] {
        assert!(last.contains(want), "{want:?} in\n{last}");
    }
    // Every tick of the rollout is a point: the candidate's row has sparklines.
    let sparks = |row: &str| row.chars().filter(|c| ('▁'..='█').contains(c)).count();
    let v2 = last
        .lines()
        .find(|l| l.contains("v2 candidate"))
        .expect("a v2 row");
    assert!(sparks(v2) >= 8, "sparklines in {v2:?}\n{last}");
}

#[test]
fn watch_live_without_a_series_endpoint_uses_the_status() {
    let s = Service::start(Series::Absent);
    for _ in 0..3 {
        s.round(100, 5);
    }
    // Requests through the selector while the view runs: its counts give req/s.
    let serving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let traffic = {
        let (controller, serving) = (s.controller.clone(), serving.clone());
        std::thread::spawn(move || {
            let routing = controller.routing();
            let mut user = 0_u64;
            while serving.load(Ordering::SeqCst) {
                for _ in 0..50 {
                    user += 1;
                    let _ = routing.route(Some(format!("user-{user}").as_bytes()), &());
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let mut watch =
        Running::start(&mut s.fledge(&["watch", "--display", "live", "--interval", "20ms"]));
    let rate = |l: &str| {
        l.split("v1 baseline")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|r| r.parse::<f64>().ok())
    };
    let line = watch.line("a rate for v1", |l| rate(l).is_some_and(|r| r > 0.0));
    assert!(line.contains("ms"), "p99 from the verdict: {line}");
    serving.store(false, Ordering::SeqCst);
    traffic.join().expect("the traffic thread");
    s.run(&["abort", "--reason", "enough"]).expect(0);
    let r = watch.finish().expect(1);
    let last = r.out.rsplit("\x1b[?1049l").next().expect("a last view");
    assert!(last.contains("this API serves no series"), "{last}");
    assert!(last.contains("phase    aborted: "), "{last}");
    assert!(last.contains("p99 (≤50.00ms)"), "{last}");
    assert!(!last.contains('▁'), "no sparklines: {last}");
    assert!(r.err.contains("predict-v2 was aborted"), "{}", r.err);
}

#[test]
fn a_wrong_url_says_what_to_check() {
    let s = Service::start(Series::Absent);
    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let url = format!("http://{closed}/fledge");
    let r = Run::of(with_token(fledge(&["status", "--url", &url]))).expect(1);
    assert!(
        r.err
            .contains(&format!("GET {url}/rollouts: connection refused")),
        "{}",
        r.err
    );

    // The service, but not the admin API's mount point.
    let url = format!("http://{}", s.addr);
    let r = Run::of(with_token(fledge(&["status", "--url", &url]))).expect(1);
    assert!(
        r.err.contains(&format!(
            "GET {url}/rollouts answered 404: is --url the admin API's mount point, e.g. http://host:8080/fledge?"
        )),
        "{}",
        r.err
    );

    // Not a URL, no URL at all, and a name that does not resolve.
    Run::of(with_token(fledge(&["status", "--url", "host:8080"]))).expect(2);
    let r = Run::of(with_token(fledge(&["status"]))).expect(2);
    assert!(
        r.err.contains("--url") && r.err.contains("FLEDGE_URL"),
        "{}",
        r.err
    );
    let r = Run::of(with_token(fledge(&[
        "status",
        "--url",
        "http://no-such-host.invalid/fledge",
        "--http-timeout",
        "5s",
    ])))
    .expect(1);
    assert!(r.err.contains("no-such-host.invalid"), "{}", r.err);
}

#[test]
fn a_wrong_token_is_refused_and_never_printed() {
    let s = Service::start(Series::Absent);
    let wrong = "not-the-token-but-long-enough";
    let mut c = s.fledge(&["status"]);
    c.env("FLEDGE_ADMIN_TOKEN", wrong);
    let r = Run::of(c).expect(1);
    assert!(
        r.err.contains(
            "the admin API refused the token (401): check FLEDGE_ADMIN_TOKEN or --token-file"
        ),
        "{}",
        r.err
    );
    assert!(!r.err.contains(wrong) && !r.out.contains(wrong));

    // From a file: the right token works, a wrong one names the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("token");
    std::fs::File::create(&good)
        .and_then(|mut f| writeln!(f, "{TOKEN}"))
        .expect("write");
    let mut c = fledge(&["status", "--url", &s.url, "--token-file"]);
    c.arg(&good);
    Run::of(c).expect(0);
    let bad = dir.path().join("bad");
    std::fs::write(&bad, wrong).expect("write");
    let mut c = fledge(&["pause", "--url", &s.url, "--token-file"]);
    c.arg(&bad);
    let r = Run::of(c).expect(1);
    assert!(
        r.err.contains("refused the token (401)") && r.err.contains("bad"),
        "{}",
        r.err
    );
    assert_eq!(s.phase(), PhaseName::Progressing);
    let mut c = fledge(&["status", "--url", &s.url, "--token-file"]);
    c.arg(dir.path().join("missing"));
    Run::of(c).expect(2);
}

#[test]
fn a_missing_token() {
    let s = Service::start(Series::Absent);
    let r = Run::of(fledge(&["status", "--url", &s.url])).expect(1);
    assert!(
        r.err.contains(
            "asks for a token (401) and none was given: set FLEDGE_ADMIN_TOKEN or pass --token-file"
        ),
        "{}",
        r.err
    );
    let before = s.requests.load(Ordering::SeqCst);
    let r = Run::of(fledge(&["pause", "--url", &s.url])).expect(2);
    assert!(r.err.contains("commands need the admin token"), "{}", r.err);
    assert_eq!(s.requests.load(Ordering::SeqCst), before, "nothing sent");
}

#[test]
fn several_rollouts_need_rollout() {
    let other = support::PLAN.replace("name = \"predict-v2\"", "name = \"rank-v3\"");
    let s = Service::with_plans(&[support::PLAN, &other], Series::Absent);
    let r = s.run(&["status"]).expect(2);
    assert!(
        r.err.contains("2 rollouts (predict-v2, rank-v3)") && r.err.contains("--rollout"),
        "{}",
        r.err
    );
    let r = s.run(&["status", "--rollout", "rank-v3"]).expect(0);
    assert!(r.out.starts_with("rank-v3:"), "{}", r.out);
    let r = s.run(&["status", "--rollout", "nope"]).expect(2);
    assert!(r.err.contains("no rollout named \"nope\""), "{}", r.err);
}

/// `c` with the right token in the environment and nothing else.
fn with_token(mut c: std::process::Command) -> std::process::Command {
    c.env("FLEDGE_ADMIN_TOKEN", TOKEN);
    c
}

#[cfg(unix)]
#[test]
fn ctrl_c_restores_the_terminal() {
    let s = Service::start(Series::Absent);
    let mut watch =
        Running::start(&mut s.fledge(&["watch", "--display", "live", "--interval", "20ms"]));
    watch.line("the first view", |l| l.contains("phase    progressing"));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let r = watch.finish();
    assert_eq!(r.code, Some(130), "{r:?}");
    assert!(r.out.ends_with("\x1b[?25h\x1b[?1049l"), "{:?}", r.out);
}

/// Not a test: a demo rollout to point `fledge` at by hand, with the series
/// endpoint (unless FLEDGE_DEMO_SERIES=absent), ticking a second of healthy traffic every second for
/// FLEDGE_DEMO_SECS (default 300) seconds.
///
/// ```text
/// cargo test -p fledge-cli --test live -- --ignored --nocapture demo
/// FLEDGE_URL=<printed> FLEDGE_ADMIN_TOKEN=cli-test-token-0123456789abcdef fledge watch
/// ```
#[test]
#[ignore = "a demo service, run by hand"]
fn demo() {
    // FLEDGE_DEMO_SERIES=absent: an admin API without the series route.
    let series = match std::env::var("FLEDGE_DEMO_SERIES").as_deref() {
        Ok("absent") => Series::Absent,
        _ => Series::Served,
    };
    let s = Service::start(series);
    let secs: u64 = std::env::var("FLEDGE_DEMO_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    println!("FLEDGE_URL={} FLEDGE_ADMIN_TOKEN={TOKEN}", s.url);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        s.round(100, 5);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
