//! [`ChampionConfig`] (a champion / challenger setup as data) and
//! [`ChampionBuilder`] (the same in code).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_gate::{CheckSpec, Judge, JudgeSpec, MetricRef};
use fledge_rollout::duration;
use fledge_rollout::plan::Sticky;
use fledge_select::{VersionId, Weight};

use super::roles::fits;
use crate::error::ExperimentError;
use crate::metric::{MetricSpec, Stopping};
use crate::validate::{check_alpha, check_ids, check_metrics};

/// What happens to the champion a challenger dethrones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OldChampion {
    /// It gets no traffic any more (default).
    #[default]
    Retire,
    /// It becomes a challenger of the new champion (retired instead when
    /// another challenger share would leave the champion less than half).
    Challenge,
}

fn default_alpha() -> f64 {
    0.05
}

fn default_min_exposures() -> u64 {
    100
}

fn default_guard_window() -> Duration {
    Duration::from_secs(60)
}

/// A champion / challenger setup as data (serde, `deny_unknown_fields`), or
/// built with [`ChampionChallenger::builder`](crate::ChampionChallenger::builder).
///
/// ```toml
/// name = "ranker"
/// champion = "v1"
/// challengers = ["v2", "v3"]
/// standby = ["v4"]
/// challenger_share = 5            # percent, each
/// metric = { name = "ndcg", kind = "mean" }
/// tau = 0.02
/// old_champion = "challenge"
/// guard_window = "1m"
/// guards = [
///   { name = "p99", kind = "relative", metric = "latency_p99", max_ratio = 1.2 },
///   { name = "errors", kind = "proportion", metric = "error_rate", alpha = 0.01 },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChampionConfig {
    /// The setup's name (the default sticky salt is `"cc/<name>"`).
    pub name: String,
    /// The champion at the start.
    pub champion: VersionId,
    /// Challengers evaluated from the start.
    pub challengers: Vec<VersionId>,
    /// Declared challengers waiting for [`ChampionChallenger::enter`](crate::ChampionChallenger::enter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub standby: Vec<VersionId>,
    /// Each challenger's share of traffic, in percent; the champion has the
    /// rest, and keeps at least half.
    pub challenger_share: f64,
    /// The metric a challenger must beat the champion on.
    pub metric: MetricSpec,
    /// The mixing standard deviation of the always-valid test: the difference
    /// worth detecting, in the metric's units.
    pub tau: f64,
    /// Guard checks (fledge-gate), challenger against champion over
    /// `guard_window`: a failing guard retires the challenger, and a
    /// challenger is promoted only while its guards pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<CheckSpec>,
    /// The window the guards look at (default `"1m"`).
    #[serde(default = "default_guard_window", with = "duration::serde_str")]
    pub guard_window: Duration,
    /// The family-wise significance level (default 0.05), split evenly
    /// across the active challengers (Bonferroni).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Samples each side needs before a challenger is judged (default 100).
    #[serde(default = "default_min_exposures")]
    pub min_exposures: u64,
    /// Retire a challenger that shows no significant difference after this
    /// many exposures (default: keep it until it wins or loses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exposures: Option<u64>,
    /// What happens to a dethroned champion.
    #[serde(default)]
    pub old_champion: OldChampion,
    /// Sticky bucketing: hash mode and salt (default salt `"cc/<name>"`).
    #[serde(default)]
    pub sticky: Sticky,
}

/// What [`ChampionConfig::check`] hands the engine.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Each challenger's share.
    pub(crate) share: Weight,
    /// The guards' judge spec, if there are guards.
    pub(crate) guards: Option<JudgeSpec>,
    /// The custom metrics the recorder needs: the metric, then the guards'.
    pub(crate) metrics: Vec<String>,
}

impl ChampionConfig {
    /// Checks the configuration for the variants `ids` with `active`
    /// challengers among them.
    pub(crate) fn check<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a VersionId>,
        active: usize,
    ) -> Result<Checked, ExperimentError> {
        if self.name.trim().is_empty() {
            return Err(ExperimentError::NoName { what: "the setup" });
        }
        check_ids(
            ids,
            "champion / challenger",
            "a champion and at least one challenger (or standby)",
        )?;
        check_metrics(std::slice::from_ref(&self.metric))?;
        check_alpha(self.alpha)?;
        Stopping::Sequential {
            tau: self.tau,
            max_exposures: None,
        }
        .validate()?;
        let share = Weight::from_percent(self.challenger_share)
            .ok()
            .filter(|w| !w.is_zero())
            .ok_or_else(|| {
                ExperimentError::range(
                    "challenger_share",
                    self.challenger_share,
                    "a share in percent, > 0 and small (e.g. 5)",
                )
            })?;
        if !fits(active, share) {
            return Err(ExperimentError::BadShares {
                detail: format!(
                    "{active} challengers of {} % each leave the champion less than half: lower challenger_share or start some as standby",
                    self.challenger_share
                ),
            });
        }
        if self.guard_window < Duration::from_secs(1) {
            return Err(ExperimentError::range(
                "guard_window",
                self.guard_window.as_secs_f64(),
                "at least 1 second",
            ));
        }
        let guards = if self.guards.is_empty() {
            None
        } else {
            let spec = JudgeSpec::new(self.guards.clone());
            Judge::new(spec.clone()).map_err(|e| ExperimentError::BadGuard {
                name: self
                    .guards
                    .iter()
                    .map(CheckSpec::label)
                    .collect::<Vec<_>>()
                    .join(", "),
                message: e.to_string(),
            })?;
            Some(spec)
        };
        let mut metrics = vec![self.metric.name.clone()];
        for g in &self.guards {
            if let MetricRef::Custom(name) = &g.metric {
                if !metrics.contains(name) {
                    metrics.push(name.clone());
                }
            }
        }
        Ok(Checked {
            share,
            guards,
            metrics,
        })
    }
}

