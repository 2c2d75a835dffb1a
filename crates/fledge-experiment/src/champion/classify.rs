//! The decision of one champion / challenger tick, as a pure function:
//! every active challenger's data and the rules in, what happens to each
//! (promote, retire, keep) with its evidence out. The engine locks,
//! snapshots the data, calls [`classify`] and applies the result.

use fledge_gate::clock::Timestamp;
use fledge_gate::stats::AlwaysValid;
use fledge_gate::{Outcome, Verdict};
use fledge_select::VersionId;

use super::report::{Evidence, Standing};
use crate::analysis::{ArmData, Decision, Rules, compare};
use crate::format::{fmt_lift, p_clause};
use crate::metric::{Correction, MetricSpec, Stopping};

/// What one active challenger brings to a tick.
#[derive(Debug, Clone)]
pub(crate) struct ChallengerData {
    /// Its position in the selector.
    pub(crate) index: usize,
    /// Its id.
    pub(crate) variant: VersionId,
    /// When its evaluation against the current champion started.
    pub(crate) since: Timestamp,
    /// Its exposures and metric values since `since`.
    pub(crate) challenger: ArmData,
    /// The champion's exposures and metric values since `since`.
    pub(crate) champion: ArmData,
    /// The always-valid test's state before this look.
    pub(crate) look: AlwaysValid,
    /// The guards' verdict over the guard window (`None` without guards).
    pub(crate) guards: Option<Verdict>,
}

/// The rules a tick decides by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickRules<'a> {
    /// The metric a challenger must beat the champion on.
    pub(crate) metric: &'a MetricSpec,
    /// The champion's id.
    pub(crate) champion: &'a VersionId,
    /// The family-wise significance level, split evenly across the active
    /// challengers (Bonferroni).
    pub(crate) alpha: f64,
    /// The always-valid test's mixing standard deviation, in the metric's units.
    pub(crate) tau: f64,
    /// Samples each side needs before a challenger is judged.
    pub(crate) min_exposures: u64,
    /// Retire a challenger with no significant difference after this many exposures.
    pub(crate) max_exposures: Option<u64>,
}

/// What happens to a challenger.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fate {
    /// It becomes the champion (at most one per tick: the best winner).
    Promote {
        /// The numbers behind it.
        evidence: Evidence,
    },
    /// It is retired.
    Retire {
        /// Why, in words.
        reason: String,
        /// The numbers behind it.
        evidence: Evidence,
    },
    /// It stays a challenger.
    Keep,
}

/// One challenger after a tick's decision.
#[derive(Debug, Clone)]
pub(crate) struct Classified {
    /// Its position in the selector.
    pub(crate) index: usize,
    /// Its standing, for the report.
    pub(crate) standing: Standing,
    /// What happens to it.
    pub(crate) fate: Fate,
    /// The always-valid test's state after this look.
    pub(crate) look: AlwaysValid,
}

