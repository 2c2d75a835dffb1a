//! The webhook against a real HTTP receiver (axum on a loopback port).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use fledge_gate::clock::ManualClock;
use fledge_notify::{EventKind, Webhook};
use fledge_rollout::control::{Controller, Evaluate, Judgement, StepContext};
use fledge_rollout::machine::Outcome;
use fledge_rollout::plan::PlanBuilder;
use serde_json::Value;

/// What the receiver answers.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// 200 to everything.
    Ok,
    /// 500 to the first `n` posts, then 200.
    FailFirst(usize),
    /// This status to everything.
    Status(u16),
    /// No answer until released, then 200.
    Hang,
}

struct Inner {
    script: Script,
    bodies: Mutex<Vec<Value>>,
    headers: Mutex<Vec<HeaderMap>>,
    hits: AtomicUsize,
    answered: AtomicUsize,
    release: tokio::sync::watch::Sender<bool>,
}

/// A webhook receiver on a free loopback port, served by its own thread.
#[derive(Clone)]
struct Receiver(Arc<Inner>);

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = r.0.hits.fetch_add(1, Ordering::SeqCst) + 1;
    r.0.headers.lock().unwrap().push(headers);
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.0.bodies.lock().unwrap().push(value);
    let status = match r.0.script {
        Script::Ok => StatusCode::OK,
        Script::FailFirst(k) if n <= k => StatusCode::INTERNAL_SERVER_ERROR,
        Script::FailFirst(_) => StatusCode::OK,
        Script::Status(s) => StatusCode::from_u16(s).unwrap(),
        Script::Hang => {
            let mut released = r.0.release.subscribe();
            let _ = released.wait_for(|r| *r).await;
            StatusCode::OK
        }
    };
    r.0.answered.fetch_add(1, Ordering::SeqCst);
    status
}

