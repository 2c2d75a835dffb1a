//! `Controller::series`: the per-tick history filled by `tick`, on a manual
//! clock with traffic recorded for both versions.

use std::time::Duration;

use fledge_gate::clock::{Clock, ManualClock, Timestamp};
use fledge_rollout::control::SeriesConfig;
use fledge_rollout::machine::PhaseName;
use fledge_rollout::{Controller, Plan};

const T0: u64 = 1_733_490_000_000;

const PLAN: &str = r#"
    name = "predict-v2"
    baseline = "v1"
    candidate = "v2"
    steps = [5, 25, 50, 100]
    interval = "5s"
    metrics = ["abs_error"]

    [[gates]]
    name = "p99 < 50ms"
    kind = "threshold"
    metric = "latency_p99"
    max = 50.0
    min_samples = 10

    [[gates]]
    name = "abs error"
    kind = "threshold"
    metric = "abs_error"
    max = 2.0
    min_samples = 5
"#;

fn controller(config: SeriesConfig) -> (Controller, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    let plan = Plan::from_toml(PLAN).expect("plan");
    let controller = Controller::builder(plan)
        .clock(clock.clone())
        .series(config)
        .build()
        .expect("controller");
    (controller, clock)
}

/// One second of traffic: `n` requests per version at `ms` latency, one
/// feedback value each, `errors` errors on the candidate.
fn traffic(c: &Controller, n: u32, ms: u64, errors: u32) {
    let routing = c.routing();
    let recorder = routing.recorder();
    for (version, abs_error) in [(routing.candidate(), 1.0), (routing.baseline(), 1.5)] {
        for i in 0..n {
            let error = version == routing.candidate() && i < errors;
            recorder.record(version.get(), Duration::from_millis(ms), error);
            recorder
                .record_feedback(version.get(), "abs_error", abs_error)
                .expect("declared metric");
        }
    }
}

#[test]
fn each_tick_adds_a_point_with_both_versions() {
    let (c, clock) = controller(SeriesConfig::default());
    for _ in 0..3 {
        traffic(&c, 20, 8, 1);
        c.tick(clock.advance(Duration::from_secs(1))).expect("tick");
    }
    let series = c.series(Timestamp::EPOCH);
    assert_eq!(series.rollout, "predict-v2");
    assert_eq!(series.versions, ["v2", "v1"]);
    assert_eq!(
        (series.candidate.as_str(), series.baseline.as_str()),
        ("v2", "v1")
    );
    assert_eq!(series.limits.len(), 2);
    assert_eq!(series.limits[0].gate, "p99 < 50ms");
    assert_eq!(series.limits[0].metric, "latency_p99");
    assert_eq!(series.limits[0].max, Some(50.0));
    assert_eq!(series.limits[1].metric, "abs_error");
    assert_eq!(series.points.len(), 3);
    for (i, p) in series.points.iter().enumerate() {
        assert_eq!(p.at.as_millis(), T0 + 1000 * (i as u64 + 1));
        assert_eq!(p.span_ms, 1000);
        assert_eq!(p.step, Some(0));
        assert_eq!(p.weight_bps, 500);
        let [v2, v1] = [&p.versions[0], &p.versions[1]];
        assert_eq!((v2.id.as_str(), v1.id.as_str()), ("v2", "v1"));
        assert_eq!((v2.requests, v2.errors), (20, 1));
        assert_eq!((v1.requests, v1.errors), (20, 0));
        let p99 = v2.p99_ms.expect("p99");
        assert!((7.9..8.1).contains(&p99), "{p99}");
        assert_eq!(v2.metrics["abs_error"].count, 20);
        assert_eq!(v2.metrics["abs_error"].mean, Some(1.0));
        assert_eq!(v1.metrics["abs_error"].mean, Some(1.5));
    }
    assert_eq!(series.next, series.points[2].at);
    assert!(c.series(series.next).points.is_empty());
    let json = serde_json::to_value(&series).expect("json");
    assert_eq!(
        json["points"][0]["versions"][0]["metrics"]["abs_error"]["count"],
        20
    );
}