/// Compares every challenger with the champion (always-valid test at
/// `alpha / challengers`) and decides, in the order given:
///
/// - a failing guard → retire;
/// - significantly worse → retire;
/// - significantly better with guards passing (or none) → a winner; the
///   best winner (largest lift in the metric's good direction; the last
///   one on a tie) is promoted, the others are kept;
/// - significantly better, guards inconclusive → keep;
/// - no difference yet → keep, or retire once `max_exposures` is reached.
pub(crate) fn classify(rules: &TickRules<'_>, challengers: Vec<ChallengerData>) -> Vec<Classified> {
    let alpha = rules.alpha / challengers.len().max(1) as f64;
    let metric = rules.metric;
    let test = Rules {
        alpha,
        correction: Correction::None,
        stopping: Stopping::Sequential {
            tau: rules.tau,
            max_exposures: None,
        },
        min_exposures: rules.min_exposures,
    };
    let mut out = Vec::with_capacity(challengers.len());
    let mut best: Option<(usize, f64)> = None;
    for c in challengers {
        let mut looks = [c.look];
        let table = compare(
            metric,
            true,
            (rules.champion, &c.champion),
            &[(&c.variant, c.challenger)],
            &test,
            &mut looks,
        );
        // One treatment in, one comparison out.
        let Some(comparison) = table.comparisons.into_iter().next() else {
            continue;
        };
        let guards = c.guards.as_ref().map(Verdict::outcome);
        let evidence = Evidence {
            metric: metric.clone(),
            champion: table.control.clone(),
            comparison: comparison.clone(),
            alpha,
            guards: c.guards.clone(),
        };
        let retire = |reason: String, evidence| Fate::Retire { reason, evidence };
        let (fate, status) = match (comparison.decision, guards) {
            (_, Some(Outcome::Fail)) => (
                retire(
                    format!("a guard failed: {}", failed_guards(c.guards.as_ref())),
                    evidence,
                ),
                "retire: a guard failed".to_owned(),
            ),
            (Decision::Loser, _) => {
                let lift = comparison
                    .lift
                    .map_or("-".to_owned(), |l| fmt_lift(metric.kind, l));
                let reason = format!(
                    "significantly worse than {} on {} (lift {lift}, always-valid {} <= {alpha:.4})",
                    rules.champion,
                    metric.name,
                    p_clause(comparison.p_value)
                );
                (
                    retire(reason, evidence),
                    "retire: significantly worse".to_owned(),
                )
            }
            (Decision::Winner, Some(Outcome::Pass) | None) => {
                let lift = comparison.lift.unwrap_or(0.0) * metric.goal.sign();
                // `>=`: the last of equally good winners, as `Iterator::max_by`.
                if best.is_none_or(|(_, b)| lift.total_cmp(&b).is_ge()) {
                    best = Some((out.len(), lift));
                }
                (
                    Fate::Promote { evidence },
                    "promote: significantly better, guards pass".to_owned(),
                )
            }
            (Decision::Winner, Some(Outcome::Inconclusive)) => (
                Fate::Keep,
                "better, waiting for the guards to have enough data".to_owned(),
            ),
            (Decision::NoDifferenceYet, _) => match rules.max_exposures {
                Some(max) if c.challenger.exposures >= max => (
                    retire(
                        format!(
                            "no significant difference on {} after {} exposures (max_exposures {max})",
                            metric.name, c.challenger.exposures
                        ),
                        evidence,
                    ),
                    "retire: no difference within max_exposures".to_owned(),
                ),
                _ => (
                    Fate::Keep,
                    comparison
                        .note
                        .clone()
                        .unwrap_or_else(|| "no significant difference yet".to_owned()),
                ),
            },
        };
        out.push(Classified {
            index: c.index,
            standing: Standing {
                variant: c.variant,
                since: c.since,
                comparison,
                champion: table.control,
                guards,
                status,
            },
            fate,
            look: looks[0],
        });
    }
    // Only the best winner is promoted; the other winners stay challengers
    // (their evaluations restart against the new champion).
    for (i, c) in out.iter_mut().enumerate() {
        if matches!(c.fate, Fate::Promote { .. }) && best.is_none_or(|(b, _)| b != i) {
            c.fate = Fate::Keep;
        }
    }
    out
}

/// The failing guards, `name: detail; ...` (or the verdict's summary).
fn failed_guards(verdict: Option<&Verdict>) -> String {
    verdict.map_or(String::new(), |v| {
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
    })
}

#[cfg(test)]
mod tests {
    use fledge_gate::Report;
    use fledge_gate::stats::Moments;

    use super::*;

    fn id(s: &str) -> VersionId {
        VersionId::new(s).unwrap()
    }

    /// `events` conversions in `exposures`.
    fn conv(exposures: u64, events: u64) -> ArmData {
        ArmData {
            exposures,
            moments: Moments {
                count: events,
                sum: events as f64,
                sum_sq: events as f64,
            },
        }
    }

    fn verdict(outcome: Outcome) -> Verdict {
        let report = Report {
            score: None,
            summary: "p99 over 1.2 × the champion's".to_owned(),
            checks: Vec::new(),
        };
        match outcome {
            Outcome::Pass => Verdict::Pass(report),
            Outcome::Fail => Verdict::Fail(report),
            Outcome::Inconclusive => Verdict::Inconclusive(report),
        }
    }

    fn data(
        variant: &str,
        challenger: ArmData,
        champion: ArmData,
        guards: Option<Outcome>,
    ) -> ChallengerData {
        ChallengerData {
            index: 1,
            variant: id(variant),
            since: Timestamp::from_millis(1_000),
            challenger,
            champion,
            look: AlwaysValid::new(0.05),
            guards: guards.map(verdict),
        }
    }

