//! `fledge simulate FILE`: the plan on simulated traffic, through the real
//! controller and gates, with a simulated clock (nothing sleeps).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_gate::{OutputId, OutputKind, OutputSpec, Recorder};
use fledge_rollout::control::Controller;
use fledge_rollout::machine::{ApprovalKind, Command, Event, EventKind, Input, Phase};
use fledge_rollout::plan::{Plan, TargetRule};
use serde::Serialize;

use crate::Failure;
use crate::out;

/// Arguments of `fledge simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plan file (.toml, .json, .yaml or .yml).
    file: PathBuf,
    /// The baseline's error rate, 0..=1.
    #[arg(long, default_value_t = 0.001)]
    baseline_error_rate: f64,
    /// The candidate's error rate, 0..=1.
    #[arg(long, default_value_t = 0.001)]
    canary_error_rate: f64,
    /// The baseline's p99 latency in milliseconds (log-normal latencies).
    #[arg(long, default_value_t = 30.0)]
    baseline_p99_ms: f64,
    /// The candidate's p99 latency in milliseconds.
    #[arg(long, default_value_t = 30.0)]
    canary_p99_ms: f64,
    /// The candidate's numeric model outputs are the baseline's distribution
    /// (lognormal, median 100, coefficient of variation about 25 %)
    /// multiplied by 1 + this: 0.05 forecasts 5 % too high. Recorded for
    /// every numeric output the plan declares.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    output_shift: f64,
    /// Share of the candidate's categorical outputs moved to the first
    /// label (the others scaled down): 0.05 takes a top label from 27.8 %
    /// to 32.8 %. Labels: the output's declared `labels`, else up to 20
    /// named c00, c01, ..., with Zipf shares (1/rank).
    #[arg(long, default_value_t = 0.0)]
    label_shift: f64,
    /// Requests per simulated second.
    #[arg(long, default_value_t = 100)]
    rps: u64,
    /// The random seed: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated time between controller ticks (e.g. "1s", "500ms").
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    tick: Duration,
    /// Give up after this much simulated time.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    max_time: Duration,
    /// Share of requests (0..=1) that match one of the plan's targeting
    /// rules (testers, selected regions, preview headers).
    #[arg(long, default_value_t = 0.02)]
    targeted_share: f64,
    /// Do not approve waiting steps or resume the plan's pauses (a human
    /// would); stop there instead.
    #[arg(long)]
    no_approve: bool,
    /// Exit 1 unless the result is this one.
    #[arg(long, value_enum)]
    expect: Option<Expect>,
    /// Print one JSON document instead of the timeline.
    #[arg(long)]
    json: bool,
}

