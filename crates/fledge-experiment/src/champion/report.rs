//! What champion / challenger reports and keeps: roles, the [`Change`]
//! history with its [`Evidence`], each tick's [`ChampionReport`], and the
//! persistent [`ChampionState`].

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_gate::{Outcome, Verdict};
use fledge_select::{Split, VersionId};

use super::config::ChampionConfig;
use super::roles::Role;
use crate::analysis::{ArmSummary, Comparison};
use crate::format::{fmt_lift, fmt_p, fmt_value};
use crate::metric::MetricSpec;

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

/// What one [`ChampionChallenger::tick`](crate::ChampionChallenger::tick) saw and did.
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
