//! `fledge watch`: a live view of a rollout until it ends.
//!
//! On a terminal the view is redrawn in place (the terminal's alternate
//! screen, cursor hidden; both restored on exit and on Ctrl-C) and the last
//! view stays on the screen. Piped, it prints one line per change (phase,
//! step, weight, verdict), not one per poll. It exits when the rollout
//! reaches a terminal phase, with the exit code of `fledge wait`: 0
//! promoted, 1 rolled back or aborted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::Failure;
use crate::api::{ApiError, Series, SeriesPoint, Status};
use crate::connect::{self, Conn, Target};
use crate::poll::{self, Poller};
use crate::{out, render};

/// Points kept for the sparklines.
const WINDOW: usize = 30;

/// Arguments of `fledge watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How often to ask the API.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = connect::duration)]
    interval: Duration,
    /// `live` redraws a view in place, `lines` prints a line per change;
    /// `auto` is live on a terminal, lines when piped.
    #[arg(long, value_enum, default_value_t = Display::Auto)]
    display: Display,
    #[command(flatten)]
    conn: Conn,
}

/// How to show the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Display {
    Auto,
    Live,
    Lines,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let target = args.conn.target()?;
    let live = match args.display {
        Display::Auto => io::stdout().is_terminal(),
        Display::Live => true,
        Display::Lines => false,
    };
    let interval = args.interval.max(Duration::from_millis(50));
    if live {
        live_view(target, interval)
    } else {
        lines(target, interval)
    }
}

/// Piped: one line per change.
fn lines(target: Target, interval: Duration) -> Result<(), Failure> {
    let mut poller = Poller::new(target);
    let mut last = None;
    let mut failing = false;
    loop {
        match poller.status()? {
            Ok(status) => {
                failing = false;
                let (key, line) = poll::line(&status);
                if last.as_ref() != Some(&key) {
                    out::print(&format!("{line}\n"))?;
                    last = Some(key);
                }
                if status.terminal {
                    return poll::settle(&status);
                }
            }
            Err(e) => {
                // Once per outage, not once per poll.
                if !failing {
                    out::print(&format!("no answer: {e}; asking again\n"))?;
                }
                failing = true;
            }
        }
        std::thread::sleep(interval);
    }
}

/// On a terminal: the view redrawn in place.
fn live_view(target: Target, interval: Duration) -> Result<(), Failure> {
    let mut figures = Figures::default();
    let mut poller = Poller::new(target);
    // The first answer comes before the screen changes: a wrong URL or
    // token is an error on a normal screen.
    let mut status = poller.status()??;
    let screen = Screen::enter()?;
    let mut note: Option<String> = None;
    loop {
        figures.poll_series(&poller.target, &status);
        figures.note_picks(&status);
        let frame = frame(&status, &figures, note.as_deref(), interval);
        if status.terminal {
            drop(screen);
            out::print(&frame)?;
            return poll::settle(&status);
        }
        screen.draw(&frame)?;
        std::thread::sleep(interval);
        match poller.status()? {
            Ok(next) => {
                status = next;
                note = None;
            }
            Err(e) => note = Some(format!("no answer: {e}; asking again")),
        }
    }
}

/// The terminal in live mode: alternate screen, cursor hidden. Dropping it
/// (or Ctrl-C) restores both.
#[derive(Debug)]
struct Screen;

/// Leaves the alternate screen and shows the cursor.
const RESTORE: &str = "\x1b[?25h\x1b[?1049l";

impl Screen {
    fn enter() -> Result<Screen, Failure> {
        // Ctrl-C (and SIGTERM, SIGHUP): put the terminal back, exit 130.
        // Set once per process; a second `watch` in one process cannot happen.
        let _ = ctrlc::set_handler(|| {
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(RESTORE.as_bytes());
            let _ = stdout.flush();
            std::process::exit(130);
        });
        out::print("\x1b[?1049h\x1b[?25l")?;
        Ok(Screen)
    }

    /// Draws `frame` over the last one: home, each line cleared to its end,
    /// the rest of the screen cleared.
    fn draw(&self, frame: &str) -> Result<(), Failure> {
        let mut s = String::from("\x1b[H");
        for line in frame.lines() {
            let _ = writeln!(s, "{line}\x1b[K");
        }
        s.push_str("\x1b[J");
        out::print(&s)?;
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = out::print(RESTORE);
    }
}

