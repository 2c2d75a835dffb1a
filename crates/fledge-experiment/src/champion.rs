//! [`ChampionChallenger`]: one champion, challengers with a small share each,
//! evaluated continuously; winners promoted, losers retired, every change
//! kept with its evidence.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_gate::stats::AlwaysValid;
use fledge_gate::{
    CheckSpec, Judge, JudgeSpec, MetricRef, Outcome, Recorder, RecorderConfig, Totals, Verdict,
};
use fledge_select::{Selector, Split, VersionId, VersionIndex, VersionWeight, Weight};

use crate::ab::{bucketer, check_alpha, check_ids, check_metrics};
use crate::analysis::{ArmData, ArmSummary, Comparison, Decision, Rules, compare};
use crate::error::ExperimentError;
use crate::metric::{Correction, MetricSpec, Stopping};
use crate::report::{fmt_lift, fmt_p, fmt_value, p_clause};
use fledge_rollout::duration;
use fledge_rollout::plan::Sticky;

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

/// A variant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves most traffic.
    Champion,
    /// Serves a small share and is evaluated against the champion.
    Challenger,
    /// Declared, no traffic yet; [`ChampionChallenger::enter`] makes it a challenger.
    Standby,
    /// No traffic any more.
    Retired,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Champion => "champion",
            Role::Challenger => "challenger",
            Role::Standby => "standby",
            Role::Retired => "retired",
        })
    }
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
/// built with [`ChampionChallenger::builder`].
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
    /// Declared challengers waiting for [`ChampionChallenger::enter`].
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

/// What kind of change a [`Change`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The setup started with its champion and challengers.
    Started,
    /// A standby variant became a challenger.
    Entered,
    /// A challenger became the champion.
    Promoted,
    /// The old champion became a challenger.
    Demoted,
    /// A variant was retired (a losing or failing challenger, or the old champion).
    Retired,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Started => "started",
            ChangeKind::Entered => "entered",
            ChangeKind::Promoted => "promoted",
            ChangeKind::Demoted => "demoted",
            ChangeKind::Retired => "retired",
        })
    }
}

/// The evidence behind a promotion or a retirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The metric.
    pub metric: MetricSpec,
    /// The champion's numbers over the same period.
    pub champion: ArmSummary,
    /// The challenger against the champion (always-valid p-value and interval).
    pub comparison: Comparison,
    /// The per-challenger significance level (alpha / active challengers).
    pub alpha: f64,
    /// The guards' verdict, if there are guards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Verdict>,
}

/// One change of roles, with why and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the history, from 0.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: ChangeKind,
    /// The variant it is about.
    pub variant: VersionId,
    /// Why, in words.
    pub reason: String,
    /// The numbers behind it (promotions and retirements by evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The split published after the change.
    pub split: Split,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {}: {} {}: {}",
            self.seq, self.at, self.variant, self.kind, self.reason
        )
    }
}

/// A challenger's standing at one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    /// The challenger.
    pub variant: VersionId,
    /// When its evaluation against the current champion started.
    pub since: Timestamp,
    /// Its numbers against the champion since its evaluation started.
    pub comparison: Comparison,
    /// The champion's numbers over the same period.
    pub champion: ArmSummary,
    /// The guards' outcome (`None` without guards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Outcome>,
    /// What it means, in words.
    pub status: String,
}

/// What one [`ChampionChallenger::tick`] saw and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionReport {
    /// When.
    pub at: Timestamp,
    /// The metric challengers must beat the champion on.
    pub metric: MetricSpec,
    /// The champion after the tick.
    pub champion: VersionId,
    /// Each active challenger's standing (before the tick's changes).
    pub standings: Vec<Standing>,
    /// The changes made during the tick.
    pub changes: Vec<Change>,
    /// The split after the tick.
    pub split: Split,
}

