//! A/B/n tests end to end: a sequential test over three variants with a
//! segment finds the better variant and promotes it; a fixed-horizon test
//! decides nothing before its planned sample; and the same experiment served
//! over real HTTP behind the axum layer (segment by header, exposures counted
//! by the layer, conversions through feedback). Simulated users come from
//! a seeded generator; nothing sleeps.

#[path = "serving/support.rs"]
mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use fledge_axum::{CanaryLayer, Version};
use fledge_experiment::{AbTest, Conclusion, Condition, Decision, MetricSpec, Report};
use fledge_gate::clock::Timestamp;
use http_body_util::{BodyExt, Full};
use support::{client, serve};

/// A seeded generator (splitmix64): the same users every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn rate(variant: &str) -> f64 {
    match variant {
        "personal" => 0.07,
        _ => 0.05,
    }
}

fn t0() -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000)
}

fn ranking(sequential: bool) -> AbTest {
    let b = AbTest::builder("ranking")
        .control("popular", 50.0)
        .variant("personal", 25.0)
        .variant("fresh", 25.0)
        .metric(MetricSpec::conversion("click"))
        .metric(MetricSpec::per_exposure("revenue").tau(0.5))
        .segment(Condition::attribute_in("country", ["fr", "de"]))
        .auto_promote(true);
    let b = if sequential {
        b.sequential(0.01)
    } else {
        b.fixed_horizon(20_000)
    };
    b.build(t0()).expect("experiment")
}

/// `n` simulated users: 25 % outside the segment; returns how many were outside.
fn simulate(ab: &AbTest, rng: &mut Rng, from: u32, n: u32) -> u64 {
    let r = ab.routing();
    let mut outside = 0;
    for user in from..from + n {
        let key = format!("user-{user}");
        let country = if rng.chance(0.25) { "us" } else { "fr" };
        let attrs: &[(&str, &str)] = &[("country", country)];
        let a = r.route(Some(key.as_bytes()), attrs);
        if !a.in_experiment {
            assert_eq!(a.variant, r.control());
            outside += 1;
            continue;
        }
        let id = r.id(a.variant).expect("id").as_str();
        if rng.chance(rate(id)) {
            r.recorder()
                .record_feedback(a.variant.get(), "click", 1.0)
                .expect("click");
            r.recorder()
                .record_feedback(a.variant.get(), "revenue", 20.0)
                .expect("revenue");
        }
    }
    outside
}

#[test]
fn sequential_test_finds_the_winner_and_promotes_it() {
    let ab = ranking(true);
    let mut rng = Rng(42);
    let mut outside = 0;
    let mut concluded = None;
    for tick in 0..40u32 {
        outside += simulate(&ab, &mut rng, tick * 2_000, 2_000);
        let report = ab.tick(t0() + Duration::from_secs(u64::from(tick) * 60));
        if let Some(c) = report.conclusion.clone() {
            concluded = Some((tick, report, c));
            break;
        }
    }
    let (tick, report, conclusion) = concluded.expect("the sequential test stops");
    println!("concluded at tick {tick}:\n{report}");
    assert_eq!(conclusion.winner().map(|v| v.as_str()), Some("personal"));
    assert!(matches!(
        conclusion,
        Conclusion::Winner { promoted: true, .. }
    ));
    assert_eq!(
        report.comparison("personal").expect("row").decision,
        Decision::Winner
    );
    assert_ne!(
        report.comparison("fresh").expect("row").decision,
        Decision::Winner
    );
    // Users outside the segment were served the control and never counted.
    let exposed: u64 = ab.routing().exposures().iter().sum();
    assert_eq!(exposed + outside, u64::from(tick + 1) * 2_000);
    // Promotion: everyone in the segment now gets the winner.
    let split = ab.routing().selector().split();
    assert_eq!(split.weight_of("personal").map(|w| w.bps()), Some(10_000));
    let fr: &[(&str, &str)] = &[("country", "fr")];
    for u in 0..100 {
        let a = ab.routing().assign(Some(format!("new-{u}").as_bytes()), fr);
        assert_eq!(
            ab.routing().id(a.variant).map(|v| v.as_str()),
            Some("personal")
        );
    }
    // The report is plain data and prints a table.
    let json = serde_json::to_string(&report).expect("serialize");
    let back: Report = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.conclusion, report.conclusion);
    assert_eq!(back.split, report.split);
    assert_eq!(back.metrics.len(), 2);
    assert_eq!(
        back.comparison("personal").map(|c| c.decision),
        Some(Decision::Winner)
    );
    let text = report.to_string();
    assert!(
        text.contains("personal") && text.contains("winner") && text.contains("revenue"),
        "{text}"
    );
}

