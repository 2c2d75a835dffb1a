//! [`AbTest`]: the running A/B/n test: its routing, its sequential state,
//! the analysis on every tick and the promotion of the winner.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fledge_gate::clock::Timestamp;
use fledge_gate::stats::AlwaysValid;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_select::{Selector, Split, VersionId, VersionIndex, VersionWeight, Weight};

use super::config::{AbBuilder, AbConfig};
use crate::analysis::{ArmData, Decision, MetricReport, Rules, compare};
use crate::error::ExperimentError;
use crate::format::{fmt_lift, p_clause};
use crate::metric::Stopping;
use crate::report::{Conclusion, Report};
use crate::routing::ExperimentRouting;
use crate::validate::{bucketer, check_alpha, check_ids, check_metrics};

impl AbBuilder {
    /// Builds the test, starting at `now`.
    pub fn build(self, now: Timestamp) -> Result<AbTest, ExperimentError> {
        AbTest::new(self.config()?, now)
    }
}

/// A split over `ids` giving everything to `winner`.
fn all_to(split: &Split, winner: VersionIndex) -> Result<Split, ExperimentError> {
    let weights: Vec<Weight> = (0..split.len())
        .map(|i| {
            if i == winner.get() {
                Weight::FULL
            } else {
                Weight::ZERO
            }
        })
        .collect();
    Ok(split.with_weights(&weights)?)
}

#[derive(Debug)]
struct AbInner {
    /// Sequential state per metric, per treatment.
    looks: Vec<Vec<AlwaysValid>>,
    conclusion: Option<Conclusion>,
    last: Option<Report>,
}

/// An A/B/n test: a fixed split over two or more variants (the first is the
/// control), sticky per user, optionally restricted to a segment; business
/// metrics through feedback; per variant against the control: lift,
/// confidence interval, p-value (two-proportion z-test for conversions,
/// Welch's t-test for means), corrected for several variants
/// ([`Correction`](crate::Correction)), fixed-horizon or sequential ([`Stopping`]); a
/// [`Report`]; optional promotion of the winner.
///
/// All methods take `&self`: share it in an `Arc` between the request path
/// (through [`routing`](Self::routing)) and the control loop calling
/// [`tick`](Self::tick).
///
/// ```
/// use fledge_gate::clock::Timestamp;
/// use fledge_experiment::{AbTest, Decision, MetricSpec};
///
/// let t0 = Timestamp::from_millis(0);
/// let ab = AbTest::builder("checkout")
///     .control("blue", 50.0)
///     .variant("green", 50.0)
///     .metric(MetricSpec::conversion("purchase"))
///     .fixed_horizon(2_000)
///     .auto_promote(true)
///     .build(t0)?;
/// let routing = ab.routing().clone();
/// for user in 0..8_000u32 {
///     let key = format!("user-{user}");
///     let a = routing.route(Some(key.as_bytes()), &()); // counts the exposure
///     let green = routing.id(a.variant).map(|id| id.as_str()) == Some("green");
///     // green converts 8 % of the time, blue 5 % (a deterministic stand-in).
///     if user % 100 < if green { 8 } else { 5 } {
///         routing.recorder().record_feedback(a.variant.get(), "purchase", 1.0)?;
///     }
/// }
/// let report = ab.tick(t0);
/// assert_eq!(report.comparison("green").unwrap().decision, Decision::Winner);
/// assert_eq!(ab.routing().selector().split().weight_of("green").unwrap().bps(), 10_000);
/// println!("{report}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AbTest {
    config: AbConfig,
    routing: ExperimentRouting,
    inner: Mutex<AbInner>,
}

impl fmt::Debug for AbTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbTest")
            .field("name", &self.config.name)
            .field("routing", &self.routing)
            .field("conclusion", &self.lock().conclusion)
            .finish()
    }
}

impl AbTest {
    /// Starts building a test named `name`.
    pub fn builder(name: &str) -> AbBuilder {
        AbBuilder::new(name)
    }