impl fmt::Display for ChampionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let split: Vec<String> = self
            .split
            .versions()
            .iter()
            .filter(|v| !v.weight().is_zero())
            .map(|v| format!("{} {}", v.id(), v.weight()))
            .collect();
        writeln!(
            f,
            "at {}: champion {} (split {})",
            self.at,
            self.champion,
            split.join(" / ")
        )?;
        for s in &self.standings {
            let c = &s.comparison;
            let kind = self.metric.kind;
            writeln!(
                f,
                "  {:<12} {:>7} exp  value {:>9} vs {:>9}  lift {:>10}  p {:>8}  guards {:<12} {}",
                s.variant.as_str(),
                c.arm.exposures,
                fmt_value(kind, c.arm.value),
                fmt_value(kind, s.champion.value),
                c.lift.map_or("-".to_owned(), |l| fmt_lift(kind, l)),
                fmt_p(c.p_value),
                s.guards.map_or("-".to_owned(), |o| o.to_string()),
                s.status
            )?;
        }
        for c in &self.changes {
            writeln!(f, "  change {c}")?;
        }
        Ok(())
    }
}

/// The persistent part of a champion / challenger setup: configuration,
/// roles and history (serde). Evaluations restart after a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChampionState {
    /// The configuration.
    pub config: ChampionConfig,
    /// Every variant's role, in selector order.
    pub roles: Vec<(VersionId, Role)>,
    /// Every change so far, oldest first.
    pub history: Vec<Change>,
}

/// Builds a [`ChampionConfig`]; see [`ChampionChallenger::builder`].
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
    /// [`ChampionChallenger::enter`].
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

    /// Builds the setup, starting at `now`.
    pub fn build(self, now: Timestamp) -> Result<ChampionChallenger, ExperimentError> {
        ChampionChallenger::new(self.config()?, now)
    }
}

/// One challenger's running evaluation against the current champion.
#[derive(Debug)]
struct Evaluation {
    since: Timestamp,
    /// The challenger's and the champion's totals and exposures at `since`.
    start: (Totals, u64, Totals, u64),
    look: AlwaysValid,
    judge: Option<Judge>,
    fresh: bool,
}

#[derive(Debug)]
struct Inner {
    roles: Vec<Role>,
    champion: usize,
    evals: Vec<Option<Evaluation>>,
    history: Vec<Change>,
}

/// Champion / challenger: one champion takes most traffic, each challenger
/// a small fixed share, sticky per user. Every [`tick`](Self::tick)
/// evaluates each challenger against the champion since its evaluation
/// started, with an always-valid (mixture SPRT) test on the chosen metric —
/// safe to look at every tick — at `alpha / active challengers`, and the
/// guard checks (fledge-gate: latency, errors) over the guard window:
///
/// - significantly better **and** guards passing → promoted to champion (the
///   best such challenger if several); the old champion is retired or kept
///   as a challenger ([`OldChampion`]); the other challengers' evaluations
///   restart against the new champion;
/// - significantly worse, or a failing guard → retired;
/// - no difference after `max_exposures` (if set) → retired.
///
/// Every change goes into the [`history`](Self::history) with its
/// [`Evidence`]; [`state`](Self::state) is serde data.
///
/// ```
/// use std::time::Duration;
/// use fledge_gate::clock::Timestamp;
/// use fledge_experiment::{ChampionChallenger, ChangeKind, MetricSpec, Role};
///
/// let t0 = Timestamp::from_millis(0);
/// let cc = ChampionChallenger::builder("forecast")
///     .champion("mean")
///     .challenger("smooth")
///     .challenger_share(10.0)
///     .metric(MetricSpec::mean("abs_error").lower_is_better(), 0.5)
///     .build(t0)?;
/// let routing = cc.routing().clone();
/// for user in 0..5_000u32 {
///     let a = routing.route(Some(format!("u{user}").as_bytes()), &());
///     let smooth = routing.id(a.variant).map(|v| v.as_str()) == Some("smooth");
///     let error = if smooth { 1.0 } else { 2.0 } + f64::from(user % 7) / 7.0;
///     routing.recorder().record_feedback(a.variant.get(), "abs_error", error)?;
/// }
/// let report = cc.tick(t0 + Duration::from_secs(60));
/// assert_eq!(report.champion.as_str(), "smooth");
/// assert_eq!(cc.role("mean"), Some(Role::Retired));
/// assert_eq!(cc.history().last().unwrap().kind, ChangeKind::Retired);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ChampionChallenger {
    config: ChampionConfig,
    routing: crate::routing::ExperimentRouting,
    share: Weight,
    spec: Option<JudgeSpec>,
    inner: Mutex<Inner>,
}

