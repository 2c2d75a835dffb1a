//! PromQL gates: judge a rollout's step from fleet-wide metrics in Prometheus.
//!
//! A [`PromEvaluator`] implements
//! [`Evaluate`]: once per tick it runs
//! each [`PromCheck`]'s query against `/api/v1/query` and holds the value
//! to the check's `max` / `min`, alone ([`Compare::Absolute`]) or against
//! the baseline's value ([`Compare::Ratio`], [`Compare::Difference`]).
//!
//! # Outcomes
//!
//! | what Prometheus answers | check outcome |
//! |---|---|
//! | one finite value within the bounds (and enough samples) | Pass |
//! | one finite value beyond a bound (enough samples) | Fail |
//! | an empty vector, `NaN`, `±Inf`, several series, a range vector | Inconclusive |
//! | fewer samples than `min_samples` (the `samples_query`'s value) | Inconclusive |
//! | a transport, HTTP, API or JSON error | Inconclusive, the error in the detail |
//!
//! The step's judgement is Fail if any check fails, else Inconclusive if any
//! check is, else Pass: too little data never passes. Checks against the
//! baseline are not run on a 100 % step, whose baseline has no traffic (as
//! with the plan's own gates).
//!
//! # Placeholders
//!
//! Queries may use `{candidate}` and `{baseline}` (the versions' ids),
//! `{version}` (the candidate in `query` and `samples_query`, the baseline
//! in `baseline_query`, so one template serves both sides), `{rollout}` (the
//! plan's name) and `{interval}` (the step's bake time, or the configured
//! `interval`, as a PromQL duration such as `30s`). Other braces, such as
//! label matchers, are left alone. Version ids and rollout names hold only
//! letters, digits, `-`, `_` and `.`, so they are safe inside quotes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_gate::check::CheckKind;
use fledge_gate::{CheckResult, Outcome as GateOutcome, Report, Verdict};
use fledge_rollout::Plan;
use fledge_rollout::control::{Evaluate, Judgement, StepContext};
use fledge_rollout::duration::{serde_opt, serde_str};
use fledge_rollout::machine::Outcome;

use crate::client::{ConfigError, PromClient};
use crate::response::{QueryError, QueryResponse};

/// How a check's value is formed from the candidate's and the baseline's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The candidate's value itself.
    #[default]
    Absolute,
    /// `candidate / baseline` (`max = 1.2`: at most 20 % above the baseline).
    /// A zero baseline gives 1 when the candidate is zero too, else
    /// Inconclusive (use `difference` for values that are often zero).
    Ratio,
    /// `candidate − baseline` (`max = 0.005`: at most half a point above).
    Difference,
}

/// One PromQL check.
///
/// ```
/// use fledge_prometheus::{Compare, PromCheck};
///
/// let errors = PromCheck::new(
///     "error rate",
///     r#"sum(rate(fledge_request_errors_total{version="{version}"}[{interval}]))
///      / sum(rate(fledge_requests_total{version="{version}"}[{interval}]))"#,
/// )
/// .max(0.01)
/// .min_samples(
///     r#"sum(increase(fledge_requests_total{version="{version}"}[{interval}]))"#,
///     100.0,
/// );
/// let latency = PromCheck::new(
///     "mean latency vs baseline",
///     r#"sum(rate(fledge_request_duration_seconds_sum{version="{version}"}[{interval}]))
///      / sum(rate(fledge_request_duration_seconds_count{version="{version}"}[{interval}]))"#,
/// )
/// .compare(Compare::Ratio)
/// .max(1.2);
/// # let _ = (errors, latency);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromCheck {
    /// The check's label in judgements and events.
    pub name: String,
    /// The PromQL query for the candidate; it must return one value.
    pub query: String,
    /// How the value is formed (default: the candidate's value alone).
    #[serde(default)]
    pub compare: Compare,
    /// The baseline's query for `ratio` and `difference` (default: `query`
    /// with `{version}` standing for the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_query: Option<String>,
    /// The highest value that passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The lowest value that passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// A query counting the candidate's samples (e.g. requests in the
    /// interval); below `min_samples` the check is Inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_query: Option<String>,
    /// The fewest samples a decision needs (with `samples_query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<f64>,
}