/// An expected result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Expect {
    /// The candidate was promoted.
    Promoted,
    /// The candidate was rolled back.
    RolledBack,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    match fledge_rollout::duration::parse(s) {
        Ok(d) if d.is_zero() => Err("must be longer than 0s".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// SplitMix64: small, fast, seedable, good enough for traffic simulation.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Log-normal latencies with the given p99 (σ = 0.4 in log space).
struct Latency {
    median_ms: f64,
}

const SIGMA: f64 = 0.4;
const Z99: f64 = 2.326_347_874;

impl Latency {
    fn with_p99(p99_ms: f64) -> Self {
        Latency {
            median_ms: p99_ms / (SIGMA * Z99).exp(),
        }
    }

    fn sample(&self, rng: &mut Rng) -> Duration {
        // Finite (a checked positive median, a finite draw) and clamped:
        // `from_secs_f64` cannot panic.
        let ms = (self.median_ms * (SIGMA * rng.normal()).exp()).clamp(0.01, 3_600_000.0);
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// The median of simulated numeric outputs.
const OUTPUT_MEDIAN: f64 = 100.0;
/// σ of their logarithm: a coefficient of variation of about 25 %.
const OUTPUT_SIGMA: f64 = 0.25;
/// Labels simulated for a categorical output that declares none.
const SIMULATED_LABELS: usize = 20;

/// How one declared model output is simulated.
enum OutputSim {
    /// Lognormal values; the candidate's are multiplied by `scale`.
    Numeric { id: OutputId, scale: f64 },
    /// Labels drawn from cumulative shares, the baseline's and the
    /// candidate's.
    Categorical {
        id: OutputId,
        labels: Vec<String>,
        baseline: Vec<f64>,
        candidate: Vec<f64>,
    },
}

impl OutputSim {
    fn new(spec: &OutputSpec, recorder: &Recorder, args: &Args) -> Option<OutputSim> {
        let id = recorder.output_id(spec.name())?;
        Some(match spec.kind() {
            OutputKind::Numeric => OutputSim::Numeric {
                id,
                scale: 1.0 + args.output_shift,
            },
            OutputKind::Categorical => {
                let labels: Vec<String> = if spec.initial_labels().is_empty() {
                    let n = spec
                        .label_capacity()
                        .unwrap_or(SIMULATED_LABELS)
                        .clamp(1, SIMULATED_LABELS);
                    (0..n).map(|k| format!("c{k:02}")).collect()
                } else {
                    spec.initial_labels().to_vec()
                };
                OutputSim::Categorical {
                    id,
                    baseline: zipf_cdf(labels.len(), 0.0),
                    candidate: zipf_cdf(labels.len(), args.label_shift),
                    labels,
                }
            }
        })
    }

    /// Records one response's output for `version`.
    fn record(&self, recorder: &Recorder, version: usize, on_canary: bool, rng: &mut Rng) {
        match self {
            OutputSim::Numeric { id, scale } => {
                let value = OUTPUT_MEDIAN * (OUTPUT_SIGMA * rng.normal()).exp();
                let scale = if on_canary { *scale } else { 1.0 };
                recorder.record_output(version, *id, value * scale);
            }
            OutputSim::Categorical {
                id,
                labels,
                baseline,
                candidate,
            } => {
                let cdf = if on_canary { candidate } else { baseline };
                let u = rng.unit();
                let k = cdf.iter().position(|&p| u < p).unwrap_or(labels.len() - 1);
                recorder.record_label(version, *id, &labels[k]);
            }
        }
    }
}

/// Cumulative Zipf shares (1/rank) of `n` labels, the first raised by
/// `extra` (at most to 1) and the others scaled down to make room.
fn zipf_cdf(n: usize, extra: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let first = weights[0] / total;
    let top = (first + extra).min(1.0);
    let rest = if first < 1.0 {
        (1.0 - top) / (1.0 - first)
    } else {
        0.0
    };
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = weights
        .iter()
        .enumerate()
        .map(|(k, w)| {
            acc += if k == 0 { top } else { w / total * rest };
            acc
        })
        .collect();
    if let Some(last) = cdf.last_mut() {
        *last = 1.0;
    }
    cdf
}

/// One line of the timeline.
#[derive(Debug, Serialize)]
struct Line {
    /// Simulated time since the start, in milliseconds.
    at_ms: u64,
    /// The event.
    #[serde(flatten)]
    event: Event,
}

/// The JSON document of `--json`.
#[derive(Debug, Serialize)]
struct Report {
    plan: String,
    result: String,
    reason: Option<String>,
    simulated_ms: u64,
    ticks: u64,
    requests: u64,
    canary_requests: u64,
    mirrored_requests: u64,
    timeline: Vec<Line>,
}

fn check_args(args: &Args) -> Result<(), Failure> {
    let rate = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(Failure::Usage(format!(
                "--{name} must be between 0 and 1, got {v}"
            )))
        }
    };
    rate("baseline-error-rate", args.baseline_error_rate)?;
    rate("canary-error-rate", args.canary_error_rate)?;
    rate("targeted-share", args.targeted_share)?;
    rate("label-shift", args.label_shift)?;
    if !(args.output_shift.is_finite() && args.output_shift > -1.0 && args.output_shift <= 100.0) {
        return Err(Failure::Usage(format!(
            "--output-shift must be above -1 and at most 100 (a relative change), got {}",
            args.output_shift
        )));
    }
    for (name, v) in [
        ("baseline-p99-ms", args.baseline_p99_ms),
        ("canary-p99-ms", args.canary_p99_ms),
    ] {
        if !(v.is_finite() && v > 0.0 && v <= 3_600_000.0) {
            return Err(Failure::Usage(format!(
                "--{name} must be a positive number of milliseconds, got {v}"
            )));
        }
    }
    if !(1..=1_000_000).contains(&args.rps) {
        return Err(Failure::Usage(format!(
            "--rps must be between 1 and 1000000, got {}",
            args.rps
        )));
    }
    Ok(())
}

/// Attributes that satisfy `rule`.
fn satisfying(rule: &TargetRule) -> (String, String) {
    let rule = &rule.condition;
    let name = rule
        .header
        .clone()
        .or_else(|| rule.attribute.clone())
        .unwrap_or_default();
    let value = match (&rule.equals, &rule.one_of) {
        (Some(v), _) => v.clone(),
        (None, Some(list)) => list.first().cloned().unwrap_or_default(),
        (None, None) => "1".to_owned(),
    };
    (name, value)
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    check_args(args)?;
    let plan = Plan::from_path(&args.file)?;
    let checked = plan.check()?;
    let started = Instant::now();
    let t0 = Timestamp::from_millis(1_767_225_600_000); // 2026-01-01T00:00:00Z
    let clock = ManualClock::new(t0);
    let controller = Controller::builder(plan.clone())
        .clock(clock.clone())
        .build_at(t0)
        .map_err(|e| Failure::Other(format!("cannot start the controller: {e}")))?;
    let routing = controller.routing().clone();
    let recorder = routing.recorder().clone();
    let metric_ids: Vec<_> = plan
        .metrics
        .iter()
        .filter_map(|m| recorder.metric_id(m))
        .collect();
    let outputs: Vec<OutputSim> = plan
        .outputs
        .iter()
        .filter_map(|spec| OutputSim::new(spec, &recorder, args))
        .collect();
    let steps = checked.steps().len();

    // Every rule the plan may activate, to send a share of matching requests.
    let mut rules: Vec<(String, String)> = plan.targeting.iter().map(satisfying).collect();
    for step in checked.steps() {
        rules.extend(step.targeting.iter().map(satisfying));
    }
    rules.sort();
    rules.dedup();

    let mut rng = Rng(args.seed ^ 0x5EED_F1ED_6E00_0000);
    let baseline_latency = Latency::with_p99(args.baseline_p99_ms);
    let canary_latency = Latency::with_p99(args.canary_p99_ms);
    let per_tick = ((args.rps as f64) * args.tick.as_secs_f64())
        .round()
        .max(1.0) as u64;
    let canary_index = routing.candidate();

    let mut timeline: Vec<Line> = controller
        .events()
        .into_iter()
        .map(|event| Line { at_ms: 0, event })
        .collect();
    let (mut requests, mut canary_requests, mut mirrored, mut ticks) = (0u64, 0u64, 0u64, 0u64);
    let mut key = String::new();
    let mut now = t0;
    let outcome: (String, Option<String>) = loop {
        let state = controller.state();
        match &state.phase {
            Phase::Promoted => break ("promoted".to_owned(), None),
            Phase::RolledBack { reason } => break ("rolled back".to_owned(), Some(reason.clone())),
            Phase::Aborted { reason } => break ("aborted".to_owned(), Some(reason.clone())),
            _ => {}
        }
        if now.duration_since(t0) >= args.max_time {
            break (
                "unfinished".to_owned(),
                Some(format!(
                    "still {} after {}",
                    state.phase.name(),
                    out::duration(args.max_time)
                )),
            );
        }
        // The simulated operator: approves waiting steps and resumes the
        // plan's own pauses; an inconclusive pause needs a real human.
        let human = match &state.phase {
            Phase::AwaitingApproval {
                kind: ApprovalKind::Manual,
            } => Some(Command::Approve),
            Phase::Paused { until: None, .. } => {
                let planned = timeline
                    .last()
                    .is_some_and(|l| l.event.kind == EventKind::StepTaken);
                if planned && !args.no_approve {
                    Some(Command::Resume)
                } else {
                    let reason = match &state.phase {
                        Phase::Paused { reason, .. } => reason.clone(),
                        _ => String::new(),
                    };
                    break ("paused".to_owned(), Some(reason));
                }
            }
            _ => None,
        };
        if let Some(command) = human {
            if args.no_approve {
                break (
                    "awaiting approval".to_owned(),
                    Some(format!(
                        "{} waits for approval",
                        state.step.map_or(1, |s| s + 2)
                    )),
                );
            }
            match controller.command_at(command, "simulator", None, now) {
                Ok(event) => timeline.push(Line {
                    at_ms: now.as_millis().saturating_sub(t0.as_millis()),
                    event,
                }),
                Err(e) => return Err(Failure::Other(format!("simulator command failed: {e}"))),
            }
            continue;
        }

        // One tick of traffic.
        let mirror = routing.mirror().fraction();
        for _ in 0..per_tick {
            key.clear();
            let _ = write!(key, "user-{}", rng.next_u64() % 1_000_000);
            let attrs: Vec<(&str, &str)> = if !rules.is_empty() && rng.unit() < args.targeted_share
            {
                let (name, value) = &rules[(rng.next_u64() % rules.len() as u64) as usize];
                vec![(name.as_str(), value.as_str())]
            } else {
                Vec::new()
            };
            let index = routing.route(Some(key.as_bytes()), attrs.as_slice());
            let on_canary = index == canary_index;
            let (latency, rate) = if on_canary {
                (&canary_latency, args.canary_error_rate)
            } else {
                (&baseline_latency, args.baseline_error_rate)
            };
            recorder.record(index.get(), latency.sample(&mut rng), rng.unit() < rate);
            for &id in &metric_ids {
                recorder.record_metric(index.get(), id, 1.0 + 0.1 * rng.normal());
            }
            for output in &outputs {
                output.record(&recorder, index.get(), on_canary, &mut rng);
            }
            requests += 1;
            if on_canary {
                canary_requests += 1;
            } else if mirror > 0.0 && rng.unit() < mirror {
                mirrored += 1;
                let error = rng.unit() < args.canary_error_rate;
                recorder.record(canary_index.get(), canary_latency.sample(&mut rng), error);
                for &id in &metric_ids {
                    recorder.record_metric(canary_index.get(), id, 1.0 + 0.1 * rng.normal());
                }
                for output in &outputs {
                    output.record(&recorder, canary_index.get(), true, &mut rng);
                }
            }
        }
        now = clock.advance(args.tick);
        ticks += 1;
        let report = controller
            .tick(now)
            .map_err(|e| Failure::Other(format!("tick failed: {e}")))?;
        let at_ms = now.as_millis().saturating_sub(t0.as_millis());
        timeline.extend(report.events.into_iter().map(|event| Line { at_ms, event }));
    };
    let simulated = now.duration_since(t0);
    let (result, reason) = outcome;
    let real = started.elapsed();

    if args.json {
        let report = Report {
            plan: plan.name.clone(),
            result: result.clone(),
            reason: reason.clone(),
            simulated_ms: now.as_millis().saturating_sub(t0.as_millis()),
            ticks,
            requests,
            canary_requests,
            mirrored_requests: mirrored,
            timeline,
        };
        let mut text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        text.push('\n');
        out::print(&text)?;
    } else {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "simulating {:?}: {} -> {}, {} step(s); {} rps, tick {}, seed {}",
            plan.name,
            plan.baseline,
            plan.candidate,
            steps,
            args.rps,
            out::duration(args.tick),
            args.seed
        );
        let _ = writeln!(
            s,
            "traffic: baseline p99 {} ms, errors {}; candidate p99 {} ms, errors {}",
            args.baseline_p99_ms,
            args.baseline_error_rate,
            args.canary_p99_ms,
            args.canary_error_rate
        );
        for (spec, sim) in plan.outputs.iter().zip(&outputs) {
            let _ = match sim {
                OutputSim::Numeric { scale, .. } => writeln!(
                    s,
                    "output {}: lognormal, median {OUTPUT_MEDIAN}, cv 25 %; candidate's x {}",
                    spec.name(),
                    scale
                ),
                OutputSim::Categorical {
                    labels,
                    baseline,
                    candidate,
                    ..
                } => writeln!(
                    s,
                    "output {}: {} labels, Zipf shares; {} {:.1} % on the baseline, {:.1} % on the candidate",
                    spec.name(),
                    labels.len(),
                    labels[0],
                    baseline[0] * 100.0,
                    candidate[0] * 100.0
                ),
            };
        }
        let _ = writeln!(
            s,
            "{:>9}  {:<9} {:>7}  {:<13} why",
            "time", "step", "weight", "verdict"
        );
        for line in &timeline {
            let e = &line.event;
            let step = e
                .step
                .map_or("-".to_owned(), |i| format!("{}/{steps}", i + 1));
            let verdict = match &e.input {
                Input::Verdict { outcome, .. } => outcome.to_string(),
                Input::Command { command, .. } => command.to_string(),
                Input::Tick => "time".to_owned(),
                Input::Start => "start".to_owned(),
            };
            let _ = writeln!(
                s,
                "{:>9}  {:<9} {:>7}  {:<13} {}: {}",
                format!("+{}", out::duration(Duration::from_millis(line.at_ms))),
                step,
                e.weight.to_string(),
                verdict,
                e.kind,
                e.reason
            );
        }
        let _ = writeln!(
            s,
            "simulated time: {} ({ticks} ticks, {} ms real)",
            out::duration(simulated),
            real.as_millis()
        );
        let _ = writeln!(s, "canary requests served: {canary_requests} of {requests}");
        if mirrored > 0 {
            let _ = writeln!(s, "mirrored to the candidate: {mirrored}");
        }
        match &reason {
            Some(r) => {
                let _ = writeln!(s, "result: {result} ({r})");
            }
            None => {
                let _ = writeln!(s, "result: {result}");
            }
        }
        out::print(&s)?;
    }
    match args.expect {
        Some(Expect::Promoted) if result != "promoted" => {
            Err(Failure::Other(format!("expected promoted, got {result}")))
        }
        Some(Expect::RolledBack) if result != "rolled back" => Err(Failure::Other(format!(
            "expected rolled back, got {result}"
        ))),
        _ => Ok(()),
    }
}