    fn with_rules<T>(f: impl FnOnce(&TickRules<'_>) -> T) -> T {
        let metric = MetricSpec::conversion("buy");
        let champion = id("champ");
        f(&TickRules {
            metric: &metric,
            champion: &champion,
            alpha: 0.05,
            tau: 0.02,
            min_exposures: 100,
            max_exposures: Some(5_000),
        })
    }

    /// What a fate says, for comparing: `promote`, `keep` or `retire: <reason>`.
    fn said(fate: &Fate) -> String {
        match fate {
            Fate::Promote { .. } => "promote".to_owned(),
            Fate::Keep => "keep".to_owned(),
            Fate::Retire { reason, .. } => format!("retire: {reason}"),
        }
    }

    #[test]
    fn each_challenger_is_promoted_retired_or_kept() {
        let better = conv(2_000, 400); // 20 %
        let worse = conv(2_000, 100); // 5 %
        let champion = conv(2_000, 200); // 10 %
        let even = conv(6_000, 600);
        // (case, challenger, champion, guards, fate starts with, status starts with)
        let cases = [
            (
                "winner without guards",
                better,
                champion,
                None,
                "promote",
                "promote: significantly better",
            ),
            (
                "winner, guards pass",
                better,
                champion,
                Some(Outcome::Pass),
                "promote",
                "promote: significantly better",
            ),
            (
                "winner, guards undecided",
                better,
                champion,
                Some(Outcome::Inconclusive),
                "keep",
                "better, waiting for the guards",
            ),
            (
                "winner, a guard fails",
                better,
                champion,
                Some(Outcome::Fail),
                "retire: a guard failed: p99 over 1.2",
                "retire: a guard failed",
            ),
            (
                "loser",
                worse,
                champion,
                None,
                "retire: significantly worse than champ on buy (lift -5.000pp, always-valid p < 0.0001 <= 0.0500)",
                "retire: significantly worse",
            ),
            (
                "loser, guards pass",
                worse,
                champion,
                Some(Outcome::Pass),
                "retire: significantly worse",
                "retire: significantly worse",
            ),
            (
                "too early",
                conv(50, 10),
                conv(50, 5),
                None,
                "keep",
                "50 more samples on the smaller arm",
            ),
            (
                "no difference at max_exposures",
                even,
                even,
                None,
                "retire: no significant difference on buy after 6000 exposures (max_exposures 5000)",
                "retire: no difference within max_exposures",
            ),
            (
                "no difference yet",
                conv(3_000, 300),
                conv(3_000, 300),
                None,
                "keep",
                "no significant difference yet",
            ),
        ];
        for (case, challenger, champion, guards, fate, status) in cases {
            let out = with_rules(|r| classify(r, vec![data("c", challenger, champion, guards)]));
            let [c] = out.as_slice() else {
                panic!("{case}: one challenger in, one out: {out:?}");
            };
            assert!(said(&c.fate).starts_with(fate), "{case}: {}", said(&c.fate));
            assert!(
                c.standing.status.starts_with(status),
                "{case}: {}",
                c.standing.status
            );
            assert_eq!(c.standing.guards, guards, "{case}");
            assert_eq!(c.standing.variant.as_str(), "c");
            if let Fate::Promote { evidence } | Fate::Retire { evidence, .. } = &c.fate {
                assert_eq!(
                    evidence.alpha, 0.05,
                    "{case}: one challenger gets all of alpha"
                );
                assert_eq!(
                    evidence.guards.as_ref().map(Verdict::outcome),
                    guards,
                    "{case}"
                );
                assert_eq!(evidence.champion.variant.as_str(), "champ");
            }
        }
    }

    #[test]
    fn only_the_best_winner_is_promoted_and_alpha_is_split() {
        let champion = conv(2_000, 200);
        let out = with_rules(|r| {
            classify(
                r,
                vec![
                    data("good", conv(2_000, 330), champion, None),
                    data("best", conv(2_000, 420), champion, None),
                    data("bad", conv(2_000, 90), champion, None),
                ],
            )
        });
        let fates: Vec<(&str, String)> = out
            .iter()
            .map(|c| (c.standing.variant.as_str(), said(&c.fate)))
            .collect();
        assert_eq!(fates[0], ("good", "keep".to_owned()));
        assert_eq!(fates[1], ("best", "promote".to_owned()));
        assert!(
            fates[2].1.starts_with("retire: significantly worse"),
            "{fates:?}"
        );
        // Both winners say so in the report; only one is promoted.
        assert!(out[0].standing.status.starts_with("promote:"));
        let Fate::Promote { evidence } = &out[1].fate else {
            unreachable!()
        };
        assert!((evidence.alpha - 0.05 / 3.0).abs() < 1e-15);
        // The look was taken: the always-valid state moved on.
        assert!(out.iter().all(|c| c.look.p_value < 1.0));
    }

    #[test]
    fn equally_good_winners_promote_the_last() {
        let champion = conv(2_000, 200);
        let same = conv(2_000, 400);
        let out = with_rules(|r| {
            classify(
                r,
                vec![
                    data("a", same, champion, None),
                    data("b", same, champion, None),
                ],
            )
        });
        let promoted: Vec<&str> = out
            .iter()
            .filter(|c| matches!(c.fate, Fate::Promote { .. }))
            .map(|c| c.standing.variant.as_str())
            .collect();
        assert_eq!(promoted, ["b"]);
    }

    #[test]
    fn no_challengers_no_decisions() {
        assert!(with_rules(|r| classify(r, Vec::new())).is_empty());
    }
}