impl PromCheck {
    /// A check named `name` running `query`, without bounds yet.
    pub fn new(name: impl Into<String>, query: impl Into<String>) -> Self {
        PromCheck {
            name: name.into(),
            query: query.into(),
            compare: Compare::Absolute,
            baseline_query: None,
            max: None,
            min: None,
            samples_query: None,
            min_samples: None,
        }
    }

    /// The highest value that passes.
    pub fn max(mut self, max: f64) -> Self {
        self.max = Some(max);
        self
    }

    /// The lowest value that passes.
    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }

    /// Compares with the baseline (see [`Compare`]).
    pub fn compare(mut self, compare: Compare) -> Self {
        self.compare = compare;
        self
    }

    /// The baseline's own query (default: `query` with `{version}` = baseline).
    pub fn baseline_query(mut self, query: impl Into<String>) -> Self {
        self.baseline_query = Some(query.into());
        self
    }

    /// Inconclusive while `query` (for the candidate) is below `min`.
    pub fn min_samples(mut self, query: impl Into<String>, min: f64) -> Self {
        self.samples_query = Some(query.into());
        self.min_samples = Some(min);
        self
    }

    /// Whether the check needs the baseline's value.
    pub fn is_relative(&self) -> bool {
        self.compare != Compare::Absolute
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |reason: &str| {
            Err(ConfigError::BadCheck {
                check: self.name.clone(),
                reason: reason.to_owned(),
            })
        };
        if self.name.trim().is_empty() {
            return Err(ConfigError::BadCheck {
                check: self.query.clone(),
                reason: "the check has no name: give it one".into(),
            });
        }
        if self.query.trim().is_empty() {
            return bad("the query is empty");
        }
        if self.max.is_none() && self.min.is_none() {
            return bad("set `max`, `min` or both: a check without bounds cannot fail");
        }
        if self.max.is_some_and(|v| !v.is_finite()) || self.min.is_some_and(|v| !v.is_finite()) {
            return bad("`max` and `min` must be finite numbers");
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min > max {
                return bad("`min` is above `max`: no value could pass");
            }
        }
        if self.baseline_query.is_some() && !self.is_relative() {
            return bad("`baseline_query` is only used with compare = \"ratio\" or \"difference\"");
        }
        match (&self.samples_query, self.min_samples) {
            (Some(q), Some(n)) if !q.trim().is_empty() && n.is_finite() && n >= 0.0 => Ok(()),
            (None, None) => Ok(()),
            (Some(_), None) | (None, Some(_)) => {
                bad("`samples_query` and `min_samples` go together: set both or neither")
            }
            _ => bad("`samples_query` must not be empty and `min_samples` must be a number ≥ 0"),
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A PromQL gate's configuration, as data (TOML, JSON or YAML through serde).
///
/// ```
/// use fledge_prometheus::PromConfig;
///
/// let config: PromConfig = toml::from_str(r#"
///     url = "http://prometheus:9090"
///     timeout = "2s"
///
///     [[checks]]
///     name = "error rate"
///     query = 'sum(rate(fledge_request_errors_total{rollout="{rollout}",version="{version}"}[{interval}])) / sum(rate(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))'
///     max = 0.01
///     samples_query = 'sum(increase(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))'
///     min_samples = 100
/// "#)?;
/// assert_eq!(config.checks.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromConfig {
    /// Prometheus' base address (`http://prometheus:9090`).
    pub url: String,
    /// Time-out of each query (default 5 s). The checks run one after the
    /// other once per tick, so keep `checks × timeout` below the tick.
    #[serde(default = "default_timeout", with = "serde_str")]
    pub timeout: Duration,
    /// What `{interval}` stands for (default: the step's bake time).
    #[serde(default, with = "serde_opt", skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Headers sent with every query (`Authorization`, `X-Scope-OrgID`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The checks, all of which must pass.
    pub checks: Vec<PromCheck>,
}

impl PromConfig {
    /// A configuration for the server at `url`, with no checks yet.
    pub fn new(url: impl Into<String>) -> Self {
        PromConfig {
            url: url.into(),
            timeout: default_timeout(),
            interval: None,
            headers: BTreeMap::new(),
            checks: Vec::new(),
        }
    }

    /// Adds a check.
    pub fn check(mut self, check: PromCheck) -> Self {
        self.checks.push(check);
        self
    }

    /// Sets the query time-out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets what `{interval}` stands for (default: the step's bake time).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Adds a header sent with every query.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// Writes a duration as PromQL reads it: `90s`, or `1500ms` below whole
/// seconds (at least `1ms`).
pub fn promql_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

/// The values placeholders stand for in one query.
struct Vars<'a> {
    rollout: &'a str,
    baseline: &'a str,
    candidate: &'a str,
    version: &'a str,
    interval: &'a str,
}

fn render(template: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let known = [
            ("{rollout}", vars.rollout),
            ("{baseline}", vars.baseline),
            ("{candidate}", vars.candidate),
            ("{version}", vars.version),
            ("{interval}", vars.interval),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match known {
            Some((name, value)) => {
                out.push_str(value);
                rest = &after[name.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

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
/// ```no_run
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
        if config.checks.is_empty() {
            return Err(ConfigError::NoChecks);
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        for (i, check) in config.checks.iter().enumerate() {
            check.validate()?;
            if config.checks[..i].iter().any(|c| c.name == check.name) {
                return Err(ConfigError::DuplicateCheck(check.name.clone()));
            }
        }
        let mut client = PromClient::new(&config.url)?.timeout(config.timeout);
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
        let results: Vec<CheckResult> = run
            .iter()
            .map(|check| self.run_check(check, &interval, query))
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

    fn vars() -> Vars<'static> {
        Vars {
            rollout: "checkout",
            baseline: "v1",
            candidate: "v2",
            version: "v2",
            interval: "30s",
        }
    }

    #[test]
    fn placeholders() {
        let q = r#"sum(rate(x{rollout="{rollout}",version="{version}"}[{interval}])) / on() y{v=~"{baseline}|{candidate}"} {unknown} {"#;
        assert_eq!(
            render(q, &vars()),
            r#"sum(rate(x{rollout="checkout",version="v2"}[30s])) / on() y{v=~"v1|v2"} {unknown} {"#
        );
        assert_eq!(render("", &vars()), "");
        assert_eq!(render("{{version}}", &vars()), "{v2}");
    }

    #[test]
    fn durations() {
        assert_eq!(promql_duration(Duration::from_secs(90)), "90s");
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(promql_duration(Duration::ZERO), "1ms");
    }

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
    fn configuration_is_checked() {
        let build = |checks: Vec<PromCheck>| {
            PromEvaluator::with_versions(
                PromConfig {
                    checks,
                    ..PromConfig::new("http://localhost:9090")
                },
                "r",
                "v1",
                "v2",
            )
            .err()
        };
        assert_eq!(build(vec![]), Some(ConfigError::NoChecks));
        assert_eq!(
            build(vec![abs(), abs()]),
            Some(ConfigError::DuplicateCheck("errors".into()))
        );
        for check in [
            PromCheck::new("a", "q"),
            PromCheck::new("a", " ").max(1.0),
            PromCheck::new("", "q").max(1.0),
            PromCheck::new("a", "q").max(f64::NAN),
            PromCheck::new("a", "q").max(1.0).min(2.0),
            PromCheck::new("a", "q").max(1.0).baseline_query("b"),
            PromCheck {
                min_samples: Some(3.0),
                ..PromCheck::new("a", "q").max(1.0)
            },
            PromCheck::new("a", "q").max(1.0).min_samples("n", -1.0),
        ] {
            assert!(
                matches!(
                    build(vec![check.clone()]),
                    Some(ConfigError::BadCheck { .. })
                ),
                "{check:?}"
            );
        }
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
    }

    #[test]
    fn config_from_json_and_back() {
        let json = r#"{
            "url": "http://prometheus:9090",
            "interval": "1m",
            "headers": {"X-Scope-OrgID": "team-a"},
            "checks": [
                {"name": "latency", "query": "q", "compare": "ratio", "max": 1.2},
                {"name": "errors", "query": "e", "max": 0.01, "samples_query": "n", "min_samples": 100}
            ]
        }"#;
        let config: PromConfig = match serde_json::from_str(json) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.interval, Some(Duration::from_secs(60)));
        assert_eq!(config.checks[0].compare, Compare::Ratio);
        let back: Result<PromConfig, _> =
            serde_json::to_string(&config).and_then(|s| serde_json::from_str(&s));
        assert_eq!(back.ok(), Some(config.clone()));
        // The configured interval wins over the step's.
        let probe = PromEvaluator {
            interval: config.interval,
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
        let unknown: Result<PromConfig, _> =
            serde_json::from_str(r#"{"url": "http://x", "checks": [], "tiemout": "1s"}"#);
        assert!(unknown.is_err());
    }
}