impl Receiver {
    /// Starts a receiver; returns it and its URL.
    fn start(script: Script) -> (Receiver, String) {
        let receiver = Receiver(Arc::new(Inner {
            script,
            bodies: Mutex::default(),
            headers: Mutex::default(),
            hits: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            release: tokio::sync::watch::channel(false).0,
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let app = Router::new()
            .route("/hooks/T000/B000/secret", post(hook))
            .with_state(receiver.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        (receiver, format!("http://{addr}/hooks/T000/B000/secret"))
    }

    fn bodies(&self) -> Vec<Value> {
        self.0.bodies.lock().unwrap().clone()
    }
    fn hits(&self) -> usize {
        self.0.hits.load(Ordering::SeqCst)
    }
    fn answered(&self) -> usize {
        self.0.answered.load(Ordering::SeqCst)
    }
    fn release(&self) {
        self.0.release.send_replace(true);
    }
    /// Waits (bounded) until `n` posts have arrived.
    fn wait_for_hits(&self, n: usize) {
        assert!(
            fledge_test::wait::until(Duration::from_secs(20), || self.hits() >= n),
            "only {} posts arrived",
            self.hits()
        );
    }
}

/// Fails every step with a reason that needs Slack escaping.
#[derive(Debug)]
struct Failing;

impl Evaluate for Failing {
    fn evaluate(&self, _: &StepContext<'_>) -> Judgement {
        Judgement::new(Outcome::Fail, "p99 latency 82 ms > 50 ms & rising")
    }
}

/// A controller whose first judged tick rolls back.
fn failing(name: &str, clock: &ManualClock) -> Controller {
    let plan = PlanBuilder::canary(name, "v1", "v2").build().unwrap();
    Controller::builder(plan)
        .clock(clock.clone())
        .evaluator(Failing)
        .judge_every_step()
        .build()
        .unwrap()
}

#[test]
fn a_rollback_posts_the_payload_with_a_slack_text() {
    let (receiver, url) = Receiver::start(Script::Ok);
    let clock = fledge_test::clock::manual();
    let checkout = failing("checkout-v2", &clock);
    let search = Controller::builder(
        PlanBuilder::canary("search-v3", "v1", "v2")
            .build()
            .unwrap(),
    )
    .clock(clock.clone())
    .build()
    .unwrap();
    let webhook = Webhook::builder(url)
        .header("x-fledge-token", "s3cret")
        .build()
        .unwrap()
        .attach(&checkout)
        .attach(&search);

    clock.advance(Duration::from_millis(1_250));
    checkout.tick_now().unwrap();
    search.pause("alice", Some("lunch <brb>")).unwrap();
    assert!(webhook.flush(Duration::from_secs(20)));

    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let back = &bodies[0];
    assert_eq!(back["rollout"], "checkout-v2");
    assert_eq!(back["kind"], "rolled_back");
    assert_eq!(back["seq"], 1);
    assert_eq!(back["attempt"], 0);
    assert_eq!(back["step"], 0);
    assert_eq!(back["weight_bps"], 0);
    assert_eq!(back["percent"], 0.0);
    assert_eq!(back["phase"], "rolled_back");
    assert_eq!(back["by"], "gates");
    assert_eq!(back["at"], "2023-11-14T22:13:21.250Z");
    assert_eq!(back["at_ms"], 1_700_000_001_250u64);
    let reason = back["reason"].as_str().unwrap();
    assert!(
        reason.contains("p99 latency 82 ms > 50 ms & rising"),
        "{reason}"
    );
    let text = back["text"].as_str().unwrap();
    assert!(
        text.starts_with("fledge: checkout-v2 rolled back, candidate at 0% (was step 1) — "),
        "{text}"
    );
    assert!(
        text.contains("82 ms &gt; 50 ms &amp; rising") && text.ends_with("(by gates)"),
        "{text}"
    );
    assert!(!text.contains('\n'));

    let paused = &bodies[1];
    assert_eq!(paused["rollout"], "search-v3");
    assert_eq!(paused["kind"], "paused");
    assert_eq!(paused["by"], "alice");
    assert_eq!(paused["weight_bps"], 500);
    assert_eq!(paused["phase"], "paused");
    let text = paused["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "fledge: search-v3 paused at 5% (step 1) — pause by alice: lunch &lt;brb&gt;"
        ),
        "{text}"
    );
    assert!(text.ends_with("(by alice)"), "{text}");

    let headers = receiver.0.headers.lock().unwrap();
    assert_eq!(headers[0]["content-type"], "application/json");
    assert_eq!(headers[0]["x-fledge-token"], "s3cret");
    assert!(
        headers[0]["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("fledge-notify/")
    );
    let stats = webhook.stats();
    assert_eq!((stats.sent, stats.failed, stats.dropped), (2, 0, 0));
}

#[test]
fn only_the_chosen_event_kinds_are_posted() {
    let (receiver, url) = Receiver::start(Script::Ok);
    let clock = fledge_test::clock::manual();
    let plan = PlanBuilder::canary("chosen", "v1", "v2")
        .interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .build()
        .unwrap();
    let webhook = Webhook::builder(url)
        .on(&[EventKind::Promoted])
        .build()
        .unwrap()
        .attach(&c);
    c.pause("bob", None).unwrap();
    c.resume("bob").unwrap();
    for _ in 0..6 {
        c.tick(clock.advance(Duration::from_secs(11))).unwrap();
    }
    assert!(c.state().is_terminal());
    assert!(webhook.flush(Duration::from_secs(20)));
    let bodies = receiver.bodies();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["promoted"]);
    assert_eq!(bodies[0]["weight_bps"], 10_000);
    assert_eq!(bodies[0]["by"], "plan");
    assert!(c.events().len() > 5, "the other events happened, unposted");
}

#[test]
fn server_errors_are_retried_with_backoff_until_accepted() {
    let (receiver, url) = Receiver::start(Script::FailFirst(2));
    let clock = fledge_test::clock::manual();
    let c = failing("retried", &clock);
    let webhook = Webhook::builder(url)
        .retries(3)
        .backoff(Duration::from_millis(40), Duration::from_secs(1))
        .build()
        .unwrap()
        .attach(&c);
    let started = Instant::now();
    c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    assert!(webhook.flush(Duration::from_secs(20)));
    // Waited 40 ms, then 80 ms.
    assert!(started.elapsed() >= Duration::from_millis(120));
    assert_eq!(receiver.hits(), 3);
    let bodies = receiver.bodies();
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "the same payload each time"
    );
    let stats = webhook.stats();
    assert_eq!((stats.sent, stats.retries, stats.failed), (1, 2, 0));
}

#[test]
fn a_client_error_is_not_retried() {
    let (receiver, url) = Receiver::start(Script::Status(404));
    let clock = fledge_test::clock::manual();
    let c = failing("wrong-url", &clock);
    let webhook = Webhook::builder(url)
        .retries(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build()
        .unwrap()
        .attach(&c);
    c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    assert!(webhook.flush(Duration::from_secs(20)));
    assert_eq!(receiver.hits(), 1);
    let stats = webhook.stats();
    assert_eq!((stats.sent, stats.retries, stats.failed), (0, 0, 1));
}

#[test]
fn a_receiver_that_never_answers_does_not_delay_the_tick() {
    let (receiver, url) = Receiver::start(Script::Hang);
    let clock = fledge_test::clock::manual();
    let c = failing("hanging", &clock);
    let timeout = Duration::from_millis(1_500);
    let webhook = Webhook::builder(url)
        .timeout(timeout)
        .retries(1)
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build()
        .unwrap()
        .attach(&c);

    let started = Instant::now();
    let report = c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    let tick = started.elapsed();
    assert_eq!(report.events[0].kind, EventKind::RolledBack);
    // The tick is done before the receiver could even time out (a bound
    // far above a tick's few milliseconds, for loaded machines)...
    assert!(tick < timeout, "the tick took {tick:?}");
    // ...and while the receiver is still holding the post.
    receiver.wait_for_hits(1);
    assert_eq!(receiver.answered(), 0);
    assert_eq!(webhook.stats().sent, 0);

    // The webhook gives up after its time-out and one retry.
    assert!(webhook.flush(Duration::from_secs(20)));
    assert_eq!(receiver.hits(), 2);
    let stats = webhook.stats();
    assert_eq!((stats.sent, stats.retries, stats.failed), (0, 1, 1));
    receiver.release();
}

/// Counts `notify.dropped` log events and keeps their `dropped` field.
#[derive(Clone, Default)]
struct Drops(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Drops {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(BTreeMap<String, String>);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.insert(f.name().to_owned(), format!("{v:?}"));
            }
        }
        if event.metadata().name() == "notify.dropped" {
            let mut fields = Fields(BTreeMap::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[test]
fn a_full_queue_drops_the_oldest_and_says_so() {
    use tracing_subscriber::layer::SubscriberExt;
    let drops = Drops::default();
    let _log = tracing::subscriber::set_default(tracing_subscriber::registry().with(drops.clone()));

    let (receiver, url) = Receiver::start(Script::Hang);
    let plan = PlanBuilder::canary("queued", "v1", "v2").build().unwrap();
    let c = Controller::builder(plan)
        .clock(fledge_test::clock::manual())
        .build()
        .unwrap();
    let webhook = Webhook::builder(url)
        .on(&[EventKind::Paused, EventKind::Resumed])
        .queue(2)
        .retries(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .attach(&c);

    c.pause("ops", None).unwrap(); // seq 1: in flight, held by the receiver
    receiver.wait_for_hits(1);
    let started = Instant::now();
    for _ in 0..3 {
        c.resume("ops").unwrap();
        c.pause("ops", None).unwrap();
    } // seqs 2..=7: the queue keeps 6 and 7
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "commands waited"
    );
    let stats = webhook.stats();
    assert_eq!((stats.dropped, stats.queued), (4, 2));
    assert!(stats.in_flight);
    let logged = drops.0.lock().unwrap().clone();
    assert_eq!(logged.len(), 1, "rate-limited: {logged:?}");
    assert_eq!(logged[0]["dropped"], "1");
    assert_eq!(logged[0]["capacity"], "2");

    receiver.release();
    assert!(webhook.flush(Duration::from_secs(20)));
    let seqs: Vec<u64> = receiver
        .bodies()
        .iter()
        .map(|b| b["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 6, 7]);
    assert_eq!(webhook.stats().sent, 3);
}