impl fmt::Debug for ChampionChallenger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("ChampionChallenger")
            .field("name", &self.config.name)
            .field("roles", &inner.roles)
            .field("changes", &inner.history.len())
            .finish_non_exhaustive()
    }
}

/// How many of `roles` are challengers.
fn challengers(roles: &[Role]) -> usize {
    roles.iter().filter(|r| **r == Role::Challenger).count()
}

/// The weights for `roles`: each challenger `share`, the champion the rest.
pub(crate) fn weights_for(roles: &[Role], share: Weight) -> Vec<Weight> {
    // At most 64 variants (a split's limit): exact.
    let k = challengers(roles) as u32;
    let champion = Weight::MAX_BPS.saturating_sub(k.saturating_mul(share.bps()));
    roles
        .iter()
        .map(|r| match r {
            Role::Champion => Weight::from_bps(champion).unwrap_or(Weight::ZERO),
            Role::Challenger => share,
            Role::Standby | Role::Retired => Weight::ZERO,
        })
        .collect()
}

/// Whether `challengers` challengers of `share` leave the champion at least half.
fn fits(challengers: usize, share: Weight) -> bool {
    (challengers as u64) * u64::from(share.bps()) <= u64::from(Weight::MAX_BPS / 2)
}

impl ChampionChallenger {
    /// Starts building a setup named `name`.
    pub fn builder(name: &str) -> ChampionBuilder {
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

    /// Checks `config` and starts at `now`: the champion and the
    /// challengers get their shares, standby variants none.
    pub fn new(config: ChampionConfig, now: Timestamp) -> Result<Self, ExperimentError> {
        let ids: Vec<VersionId> = std::iter::once(config.champion.clone())
            .chain(config.challengers.iter().cloned())
            .chain(config.standby.iter().cloned())
            .collect();
        let roles: Vec<Role> = std::iter::once(Role::Champion)
            .chain(config.challengers.iter().map(|_| Role::Challenger))
            .chain(config.standby.iter().map(|_| Role::Standby))
            .collect();
        let pairs: Vec<(VersionId, Role)> = ids.into_iter().zip(roles).collect();
        Self::start(config, pairs, Vec::new(), now)
    }

    /// Restores a setup from its [`state`](Self::state) at `now`: roles and
    /// history as saved; evaluations restart with fresh counters.
    pub fn from_state(state: ChampionState, now: Timestamp) -> Result<Self, ExperimentError> {
        let champions = state
            .roles
            .iter()
            .filter(|(_, r)| *r == Role::Champion)
            .count();
        if champions != 1 {
            return Err(ExperimentError::BadState {
                problem: format!("it has {champions} champions; it needs exactly one"),
            });
        }
        Self::start(state.config, state.roles, state.history, now)
    }

    fn start(
        config: ChampionConfig,
        pairs: Vec<(VersionId, Role)>,
        history: Vec<Change>,
        now: Timestamp,
    ) -> Result<Self, ExperimentError> {
        if config.name.trim().is_empty() {
            return Err(ExperimentError::NoName { what: "the setup" });
        }
        check_ids(
            pairs.iter().map(|(id, _)| id),
            "champion / challenger",
            "a champion and at least one challenger (or standby)",
        )?;
        check_metrics(std::slice::from_ref(&config.metric))?;
        check_alpha(config.alpha)?;
        Stopping::Sequential {
            tau: config.tau,
            max_exposures: None,
        }
        .validate()?;
        let share = Weight::from_percent(config.challenger_share)
            .ok()
            .filter(|w| !w.is_zero())
            .ok_or_else(|| {
                ExperimentError::range(
                    "challenger_share",
                    config.challenger_share,
                    "a share in percent, > 0 and small (e.g. 5)",
                )
            })?;
        let active = pairs.iter().filter(|(_, r)| *r == Role::Challenger).count();
        if !fits(active, share) {
            return Err(ExperimentError::BadShares {
                detail: format!(
                    "{active} challengers of {} % each leave the champion less than half: lower challenger_share or start some as standby",
                    config.challenger_share
                ),
            });
        }
        if config.guard_window < Duration::from_secs(1) {
            return Err(ExperimentError::range(
                "guard_window",
                config.guard_window.as_secs_f64(),
                "at least 1 second",
            ));
        }
        let spec = if config.guards.is_empty() {
            None
        } else {
            let spec = JudgeSpec::new(config.guards.clone());
            Judge::new(spec.clone()).map_err(|e| ExperimentError::BadGuard {
                name: config
                    .guards
                    .iter()
                    .map(CheckSpec::label)
                    .collect::<Vec<_>>()
                    .join(", "),
                message: e.to_string(),
            })?;
            Some(spec)
        };
        let mut metrics = vec![config.metric.name.clone()];
        for g in &config.guards {
            if let MetricRef::Custom(name) = &g.metric {
                if !metrics.contains(name) {
                    metrics.push(name.clone());
                }
            }
        }
        let (ids, roles): (Vec<VersionId>, Vec<Role>) = pairs.into_iter().unzip();
        let weights = weights_for(&roles, share);
        let split = Split::new(
            ids.iter()
                .cloned()
                .zip(weights)
                .map(|(id, w)| VersionWeight::new(id, w)),
        )?;
        let selector = Arc::new(Selector::new(split.clone()));
        let champion = roles.iter().position(|r| *r == Role::Champion).unwrap_or(0);
        let window_ms = u64::try_from(config.guard_window.as_millis()).unwrap_or(u64::MAX);
        let slot_ms = window_ms.div_ceil(10).max(1000).div_ceil(1000) * 1000;
        let slots = usize::try_from(window_ms.div_ceil(slot_ms).saturating_add(1)).unwrap_or(64);
        let recorder = Recorder::new(
            RecorderConfig::new(ids.len())
                .slot(Duration::from_millis(slot_ms))
                .slots(slots.min(10_000))
                .metrics(metrics),
        )
        .map_err(|e| ExperimentError::Recorder(e.to_string()))?;
        let control = VersionIndex::new(champion)
            .ok_or_else(|| ExperimentError::Refused("no champion".to_owned()))?;
        let routing = crate::routing::ExperimentRouting::new(
            selector,
            bucketer(&config.sticky, format!("cc/{}", config.name))?,
            Arc::new(recorder),
            Vec::new(),
            control,
        );
        let cc = ChampionChallenger {
            config,
            routing,
            share,
            spec,
            inner: Mutex::new(Inner {
                roles,
                champion,
                evals: Vec::new(),
                history,
            }),
        };
        {
            let mut inner = cc.lock();
            inner.evals = (0..ids.len()).map(|_| None).collect();
            for i in 0..ids.len() {
                if inner.roles[i] == Role::Challenger {
                    inner.evals[i] = Some(cc.evaluation(i, inner.champion, now));
                }
            }
            if inner.history.is_empty() {
                let challengers: Vec<&str> = ids
                    .iter()
                    .zip(&inner.roles)
                    .filter(|(_, r)| **r == Role::Challenger)
                    .map(|(id, _)| id.as_str())
                    .collect();
                let reason = format!(
                    "champion {} with challengers [{}] at {} % each",
                    ids[inner.champion],
                    challengers.join(", "),
                    cc.config.challenger_share
                );
                let champion = inner.champion;
                cc.record(&mut inner, now, ChangeKind::Started, champion, reason, None);
            }
        }
        Ok(cc)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(&self, i: usize) -> VersionId {
        self.routing.selector().ids()[i].clone()
    }

    fn totals(&self, i: usize) -> Totals {
        self.routing.recorder().totals(i).unwrap_or_default()
    }

    fn exposures(&self, i: usize) -> u64 {
        VersionIndex::new(i).map_or(0, |v| self.routing.exposures_of(v))
    }

    fn evaluation(&self, challenger: usize, champion: usize, now: Timestamp) -> Evaluation {
        Evaluation {
            since: now,
            start: (
                self.totals(challenger),
                self.exposures(challenger),
                self.totals(champion),
                self.exposures(champion),
            ),
            look: AlwaysValid::new(self.config.alpha),
            judge: self.spec.clone().and_then(|s| Judge::new(s).ok()),
            fresh: true,
        }
    }

    fn record(
        &self,
        inner: &mut Inner,
        at: Timestamp,
        kind: ChangeKind,
        variant: usize,
        reason: String,
        evidence: Option<Evidence>,
    ) -> Change {
        let change = Change {
            seq: inner.history.len() as u64,
            at,
            kind,
            variant: self.id(variant),
            reason,
            evidence,
            split: self.routing.selector().split(),
        };
        inner.history.push(change.clone());
        change
    }

    fn publish(&self, inner: &Inner) -> Result<(), ExperimentError> {
        let selector = self.routing.selector();
        let split = selector
            .split()
            .with_weights(&weights_for(&inner.roles, self.share))?;
        selector.publish(split)?;
        Ok(())
    }

    /// The serving handle: route requests (sticky), count exposures, record
    /// latency, errors and the metric.
    pub fn routing(&self) -> &crate::routing::ExperimentRouting {
        &self.routing
    }

    /// The configuration.
    pub fn config(&self) -> &ChampionConfig {
        &self.config
    }

    /// The champion now.
    pub fn champion(&self) -> VersionId {
        let inner = self.lock();
        self.id(inner.champion)
    }

    /// A variant's role now.
    pub fn role(&self, id: &str) -> Option<Role> {
        let i = self.routing.index_of(id)?;
        self.lock().roles.get(i.get()).copied()
    }

    /// Every variant's role, in selector order.
    pub fn roles(&self) -> Vec<(VersionId, Role)> {
        let inner = self.lock();
        inner
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| (self.id(i), *r))
            .collect()
    }

    /// Every change so far, oldest first.
    pub fn history(&self) -> Vec<Change> {
        self.lock().history.clone()
    }

    /// The persistent state (serde).
    pub fn state(&self) -> ChampionState {
        ChampionState {
            config: self.config.clone(),
            roles: self.roles(),
            history: self.history(),
        }
    }

    /// Makes a standby (or retired) variant a challenger now, if its share
    /// still leaves the champion at least half.
    pub fn enter(&self, id: &str, by: &str, now: Timestamp) -> Result<Change, ExperimentError> {
        let i = self.index(id)?;
        let mut inner = self.lock();
        match inner.roles[i] {
            Role::Standby | Role::Retired => {}
            role => {
                return Err(ExperimentError::Refused(format!(
                    "{id} is already the {role}; only standby or retired variants can enter"
                )));
            }
        }
        let active = challengers(&inner.roles);
        if !fits(active + 1, self.share) {
            return Err(ExperimentError::BadShares {
                detail: format!(
                    "one more challenger of {} % would leave the champion less than half: retire one first",
                    self.config.challenger_share
                ),
            });
        }
        inner.roles[i] = Role::Challenger;
        let champion = inner.champion;
        inner.evals[i] = Some(self.evaluation(i, champion, now));
        self.publish(&inner)?;
        Ok(self.record(
            &mut inner,
            now,
            ChangeKind::Entered,
            i,
            format!("entered by {by} at {} %", self.config.challenger_share),
            None,
        ))
    }

    /// Retires a challenger (or standby variant) now, by an operator.
    pub fn retire(&self, id: &str, by: &str, now: Timestamp) -> Result<Change, ExperimentError> {
        let i = self.index(id)?;
        let mut inner = self.lock();
        if inner.roles[i] == Role::Champion {
            return Err(ExperimentError::Refused(format!(
                "{id} is the champion: promote a challenger instead of retiring it"
            )));
        }
        inner.roles[i] = Role::Retired;
        inner.evals[i] = None;
        self.publish(&inner)?;
        Ok(self.record(
            &mut inner,
            now,
            ChangeKind::Retired,
            i,
            format!("retired by {by}"),
            None,
        ))
    }

    fn index(&self, id: &str) -> Result<usize, ExperimentError> {
        self.routing
            .index_of(id)
            .map(VersionIndex::get)
            .ok_or_else(|| ExperimentError::UnknownVariant {
                id: id.to_owned(),
                known: self
                    .routing
                    .selector()
                    .ids()
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Evaluates every challenger against the champion and acts: promotes the
    /// best significant winner whose guards pass, retires losers and
    /// challengers failing a guard, publishes the new split.
    pub fn tick(&self, now: Timestamp) -> ChampionReport {
        let mut inner = self.lock();
        let champion = inner.champion;
        let active: Vec<usize> = (0..inner.roles.len())
            .filter(|&i| inner.roles[i] == Role::Challenger)
            .collect();
        let k = active.len().max(1);
        let alpha = self.config.alpha / k as f64;
        let rules = Rules {
            alpha,
            correction: Correction::None,
            stopping: Stopping::Sequential {
                tau: self.config.metric.tau.unwrap_or(self.config.tau),
                max_exposures: None,
            },
            min_exposures: self.config.min_exposures,
        };
        let metric = &self.config.metric;
        let champion_id = self.id(champion);
        let champion_now = (self.totals(champion), self.exposures(champion));
        let champ_window = self
            .routing
            .recorder()
            .window(champion, now, self.config.guard_window)
            .ok();
        let mut standings = Vec::with_capacity(active.len());
        let mut winners: Vec<(usize, f64, Evidence)> = Vec::new();
        let mut losers: Vec<(usize, String, Evidence)> = Vec::new();
        for &i in &active {
            let id = self.id(i);
            let Some(eval) = inner.evals[i].as_mut() else {
                continue;
            };
            let (c0, ce0, p0, pe0) = &eval.start;
            let c = ArmData {
                exposures: self.exposures(i).saturating_sub(*ce0),
                moments: self
                    .totals(i)
                    .since(c0)
                    .metric(&metric.name)
                    .copied()
                    .unwrap_or_default(),
            };
            let p = ArmData {
                exposures: champion_now.1.saturating_sub(*pe0),
                moments: champion_now
                    .0
                    .since(p0)
                    .metric(&metric.name)
                    .copied()
                    .unwrap_or_default(),
            };
            let mut looks = [eval.look];
            let table = compare(
                metric,
                true,
                (&champion_id, &p),
                &[(&id, c)],
                &rules,
                &mut looks,
            );
            eval.look = looks[0];
            let since = eval.since;
            let Some(comparison) = table.comparisons.into_iter().next() else {
                continue;
            };
            let verdict = match (&mut eval.judge, &champ_window) {
                (Some(judge), Some(base)) => {
                    match self
                        .routing
                        .recorder()
                        .window(i, now, self.config.guard_window)
                    {
                        Ok(w) => {
                            if eval.fresh {
                                judge.reset_from(&w, base);
                                eval.fresh = false;
                            }
                            Some(judge.evaluate(&w, base))
                        }
                        Err(_) => None,
                    }
                }
                _ => None,
            };
            let guards = verdict.as_ref().map(Verdict::outcome);
            let evidence = Evidence {
                metric: metric.clone(),
                champion: table.control.clone(),
                comparison: comparison.clone(),
                alpha,
                guards: verdict.clone(),
            };
            let lift = comparison.lift.unwrap_or(0.0) * metric.goal.sign();
            let p_txt = p_clause(comparison.p_value);
            let lift_txt = comparison
                .lift
                .map_or("-".to_owned(), |l| fmt_lift(metric.kind, l));
            let status = match (comparison.decision, guards) {
                (_, Some(Outcome::Fail)) => {
                    let why = verdict.as_ref().map_or(String::new(), |v| {
                        let failed: Vec<String> = v
                            .report()
                            .checks
                            .iter()
                            .filter(|c| c.outcome == Outcome::Fail)
                            .map(|c| format!("{}: {}", c.name, c.detail))
                            .collect();
                        if failed.is_empty() {
                            v.report().summary.clone()
                        } else {
                            failed.join("; ")
                        }
                    });
                    losers.push((i, format!("a guard failed: {why}"), evidence));
                    "retire: a guard failed".to_owned()
                }
                (Decision::Loser, _) => {
                    losers.push((
                        i,
                        format!(
                            "significantly worse than {champion_id} on {} (lift {lift_txt}, always-valid {p_txt} <= {alpha:.4})",
                            metric.name
                        ),
                        evidence,
                    ));
                    "retire: significantly worse".to_owned()
                }
                (Decision::Winner, Some(Outcome::Pass) | None) => {
                    winners.push((i, lift, evidence));
                    "promote: significantly better, guards pass".to_owned()
                }
                (Decision::Winner, Some(Outcome::Inconclusive)) => {
                    "better, waiting for the guards to have enough data".to_owned()
                }
                (Decision::NoDifferenceYet, _) => match self.config.max_exposures {
                    Some(max) if c.exposures >= max => {
                        losers.push((
                                i,
                                format!(
                                    "no significant difference on {} after {} exposures (max_exposures {max})",
                                    metric.name, c.exposures
                                ),
                                evidence,
                            ));
                        "retire: no difference within max_exposures".to_owned()
                    }
                    _ => comparison
                        .note
                        .clone()
                        .unwrap_or_else(|| "no significant difference yet".to_owned()),
                },
            };
            standings.push(Standing {
                variant: id,
                since,
                comparison,
                champion: table.control,
                guards,
                status,
            });
        }
        let mut changes = Vec::new();
        for (i, reason, evidence) in losers {
            inner.roles[i] = Role::Retired;
            inner.evals[i] = None;
            if self.publish(&inner).is_ok() {
                changes.push(self.record(
                    &mut inner,
                    now,
                    ChangeKind::Retired,
                    i,
                    reason,
                    Some(evidence),
                ));
            }
        }
        let best = winners.into_iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _, evidence)) = best {
            self.promote(&mut inner, i, now, evidence, &mut changes);
        }
        let report = ChampionReport {
            at: now,
            metric: metric.clone(),
            champion: self.id(inner.champion),
            standings,
            changes,
            split: self.routing.selector().split(),
        };
        drop(inner);
        report
    }

    fn promote(
        &self,
        inner: &mut Inner,
        winner: usize,
        now: Timestamp,
        evidence: Evidence,
        changes: &mut Vec<Change>,
    ) {
        let old = inner.champion;
        let old_id = self.id(old);
        let c = &evidence.comparison;
        let reason = format!(
            "beat {old_id} on {} (lift {}, always-valid {} <= {:.4}){}",
            evidence.metric.name,
            c.lift
                .map_or("-".to_owned(), |l| fmt_lift(evidence.metric.kind, l)),
            p_clause(c.p_value),
            evidence.alpha,
            match evidence.guards.as_ref() {
                Some(v) => format!("; guards: {}", v.report().summary),
                None => String::new(),
            }
        );
        inner.roles[winner] = Role::Champion;
        inner.evals[winner] = None;
        inner.champion = winner;
        let active = challengers(&inner.roles);
        let (old_role, old_reason) = match self.config.old_champion {
            OldChampion::Challenge if fits(active + 1, self.share) => (
                Role::Challenger,
                format!("dethroned by {}; now challenges it", self.id(winner)),
            ),
            OldChampion::Challenge => (
                Role::Retired,
                format!(
                    "dethroned by {}; retired because another challenger share would leave the champion less than half",
                    self.id(winner)
                ),
            ),
            OldChampion::Retire => (Role::Retired, format!("dethroned by {}", self.id(winner))),
        };
        inner.roles[old] = old_role;
        // Every challenger now faces a new champion: evaluations restart.
        for i in 0..inner.roles.len() {
            inner.evals[i] =
                (inner.roles[i] == Role::Challenger).then(|| self.evaluation(i, winner, now));
        }
        if self.publish(inner).is_err() {
            return;
        }
        changes.push(self.record(
            inner,
            now,
            ChangeKind::Promoted,
            winner,
            reason,
            Some(evidence),
        ));
        let kind = if old_role == Role::Challenger {
            ChangeKind::Demoted
        } else {
            ChangeKind::Retired
        };
        changes.push(self.record(inner, now, kind, old, old_reason, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_give_the_champion_the_rest() {
        let share = Weight::from_percent(5.0).unwrap();
        let w = weights_for(
            &[
                Role::Challenger,
                Role::Champion,
                Role::Retired,
                Role::Challenger,
                Role::Standby,
            ],
            share,
        );
        let bps: Vec<u32> = w.iter().map(|w| w.bps()).collect();
        assert_eq!(bps, [500, 9_000, 0, 500, 0]);
        assert!(fits(10, share));
        assert!(!fits(11, share));
    }

    #[test]
    fn too_many_challengers_are_refused() {
        let err = ChampionChallenger::builder("x")
            .champion("a")
            .challenger("b")
            .challenger("c")
            .challenger_share(30.0)
            .metric(MetricSpec::conversion("buy"), 0.01)
            .build(Timestamp::from_millis(0))
            .unwrap_err();
        assert!(err.to_string().contains("less than half"), "{err}");
        let err = ChampionChallenger::builder("x")
            .champion("a")
            .challenger("b")
            .build(Timestamp::from_millis(0))
            .unwrap_err();
        assert!(matches!(err, ExperimentError::NoMetric));
    }
}
