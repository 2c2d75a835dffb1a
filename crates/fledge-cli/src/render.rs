//! Words for what the admin API answers: phases, steps, weights, verdicts,
//! events, figures, times and sparklines. Pure functions of the answers, so
//! `status`, `watch`, `wait`, `history` and the commands say things alike.

use std::fmt::Write as _;
use std::time::Duration;

use crate::api::{Event, Status, Verdict};
use crate::out;

/// A percentage as plans write it: `25%`, `12.5%`, `0.05%`.
pub(crate) fn percent(p: f64) -> String {
    let s = format!("{p:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// A phase name as people say it (`awaiting approval`, `rolled back`).
pub(crate) fn phase_name(name: &str) -> String {
    name.replace('_', " ")
}

/// The phase with its reason or who approves: `paused (operator: lunch)`.
pub(crate) fn phase(status: &Status) -> String {
    let p = &status.phase;
    let mut s = phase_name(&p.name);
    match (&p.reason, &p.kind) {
        (Some(reason), _) if !reason.is_empty() => {
            let _ = write!(s, ": {reason}");
        }
        (_, Some(kind)) => {
            let _ = write!(s, " ({kind})");
        }
        _ => {}
    }
    if let Some(until) = p.until {
        let _ = write!(s, ", until {}", clock(until));
    }
    s
}

/// `2/4` (steps counted from 1; `0/4` before the first step).
pub(crate) fn step_of(status: &Status) -> String {
    let n = status.steps.len();
    match status.step {
        Some(i) => format!("{}/{n}", i + 1),
        None => format!("0/{n}"),
    }
}

/// `2/4 (25%)` with the step's own label when it has a name.
pub(crate) fn step_progress(status: &Status) -> String {
    let mut s = step_of(status);
    if let Some(step) = status.step.and_then(|i| status.steps.get(i)) {
        let _ = write!(s, " ({}", percent(step.weight));
        if step.mirror > 0.0 {
            let _ = write!(s, ", mirror {}", percent(step.mirror));
        }
        if !step.label.starts_with("step ") && !step.label.is_empty() {
            let _ = write!(s, ", {:?}", step.label);
        }
        s.push(')');
    }
    s
}

/// A bar of the steps: `■■□□` (taken, current, to come).
pub(crate) fn step_bar(status: &Status) -> String {
    let done = match status.phase.name.as_str() {
        "promoted" => status.steps.len(),
        _ => status.step.map_or(0, |i| i + 1),
    };
    (0..status.steps.len())
        .map(|i| if i < done { '■' } else { '□' })
        .collect()
}

/// The published weights: `v2 25% (candidate), v1 75% (baseline)`.
pub(crate) fn weights(status: &Status) -> String {
    let mut parts: Vec<String> = status
        .weights
        .iter()
        .map(|w| {
            if w.role.is_empty() {
                format!("{} {}", w.version, percent(w.weight))
            } else {
                format!("{} {} ({})", w.version, percent(w.weight), w.role)
            }
        })
        .collect();
    if status.mirror > 0.0 {
        parts.push(format!("mirror {}", percent(status.mirror)));
    }
    parts.join(", ")
}

/// The candidate's published weight, in percent.
pub(crate) fn candidate_weight(status: &Status) -> Option<f64> {
    status
        .weights
        .iter()
        .find(|w| w.version == status.candidate)
        .map(|w| w.weight)
}

/// A time: `2026-11-22 14:03:07Z` (UTC).
pub(crate) fn clock(ms: u64) -> String {
    let t = fledge_gate::clock::Timestamp::from_millis(ms).utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// The time of day of `ms`: `14:03:07`.
pub(crate) fn time_of_day(ms: u64) -> String {
    let rem = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A span of milliseconds as plans write durations (`1m30s`).
pub(crate) fn span(ms: u64) -> String {
    // Whole seconds from a second on: nobody waiting counts milliseconds.
    let ms = if ms >= 1_000 { ms / 1000 * 1000 } else { ms };
    out::duration(Duration::from_millis(ms))
}

/// How a metric's value reads: latency in ms, rates in percent, others plain.
pub(crate) fn figure(metric: &str, value: f64) -> String {
    if metric.starts_with("latency") || metric.ends_with("_ms") {
        format!("{}ms", number(value))
    } else if metric.ends_with("rate") {
        format!("{:.2}%", value * 100.0)
    } else {
        number(value)
    }
}

/// A number with about three significant digits.
pub(crate) fn number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.001 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// A mark for an outcome: `✓` pass, `✗` fail, `?` inconclusive.
pub(crate) fn mark(outcome: &str) -> char {
    match outcome {
        "pass" => '✓',
        "fail" => '✗',
        _ => '?',
    }
}

/// The verdict: a headline and one line per check, each indented by `indent`.
pub(crate) fn verdict(v: &Verdict, indent: &str) -> String {
    let mut s = format!("{} {}", mark(&v.outcome), v.outcome);
    if !v.reason.is_empty() {
        let _ = write!(s, ": {}", v.reason);
    }
    if let Some(score) = v.score
        && !v.reason.contains("score")
    {
        let _ = write!(s, " (score {})", number(score));
    }
    s.push('\n');
    let width = v.checks.iter().map(|c| c.name.chars().count()).max();
    for c in &v.checks {
        let name = format!("{:<w$}", c.name, w = width.unwrap_or(0));
        let _ = write!(s, "{indent}{} {name}  {}", mark(&c.outcome), c.outcome);
        if c.critical {
            s.push_str(" (critical)");
        }
        let side = |value: Option<f64>, samples: u64| match value {
            Some(x) => format!("{} (n={samples})", figure(&c.metric, x)),
            None => format!("- (n={samples})"),
        };
        let _ = write!(
            s,
            "  {}: candidate {}, baseline {}",
            c.metric,
            side(c.canary, c.canary_samples),
            side(c.baseline, c.baseline_samples)
        );
        if let Some(bound) = c.bound
            && c.kind == "threshold"
        {
            let _ = write!(s, ", limit {}", figure(&c.metric, bound));
        }
        s.push('\n');
        if !c.detail.is_empty() {
            let _ = writeln!(s, "{indent}    {}", c.detail);
        }
    }
    s
}

/// The command of an event, with a weight in percent: `set-weight 25%`.
pub(crate) fn command_of(e: &Event) -> Option<String> {
    let command = e.command()?;
    if command == "set-weight" {
        let bps = e
            .input
            .get("command")
            .and_then(|c| c.get("set_weight"))
            .and_then(|c| c.get("weight"))
            .and_then(serde_json::Value::as_f64);
        if let Some(bps) = bps {
            return Some(format!("set-weight {}", percent(bps / 100.0)));
        }
    }
    Some(command)
}

/// An event on one line: `#7 paused by alice: lunch -> paused, step 2, 25%`.
pub(crate) fn event(e: &Event) -> String {
    let mut s = format!("#{} {}", e.seq, e.kind);
    if let Some(by) = &e.by
        && !e.reason.contains(&format!("by {by}"))
    {
        let _ = write!(s, " by {by}");
    }
    if !e.reason.is_empty() {
        let _ = write!(s, ": {}", e.reason);
    }
    let _ = write!(s, " -> {}", phase_name(&e.phase));
    if let Some(step) = e.step {
        let _ = write!(s, ", step {}", step + 1);
    }
    let _ = write!(s, ", candidate {}", percent(e.weight));
    s
}

/// Events as a table: seq, time, kind, phase, step, weight, by, reason.
pub(crate) fn event_table(events: &[Event]) -> String {
    let rows: Vec<[String; 8]> = events
        .iter()
        .map(|e| {
            [
                e.seq.to_string(),
                clock(e.at),
                e.kind.clone(),
                phase_name(&e.phase),
                e.step
                    .map_or_else(|| "-".to_owned(), |s| (s + 1).to_string()),
                percent(e.weight),
                e.by.clone().unwrap_or_else(|| "-".to_owned()),
                match command_of(e) {
                    Some(c) if !e.reason.contains(&c) => format!("[{c}] {}", e.reason),
                    _ => e.reason.clone(),
                },
            ]
        })
        .collect();
    let head = [
        "SEQ", "AT", "KIND", "PHASE", "STEP", "WEIGHT", "BY", "REASON",
    ];
    let mut widths = head.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cells: &[&str]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else if i == 0 || i == 4 || i == 5 {
                let _ = write!(l, "{cell:>w$}  ", w = widths[i]);
            } else {
                let _ = write!(l, "{cell:<w$}  ", w = widths[i]);
            }
        }
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(&mut s, &head);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut s, &cells);
    }
    s
}

/// `fledge status`: where the rollout stands, on one screen.
pub(crate) fn status(st: &Status) -> String {
    let mut s = format!("{}: {} -> {}", st.name, st.baseline, st.candidate);
    if let Some(d) = &st.description {
        let _ = write!(s, " ({d})");
    }
    s.push('\n');
    let _ = writeln!(s, "  phase     {}", phase(st));
    let mut step = format!("{} {}", step_bar(st), step_progress(st));
    if let Some(current) = st.step.and_then(|i| st.steps.get(i)) {
        if !st.terminal && st.now >= st.since {
            let _ = write!(
                step,
                ", for {} of a {} bake",
                span(st.now - st.since),
                span(current.interval_ms)
            );
        }
        if current.approval {
            step.push_str(", needs approval");
        }
    }
    let _ = writeln!(s, "  step      {step}");
    let _ = writeln!(s, "  weights   {}", weights(st));
    match &st.verdict {
        Some(v) => {
            let _ = write!(s, "  verdict   {}", verdict(v, "    "));
        }
        None => s.push_str("  verdict   none yet\n"),
    }
    let c = &st.counters;
    let _ = writeln!(
        s,
        "  counters  {} event(s), {} failing evaluation(s) and {} inconclusive interval(s) in this step, attempt {}",
        c.events, c.failures, c.inconclusives, c.attempt
    );
    if let Some(e) = st.recent_events.last() {
        let ago = st.now.saturating_sub(e.at);
        let _ = writeln!(s, "  last      {} ({} ago)", event(e), span(ago));
    }
    s
}

/// A sparkline of `values` scaled from 0 to their largest; a gap for `None`.
pub(crate) fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|x| x.is_finite())
        .fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|v| match v {
            Some(x) if x.is_finite() => {
                if max <= 0.0 {
                    BARS[0]
                } else {
                    let i = (x.max(0.0) / max * 7.0).round();
                    // 0..=7 by construction.
                    BARS[(i as usize).min(7)]
                }
            }
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_read_like_plans() {
        assert_eq!(percent(25.0), "25%");
        assert_eq!(percent(12.5), "12.5%");
        assert_eq!(percent(0.05), "0.05%");
        assert_eq!(percent(100.0), "100%");
    }

    #[test]
    fn clocks_are_utc() {
        assert_eq!(clock(0), "1970-01-01 00:00:00Z");
        assert_eq!(clock(1_733_490_000_000), "2024-12-06 13:00:00Z");
        assert_eq!(clock(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(time_of_day(1_733_490_061_000), "13:01:01");
    }

    #[test]
    fn figures_have_units() {
        assert_eq!(figure("latency_p99", 9.0), "9.00ms");
        assert_eq!(figure("error_rate", 0.0042), "0.42%");
        assert_eq!(figure("abs_error", 1.02), "1.02");
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(0.5), "0.500");
    }

    #[test]
    fn sparklines_scale_to_the_largest() {
        assert_eq!(sparkline(&[Some(0.0), Some(7.0), None, Some(3.5)]), "▁█ ▅");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}
