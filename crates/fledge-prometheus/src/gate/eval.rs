//! Evaluation: a [`PromEvaluator`] runs each check's queries, holds the
//! values to the bounds, and judges the step ([`Evaluate`]).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::Duration;

use fledge_gate::check::CheckKind;
use fledge_gate::{CheckResult, Outcome as GateOutcome, Report, Verdict};
use fledge_rollout::Plan;
use fledge_rollout::control::{Evaluate, Judgement, StepContext};
use fledge_rollout::machine::Outcome;

use crate::client::{ConfigError, PromClient};
use crate::gate::config::{Compare, PromCheck, PromConfig};
use crate::gate::template::{Vars, promql_duration, render};
use crate::response::{QueryError, QueryResponse};

/// A number for a one-line explanation.
fn num(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else if !x.is_finite() {
        format!("{x}")
    } else if x.abs() >= 1e5 || x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The single finite value of an answer, or why there is none.
fn value_of(answer: Result<QueryResponse, QueryError>) -> Result<f64, String> {
    let answer = answer.map_err(|e| e.to_string())?;
    let v = answer.value.single().map_err(|e| e.to_string())?;
    if v.is_nan() {
        Err("NaN, no data to judge (e.g. 0/0: no requests in the interval)".into())
    } else if v.is_infinite() {
        Err(format!("{v}, no value to judge (a division by zero?)"))
    } else {
        Ok(v)
    }
}

/// Judges steps with PromQL queries; see the [module docs](crate::gate).
///
/// # It blocks
///
/// Each query is a blocking HTTP request: [`judge`](Self::judge), and so
/// [`Controller::tick`](fledge_rollout::Controller::tick) with this
/// evaluator, holds the calling thread until Prometheus answers or a
/// time-out ends the query. **Drive the controller off the async
/// workers**: tick it from a thread of its own, or from
/// `tokio::task::spawn_blocking` (see the [crate docs](crate#blocking)).
/// Ticked on a tokio worker, it stalls every task on that worker meanwhile.
///
/// How long a tick can take is bounded by the configuration:
///
/// - Prometheus down or unreachable: the first query fails within
///   [`connect_timeout`](PromConfig::connect_timeout) for the name lookup
///   and again for the connection (at once when the connection is
///   refused), and always within [`timeout`](PromConfig::timeout); a
///   server that accepts and never answers, within `timeout`. The first such transport
///   failure ends the judgement's queries: the checks not yet run are
///   Inconclusive with that error, without asking again.
/// - Prometheus slow but answering: each query within `timeout`, and a
///   check runs up to three (samples, candidate, baseline), one after the
///   other: keep `checks × 3 × timeout` below the tick interval.
///
/// ```
/// use fledge_prometheus::{PromCheck, PromConfig, PromEvaluator};
/// use fledge_rollout::{Controller, Plan};
///
/// let plan = Plan::from_toml(r#"
///     name = "checkout"
///     baseline = "v1"
///     candidate = "v2"
///     steps = [5, 25, 50, 100]
///     interval = "1m"
/// "#)?;
/// let config = PromConfig::new("http://prometheus:9090").check(
///     PromCheck::new(
///         "error rate",
///         r#"sum(rate(fledge_request_errors_total{rollout="{rollout}",version="{version}"}[{interval}]))
///          / sum(rate(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))"#,
///     )
///     .max(0.01),
/// );
/// let evaluator = PromEvaluator::new(config, &plan)?;
/// let controller = Controller::builder(plan)
///     .evaluator(evaluator)
///     .judge_every_step() // the plan has no gates of its own
///     .build()?;
/// # let _ = controller;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PromEvaluator {
    client: PromClient,
    checks: Vec<PromCheck>,
    interval: Option<Duration>,
    rollout: String,
    baseline: String,
    candidate: String,
}

impl PromEvaluator {
    /// An evaluator for `plan`'s rollout: `{rollout}`, `{baseline}` and
    /// `{candidate}` are the plan's name and versions.
    pub fn new(config: PromConfig, plan: &Plan) -> Result<Self, ConfigError> {
        Self::with_versions(
            config,
            &plan.name,
            plan.baseline.as_str(),
            plan.candidate.as_str(),
        )
    }

