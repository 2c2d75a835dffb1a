//! The canary layer in a real HTTP server: what it costs as users see it.
//!
//! The layer benchmarks (`benches/layer.rs`) time one in-process axum call
//! with warm caches. This one runs the request path the way a service does:
//! a loopback HTTP/1.1 server (axum, hyper, one tokio worker) serving
//! `POST /predict` (a JSON body of 32 numbers, the forecast a 16-point moving
//! average), driven over keep-alive connections, with and without the layer.
//!
//! - **Servers.** This binary starts itself once per variant as a child
//!   process (`--serve <variant>`), so each server's CPU time is its own. A
//!   server pins all its threads to core 0 (where the machine has two or
//!   more cores) and runs one tokio worker. The layered servers use the
//!   front door as applications do (`fledge::Canary` from a plan, the
//!   driver spawned, ticking every second): a 5 % canary step that lasts an
//!   hour, sticky on `x-user-id`, one p99 gate.
//! - **Variants.** `none` (the same server without the layer); `identity`
//!   (a layer that does nothing, added with `Router::layer` like the others:
//!   what axum's wrapping of each route costs any middleware); `default`
//!   (`app.layer(canary.layer())` with the default settings: the
//!   [`Chosen`](fledge_tower::Chosen) extension, read by the handler
//!   through the `Version` extractor, and the `x-fledge-version` response
//!   header); `lean` (neither); `isolation` (the defaults plus a plan's
//!   `limits`: a concurrency limit on the canary, a 2 s timeout on both
//!   versions); `axum` (`app.layer(canary.axum_layer())`: the defaults,
//!   axum's body kept); `wrapped` (`canary.axum_layer()` around the whole
//!   router instead of on each route); `wrapped-scope` (the same without
//!   the extension: the handler's `Version` reads the version in scope);
//!   `wrapped-lean` (around the whole router, neither the extension nor the
//!   header: the least the layer can cost); `coarse` (the defaults with
//!   `LatencyClock::Coarse(1 ms)`: its upkeep thread runs in the server, on
//!   the same core, so its CPU is counted).
//! - **Load.** A load generator in this process, pinned to core 1, keeps
//!   `--connections` (16) keep-alive connections per server busy, one
//!   request in flight on each, users drawn from 100,000 ids. It writes
//!   prebuilt request bytes and reads responses with a minimal HTTP/1.1
//!   parser rather than a full client: on one core a hyper client costs
//!   about as much per request as the server it drives, and the server
//!   must be the bottleneck for requests per second to mean anything.
//! - **Rounds.** After a warm-up, `--rounds` (8) rounds; in each, every
//!   variant is measured for `--secs` (2) seconds with `none` measured
//!   before and after it (`none A none B none ...`, the order of the others
//!   reversed every other round), so that each variant is compared with
//!   the same server without the layer seconds apart, under the same load
//!   on a shared machine.
//! - **Figures.** Per round and variant: the server's CPU time per request
//!   (user + system, the sum over its threads of `/proc/<pid>/task/*/schedstat`,
//!   nanosecond resolution), requests per second, and the generator's own
//!   CPU per request; then per variant the median and the range over the
//!   rounds of the CPU per request, of its difference to the mean of the
//!   two `none` measurements around it, and of the ratio of requests per
//!   second to theirs. The same figures follow for the quiet measurements
//!   only: those where the server, and the `none` ones around it, had 90 %
//!   of a core or more (on a busy shared machine, a server that gets less
//!   runs with cold caches and every figure grows). The CPU per request is the steady figure on a shared machine
//!   (other processes take turns on the core, but the server's own work per
//!   request changes little); requests per second also moves with whatever
//!   else runs on core 0, so the load average is printed with the figures.
//!
//! ```text
//! cargo bench -p fledge-benches --bench e2e                    # 8 rounds, 2 s per measurement (~5 min)
//! cargo bench -p fledge-benches --bench e2e -- --quick         # 2 rounds, 0.5 s per measurement
//! cargo bench -p fledge-benches --bench e2e -- --variants none,default --rounds 12
//! cargo bench -p fledge-benches --bench e2e -- --callgrind     # instructions per request
//! ```
//!
//! `--callgrind` runs each server under `valgrind --tool=callgrind` instead
//! (it fails with a clear message when `valgrind` or `callgrind_control` is
//! missing): after 2,000 warm-up requests the counters are zeroed, then
//! `--requests` (25,000) requests are sent over one connection, 1 ms
//! apart (so that the server goes idle between two requests every time:
//! without the pause, whether it parks depends on how fast valgrind runs,
//! and the count moves by a thousand instructions from run to run), and
//! the counters dumped; the instructions per request are printed and the dump is
//! left in `target/e2e-callgrind/` for `callgrind_annotate`. `--cache-sim`
//! adds callgrind's cache simulation and prints the first-level and
//! last-level misses per request (instruction and data).
//!
//! `FLEDGE_E2E_NO_DRIVER=1` leaves the driver out (no timer in the
//! servers' runtime): the difference is what the driver costs the worker.
//!
//! Run as a test (`cargo test --benches`, no `--bench` argument) it serves a
//! few hundred requests per variant and checks the answers: a smoke test.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use fledge::axum::Version;
use fledge::{Canary, Plan};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The core the servers run on, and the load generator's.
const SERVER_CORE: usize = 0;
const DRIVER_CORE: usize = 1;