    /// Checks `config` and starts the test at `now`: the split is published
    /// and the counters start at zero.
    pub fn new(config: AbConfig, now: Timestamp) -> Result<Self, ExperimentError> {
        let _ = now;
        if config.name.trim().is_empty() {
            return Err(ExperimentError::NoName {
                what: "the experiment",
            });
        }
        check_ids(
            config.variants.iter().map(|v| &v.id),
            "an A/B test",
            "a control and at least one treatment",
        )?;
        let mut variants = Vec::with_capacity(config.variants.len());
        let mut total = 0u32;
        for (i, v) in config.variants.iter().enumerate() {
            let w = Weight::from_percent(v.weight).map_err(|_| {
                ExperimentError::range(
                    format!("variants[{i}].weight"),
                    v.weight,
                    "a share in percent, 0 < weight <= 100",
                )
            })?;
            if w.is_zero() {
                return Err(ExperimentError::range(
                    format!("variants[{i}].weight"),
                    v.weight,
                    "a positive share: remove the variant instead of giving it 0 %",
                ));
            }
            // Saturating: a huge variant list must fail below, not overflow.
            total = total.saturating_add(w.bps());
            variants.push(VersionWeight::new(v.id.clone(), w));
        }
        if total != Weight::MAX_BPS {
            return Err(ExperimentError::BadShares {
                detail: format!(
                    "the shares add up to {} % but must add up to exactly 100 %",
                    f64::from(total) / 100.0
                ),
            });
        }
        check_metrics(&config.metrics)?;
        check_alpha(config.alpha)?;
        config.stopping.validate()?;
        for (i, m) in config.metrics.iter().enumerate() {
            m.stopping(config.stopping, i == 0)?;
        }
        let control_id = &config.variants[0].id;
        let segment = config
            .segment
            .iter()
            .enumerate()
            .map(|(i, c)| crate::routing::check(c, i))
            .collect::<Result<Vec<_>, _>>()?;
        let split = Split::new(variants)?;
        let selector = Arc::new(Selector::new(split));
        let control = selector.index_of(control_id.as_str()).ok_or_else(|| {
            ExperimentError::Refused("the control is missing from the split".into())
        })?;
        let recorder = Recorder::new(
            RecorderConfig::new(selector.len())
                .metrics(config.metrics.iter().map(|m| m.name.clone())),
        )
        .map_err(|e| ExperimentError::Recorder(e.to_string()))?;
        let bucketer = bucketer(&config.sticky, format!("ab/{}", config.name))?;
        let routing =
            ExperimentRouting::new(selector, bucketer, Arc::new(recorder), segment, control);
        let m = config.variants.len() - 1;
        let alpha = config.correction.interval_alpha(config.alpha, m);
        let looks = config
            .metrics
            .iter()
            .map(|_| vec![AlwaysValid::new(alpha); m])
            .collect();
        Ok(AbTest {
            config,
            routing,
            inner: Mutex::new(AbInner {
                looks,
                conclusion: None,
                last: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, AbInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The serving handle: route requests, count exposures, record metrics.
    pub fn routing(&self) -> &ExperimentRouting {
        &self.routing
    }

    /// The configuration.
    pub fn config(&self) -> &AbConfig {
        &self.config
    }

    /// How the test ended, once it has.
    pub fn conclusion(&self) -> Option<Conclusion> {
        self.lock().conclusion.clone()
    }

    /// The report made by the last [`tick`](Self::tick).
    pub fn last_report(&self) -> Option<Report> {
        self.lock().last.clone()
    }

    /// Analyses what was recorded so far (a sequential test takes one look),
    /// concludes when the stopping rule allows, promotes the winner when
    /// `auto_promote` is set, and returns the report.
    pub fn tick(&self, now: Timestamp) -> Report {
        let mut inner = self.lock();
        let concluded = inner.conclusion.is_some();
        let metrics = self.analyze(&mut inner, concluded);
        if !concluded && let Some(c) = self.decide(&metrics, now) {
            inner.conclusion = Some(c);
        }
        let status = match &inner.conclusion {
            Some(Conclusion::Winner {
                promoted: true,
                variant,
                ..
            }) => format!("done: {variant} serves 100 % of the experiment's traffic"),
            Some(Conclusion::Winner { variant, .. }) => {
                format!("done: promote {variant} (auto_promote is off)")
            }
            Some(Conclusion::NoDifference { .. }) => "done: keep the control".to_owned(),
            None => running_status(&self.config, &metrics),
        };
        let report = Report {
            experiment: self.config.name.clone(),
            at: now,
            split: self.routing.selector().split(),
            alpha: self.config.alpha,
            correction: self.config.correction,
            stopping: self.config.stopping,
            segment: self.config.segment.clone(),
            metrics,
            conclusion: inner.conclusion.clone(),
            status,
        };
        inner.last = Some(report.clone());
        report
    }

    fn analyze(&self, inner: &mut AbInner, frozen: bool) -> Vec<MetricReport> {
        let r = &self.routing;
        let ids = r.selector().ids();
        let control = r.control();
        let totals: Vec<_> = (0..ids.len())
            .map(|i| r.recorder().totals(i).unwrap_or_default())
            .collect();
        let rules = Rules {
            alpha: self.config.alpha,
            correction: self.config.correction,
            stopping: self.config.stopping,
            min_exposures: self.config.min_exposures,
        };
        let data = |i: usize, name: &str| ArmData {
            exposures: VersionIndex::new(i).map_or(0, |v| r.exposures_of(v)),
            moments: totals[i].metric(name).copied().unwrap_or_default(),
        };
        self.config
            .metrics
            .iter()
            .enumerate()
            .map(|(k, metric)| {
                let rules = Rules {
                    stopping: metric
                        .stopping(rules.stopping, k == 0)
                        .unwrap_or(rules.stopping),
                    ..rules
                };
                let treatments: Vec<_> = (0..ids.len())
                    .filter(|&i| i != control.get())
                    .map(|i| (&ids[i], data(i, &metric.name)))
                    .collect();
                let mut scratch;
                let looks: &mut [AlwaysValid] = if frozen {
                    scratch = inner.looks[k].clone();
                    &mut scratch
                } else {
                    &mut inner.looks[k]
                };
                compare(
                    metric,
                    k == 0,
                    (&ids[control.get()], &data(control.get(), &metric.name)),
                    &treatments,
                    &rules,
                    looks,
                )
            })
            .collect()
    }

    /// The conclusion the primary metric allows now, with promotion.
    fn decide(&self, metrics: &[MetricReport], now: Timestamp) -> Option<Conclusion> {
        let primary = metrics.first()?;
        let sign = primary.metric.goal.sign();
        let winner = primary
            .comparisons
            .iter()
            .filter(|c| c.decision == Decision::Winner)
            .max_by(|a, b| {
                let la = a.lift.unwrap_or(0.0) * sign;
                let lb = b.lift.unwrap_or(0.0) * sign;
                la.total_cmp(&lb)
            });
        let (variant, reason) = if let Some(w) = winner {
            let mut reason = format!(
                "{} beats the control on {} (lift {}, adjusted {} <= alpha {})",
                w.arm.variant,
                primary.metric.name,
                fmt_lift(primary.metric.kind, w.lift.unwrap_or(0.0)),
                p_clause(w.adjusted_p_value),
                self.config.alpha
            );
            let others = primary
                .comparisons
                .iter()
                .filter(|c| c.decision == Decision::Winner && c.arm.variant != w.arm.variant)
                .count();
            if others > 0 {
                reason.push_str(&format!("; the best of {} significant winners", others + 1));
            }
            (w.arm.variant.clone(), reason)
        } else if primary
            .comparisons
            .iter()
            .all(|c| c.decision == Decision::Loser)
        {
            (
                primary.control.variant.clone(),
                format!(
                    "every treatment is significantly worse than the control on {}",
                    primary.metric.name
                ),
            )
        } else {
            let done = match self.config.stopping {
                Stopping::FixedHorizon { exposures } => Some(exposures),
                Stopping::Sequential { max_exposures, .. } => max_exposures,
            }
            .is_some_and(|h| primary.least_exposures() >= h);
            if done {
                return Some(Conclusion::NoDifference {
                    reason: format!(
                        "every variant reached its planned exposures ({}) without a significant difference on {}",
                        self.config.stopping, primary.metric.name
                    ),
                    at: now,
                });
            }
            return None;
        };
        let promoted = self.config.auto_promote && self.publish_all_to(&variant).is_ok();
        Some(Conclusion::Winner {
            variant,
            reason,
            promoted,
            at: now,
        })
    }

    fn publish_all_to(&self, variant: &VersionId) -> Result<(), ExperimentError> {
        let selector = self.routing.selector();
        let index = selector
            .index_of(variant.as_str())
            .ok_or_else(|| self.unknown(variant.as_str()))?;
        selector.publish(all_to(&selector.split(), index)?)?;
        Ok(())
    }

    fn unknown(&self, id: &str) -> ExperimentError {
        ExperimentError::UnknownVariant {
            id: id.to_owned(),
            known: self
                .config
                .variants
                .iter()
                .map(|v| v.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Gives `variant` 100 % of the experiment's traffic now and concludes
    /// the test with it as the winner (an operator's decision).
    pub fn promote(&self, variant: &str, by: &str, now: Timestamp) -> Result<(), ExperimentError> {
        let id = VersionId::new(variant).map_err(|_| self.unknown(variant))?;
        self.publish_all_to(&id)?;
        self.lock().conclusion = Some(Conclusion::Winner {
            variant: id,
            reason: format!("promoted by {by}"),
            promoted: true,
            at: now,
        });
        Ok(())
    }
}

fn running_status(config: &AbConfig, metrics: &[MetricReport]) -> String {
    let Some(primary) = metrics.first() else {
        return "running".to_owned();
    };
    let least = primary.least_exposures();
    match config.stopping {
        Stopping::FixedHorizon { exposures } => format!(
            "running: the smallest arm has {least} of {exposures} exposures; decisions wait for the horizon"
        ),
        Stopping::Sequential { .. } => format!(
            "running: no significant difference yet on {} (smallest arm: {least} exposures); safe to keep looking",
            primary.metric.name
        ),
    }
}