/// Builds a [`ChampionConfig`]; see [`ChampionChallenger::builder`](crate::ChampionChallenger::builder).
#[derive(Debug, Clone)]
pub struct ChampionBuilder {
    name: String,
    champion: Option<String>,
    challengers: Vec<String>,
    standby: Vec<String>,
    share: f64,
    metric: Option<MetricSpec>,
    tau: Option<f64>,
    guards: Vec<CheckSpec>,
    guard_window: Duration,
    alpha: f64,
    min_exposures: u64,
    max_exposures: Option<u64>,
    old_champion: OldChampion,
    sticky: Sticky,
}

impl ChampionBuilder {
    /// A builder for a setup named `name`, with the defaults: challengers
    /// at 5 % each, guard window 1 minute, alpha 0.05, 100 exposures before
    /// a challenger is judged, a dethroned champion retired.
    pub(crate) fn new(name: &str) -> Self {
        ChampionBuilder {
            name: name.to_owned(),
            champion: None,
            challengers: Vec::new(),
            standby: Vec::new(),
            share: 5.0,
            metric: None,
            tau: None,
            guards: Vec::new(),
            guard_window: default_guard_window(),
            alpha: default_alpha(),
            min_exposures: default_min_exposures(),
            max_exposures: None,
            old_champion: OldChampion::default(),
            sticky: Sticky::default(),
        }
    }

    /// The champion at the start.
    pub fn champion(mut self, id: &str) -> Self {
        self.champion = Some(id.to_owned());
        self
    }

    /// A challenger evaluated from the start.
    pub fn challenger(mut self, id: &str) -> Self {
        self.challengers.push(id.to_owned());
        self
    }

    /// A challenger declared now, entered later with
    /// [`ChampionChallenger::enter`](crate::ChampionChallenger::enter).
    pub fn standby(mut self, id: &str) -> Self {
        self.standby.push(id.to_owned());
        self
    }

    /// Each challenger's share, in percent (default 5).
    pub fn challenger_share(mut self, percent: f64) -> Self {
        self.share = percent;
        self
    }

    /// The metric to beat, and the difference worth detecting (`tau`, in the
    /// metric's units).
    pub fn metric(mut self, metric: MetricSpec, tau: f64) -> Self {
        self.metric = Some(metric);
        self.tau = Some(tau);
        self
    }

    /// A guard check (challenger against champion).
    pub fn guard(mut self, check: CheckSpec) -> Self {
        self.guards.push(check);
        self
    }

    /// The guards' window (default 1 minute).
    pub fn guard_window(mut self, window: Duration) -> Self {
        self.guard_window = window;
        self
    }

    /// The family-wise significance level (default 0.05).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Samples each side needs before a challenger is judged (default 100).
    pub fn min_exposures(mut self, n: u64) -> Self {
        self.min_exposures = n;
        self
    }

    /// Retire challengers not significantly different after `n` exposures.
    pub fn max_exposures(mut self, n: u64) -> Self {
        self.max_exposures = Some(n);
        self
    }

    /// What happens to a dethroned champion (default: retired).
    pub fn old_champion(mut self, what: OldChampion) -> Self {
        self.old_champion = what;
        self
    }

    /// The sticky salt (default `"cc/<name>"`).
    pub fn salt(mut self, salt: &str) -> Self {
        self.sticky.salt = Some(salt.to_owned());
        self
    }

    /// The configuration, with ids checked.
    pub fn config(self) -> Result<ChampionConfig, ExperimentError> {
        let id = |s: String| {
            VersionId::new(&s).map_err(|source| ExperimentError::InvalidId { id: s, source })
        };
        let champion = self.champion.ok_or(ExperimentError::TooFewVariants {
            strategy: "champion / challenger",
            count: 0,
            min: 2,
            what: "a champion with .champion(id)",
        })?;
        Ok(ChampionConfig {
            name: self.name,
            champion: id(champion)?,
            challengers: self
                .challengers
                .into_iter()
                .map(id)
                .collect::<Result<_, _>>()?,
            standby: self.standby.into_iter().map(id).collect::<Result<_, _>>()?,
            challenger_share: self.share,
            metric: self.metric.ok_or(ExperimentError::NoMetric)?,
            tau: self.tau.unwrap_or(f64::NAN),
            guards: self.guards,
            guard_window: self.guard_window,
            alpha: self.alpha,
            min_exposures: self.min_exposures,
            max_exposures: self.max_exposures,
            old_champion: self.old_champion,
            sticky: self.sticky,
        })
    }
}