/// Distinct users the load generator draws from.
const USERS: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    None,
    Identity,
    Default,
    Lean,
    Isolation,
    Axum,
    Wrapped,
    WrappedScope,
    WrappedLean,
    Coarse,
}

impl Variant {
    const ALL: [Variant; 10] = [
        Variant::None,
        Variant::Identity,
        Variant::Default,
        Variant::Lean,
        Variant::Isolation,
        Variant::Axum,
        Variant::Wrapped,
        Variant::WrappedScope,
        Variant::WrappedLean,
        Variant::Coarse,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::Identity => "identity",
            Variant::Default => "default",
            Variant::Lean => "lean",
            Variant::Isolation => "isolation",
            Variant::Axum => "axum",
            Variant::Wrapped => "wrapped",
            Variant::WrappedScope => "wrapped-scope",
            Variant::WrappedLean => "wrapped-lean",
            Variant::Coarse => "coarse",
        }
    }

    fn parse(name: &str) -> Variant {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .unwrap_or_else(|| {
                panic!(
                    "unknown variant {name:?} (none, identity, default, lean, isolation, \
                     axum, wrapped, wrapped-scope, wrapped-lean, coarse)"
                )
            })
    }

    /// Whether the server sends `x-fledge-version`.
    fn names_version(self) -> bool {
        matches!(
            self,
            Variant::Default
                | Variant::Isolation
                | Variant::Axum
                | Variant::Wrapped
                | Variant::WrappedScope
                | Variant::Coarse
        )
    }
}

/// The command line (after cargo's own arguments).
#[derive(Debug, Clone)]
struct Options {
    /// `--bench` was passed: `cargo bench`, not `cargo test`.
    bench: bool,
    serve: Option<Variant>,
    variants: Vec<Variant>,
    rounds: usize,
    secs: f64,
    warmup_secs: f64,
    connections: usize,
    callgrind: bool,
    cache_sim: bool,
    requests: u64,
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            bench: false,
            serve: None,
            variants: Variant::ALL.to_vec(),
            rounds: 8,
            secs: 2.0,
            warmup_secs: 1.0,
            connections: 16,
            callgrind: false,
            cache_sim: false,
            requests: 25_000,
        };
        let mut args = std::env::args().skip(1);
        let value = |args: &mut dyn Iterator<Item = String>, flag: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => o.bench = true,
                "--serve" => o.serve = Some(Variant::parse(&value(&mut args, "--serve"))),
                "--quick" => {
                    o.rounds = 2;
                    o.secs = 0.5;
                    o.warmup_secs = 0.3;
                    o.requests = 5_000;
                }
                "--variants" => {
                    o.variants = value(&mut args, "--variants")
                        .split(',')
                        .map(Variant::parse)
                        .collect();
                }
                "--rounds" => o.rounds = number(&value(&mut args, "--rounds")),
                "--secs" => o.secs = number(&value(&mut args, "--secs")),
                "--connections" => o.connections = number(&value(&mut args, "--connections")),
                "--requests" => o.requests = number(&value(&mut args, "--requests")),
                "--callgrind" => o.callgrind = true,
                "--cache-sim" => {
                    o.callgrind = true;
                    o.cache_sim = true;
                }
                // cargo's and libtest's flags, and filters: not ours.
                _ => {}
            }
        }
        o
    }
}