/// What the view knows beyond the latest status: the series (if the API
/// serves it) and the selector's counts at the last poll.
#[derive(Debug, Default)]
struct Figures {
    /// `None` before the first try, `Some(false)` when the API lacks the route.
    series_served: Option<bool>,
    series_error: Option<String>,
    next: Option<u64>,
    points: VecDeque<SeriesPoint>,
    series: Series,
    /// Requests per version at the last poll, and when.
    picks: Option<(Instant, BTreeMap<String, u64>)>,
    /// Requests per second per version between the last two polls.
    rates: BTreeMap<String, f64>,
}

impl Figures {
    fn poll_series(&mut self, target: &Target, status: &Status) {
        if self.series_served == Some(false) {
            return;
        }
        let since = self.next.unwrap_or(0);
        match target
            .client
            .get::<Series>(&target.path(&format!("/series?since={since}")))
        {
            Ok((page, _)) => {
                self.series_served = Some(true);
                self.series_error = None;
                let last_at = self.points.back().map(|p| p.at);
                for point in &page.points {
                    if last_at.is_none_or(|at| point.at > at) {
                        self.points.push_back(point.clone());
                    }
                }
                while self.points.len() > WINDOW {
                    self.points.pop_front();
                }
                self.next = page.next.or(self.points.back().map(|p| p.at)).or(self.next);
                self.series = Series {
                    points: Vec::new(),
                    ..page
                };
            }
            Err(e) if e.is_missing_route() => self.series_served = Some(false),
            Err(ApiError::UnknownRollout(_)) if status.terminal => {}
            Err(e) => self.series_error = Some(e.to_string()),
        }
    }

    fn note_picks(&mut self, status: &Status) {
        let now = Instant::now();
        let picks: BTreeMap<String, u64> = status
            .weights
            .iter()
            .map(|w| (w.version.clone(), w.picks))
            .collect();
        if let Some((then, before)) = &self.picks {
            let secs = now.duration_since(*then).as_secs_f64();
            if secs > 0.0 {
                self.rates = picks
                    .iter()
                    .filter_map(|(v, &n)| {
                        let before = before.get(v)?;
                        Some((v.clone(), n.saturating_sub(*before) as f64 / secs))
                    })
                    .collect();
            }
        }
        self.picks = Some((now, picks));
    }

    fn has_series(&self) -> bool {
        self.series_served == Some(true) && !self.points.is_empty()
    }