    /// An evaluator with explicit names for the placeholders.
    pub fn with_versions(
        config: PromConfig,
        rollout: &str,
        baseline: &str,
        candidate: &str,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut client = PromClient::new(&config.url)?
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout);
        for (name, value) in &config.headers {
            client = client.header(name, value)?;
        }
        Ok(PromEvaluator {
            client,
            checks: config.checks,
            interval: config.interval,
            rollout: rollout.to_owned(),
            baseline: baseline.to_owned(),
            candidate: candidate.to_owned(),
        })
    }

    /// The client the queries go through.
    pub fn client(&self) -> &PromClient {
        &self.client
    }

    /// The checks, in order.
    pub fn checks(&self) -> &[PromCheck] {
        &self.checks
    }

    /// Runs every check now for a step baking `interval`, where `full` says
    /// the candidate has 100 % (checks against the baseline are skipped).
    /// [`Evaluate::evaluate`] calls this with the step in effect.
    ///
    /// Blocks until the queries are answered or time out; see
    /// [It blocks](Self#it-blocks).
    pub fn judge(&self, interval: Duration, full: bool) -> Judgement {
        self.judge_with(interval, full, &|q: &str| self.client.query(q))
    }

    fn judge_with(
        &self,
        interval: Duration,
        full: bool,
        query: &dyn Fn(&str) -> Result<QueryResponse, QueryError>,
    ) -> Judgement {
        let interval = promql_duration(self.interval.unwrap_or(interval));
        let (run, skipped): (Vec<&PromCheck>, Vec<&PromCheck>) =
            self.checks.iter().partition(|c| !full || !c.is_relative());
        // After a transport failure (refused, timed out), the next queries
        // are not sent: a dead Prometheus holds the tick for one time-out,
        // not one per query.
        let unreachable: RefCell<Option<QueryError>> = RefCell::new(None);
        let guarded = |q: &str| {
            if let Some(QueryError::Transport { url, message }) = &*unreachable.borrow() {
                return Err(QueryError::Transport {
                    url: url.clone(),
                    message: format!(
                        "not sent, as an earlier query of this judgement failed: {message}"
                    ),
                });
            }
            let answer = query(q);
            if let Err(e @ QueryError::Transport { .. }) = &answer {
                *unreachable.borrow_mut() = Some(e.clone());
            }
            answer
        };
        let results: Vec<CheckResult> = run
            .iter()
            .map(|check| self.run_check(check, &interval, &guarded))
            .collect();
        let note = if skipped.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = skipped.iter().map(|c| c.name.as_str()).collect();
            format!(
                "; at 100 % the baseline has no traffic, so {} not judged here",
                names.join(", ")
            )
        };
        let count = |o: GateOutcome| results.iter().filter(|r| r.outcome == o).count();
        let (pass, fail) = (count(GateOutcome::Pass), count(GateOutcome::Fail));
        let outcome = if fail > 0 {
            Outcome::Fail
        } else if pass < results.len() {
            Outcome::Inconclusive
        } else {
            Outcome::Pass
        };
        let explain = |o: GateOutcome| {
            let mut s = String::new();
            for r in results.iter().filter(|r| r.outcome == o) {
                let _ = write!(s, "; {}: {}", r.name, r.detail);
            }
            s
        };
        let summary = match outcome {
            Outcome::Pass if results.is_empty() => {
                "prometheus: no check applies to this step".to_owned()
            }
            Outcome::Pass => format!("prometheus: {pass} of {} checks pass", results.len()),
            Outcome::Fail => format!(
                "prometheus: {fail} of {} checks fail{}",
                results.len(),
                explain(GateOutcome::Fail)
            ),
            Outcome::Inconclusive => format!(
                "prometheus: inconclusive, {pass} of {} checks pass{}",
                results.len(),
                explain(GateOutcome::Inconclusive)
            ),
        };
        let decided = pass + fail;
        let report = Report {
            score: (decided > 0).then(|| 100.0 * pass as f64 / decided as f64),
            summary: summary.clone(),
            checks: results,
        };
        let verdict = match outcome {
            Outcome::Pass => Verdict::Pass(report),
            Outcome::Fail => Verdict::Fail(report),
            Outcome::Inconclusive => Verdict::Inconclusive(report),
        };
        Judgement {
            outcome,
            reason: summary + &note,
            verdict: Some(verdict),
        }
    }

    fn run_check(
        &self,
        check: &PromCheck,
        interval: &str,
        query: &dyn Fn(&str) -> Result<QueryResponse, QueryError>,
    ) -> CheckResult {
        let vars = |version| Vars {
            rollout: &self.rollout,
            baseline: &self.baseline,
            candidate: &self.candidate,
            version,
            interval,
        };
        let candidate_query = render(&check.query, &vars(&self.candidate));
        let mut result = CheckResult {
            name: check.name.clone(),
            metric: candidate_query.clone(),
            kind: if check.is_relative() {
                CheckKind::Relative
            } else {
                CheckKind::Threshold
            },
            outcome: GateOutcome::Inconclusive,
            critical: false,
            weight: 1.0,
            canary: None,
            baseline: None,
            canary_samples: 0,
            baseline_samples: 0,
            p_value: None,
            bound: check.max.or(check.min),
            interval: None,
            classification: None,
            detail: String::new(),
        };
        let inconclusive = |mut result: CheckResult, why: String| {
            result.detail = why;
            result
        };

        if let (Some(template), Some(min)) = (&check.samples_query, check.min_samples) {
            let q = render(template, &vars(&self.candidate));
            match value_of(query(&q)) {
                Ok(n) if n >= min => result.canary_samples = n as u64,
                Ok(n) => {
                    result.canary_samples = n.max(0.0) as u64;
                    let why = format!(
                        "too few samples: {} < min_samples {} (query: {q})",
                        num(n),
                        num(min)
                    );
                    return inconclusive(result, why);
                }
                Err(why) => {
                    return inconclusive(result, format!("samples: {why} (query: {q})"));
                }
            }
        }

        let c = match value_of(query(&candidate_query)) {
            Ok(v) => v,
            Err(why) => return inconclusive(result, format!("{why} (query: {candidate_query})")),
        };
        result.canary = Some(c);
        let (value, what) = match check.compare {
            Compare::Absolute => (c, format!("value {}", num(c))),
            Compare::Ratio | Compare::Difference => {
                let template = check.baseline_query.as_deref().unwrap_or(&check.query);
                let q = render(template, &vars(&self.baseline));
                let b = match value_of(query(&q)) {
                    Ok(v) => v,
                    Err(why) => {
                        return inconclusive(result, format!("baseline: {why} (query: {q})"));
                    }
                };
                result.baseline = Some(b);
                if check.compare == Compare::Difference {
                    let d = c - b;
                    let what = format!(
                        "{} − {} = {} − {} = {}",
                        self.candidate,
                        self.baseline,
                        num(c),
                        num(b),
                        num(d)
                    );
                    (d, what)
                } else if b == 0.0 && c == 0.0 {
                    (
                        1.0,
                        format!("{} and {} both 0: ratio 1", self.candidate, self.baseline),
                    )
                } else if b == 0.0 {
                    let why = format!(
                        "the baseline's value is 0 and the candidate's {}: no ratio (use compare = \"difference\") (query: {candidate_query})",
                        num(c)
                    );
                    return inconclusive(result, why);
                } else {
                    let r = c / b;
                    let what = format!(
                        "{} / {} = {} / {} = {}",
                        self.candidate,
                        self.baseline,
                        num(c),
                        num(b),
                        num(r)
                    );
                    (r, what)
                }
            }
        };
        let (outcome, bound) = match (check.max, check.min) {
            (Some(max), _) if value > max => (GateOutcome::Fail, format!("> max {}", num(max))),
            (_, Some(min)) if value < min => (GateOutcome::Fail, format!("< min {}", num(min))),
            (max, min) => {
                let within = match (min, max) {
                    (Some(lo), Some(hi)) => format!("within [{}, {}]", num(lo), num(hi)),
                    (None, Some(hi)) => format!("≤ max {}", num(hi)),
                    (Some(lo), None) => format!("≥ min {}", num(lo)),
                    (None, None) => "unbounded".to_owned(),
                };
                (GateOutcome::Pass, within)
            }
        };
        if outcome == GateOutcome::Fail && check.min.is_some_and(|m| value < m) {
            result.bound = check.min;
        }
        result.outcome = outcome;
        let verdict = if outcome == GateOutcome::Fail {
            "fail"
        } else {
            "pass"
        };
        result.detail = format!("{what} {bound}: {verdict} (query: {candidate_query})");
        result
    }
}