#[test]
fn fixed_horizon_decides_only_at_its_planned_sample() {
    let ab = ranking(false);
    let mut rng = Rng(7);
    simulate(&ab, &mut rng, 0, 20_000);
    let early = ab.tick(t0());
    assert!(early.conclusion.is_none());
    for c in &early.primary().expect("primary").comparisons {
        assert_eq!(c.decision, Decision::NoDifferenceYet);
        assert!(
            c.note.as_deref().unwrap_or("").contains("fixed horizon"),
            "{c:?}"
        );
        assert!(c.p_value.is_some(), "numbers are shown before the horizon");
    }
    simulate(&ab, &mut rng, 20_000, 140_000);
    let report = ab.tick(t0() + Duration::from_secs(3_600));
    println!("{report}");
    assert_eq!(
        report
            .conclusion
            .as_ref()
            .and_then(|c| c.winner())
            .map(|v| v.as_str()),
        Some("personal"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_over_http_with_a_header_segment() {
    let ab = AbTest::builder("http-ab")
        .control("a", 50.0)
        .variant("b", 50.0)
        .metric(MetricSpec::conversion("buy"))
        .segment(Condition::header_equals("x-beta", "1"))
        .sequential(0.02)
        .auto_promote(true)
        .build(t0())
        .expect("experiment");
    let routing = ab.routing().clone();
    // The layer counts an exposure for each request it routes by the user's
    // sticky bucket: those in the segment.
    let who = |version: Version| async move { version.id().to_owned() };
    let app = Router::new()
        .route("/who", get(who))
        .layer(CanaryLayer::new(routing.clone()));
    let addr = serve(app).await;
    let http = client();
    let get = |user: String, beta: bool| {
        let http = http.clone();
        async move {
            let mut req =
                http::Request::get(format!("http://{addr}/who")).header("x-user-id", user);
            if beta {
                req = req.header("x-beta", "1");
            }
            let res = http
                .request(req.body(Full::new(Bytes::new())).expect("request"))
                .await
                .expect("response");
            let body = res.into_body().collect().await.expect("body").to_bytes();
            String::from_utf8_lossy(&body).into_owned()
        }
    };

    let mut rng = Rng(99);
    let mut first = Vec::new();
    for round in 0..2 {
        for chunk in (0..400).collect::<Vec<u32>>().chunks(32) {
            let calls = chunk.iter().map(|u| get(format!("u{u}"), true));
            let got = futures::future::join_all(calls).await;
            for (u, v) in chunk.iter().zip(got) {
                if round == 0 {
                    first.push(v.clone());
                } else {
                    assert_eq!(first[*u as usize], v, "user u{u} changed variant");
                }
                // b converts far better: 30 % against 5 %.
                let p = if v == "b" { 0.3 } else { 0.05 };
                if rng.chance(p) {
                    let i = routing.index_of(&v).expect("variant").get();
                    routing
                        .recorder()
                        .record_feedback(i, "buy", 1.0)
                        .expect("buy");
                }
            }
        }
    }
    // Outside the segment: the control, not counted.
    let before: u64 = routing.exposures().iter().sum();
    for u in 0..50 {
        assert_eq!(get(format!("u{u}"), false).await, "a");
    }
    assert_eq!(routing.exposures().iter().sum::<u64>(), before);
    assert_eq!(before, 800);

    let report = ab.tick(t0());
    assert_eq!(
        report
            .conclusion
            .as_ref()
            .and_then(|c| c.winner())
            .map(|v| v.as_str()),
        Some("b"),
        "{report}"
    );
    for u in 0..40 {
        assert_eq!(get(format!("new{u}"), true).await, "b");
    }
}