fn number<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .unwrap_or_else(|e| panic!("not a number: {s:?}: {e}"))
}

fn main() {
    let options = Options::parse();
    if let Some(variant) = options.serve {
        serve(variant);
        return;
    }
    if options.callgrind {
        callgrind(&options);
    } else if options.bench {
        rounds(&options);
    } else {
        smoke();
    }
}

// ---------------------------------------------------------------- the server

#[derive(Deserialize)]
struct Input {
    series: Vec<f64>,
}

#[derive(Serialize)]
struct Output {
    forecast: f64,
    version: &'static str,
}

/// The model: a 16-point moving average of the series. The version the layer
/// chose (none without the layer or its extension) is named in the answer.
async fn predict(version: Option<Version>, Json(input): Json<Input>) -> Json<Output> {
    let tail = &input.series[input.series.len().saturating_sub(16)..];
    let forecast = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    Json(Output {
        forecast,
        version: version.map_or("v1", |v| v.id()),
    })
}

/// The rollout: a 5 % canary step that lasts an hour (the bench never
/// leaves it), sticky on `x-user-id`, one p99 gate asked every tick.
fn plan(variant: Variant) -> Plan {
    let limits = if variant == Variant::Isolation {
        r#"
[limits.v2]
concurrency = 32
timeout = "2s"

[limits.v1]
timeout = "2s"
"#
    } else {
        ""
    };
    let toml = format!(
        r#"
name = "predict-v2"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "1h"

[[gates]]
name = "p99 latency"
kind = "threshold"
metric = "latency_p99"
max = 50.0
critical = true
{limits}"#
    );
    Plan::from_toml(&toml).unwrap_or_else(|e| panic!("bench plan: {e}"))
}

/// The machine's online cores (not this process's affinity mask, which a
/// pinned parent passes on to its children).
fn online_cores() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .map(|list| {
            list.trim()
                .split(',')
                .filter_map(|part| match part.split_once('-') {
                    Some((a, b)) => Some(number::<usize>(b) - number::<usize>(a) + 1),
                    None => part.parse::<usize>().ok().map(|_| 1),
                })
                .sum()
        })
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// Pins this thread (and the threads it starts later) to `core`, where the
/// machine has two cores or more.
fn pin(core: usize) {
    if online_cores() >= 2 {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
}

/// A server of `variant` on an ephemeral loopback port, printed on stdout;
/// it exits when its stdin closes (the parent is done or gone).
fn serve(variant: Variant) {
    // Before the runtime starts: its threads inherit the affinity.
    pin(SERVER_CORE);
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local address: {e}"));
        let app = Router::new().route("/predict", post(predict));
        let canary = (!matches!(variant, Variant::None | Variant::Identity)).then(|| {
            let builder = Canary::builder(plan(variant));
            let settings = fledge::tower::Settings::new();
            let builder = match variant {
                Variant::Lean => builder.settings(settings.extension(false).response_header(None)),
                // The handler's `Version` extractor reads the version in
                // scope instead of the extension.
                Variant::WrappedScope => builder.settings(settings.extension(false)),
                Variant::WrappedLean => {
                    builder.settings(settings.extension(false).response_header(None))
                }
                // Two loads of a time advanced every millisecond instead of
                // two reads of the time-stamp counter (`LatencyClock`).
                Variant::Coarse => builder.settings(settings.latency_clock(
                    fledge::tower::LatencyClock::Coarse(Duration::from_millis(1)),
                )),
                _ => builder,
            };
            builder.build().unwrap_or_else(|e| panic!("canary: {e}"))
        });
        // FLEDGE_E2E_NO_DRIVER=1: no driver (and so no timer in the
        // runtime), to tell its cost apart.
        let drive = std::env::var_os("FLEDGE_E2E_NO_DRIVER").is_none();
        let _driver = canary.as_ref().filter(|_| drive).map(Canary::spawn);
        println!("listening {addr}");
        let _ = std::io::stdout().flush();
        let served = match (variant, &canary) {
            (Variant::Wrapped | Variant::WrappedScope | Variant::WrappedLean, Some(canary)) => {
                // The layer around the whole router rather than on each
                // route (`Router::layer`); axum's body kept.
                let service = tower::Layer::layer(&canary.axum_layer(), app.with_state(()));
                axum::serve(listener, service.into_make_service()).await
            }
            (Variant::Axum, Some(canary)) => {
                axum::serve(listener, app.layer(canary.axum_layer())).await
            }
            (_, Some(canary)) => axum::serve(listener, app.layer(canary.layer())).await,
            (Variant::Identity, None) => {
                let identity = tower::util::MapResponseLayer::new(std::convert::identity);
                axum::serve(listener, app.layer(identity)).await
            }
            (_, None) => axum::serve(listener, app).await,
        };
        served.unwrap_or_else(|e| panic!("serve: {e}"));
    });
}

