//! `fledge plan check FILE`.

use std::fmt::Write as _;
use std::path::Path;

use fledge_rollout::plan::{CheckedPlan, Hold, Plan};
use fledge_select::Weight;

use crate::Failure;
use crate::out;

pub(crate) fn run(file: &Path, json: bool) -> Result<(), Failure> {
    let plan = Plan::from_path(file)?;
    let checked = plan.check()?;
    let text = if json {
        let mut s = plan.to_json()?;
        s.push('\n');
        s
    } else {
        summary(&checked)
    };
    out::print(&text)?;
    Ok(())
}

/// A one-screen summary of a checked plan.
pub(crate) fn summary(checked: &CheckedPlan) -> String {
    let plan = checked.plan();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plan {:?}: {} -> {} (valid)",
        plan.name, plan.baseline, plan.candidate
    );
    if let Some(d) = &plan.description {
        let _ = writeln!(s, "  {d}");
    }
    let _ = writeln!(
        s,
        "  sticky: {} hash, salt {:?}",
        plan.sticky.hash.as_deref().unwrap_or("fledge"),
        plan.base_salt()
    );
    let _ = writeln!(
        s,
        "  rollback after {} failing evaluation(s) in a step; pause after {} inconclusive bake interval(s)",
        plan.failure_limit, plan.inconclusive_limit
    );
    let _ = writeln!(s, "  steps:");
    for step in checked.steps() {
        let mut line = format!(
            "    {:>2}. {:<9} {:>7}",
            step.index + 1,
            step.label(),
            step.weight.to_string()
        );
        let _ = write!(line, "  bake {}", out::duration(step.interval));
        if !step.mirror.is_zero() {
            let _ = write!(line, "  mirror {}", step.mirror);
        }
        if step.approval {
            line.push_str("  [approval first]");
        }
        match step.pause {
            Some(Hold::Indefinite) => line.push_str("  [pause until resumed]"),
            Some(Hold::For(d)) => {
                let _ = write!(line, "  [pause {}]", out::duration(d));
            }
            None => {}
        }
        let gates: Vec<String> = step
            .gates
            .iter()
            .filter_map(|&i| plan.gates.get(i))
            .map(|g| g.label())
            .collect();
        if gates.is_empty() {
            line.push_str("  gates: none (time only)");
        } else {
            let _ = write!(line, "  gates: {}", gates.join(", "));
            if step.weight == Weight::FULL {
                let relative: Vec<String> = step
                    .gates
                    .iter()
                    .filter_map(|&i| plan.gates.get(i))
                    .filter(|g| g.test.kind() != fledge_gate::check::CheckKind::Threshold)
                    .map(|g| g.label())
                    .collect();
                if !relative.is_empty() {
                    let _ = write!(
                        line,
                        " (no baseline traffic at 100%: {} not judged)",
                        relative.join(", ")
                    );
                }
            }
        }
        let _ = writeln!(s, "{line}");
        for rule in &step.targeting {
            let _ = writeln!(
                s,
                "          targeting: {} -> {}",
                rule.condition, rule.version
            );
        }
    }
    let _ = writeln!(s, "     then promoted: {} takes 100%", plan.candidate);
    if plan.gates.is_empty() {
        let _ = writeln!(s, "  gates: none");
    } else {
        let _ = writeln!(s, "  gates:");
        let width = plan
            .gates
            .iter()
            .map(|g| g.label().chars().count())
            .max()
            .unwrap_or(0)
            .max(14);
        for gate in &plan.gates {
            let mut params = Vec::new();
            if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(gate) {
                for (k, v) in map {
                    if matches!(k.as_str(), "name" | "kind" | "metric") {
                        continue;
                    }
                    params.push(format!("{k}={v}"));
                }
            }
            // Drift gates read a declared output: say which kind.
            let output = if gate.test.kind().reads_output() {
                plan.outputs
                    .iter()
                    .find(|o| o.name() == gate.metric.to_string())
                    .map(|o| format!(" ({} output)", o.kind()))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "    {:<width$} {} on {}{output}: {}",
                gate.label(),
                gate.test.kind(),
                gate.metric,
                params.join(" ")
            );
        }
    }
    if let Some(judge) = &plan.judge {
        let _ = writeln!(
            s,
            "  judge: pass at score {}, fail below {}",
            judge.pass_score.unwrap_or(95.0),
            judge.marginal_score.unwrap_or(75.0)
        );
    }
    if !plan.outputs.is_empty() {
        let _ = writeln!(s, "  outputs (recorded per response, read by drift gates):");
        let width = plan
            .outputs
            .iter()
            .map(|o| o.name().chars().count())
            .max()
            .unwrap_or(0)
            .max(14);
        for output in &plan.outputs {
            let shape = match (output.numeric_range(), output.label_capacity()) {
                (Some((resolution, max_abs)), _) => {
                    format!("resolution={resolution} max_abs={max_abs}")
                }
                (None, Some(max_labels)) if output.initial_labels().is_empty() => {
                    format!("max_labels={max_labels}")
                }
                (None, Some(max_labels)) => format!(
                    "max_labels={max_labels} labels={:?}",
                    output.initial_labels()
                ),
                (None, None) => String::new(),
            };
            let readers: Vec<String> = plan
                .gates
                .iter()
                .filter(|g| g.metric.to_string() == output.name())
                .map(|g| g.label())
                .collect();
            let read = if readers.is_empty() {
                "no gate reads it".to_owned()
            } else {
                format!("read by {}", readers.join(", "))
            };
            let _ = writeln!(
                s,
                "    {:<width$} {}, {shape}; {read}",
                output.name(),
                output.kind()
            );
        }
    }
    if !plan.metrics.is_empty() {
        let _ = writeln!(s, "  feedback metrics: {}", plan.metrics.join(", "));
    }
    for (version, limits) in &plan.limits {
        let mut parts = Vec::new();
        if let Some(c) = limits.concurrency {
            parts.push(format!("concurrency {c}"));
        }
        if let Some(t) = limits.timeout {
            parts.push(format!("timeout {}", out::duration(t)));
        }
        parts.push(format!("overflow {:?}", limits.overflow).to_lowercase());
        let _ = writeln!(s, "  limits {version}: {}", parts.join(", "));
    }
    if let Some(k) = plan.keep_warm {
        let _ = writeln!(s, "  keep warm after promotion: {}", out::duration(k));
    }
    s
}
