//! Plumbing shared by the fledge examples: serving on loopback, an HTTP
//! client, sending batches of requests, following a rollout tick by tick,
//! and table printing. The story of each example (plans, models, gates)
//! stays in the example.
//!
//! The examples themselves are the `[[example]]` targets of this package; run
//! them from the repository root with `cargo run --release --example NAME`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fledge::Controller;
use fledge::gate::Window;
use fledge::rollout::control::{ControlError, TickReport};
use fledge::rollout::machine::Phase;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An HTTP/1 client for the load generators.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new [`HttpClient`].
pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Serves `app` on `addr` on a spawned task; returns the bound address.
pub async fn serve(addr: SocketAddr, app: axum::Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("server error: {e}");
        }
    });
    Ok(addr)
}

/// [`serve`] on a free loopback port.
pub async fn serve_loopback(app: axum::Router) -> std::io::Result<SocketAddr> {
    serve(SocketAddr::from(([127, 0, 0, 1], 0)), app).await
}

/// A `clap` value parser for durations such as `4s`, `500ms`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    fledge::rollout::duration::parse(text).map_err(|e| e.to_string())
}

/// The numbers of a comma-separated series (what is not a number is skipped).
pub fn parse_series(body: &[u8]) -> Vec<f64> {
    std::str::from_utf8(body)
        .unwrap_or("")
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect()
}

/// A JSON `POST` to `url`, as `user` (`x-user-id`) if given.
pub fn post_json(
    url: &str,
    user: Option<&str>,
    body: &serde_json::Value,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let mut req = Request::post(url).header("content-type", "application/json");
    if let Some(user) = user {
        req = req.header("x-user-id", user);
    }
    req.body(Full::new(Bytes::from(body.to_string())))
}

/// Sends `reqs`, 32 at a time, reading every body; returns, in order, the
/// version that answered each (`x-fledge-version`, empty without one) and
/// its status.
pub async fn send_all(
    client: &HttpClient,
    reqs: Vec<Request<Full<Bytes>>>,
) -> Result<Vec<(String, StatusCode)>, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(reqs.len());
    let mut reqs = reqs.into_iter();
    loop {
        let chunk: Vec<_> = reqs.by_ref().take(32).collect();
        if chunk.is_empty() {
            return Ok(out);
        }
        let calls = chunk.into_iter().map(|r| client.request(r));
        for res in futures::future::join_all(calls).await {
            let res = res?;
            let version = res
                .headers()
                .get("x-fledge-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let status = res.status();
            let _ = res.into_body().collect().await?;
            out.push((version, status));
        }
    }
}

/// How a finished rollout ended (`promoted`, `rolled back (why)`,
/// `aborted (why)`); `None` while it runs.
pub fn ending(phase: &Phase) -> Option<String> {
    match phase {
        Phase::Promoted => Some("promoted".to_owned()),
        Phase::RolledBack { reason, .. } => Some(format!("rolled back ({reason})")),
        Phase::Aborted { reason, .. } => Some(format!("aborted ({reason})")),
        _ => None,
    }
}

/// The tick's verdict in at most `max` characters (`baking` without one).
pub fn verdict(report: &TickReport, max: usize) -> String {
    report
        .judgement
        .as_ref()
        .map_or_else(|| "baking".to_owned(), |j| j.to_string())
        .chars()
        .take(max)
        .collect()
}

/// Ticks `controller` once a second until the rollout ends or `limit` has
/// passed, printing one line per tick: the time, the candidate's weight,
/// `stats` of the baseline's and the candidate's windows since the step
/// started, and the verdict. Returns how it ended.
pub async fn follow(
    controller: &Controller,
    limit: Duration,
    stats: impl Fn(&Window) -> String,
) -> Result<String, ControlError> {
    let plan = controller.plan();
    let routing = controller.routing();
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let report = controller.tick_now()?;
        let state = &report.state;
        let span = report
            .now
            .duration_since(state.since)
            .max(Duration::from_secs(1));
        let line = |id: &str| {
            let index = routing.index_of(id).map_or(0, |i| i.get());
            match routing.recorder().window(index, report.now, span) {
                Ok(w) => format!("{id} {}", stats(&w)),
                Err(_) => format!("{id} -"),
            }
        };
        println!(
            "[{:>4.1}s] {} {:>5.1}% | {} | {} | {}",
            started.elapsed().as_secs_f64(),
            plan.candidate,
            state.traffic.candidate.percent(),
            line(plan.baseline.as_str()),
            line(plan.candidate.as_str()),
            verdict(&report, 80),
        );
        if let Some(end) = ending(&state.phase) {
            return Ok(end);
        }
        if started.elapsed() > limit {
            return Ok("unfinished (deadline reached)".to_owned());
        }
    }
}

/// A plain-text table with left-aligned first column and right-aligned others,
/// as the simulation examples print it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Starts a table with the given column headings.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells print empty, extra cells are kept.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// Renders the table with a separator line under the header.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.header.len()))
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for line in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let render_line = |line: &[String], out: &mut String| {
            for (i, width) in widths.iter().enumerate() {
                let cell = line.get(i).map(String::as_str).unwrap_or("");
                if i > 0 {
                    out.push_str("  ");
                }
                if i == 0 {
                    let _ = write!(out, "{cell:<width$}");
                } else {
                    let _ = write!(out, "{cell:>width$}");
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        };
        render_line(&self.header, &mut out);
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            render_line(row, &mut out);
        }
        out
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(["gate", "rate"]);
        t.row(["sequential", "0.01"]).row(["mw", "0.125"]);
        assert_eq!(
            t.render(),
            "gate         rate\n-----------------\nsequential   0.01\nmw          0.125\n"
        );
    }
}