impl Evaluate for PromEvaluator {
    fn evaluate(&self, ctx: &StepContext<'_>) -> Judgement {
        self.judge(ctx.step.interval, ctx.step.weight.bps() >= 10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::parse_response;

    fn vector(v: &str) -> Result<QueryResponse, QueryError> {
        parse_response(&format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1,"{v}"]}}]}}}}"#
        ))
    }

    fn empty() -> Result<QueryResponse, QueryError> {
        parse_response(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
    }

    fn evaluator(checks: Vec<PromCheck>) -> PromEvaluator {
        let config = PromConfig {
            checks,
            ..PromConfig::new("http://127.0.0.1:9")
        };
        match PromEvaluator::with_versions(config, "checkout", "v1", "v2") {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    /// Answers by the version named in the query: `v2` → candidate, `v1` → baseline,
    /// `n=` → samples.
    fn answers(
        candidate: &'static str,
        baseline: &'static str,
        samples: &'static str,
    ) -> impl Fn(&str) -> Result<QueryResponse, QueryError> {
        move |q: &str| {
            let v = if q.starts_with("samples") {
                samples
            } else if q.contains("v2") {
                candidate
            } else {
                baseline
            };
            match v {
                "empty" => empty(),
                "down" => Err(QueryError::Transport {
                    url: "http://127.0.0.1:9/api/v1/query".into(),
                    message: "connection refused".into(),
                }),
                v => vector(v),
            }
        }
    }

    fn judge(
        checks: Vec<PromCheck>,
        full: bool,
        a: impl Fn(&str) -> Result<QueryResponse, QueryError>,
    ) -> Judgement {
        evaluator(checks).judge_with(Duration::from_secs(30), full, &a)
    }

    fn abs() -> PromCheck {
        PromCheck::new("errors", r#"err{version="{version}"}[{interval}]"#).max(0.05)
    }

    #[test]
    fn absolute_pass_fail() {
        let j = judge(vec![abs()], false, answers("0.01", "0", "0"));
        assert_eq!(j.outcome, Outcome::Pass, "{j}");
        assert_eq!(j.reason, "prometheus: 1 of 1 checks pass");
        let j = judge(vec![abs()], false, answers("0.2", "0", "0"));
        assert_eq!(j.outcome, Outcome::Fail, "{j}");
        assert!(
            j.reason
                .contains(r#"errors: value 0.2 > max 0.05: fail (query: err{version="v2"}[30s])"#),
            "{j}"
        );
        let detail = serde_json::to_value(&j.verdict).unwrap_or_default();
        assert_eq!(detail["verdict"], "fail");
        assert_eq!(detail["checks"][0]["canary"], 0.2);
        assert_eq!(detail["checks"][0]["bound"], 0.05);
        assert_eq!(detail["checks"][0]["metric"], r#"err{version="v2"}[30s]"#);
        let low = PromCheck::new("throughput", "tp{version=\"{version}\"}").min(10.0);
        let j = judge(vec![low], false, answers("3", "0", "0"));
        assert_eq!(j.outcome, Outcome::Fail, "{j}");
        assert!(j.reason.contains("value 3 < min 10"), "{j}");
    }

    #[test]
    fn no_data_is_inconclusive_never_pass() {
        for (answer, expect) in [
            ("empty", "no data (empty vector)"),
            ("NaN", "NaN, no data"),
            ("+Inf", "inf, no value"),
            (
                "down",
                "cannot query Prometheus at http://127.0.0.1:9/api/v1/query",
            ),
        ] {
            let j = judge(vec![abs()], false, answers(answer, "0", "0"));
            assert_eq!(j.outcome, Outcome::Inconclusive, "{answer}: {j}");
            assert!(j.reason.contains(expect), "{answer}: {j}");
        }
        // One check fails, one has no data: Fail wins.
        let other = PromCheck::new("other", "nothing").max(1.0);
        let j = judge(vec![abs(), other], false, |q: &str| {
            if q == "nothing" {
                empty()
            } else {
                vector("0.5")
            }
        });
        assert_eq!(j.outcome, Outcome::Fail, "{j}");
    }

    #[test]
    fn too_few_samples() {
        let check = abs().min_samples("samples{version=\"{version}\"}", 100.0);
        let j = judge(vec![check.clone()], false, answers("0.5", "0", "12"));
        assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
        assert!(
            j.reason.contains("too few samples: 12 < min_samples 100"),
            "{j}"
        );
        let j = judge(vec![check.clone()], false, answers("0.5", "0", "empty"));
        assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
        assert!(j.reason.contains("samples: no data"), "{j}");
        let j = judge(vec![check], false, answers("0.5", "0", "150"));
        assert_eq!(j.outcome, Outcome::Fail, "{j}");
        assert_eq!(
            serde_json::to_value(&j.verdict).unwrap_or_default()["checks"][0]["canary_samples"],
            150
        );
    }

    #[test]
    fn relative_checks() {
        let ratio = PromCheck::new("latency", "lat{version=\"{version}\"}")
            .compare(Compare::Ratio)
            .max(1.2);
        let j = judge(vec![ratio.clone()], false, answers("0.011", "0.010", "0"));
        assert_eq!(j.outcome, Outcome::Pass, "{j}");
        let j = judge(vec![ratio.clone()], false, answers("0.02", "0.010", "0"));
        assert_eq!(j.outcome, Outcome::Fail, "{j}");
        assert!(
            j.reason.contains("v2 / v1 = 0.02 / 0.01 = 2 > max 1.2"),
            "{j}"
        );
        let j = judge(vec![ratio.clone()], false, answers("0", "0", "0"));
        assert_eq!(j.outcome, Outcome::Pass, "{j}");
        let j = judge(vec![ratio.clone()], false, answers("0.1", "0", "0"));
        assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
        let j = judge(vec![ratio.clone()], false, answers("0.1", "empty", "0"));
        assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
        assert!(j.reason.contains("baseline: no data"), "{j}");
        // At 100 % the baseline is not asked.
        let j = judge(
            vec![ratio.clone(), abs()],
            true,
            answers("0.01", "down", "0"),
        );
        assert_eq!(j.outcome, Outcome::Pass, "{j}");
        assert!(j.reason.contains("so latency not judged here"), "{j}");
        let j = judge(vec![ratio], true, answers("0.01", "down", "0"));
        assert_eq!(j.outcome, Outcome::Pass, "{j}");
        assert!(j.reason.contains("no check applies"), "{j}");

        let diff = PromCheck::new("errors", "e{version=\"{version}\"}")
            .compare(Compare::Difference)
            .baseline_query("base{version=\"{version}\"}")
            .max(0.005);
        let seen = std::sync::Mutex::new(Vec::new());
        let j = judge(vec![diff], false, |q: &str| {
            seen.lock().map(|mut s| s.push(q.to_owned())).ok();
            if q.contains("v2") {
                vector("0.02")
            } else {
                vector("0.01")
            }
        });
        assert_eq!(j.outcome, Outcome::Fail, "{j}");
        assert!(
            j.reason
                .contains("v2 − v1 = 0.02 − 0.01 = 0.01 > max 0.005"),
            "{j}"
        );
        let seen = seen.into_inner().unwrap_or_default();
        assert_eq!(seen, vec![r#"e{version="v2"}"#, r#"base{version="v1"}"#]);
    }

    #[test]
    fn evaluator_refuses_a_bad_configuration() {
        // The configuration's own checks (see `config`), then the client's.
        let none =
            PromEvaluator::with_versions(PromConfig::new("http://localhost:9090"), "r", "a", "b");
        assert_eq!(none.err(), Some(ConfigError::NoChecks));
        let zero = PromEvaluator::with_versions(
            PromConfig::new("http://localhost:9090")
                .check(abs())
                .timeout(Duration::ZERO),
            "r",
            "v1",
            "v2",
        );
        assert_eq!(zero.err(), Some(ConfigError::ZeroTimeout));
        let url =
            PromEvaluator::with_versions(PromConfig::new("localhost").check(abs()), "r", "a", "b");
        assert!(matches!(url, Err(ConfigError::BadUrl(_))));
        let header = PromEvaluator::with_versions(
            PromConfig::new("http://localhost:9090")
                .check(abs())
                .header("Bad Name", "x"),
            "r",
            "a",
            "b",
        );
        assert!(matches!(header, Err(ConfigError::BadHeader { .. })));
        // The time-outs reach the client.
        let e = PromEvaluator::with_versions(
            PromConfig::new("http://localhost:9090")
                .check(abs())
                .timeout(Duration::from_secs(3))
                .connect_timeout(Duration::from_millis(400)),
            "r",
            "a",
            "b",
        );
        assert_eq!(
            e.map(|e| (
                e.client().request_timeout(),
                e.client().request_connect_timeout()
            ))
            .ok(),
            Some((Duration::from_secs(3), Duration::from_millis(400)))
        );
    }

    #[test]
    fn configured_interval_wins_over_the_steps() {
        let probe = PromEvaluator {
            interval: Some(Duration::from_secs(60)),
            ..evaluator(vec![abs()])
        };
        let seen = std::sync::Mutex::new(String::new());
        let _ = probe.judge_with(Duration::from_secs(5), false, &|q: &str| {
            if let Ok(mut s) = seen.lock() {
                s.push_str(q);
            }
            empty()
        });
        assert_eq!(
            seen.into_inner().unwrap_or_default(),
            r#"err{version="v2"}[60s]"#
        );
    }

    #[test]
    fn a_dead_prometheus_is_asked_once_per_judgement() {
        let ratio = PromCheck::new("latency", "lat{version=\"{version}\"}")
            .compare(Compare::Ratio)
            .max(1.2);
        let samples = abs().min_samples("samples{version=\"{version}\"}", 100.0);
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let third = PromCheck::new("third", "t").max(1.0);
        let j = judge(vec![samples, ratio, third], false, |_q: &str| {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(QueryError::Transport {
                url: "http://127.0.0.1:9/api/v1/query".into(),
                message: "timed out".into(),
            })
        });
        assert_eq!(asked.into_inner(), 1, "{j}");
        assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
        assert!(j.reason.contains("inconclusive, 0 of 3 checks pass"), "{j}");
        assert!(
            j.reason
                .contains("not sent, as an earlier query of this judgement failed: timed out"),
            "{j}"
        );
        // Other errors (a query Prometheus rejects) do not stop the others.
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let j = judge(
            vec![abs(), PromCheck::new("b", "b").max(1.0)],
            false,
            |_q: &str| {
                asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(QueryError::Api {
                    error_type: "bad_data".into(),
                    error: "parse error".into(),
                })
            },
        );
        assert_eq!(asked.into_inner(), 2, "{j}");
    }

    #[test]
    fn a_hung_prometheus_holds_a_judgement_for_one_timeout() {
        // Connections are accepted (by the kernel's backlog), never answered.
        let Ok(hung) = std::net::TcpListener::bind("127.0.0.1:0") else {
            return;
        };
        let Ok(addr) = hung.local_addr() else { return };
        let config = PromConfig::new(format!("http://{addr}"))
            .timeout(Duration::from_millis(400))
            .check(abs().min_samples("n", 1.0))
            .check(
                PromCheck::new("ratio", "r")
                    .compare(Compare::Ratio)
                    .max(1.0),
            )
            .check(PromCheck::new("third", "t").max(1.0));
        let evaluator = PromEvaluator::with_versions(config, "r", "v1", "v2");
        let started = std::time::Instant::now();
        let j = evaluator.map(|e| e.judge(Duration::from_secs(30), false));
        let took = started.elapsed();
        let Ok(j) = j else { panic!("{j:?}") };
        assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
        // One time-out, not one per query (five here).
        assert!(took < Duration::from_millis(1_500), "{took:?}: {j}");
        assert!(j.reason.contains("not sent"), "{j}");
        drop(hung);
    }
}