/// A server child process.
struct Server {
    variant: Variant,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn spawn(variant: Variant, wrapper: &[String]) -> Server {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .args(["--serve", variant.name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {} server: {e}", variant.name()));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("the {} server said {line:?}", variant.name()));
        Server {
            variant,
            child,
            addr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin and waits for it to exit.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ the load side

/// Nanoseconds the process `pid` has run on a CPU, all threads (Linux
/// `schedstat`; user and system time).
fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// The request bodies: random walks of 32 points.
fn bodies() -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..64)
        .map(|_| {
            let mut level = 100.0;
            let points: Vec<String> = (0..32)
                .map(|_| {
                    level += (rng.next() % 2_001) as f64 / 1_000.0 - 1.0;
                    format!("{level:.3}")
                })
                .collect();
            format!("{{\"series\":[{}]}}", points.join(","))
        })
        .collect()
}

/// xorshift64*: the user ids and bodies to send.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What a connection saw.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    requests: u64,
    /// Responses naming v2 in `x-fledge-version`.
    v2: u64,
    /// Responses naming a version at all.
    named: u64,
}

impl Seen {
    fn add(&mut self, other: Seen) {
        self.requests += other.requests;
        self.v2 += other.v2;
        self.named += other.named;
    }
}

/// One keep-alive connection and its buffers.
struct Connection {
    stream: TcpStream,
    rng: Rng,
    request: Vec<u8>,
    response: Vec<u8>,
    /// A pause after each response (under callgrind: the server then
    /// always goes idle between two requests, the same path every time).
    pause: Option<Duration>,
}

impl Connection {
    async fn open(addr: SocketAddr, seed: u64) -> Connection {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            rng: Rng(seed | 1),
            request: Vec::with_capacity(512),
            response: Vec::with_capacity(1024),
            pause: None,
        }
    }

    /// Sends one request and reads its response.
    async fn exchange(&mut self, bodies: &[String]) -> Seen {
        let user = self.rng.next() % USERS;
        let body = &bodies[(self.rng.next() % bodies.len() as u64) as usize];
        self.request.clear();
        let _ = write!(
            self.request,
            "POST /predict HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             x-user-id: 5f3c9a1e-0000-4000-8000-{user:012}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .write_all(&self.request)
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        self.response.clear();
        let head_end = loop {
            self.read_more().await;
            if let Some(end) = find(&self.response, b"\r\n\r\n") {
                break end + 4;
            }
        };
        let head = std::str::from_utf8(&self.response[..head_end])
            .unwrap_or_else(|e| panic!("response head: {e}"));
        assert!(head.starts_with("HTTP/1.1 200"), "response: {head}");
        let mut length = 0usize;
        let (mut named, mut v2) = (0, 0);
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = number(value);
            } else if name.eq_ignore_ascii_case("x-fledge-version") {
                named = 1;
                v2 = u64::from(value == "v2");
            }
        }
        while self.response.len() < head_end + length {
            self.read_more().await;
        }
        if let Some(pause) = self.pause {
            tokio::time::sleep(pause).await;
        }
        Seen {
            requests: 1,
            v2,
            named,
        }
    }

