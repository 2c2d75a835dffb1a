//! [`ChampionChallenger`]: the running setup: its routing, roles, running
//! evaluations and history. A tick locks, snapshots every challenger's data,
//! lets [`classify`] decide and applies the decisions.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::stats::AlwaysValid;
use fledge_gate::{Judge, JudgeSpec, Recorder, RecorderConfig, Totals};
use fledge_select::{Selector, Split, VersionId, VersionIndex, VersionWeight, Weight};

use super::classify::{ChallengerData, Classified, Fate, TickRules, classify};
use super::config::{ChampionBuilder, ChampionConfig, Checked, OldChampion};
use super::report::{ChampionReport, ChampionState, Change, ChangeKind, Evidence};
use super::roles::{Role, challengers, fits, weights_for};
use crate::analysis::ArmData;
use crate::error::ExperimentError;
use crate::format::{fmt_lift, p_clause};
use crate::routing::ExperimentRouting;
use crate::validate::bucketer;

impl ChampionBuilder {
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
    routing: ExperimentRouting,
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

impl ChampionChallenger {
    /// Starts building a setup named `name`.
    pub fn builder(name: &str) -> ChampionBuilder {
        ChampionBuilder::new(name)
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
        let active = pairs.iter().filter(|(_, r)| *r == Role::Challenger).count();
        let Checked {
            share,
            guards: spec,
            metrics,
        } = config.check(pairs.iter().map(|(id, _)| id), active)?;
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
        let routing = ExperimentRouting::new(
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
    pub fn routing(&self) -> &ExperimentRouting {
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
        let champion = self.id(inner.champion);
        let data = self.snapshot(&mut inner, now);
        let rules = TickRules {
            metric: &self.config.metric,
            champion: &champion,
            alpha: self.config.alpha,
            tau: self.config.metric.tau.unwrap_or(self.config.tau),
            min_exposures: self.config.min_exposures,
            max_exposures: self.config.max_exposures,
        };
        let decided = classify(&rules, data);
        self.apply(&mut inner, decided, now)
    }

    /// Every active challenger's data since its evaluation started, and its
    /// guards' verdict over the guard window (the judges keep state between
    /// looks, so this takes `inner` mutably).
    fn snapshot(&self, inner: &mut Inner, now: Timestamp) -> Vec<ChallengerData> {
        let champion = inner.champion;
        let metric = &self.config.metric.name;
        let champion_now = (self.totals(champion), self.exposures(champion));
        let recorder = self.routing.recorder();
        let window = self.config.guard_window;
        let champion_window = recorder.window(champion, now, window).ok();
        let mut out = Vec::new();
        for i in 0..inner.roles.len() {
            if inner.roles[i] != Role::Challenger {
                continue;
            }
            let Some(eval) = inner.evals[i].as_mut() else {
                continue;
            };
            let (c0, ce0, p0, pe0) = &eval.start;
            let since = |totals: &Totals, start: &Totals, exposures: u64, start_exp: u64| ArmData {
                exposures: exposures.saturating_sub(start_exp),
                moments: totals
                    .since(start)
                    .metric(metric)
                    .copied()
                    .unwrap_or_default(),
            };
            let guards = match (&mut eval.judge, &champion_window) {
                (Some(judge), Some(base)) => match recorder.window(i, now, window) {
                    Ok(w) => {
                        if eval.fresh {
                            judge.reset_from(&w, base);
                            eval.fresh = false;
                        }
                        Some(judge.evaluate(&w, base))
                    }
                    Err(_) => None,
                },
                _ => None,
            };
            out.push(ChallengerData {
                index: i,
                variant: self.id(i),
                since: eval.since,
                challenger: since(&self.totals(i), c0, self.exposures(i), *ce0),
                champion: since(&champion_now.0, p0, champion_now.1, *pe0),
                look: eval.look,
                guards,
            });
        }
        out
    }

    /// Carries out a tick's decisions: retirements first, then the
    /// promotion; every change published and recorded.
    fn apply(&self, inner: &mut Inner, decided: Vec<Classified>, now: Timestamp) -> ChampionReport {
        let mut standings = Vec::with_capacity(decided.len());
        let mut changes = Vec::new();
        let mut promote = None;
        for c in decided {
            if let Some(eval) = inner.evals[c.index].as_mut() {
                eval.look = c.look;
            }
            match c.fate {
                Fate::Retire { reason, evidence } => {
                    inner.roles[c.index] = Role::Retired;
                    inner.evals[c.index] = None;
                    if self.publish(inner).is_ok() {
                        let kind = ChangeKind::Retired;
                        let change = self.record(inner, now, kind, c.index, reason, Some(evidence));
                        changes.push(change);
                    }
                }
                Fate::Promote { evidence } => promote = Some((c.index, evidence)),
                Fate::Keep => {}
            }
            standings.push(c.standing);
        }
        if let Some((i, evidence)) = promote {
            self.promote(inner, i, now, evidence, &mut changes);
        }
        ChampionReport {
            at: now,
            metric: self.config.metric.clone(),
            champion: self.id(inner.champion),
            standings,
            changes,
            split: self.routing.selector().split(),
        }
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
    use crate::metric::MetricSpec;

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
