//! What a PromQL gate is configured with: the server, its time-outs and
//! headers, and the [`PromCheck`]s, as data (serde) or in code; checked by
//! [`PromConfig::validate`] before an evaluator is built.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_rollout::duration::{serde_opt, serde_str};

use crate::client::{ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};

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

    /// Checks the check alone: a name, a query, finite bounds that some
    /// value can meet, and `samples_query` with `min_samples`.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
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
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return bad("`min` is above `max`: no value could pass");
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
    DEFAULT_TIMEOUT
}

fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}

/// A PromQL gate's configuration, as data (TOML, JSON or YAML through serde).
///
/// ```
/// use fledge_prometheus::PromConfig;
///
/// let config: PromConfig = toml::from_str(r#"
///     url = "http://prometheus:9090"
///     timeout = "2s"
///     connect_timeout = "500ms"
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
    /// The longest one query may take, from connecting to reading the last
    /// byte of the answer (default 5 s): the read time-out. See
    /// [`PromEvaluator`](crate::PromEvaluator) for how long a tick can wait.
    #[serde(default = "default_timeout", with = "serde_str")]
    pub timeout: Duration,
    /// The longest the name lookup, and then the connection, may each take
    /// (default 2 s): a Prometheus that is down or unreachable is given up
    /// on this soon.
    #[serde(default = "default_connect_timeout", with = "serde_str")]
    pub connect_timeout: Duration,
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
            connect_timeout: default_connect_timeout(),
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

    /// Sets the query (read) time-out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the connect time-out.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
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

    /// Checks what can be checked without a server: at least one check,
    /// each valid and named once, time-outs above zero. The URL and the
    /// headers are checked when the client is built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.checks.is_empty() {
            return Err(ConfigError::NoChecks);
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ZeroConnectTimeout);
        }
        for (i, check) in self.checks.iter().enumerate() {
            check.validate()?;
            if self.checks[..i].iter().any(|c| c.name == check.name) {
                return Err(ConfigError::DuplicateCheck(check.name.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abs() -> PromCheck {
        PromCheck::new("errors", r#"err{version="{version}"}[{interval}]"#).max(0.05)
    }

    #[test]
    fn configuration_is_checked() {
        let check = |checks: Vec<PromCheck>| {
            PromConfig {
                checks,
                ..PromConfig::new("http://localhost:9090")
            }
            .validate()
            .err()
        };
        assert_eq!(check(vec![]), Some(ConfigError::NoChecks));
        assert_eq!(check(vec![abs()]), None);
        assert_eq!(
            check(vec![abs(), abs()]),
            Some(ConfigError::DuplicateCheck("errors".into()))
        );
        for bad in [
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
                matches!(check(vec![bad.clone()]), Some(ConfigError::BadCheck { .. })),
                "{bad:?}"
            );
        }
        let zero = PromConfig::new("http://localhost:9090")
            .check(abs())
            .timeout(Duration::ZERO);
        assert_eq!(zero.validate().err(), Some(ConfigError::ZeroTimeout));
        let zero = PromConfig::new("http://localhost:9090")
            .check(abs())
            .connect_timeout(Duration::ZERO);
        assert_eq!(zero.validate().err(), Some(ConfigError::ZeroConnectTimeout));
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
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.interval, Some(Duration::from_secs(60)));
        assert_eq!(config.checks[0].compare, Compare::Ratio);
        let back: Result<PromConfig, _> =
            serde_json::to_string(&config).and_then(|s| serde_json::from_str(&s));
        assert_eq!(back.ok(), Some(config.clone()));
        let unknown: Result<PromConfig, _> =
            serde_json::from_str(r#"{"url": "http://x", "checks": [], "tiemout": "1s"}"#);
        assert!(unknown.is_err());
        let timeouts: Result<PromConfig, _> = serde_json::from_str(
            r#"{"url": "http://x", "checks": [], "timeout": "3s", "connect_timeout": "250ms"}"#,
        );
        let timeouts = timeouts.map(|c| (c.timeout, c.connect_timeout)).ok();
        assert_eq!(
            timeouts,
            Some((Duration::from_secs(3), Duration::from_millis(250)))
        );
    }
}