#[test]
fn a_point_carries_the_step_served_before_the_ticks_decision() {
    let (c, clock) = controller(SeriesConfig::default());
    // Bake the first step (5 s) with healthy traffic: promoted to step 1.
    let mut promoted_at = None;
    for _ in 0..8 {
        traffic(&c, 20, 8, 0);
        let report = c.tick(clock.advance(Duration::from_secs(1))).expect("tick");
        if promoted_at.is_none() && report.state.step == Some(1) {
            promoted_at = Some(report.now);
        }
    }
    let promoted_at = promoted_at.expect("step 1 taken");
    let series = c.series(Timestamp::EPOCH);
    let at = |t: Timestamp| series.points.iter().find(|p| p.at == t).expect("point");
    // The tick that took step 1 closes a span served at step 0, 5 %.
    assert_eq!(at(promoted_at).step, Some(0));
    assert_eq!(at(promoted_at).weight_bps, 500);
    let after = at(promoted_at + Duration::from_secs(1));
    assert_eq!((after.step, after.weight_bps), (Some(1), 2500));

    // A regression: p99 far above 50 ms rolls back; the next point is at 0 %.
    traffic(&c, 40, 200, 0);
    let report = c.tick(clock.advance(Duration::from_secs(1))).expect("tick");
    assert_eq!(report.state.phase.name(), PhaseName::RolledBack);
    traffic(&c, 20, 8, 0);
    c.tick(clock.advance(Duration::from_secs(1))).expect("tick");
    let series = c.series(report.now - Duration::from_millis(1));
    assert_eq!(series.points.len(), 2);
    let regression = &series.points[0];
    assert_eq!(regression.weight_bps, 2500);
    assert!(regression.versions[0].p99_ms.expect("p99") > 150.0);
    assert_eq!(series.points[1].weight_bps, 0);
}

#[test]
fn ticks_without_time_passing_add_nothing_and_off_keeps_nothing() {
    let (c, clock) = controller(SeriesConfig::default());
    let now = clock.advance(Duration::from_secs(1));
    c.tick(now).expect("tick");
    c.tick(now).expect("tick");
    c.tick(now - Duration::from_millis(10)).expect("tick");
    assert_eq!(c.series(Timestamp::EPOCH).points.len(), 1);

    let (off, clock) = controller(SeriesConfig::off());
    traffic(&off, 5, 8, 0);
    off.tick(clock.advance(Duration::from_secs(1)))
        .expect("tick");
    let series = off.series(Timestamp::EPOCH);
    assert!(series.points.is_empty());
    assert_eq!(series.next, Timestamp::EPOCH);
    assert_eq!(series.versions, ["v2", "v1"]);
}

/// 48 hours of ticks every 5 minutes on the manual clock (the ring's own
/// unit test ticks every second for 48 h), traffic every hour: the history never holds
/// more than its bound, and what it holds adds up.
#[test]
fn forty_eight_hours_of_ticks_stay_bounded() {
    let config = SeriesConfig::default();
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    // No gates: the rollout is promoted on bake time and ticks stay cheap.
    let plan = fledge_rollout::PlanBuilder::canary("predict-v2", "v1", "v2")
        .metric("abs_error")
        .build()
        .expect("plan");
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .series(config)
        .build()
        .expect("controller");
    let ticks = 48 * 12;
    let mut most = 0;
    for i in 0..ticks {
        if i % 12 == 0 {
            traffic(&c, 10, 8, 0);
        }
        c.tick(clock.advance(Duration::from_secs(300)))
            .expect("tick");
        if i % 12 == 11 {
            most = most.max(c.series(Timestamp::EPOCH).points.len());
        }
    }
    let series = c.series(Timestamp::EPOCH);
    most = most.max(series.points.len());
    // One point per 5 minutes: 12 at tick resolution (1 h), then one per
    // tick (a tick is longer than the 1-minute bucket) for 23 h.
    assert!(most <= config.max_points(), "{most} points");
    assert!(most <= 12 + 23 * 12, "{most} points");
    assert_eq!(series.points.len(), 12 + 23 * 12);
    let now = clock.now().as_millis();
    assert!(series.points[0].at.as_millis() > now - 24 * 3_600_000);
    assert!(series.points.windows(2).all(|w| w[0].at < w[1].at));
    // 24 h kept, traffic every hour: 24 bursts of 10 requests per version.
    let requests: u64 = series.points.iter().map(|p| p.versions[1].requests).sum();
    assert_eq!(requests, 24 * 10);
    let feedback: u64 = series
        .points
        .iter()
        .map(|p| p.versions[1].metrics["abs_error"].count)
        .sum();
    assert_eq!(feedback, 24 * 10);
}