    async fn read_more(&mut self) {
        self.response.reserve(1024);
        let n = self
            .stream
            .read_buf(&mut self.response)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(n > 0, "the server closed the connection");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs every connection until `until`, or for `count` requests each.
async fn drive(
    connections: Vec<Connection>,
    bodies: &std::rc::Rc<Vec<String>>,
    until: Option<Instant>,
    count: u64,
) -> (Vec<Connection>, Seen) {
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = connections
        .into_iter()
        .map(|mut c| {
            let bodies = bodies.clone();
            local.spawn_local(async move {
                let mut seen = Seen::default();
                loop {
                    if until.map_or(seen.requests >= count, |t| Instant::now() >= t) {
                        break;
                    }
                    seen.add(c.exchange(&bodies).await);
                }
                (c, seen)
            })
        })
        .collect();
    local
        .run_until(async move {
            let mut back = Vec::new();
            let mut total = Seen::default();
            for h in handles {
                let (c, seen) = h.await.unwrap_or_else(|e| panic!("connection task: {e}"));
                back.push(c);
                total.add(seen);
            }
            (back, total)
        })
        .await
}

fn generator_runtime() -> tokio::runtime::Runtime {
    pin(DRIVER_CORE);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// One variant's figures in one measurement.
#[derive(Debug, Clone, Copy)]
struct Sample {
    requests: u64,
    wall: Duration,
    server_cpu_ns: u64,
    driver_cpu_ns: u64,
    /// The `none` server measured just before and just after this one
    /// (their mean), for the paired figures.
    base: Option<Base>,
}

/// The mean of the two `none` measurements around a sample.
#[derive(Debug, Clone, Copy)]
struct Base {
    cpu_us_per_request: f64,
    rps: f64,
    /// The smaller of the two shares of a core.
    share: f64,
}

impl Sample {
    fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu_ns as f64 / 1e3 / self.requests.max(1) as f64
    }
    fn rps(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
    fn driver_us_per_request(&self) -> f64 {
        self.driver_cpu_ns as f64 / 1e3 / self.requests.max(1) as f64
    }
    fn server_share(&self) -> f64 {
        self.server_cpu_ns as f64 / self.wall.as_nanos() as f64
    }
    /// Whether this measurement (and the `none` ones around it) had the
    /// core almost to itself.
    fn quiet(&self) -> bool {
        self.server_share() >= QUIET && self.base.is_none_or(|b| b.share >= QUIET)
    }
}

fn rounds(o: &Options) {
    let servers: Vec<Server> = o.variants.iter().map(|v| Server::spawn(*v, &[])).collect();
    let runtime = generator_runtime();
    let bodies = std::rc::Rc::new(bodies());
    let load_before = load_average();
    println!(
        "e2e: {} variants, {} rounds of {} s per measurement, `none` measured between every two \
         others, {} connections each, {} cores, load average {load_before}",
        servers.len(),
        o.rounds,
        o.secs,
        o.connections,
        online_cores(),
    );
    let mut pools: Vec<Vec<Connection>> = servers
        .iter()
        .enumerate()
        .map(|(s, server)| {
            runtime.block_on(async {
                let mut pool = Vec::new();
                for c in 0..o.connections {
                    pool.push(Connection::open(server.addr, (s * 1_000 + c) as u64 + 7).await);
                }
                pool
            })
        })
        .collect();
    // Warm-up: every server, in order.
    for pool in &mut pools {
        let until = Instant::now() + Duration::from_secs_f64(o.warmup_secs);
        let (back, _) = runtime.block_on(drive(std::mem::take(pool), &bodies, Some(until), 0));
        *pool = back;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
    let mut seen: Vec<Seen> = vec![Seen::default(); servers.len()];
    let mut measure = |s: usize, pools: &mut Vec<Vec<Connection>>| {
        let pid = servers[s].pid();
        let (cpu0, me0, t0) = (process_cpu_ns(pid), thread_cpu_ns(), Instant::now());
        let until = t0 + Duration::from_secs_f64(o.secs);
        let (back, got) = runtime.block_on(drive(
            std::mem::take(&mut pools[s]),
            &bodies,
            Some(until),
            0,
        ));
        let (cpu1, me1, wall) = (process_cpu_ns(pid), thread_cpu_ns(), t0.elapsed());
        pools[s] = back;
        seen[s].add(got);
        Sample {
            requests: got.requests,
            wall,
            server_cpu_ns: cpu1.saturating_sub(cpu0),
            driver_cpu_ns: me1.saturating_sub(me0),
            base: None,
        }
    };
    let base = servers.iter().position(|s| s.variant == Variant::None);
    for round in 0..o.rounds {
        let mut order: Vec<usize> = (0..servers.len()).filter(|s| Some(*s) != base).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        // none, A, none, B, none, ...: each variant is paired with the
        // `none` measurements right before and after it, seconds apart.
        let mut before = base.map(|b| measure(b, &mut pools));
        if let (Some(b), Some(x)) = (base, before) {
            samples[b].push(x);
        }
        for s in order {
            let mut sample = measure(s, &mut pools);
            let after = base.map(|b| measure(b, &mut pools));
            if let (Some(x), Some(y)) = (before, after) {
                sample.base = Some(Base {
                    cpu_us_per_request: (x.cpu_us_per_request() + y.cpu_us_per_request()) / 2.0,
                    rps: (x.rps() + y.rps()) / 2.0,
                    share: x.server_share().min(y.server_share()),
                });
            }
            samples[s].push(sample);
            if let (Some(b), Some(y)) = (base, after) {
                samples[b].push(y);
            }
            before = after;
        }
        eprint!(".");
    }
    eprintln!();
    let load_after = load_average();
    report(o, &servers, &samples, &seen, &load_before, &load_after);
    drop(pools);
    for server in servers {
        server.stop();
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn range(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

/// A measurement counts as quiet when the server had at least this share
/// of its core (the rest went to other processes on a shared machine).
const QUIET: f64 = 0.9;

fn report(
    o: &Options,
    servers: &[Server],
    samples: &[Vec<Sample>],
    seen: &[Seen],
    load_before: &str,
    load_after: &str,
) {
    println!("load average: {load_before} before, {load_after} after");
    println!();
    println!(
        "each measurement (server CPU µs per request / requests per second / share of a core):"
    );
    for (s, server) in servers.iter().enumerate() {
        let rounds: Vec<String> = samples[s]
            .iter()
            .map(|x| {
                format!(
                    "{:.2}/{:.0}/{:.0}%",
                    x.cpu_us_per_request(),
                    x.rps(),
                    100.0 * x.server_share()
                )
            })
            .collect();
        println!("  {:<13} {}", server.variant.name(), rounds.join("  "));
    }
    println!();
    println!("all {} rounds:", o.rounds);
    table(servers, samples, seen, &|_| true);
    let quiet: usize = samples
        .iter()
        .flatten()
        .filter(|x| x.base.is_some() && x.quiet())
        .count();
    let paired: usize = samples
        .iter()
        .flatten()
        .filter(|x| x.base.is_some())
        .count();
    println!();
    println!(
        "quiet measurements only (the server and the `none` ones around it had {:.0} % of a core \
         or more): {quiet} of {paired}",
        100.0 * QUIET,
    );
    if quiet > 0 {
        table(servers, samples, seen, &Sample::quiet);
    }
    println!();
    println!(
        "(medians; added and ratios are paired with the `none` measurements just before and \
         after; server = share of one core the server used; gen = the load generator's CPU per \
         request)"
    );
}

fn table(
    servers: &[Server],
    samples: &[Vec<Sample>],
    seen: &[Seen],
    keep: &dyn Fn(&Sample) -> bool,
) {
    println!(
        "{:<13} {:>20} {:>24} {:>20} {:>9} {:>22} {:>8} {:>10} {:>7}",
        "variant",
        "CPU µs/req (range)",
        "added µs/req (range)",
        "CPU ratio (range)",
        "req/s",
        "req/s ratio (range)",
        "server",
        "gen µs/req",
        "v2"
    );
    for (s, server) in servers.iter().enumerate() {
        let kept: Vec<Sample> = samples[s].iter().filter(|x| keep(x)).copied().collect();
        if kept.is_empty() {
            continue;
        }
        let cpu: Vec<f64> = kept.iter().map(Sample::cpu_us_per_request).collect();
        let rps: Vec<f64> = kept.iter().map(Sample::rps).collect();
        let (lo, hi) = range(&cpu);
        let share = median(kept.iter().map(Sample::server_share).collect());
        let driver = median(kept.iter().map(Sample::driver_us_per_request).collect());
        let v2 = if seen[s].named > 0 {
            format!("{:.1} %", 100.0 * seen[s].v2 as f64 / seen[s].named as f64)
        } else {
            "-".to_owned()
        };
        let paired = |f: &dyn Fn(&Sample, &Base) -> f64| -> Option<Vec<f64>> {
            let xs: Vec<f64> = kept
                .iter()
                .filter_map(|x| x.base.map(|b| f(x, &b)))
                .collect();
            (!xs.is_empty()).then_some(xs)
        };
        let fmt_paired = |xs: Option<Vec<f64>>, digits: usize, sign: bool| match xs {
            Some(xs) => {
                let (lo, hi) = range(&xs);
                if sign {
                    format!(
                        "{:+.digits$} ({:+.digits$}..{:+.digits$})",
                        median(xs),
                        lo,
                        hi
                    )
                } else {
                    format!("{:.digits$} ({:.digits$}..{:.digits$})", median(xs), lo, hi)
                }
            }
            None => "-".to_owned(),
        };
        println!(
            "{:<13} {:>20} {:>24} {:>20} {:>9.0} {:>22} {:>7.0}% {:>10.2} {:>7}",
            server.variant.name(),
            format!("{:.2} ({lo:.2}..{hi:.2})", median(cpu.clone())),
            fmt_paired(
                paired(&|x, b| x.cpu_us_per_request() - b.cpu_us_per_request),
                2,
                true
            ),
            fmt_paired(
                paired(&|x, b| x.cpu_us_per_request() / b.cpu_us_per_request),
                3,
                false
            ),
            median(rps),
            fmt_paired(paired(&|x, b| x.rps() / b.rps), 3, false),
            100.0 * share,
            driver,
            v2,
        );
    }
}

// ---------------------------------------------------------------- smoke test

/// `cargo test --benches`: a few hundred requests per variant, answers
/// checked.
fn smoke() {
    let runtime = generator_runtime();
    let bodies = std::rc::Rc::new(bodies());
    for variant in Variant::ALL {
        let server = Server::spawn(variant, &[]);
        let seen = runtime.block_on(async {
            let mut pool = Vec::new();
            for c in 0..4 {
                pool.push(Connection::open(server.addr, c + 1).await);
            }
            drive(pool, &bodies, None, 100).await.1
        });
        assert_eq!(seen.requests, 400, "{variant:?}");
        if variant.names_version() {
            assert_eq!(
                seen.named, 400,
                "{variant:?}: x-fledge-version on every response"
            );
            assert!(
                seen.v2 < 100,
                "{variant:?}: a 5 % canary got {} of 400",
                seen.v2
            );
        } else {
            assert_eq!(seen.named, 0, "{variant:?}: no version header");
        }
        server.stop();
        println!("e2e smoke: {} ok", variant.name());
    }
}

// ------------------------------------------------------------------ callgrind

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "--callgrind needs `{tool}` (Debian: apt-get install valgrind), which is not installed"
    );
}

fn callgrind_control(args: &[&str]) {
    let status = Command::new("callgrind_control")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("callgrind_control: {e}"));
    assert!(status.success(), "callgrind_control {args:?}: {status}");
}

/// The totals of a callgrind dump by event (`Ir`, and with
/// `--cache-sim` the cache misses), and whether its thread ran the driver's
/// ticks.
fn dump_totals(path: &std::path::Path) -> (Vec<(String, u64)>, bool) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let names: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    let values: Vec<u64> = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .map(|v| {
            v.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let ticks = text.contains("Controller>::tick") || text.contains("Controller::tick");
    let totals = names
        .iter()
        .map(|n| (*n).to_owned())
        .zip(values.into_iter().chain(std::iter::repeat(0)))
        .collect();
    (totals, ticks)
}

fn callgrind(o: &Options) {
    require("valgrind");
    require("callgrind_control");
    // target/release/deps/e2e-<hash> → target/e2e-callgrind
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    let dir = exe
        .ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("e2e-callgrind");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let runtime = generator_runtime();
    let bodies = std::rc::Rc::new(bodies());
    println!(
        "e2e under callgrind: {} requests per variant over one connection, load average {}",
        o.requests,
        load_average()
    );
    let mut base = None;
    for variant in &o.variants {
        let out = dir.join(format!("{}.out", variant.name()));
        for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if old
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{}.out", variant.name()))
            {
                let _ = std::fs::remove_file(old.path());
            }
        }
        let wrapper = vec![
            "valgrind".to_owned(),
            "--tool=callgrind".to_owned(),
            format!("--callgrind-out-file={}", out.display()),
            "--separate-threads=yes".to_owned(),
        ];
        let mut wrapper = wrapper;
        if o.cache_sim {
            wrapper.push("--cache-sim=yes".to_owned());
        }
        let server = Server::spawn(*variant, &wrapper);
        let pid = server.pid().to_string();
        let mut pool = runtime.block_on(async {
            let mut c = Connection::open(server.addr, 11).await;
            c.pause = Some(Duration::from_millis(1));
            vec![c]
        });
        pool = runtime.block_on(drive(pool, &bodies, None, 2_000)).0;
        callgrind_control(&["--zero", &pid]);
        let t0 = Instant::now();
        pool = runtime.block_on(drive(pool, &bodies, None, o.requests)).0;
        let wall = t0.elapsed();
        callgrind_control(&["--dump", &pid]);
        drop(pool);
        server.stop();
        // One dump per thread (`--separate-threads=yes`): the tokio worker
        // (the request path), the blocking-pool thread the driver ticks on,
        // the main thread (accepting connections).
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(&format!("{}.out.", variant.name()))
                })
            })
            .collect();
        dumps.sort();
        assert!(
            !dumps.is_empty(),
            "no callgrind dump for {}",
            variant.name()
        );
        let (mut serving, mut ticking) = (0u64, 0u64);
        let mut misses: Vec<(String, u64)> = Vec::new();
        for dump in &dumps {
            let (totals, ticks) = dump_totals(dump);
            let ir = totals
                .iter()
                .find(|(n, _)| n == "Ir")
                .map_or(0, |(_, v)| *v);
            if ticks {
                ticking += ir;
                continue;
            }
            serving += ir;
            for (name, value) in totals.into_iter().filter(|(n, _)| n != "Ir") {
                match misses.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, v)) => *v += value,
                    None => misses.push((name, value)),
                }
            }
        }
        let n = o.requests as f64;
        let per_request = serving as f64 / n;
        let added = match base {
            Some(b) => format!(" ({:+.0})", per_request - b),
            None => String::new(),
        };
        if *variant == Variant::None {
            base = Some(per_request);
        }
        let ticks = if ticking > 0 {
            format!(
                "; driver ticks {:.0} per second of run ({:.0} per request at callgrind's pace)",
                ticking as f64 / wall.as_secs_f64(),
                ticking as f64 / n
            )
        } else {
            String::new()
        };
        let misses: Vec<String> = misses
            .iter()
            .filter(|(n, _)| n.ends_with("mr") || n.ends_with("mw"))
            .map(|(name, v)| format!("{name} {:.1}", *v as f64 / n))
            .collect();
        if !misses.is_empty() {
            println!("{:<10} per request: {}", variant.name(), misses.join(", "));
        }
        println!(
            "{:<10} {per_request:>8.0} instructions per request{added}{ticks}; {:.1} s, dumps {}",
            variant.name(),
            wall.as_secs_f64(),
            dumps
                .first()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        );
    }
}