    /// The versions, candidate first.
    fn versions(&self, status: &Status) -> Vec<String> {
        let mut versions = vec![status.candidate.clone(), status.baseline.clone()];
        for v in self
            .series
            .versions
            .iter()
            .chain(status.weights.iter().map(|w| &w.version))
        {
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
        versions.retain(|v| !v.is_empty());
        versions
    }

    /// The gate's bound on `metric`, for a column's title.
    fn limit(&self, metric: &str, status: &Status) -> Option<String> {
        let from_series = self.series.limits.iter().find(|l| l.metric == metric);
        if let Some(l) = from_series {
            return match (l.min, l.max) {
                (_, Some(max)) => Some(format!("≤{}", render::figure(metric, max))),
                (Some(min), None) => Some(format!("≥{}", render::figure(metric, min))),
                (None, None) => None,
            };
        }
        let check = status
            .verdict
            .as_ref()?
            .checks
            .iter()
            .find(|c| c.metric == metric && c.kind == "threshold" && c.bound.is_some())?;
        Some(format!("≤{}", render::figure(metric, check.bound?)))
    }

    /// The table of figures: one row per version, one column per figure,
    /// each a latest value and (with the series) a sparkline.
    fn table(&self, status: &Status) -> String {
        let versions = self.versions(status);
        // (title, metric for units and limits, value of a version in a point)
        type Get = Box<dyn Fn(&SeriesPoint, &str) -> Option<f64>>;
        let mut columns: Vec<(String, String, Get)> = vec![
            (
                "req/s".to_owned(),
                String::new(),
                Box::new(|p: &SeriesPoint, v: &str| p.version(v)?.rate(p.span_ms)),
            ),
            (
                "errors".to_owned(),
                "error_rate".to_owned(),
                Box::new(|p: &SeriesPoint, v: &str| p.version(v)?.error_rate()),
            ),
            (
                "p99".to_owned(),
                "latency_p99".to_owned(),
                Box::new(|p: &SeriesPoint, v: &str| p.version(v)?.p99_ms),
            ),
        ];
        let mut metrics = BTreeSet::new();
        if self.has_series() {
            for p in &self.points {
                for v in &p.versions {
                    metrics.extend(v.metrics.keys().cloned());
                }
            }
        } else if let Some(verdict) = &status.verdict {
            for c in &verdict.checks {
                if !matches!(c.metric.as_str(), "error_rate" | "latency_p99" | "") {
                    metrics.insert(c.metric.clone());
                }
            }
        }
        for m in metrics {
            let key = m.clone();
            columns.push((
                m.clone(),
                m,
                Box::new(move |p: &SeriesPoint, v: &str| p.version(v)?.metrics.get(&key)?.mean),
            ));
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut head = vec!["version".to_owned()];
        for (title, metric, _) in &columns {
            match self.limit(metric, status) {
                Some(limit) if !metric.is_empty() => head.push(format!("{title} ({limit})")),
                _ => head.push(title.clone()),
            }
        }
        rows.push(head);
        for v in &versions {
            let role = if *v == status.candidate {
                "candidate"
            } else if *v == status.baseline {
                "baseline"
            } else {
                ""
            };
            let mut row = vec![format!("{v} {role}").trim_end().to_owned()];
            for (title, metric, get) in &columns {
                row.push(if self.has_series() {
                    let values: Vec<Option<f64>> = self.points.iter().map(|p| get(p, v)).collect();
                    let latest = values.iter().rev().flatten().next().copied();
                    let value = latest.map_or_else(|| "-".to_owned(), |x| show(metric, x));
                    format!("{value:>8} {}", render::sparkline(&values))
                } else {
                    self.figure_of_status(status, v, title, metric)
                });
            }
            rows.push(row);
        }
        table(&rows)
    }

    /// A figure without the series: req/s from the selector's counts, the
    /// rest from the last verdict's checks.
    fn figure_of_status(
        &self,
        status: &Status,
        version: &str,
        title: &str,
        metric: &str,
    ) -> String {
        if title == "req/s" {
            return self
                .rates
                .get(version)
                .map_or_else(|| "-".to_owned(), |r| render::number(*r));
        }
        let check = status
            .verdict
            .as_ref()
            .and_then(|v| v.checks.iter().find(|c| c.metric == metric));
        let value = check.and_then(|c| {
            if version == status.candidate {
                c.canary
            } else if version == status.baseline {
                c.baseline
            } else {
                None
            }
        });
        value.map_or_else(|| "-".to_owned(), |x| show(metric, x))
    }
}

/// A figure in a table cell.
fn show(metric: &str, x: f64) -> String {
    if metric.is_empty() {
        render::number(x)
    } else {
        render::figure(metric, x)
    }
}

/// Rows as columns two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// The whole view.
fn frame(status: &Status, figures: &Figures, note: Option<&str>, interval: Duration) -> String {
    let mut s = format!(
        "{}: {} -> {}    {}\n",
        status.name,
        status.baseline,
        status.candidate,
        render::clock(status.now)
    );
    let _ = writeln!(s, "  phase    {}", render::phase(status));
    let mut step = format!(
        "{} {}",
        render::step_bar(status),
        render::step_progress(status)
    );
    if let Some(current) = status.step.and_then(|i| status.steps.get(i))
        && !status.terminal
        && status.now >= status.since
    {
        let _ = write!(
            step,
            ", for {} of a {} bake",
            render::span(status.now - status.since),
            render::span(current.interval_ms)
        );
    }
    let _ = writeln!(s, "  step     {step}");
    let _ = writeln!(s, "  weights  {}", render::weights(status));
    s.push('\n');
    for line in figures.table(status).lines() {
        let _ = writeln!(s, "  {line}");
    }
    s.push('\n');
    match &status.verdict {
        Some(v) => {
            let _ = write!(s, "  verdict  {}", render::verdict(v, "    "));
        }
        None => s.push_str("  verdict  none yet\n"),
    }
    if let Some(e) = status.recent_events.last() {
        let _ = writeln!(s, "  last     {}", render::event(e));
    }
    s.push('\n');
    let source = match figures.series_served {
        Some(true) => "figures per span from the series".to_owned(),
        Some(false) => {
            "this API serves no series: req/s from the selector, the rest from the last verdict"
                .to_owned()
        }
        None => String::new(),
    };
    if status.terminal {
        let _ = writeln!(s, "  {source}");
    } else {
        let every = render::span(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
        let _ = writeln!(s, "  every {every}; Ctrl-C to stop. {source}");
    }
    if let Some(e) = &figures.series_error {
        let _ = writeln!(s, "  series: {e}");
    }
    if let Some(note) = note {
        let _ = writeln!(s, "  {note}");
    }
    s
}
