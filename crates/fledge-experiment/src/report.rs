//! [`Report`]: an experiment's numbers and decisions, as serde data and as
//! a human-readable table.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_select::{Split, VersionId};

use crate::analysis::{Comparison, MetricReport};
use crate::format::{fmt_lift, fmt_num, fmt_p, fmt_value};
use crate::metric::{Correction, Stopping};
use crate::routing::Condition;

/// How an experiment ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum Conclusion {
    /// One variant is best: a treatment that beat the control significantly
    /// (the best of them), or the control when every treatment lost.
    Winner {
        /// The winning variant.
        variant: VersionId,
        /// Why.
        reason: String,
        /// Whether it was given 100 % of the experiment's traffic.
        promoted: bool,
        /// When.
        at: Timestamp,
    },
    /// The test ran its full length without a significant winner: keep the
    /// control.
    NoDifference {
        /// Why.
        reason: String,
        /// When.
        at: Timestamp,
    },
}

impl Conclusion {
    /// The winner, if any.
    pub fn winner(&self) -> Option<&VersionId> {
        match self {
            Conclusion::Winner { variant, .. } => Some(variant),
            Conclusion::NoDifference { .. } => None,
        }
    }
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conclusion::Winner {
                variant,
                reason,
                promoted,
                ..
            } => {
                write!(f, "winner {variant}: {reason}")?;
                if *promoted {
                    write!(
                        f,
                        "; promoted {variant} to 100 % of the experiment's traffic"
                    )?;
                }
                Ok(())
            }
            Conclusion::NoDifference { reason, .. } => write!(f, "no difference: {reason}"),
        }
    }
}

/// An A/B/n test's report: per variant exposures, metric values, lift with
/// interval, p-values and decisions, for every metric (the first decides),
/// and the conclusion if there is one.
///
/// Serde for dashboards and logs; `Display` prints a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The experiment's name.
    pub experiment: String,
    /// When the report was made.
    pub at: Timestamp,
    /// The split served when the report was made.
    pub split: Split,
    /// The significance level (family-wise, per metric).
    pub alpha: f64,
    /// The multiple-comparison correction.
    pub correction: Correction,
    /// The stopping rule.
    pub stopping: Stopping,
    /// Who is in the experiment (everyone when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment: Vec<Condition>,
    /// One table per metric; the first is the primary metric.
    pub metrics: Vec<MetricReport>,
    /// How the experiment ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<Conclusion>,
    /// What happens next, in one line.
    pub status: String,
}

impl Report {
    /// The primary metric's table.
    pub fn primary(&self) -> Option<&MetricReport> {
        self.metrics.first()
    }

    /// The primary metric's comparison of `variant` with the control.
    pub fn comparison(&self, variant: &str) -> Option<&Comparison> {
        self.primary()?
            .comparisons
            .iter()
            .find(|c| c.arm.variant.as_str() == variant)
    }
}

fn write_metric(f: &mut fmt::Formatter<'_>, m: &MetricReport, label: &str) -> fmt::Result {
    let kind = m.metric.kind;
    writeln!(
        f,
        "metric {}{}",
        m.metric,
        if m.primary { " [decides]" } else { "" }
    )?;
    let conf = m.comparisons.first().map_or(95.0, |c| c.confidence * 100.0);
    let interval_head = format!(
        "{}% interval",
        fmt_num(conf).trim_end_matches('0').trim_end_matches('.')
    );
    writeln!(
        f,
        "  {:<18} {:>9} {:>8} {:>10} {:>11} {:>24} {:>9} {:>8} {:>8}  decision",
        "variant", "exposures", "values", "value", "lift", interval_head, "rel.lift", "p", "p(adj)"
    )?;
    writeln!(
        f,
        "  {:<18} {:>9} {:>8} {:>10}",
        format!("{} ({label})", m.control.variant),
        m.control.exposures,
        m.control.values,
        fmt_value(kind, m.control.value)
    )?;
    for c in &m.comparisons {
        let interval = match c.interval {
            Some([lo, hi]) => format!("[{}, {}]", fmt_lift(kind, lo), fmt_lift(kind, hi)),
            None => "-".to_owned(),
        };
        let rel = c
            .relative_lift
            .map_or("-".to_owned(), |r| format!("{:+.1}%", r * 100.0));
        writeln!(
            f,
            "  {:<18} {:>9} {:>8} {:>10} {:>11} {:>24} {:>9} {:>8} {:>8}  {}",
            c.arm.variant.as_str(),
            c.arm.exposures,
            c.arm.values,
            fmt_value(kind, c.arm.value),
            c.lift.map_or("-".to_owned(), |l| fmt_lift(kind, l)),
            interval,
            rel,
            fmt_p(c.p_value),
            fmt_p(c.adjusted_p_value),
            c.decision
        )?;
        if let Some(note) = &c.note {
            writeln!(f, "  {:<18} ({note})", "")?;
        }
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "A/B test {:?} at {}: {} variants, alpha {} with {} correction, {}",
            self.experiment,
            self.at,
            self.split.len(),
            self.alpha,
            self.correction,
            self.stopping
        )?;
        let split: Vec<String> = self
            .split
            .versions()
            .iter()
            .map(|v| format!("{} {}", v.id(), v.weight()))
            .collect();
        write!(f, "split: {}", split.join(" / "))?;
        if self.segment.is_empty() {
            writeln!(f, "; everyone is in the experiment")?;
        } else {
            let conds: Vec<String> = self.segment.iter().map(Condition::to_string).collect();
            writeln!(
                f,
                "; segment: {} (others see the control, not counted)",
                conds.join(" and ")
            )?;
        }
        for m in &self.metrics {
            write_metric(f, m, "control")?;
        }
        match &self.conclusion {
            Some(c) => writeln!(f, "conclusion: {c}")?,
            None => writeln!(f, "conclusion: none yet")?,
        }
        write!(f, "status: {}", self.status)
    }
}
