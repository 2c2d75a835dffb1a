//! Fleet-wide windows: every replica's summary merged, with the share of
//! the fleet they cover, handed to the gates as a [`WindowSource`].

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fledge_gate::summary::SummaryMerge;
use fledge_gate::{RecorderError, Window, WindowSummary, clock::Timestamp};
use fledge_rollout::Controller;
use fledge_rollout::control::{WindowRequest, WindowSource, Windows};
use serde::{Deserialize, Serialize};

use crate::summaries::Reading;

/// The default floor: at least half the fleet's replicas must have
/// reported for a step to be judged.
pub const DEFAULT_COVERAGE_FLOOR: f64 = 0.5;
/// The default cap on custom-metric samples in a merged window.
pub const DEFAULT_MERGED_SAMPLES: usize = 4_096;

/// How many of the fleet's replicas a fleet-wide judgement counted, and
/// which it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Replicas whose summary was counted.
    pub counted: Vec<String>,
    /// Replicas known to the fleet whose summary was not counted, and why
    /// (`late: last summary 7.2 s ago`, `missing: no summary`,
    /// `unreadable: ...`).
    pub not_counted: Vec<(String, String)>,
    /// Requests in the merged windows of the candidate and the baseline.
    pub requests: u64,
    /// Of which the candidate's.
    pub candidate_requests: u64,
    /// The merged windows' start (the replicas' clocks, ms since the epoch).
    pub window_start_ms: u64,
    /// The merged windows' end.
    pub window_end_ms: u64,
    /// `counted / (counted + not counted)`.
    pub share: f64,
    /// The floor below which the step is not judged.
    pub floor: f64,
    /// How long reading the summaries took (Redis round trips), in ms.
    pub read_ms: f64,
    /// How long decoding and merging took, in ms.
    pub merge_ms: f64,
}

impl Coverage {
    /// Replicas counted.
    pub fn replicas_counted(&self) -> usize {
        self.counted.len()
    }

    /// Replicas known to the fleet (counted or not).
    pub fn replicas_known(&self) -> usize {
        self.counted.len() + self.not_counted.len()
    }

    /// Whether the share reaches the floor.
    pub fn is_enough(&self) -> bool {
        self.replicas_counted() > 0 && self.share + 1e-12 >= self.floor
    }

    /// One line: `fleet: 3/3 replicas, 12034 requests (candidate 602)`,
    /// followed by the replicas not counted.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "fleet: {}/{} replicas, {} requests (candidate {})",
            self.replicas_counted(),
            self.replicas_known(),
            self.requests,
            self.candidate_requests
        );
        if !self.not_counted.is_empty() {
            s.push_str("; not counted: ");
            for (i, (id, why)) in self.not_counted.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{id} ({why})");
            }
        }
        s
    }
}

/// What makes a replica's summary count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    /// A summary older than this is late (not counted).
    pub(crate) late_after: Duration,
    /// The floor on the share of replicas counted.
    pub(crate) floor: f64,
    /// Custom-metric samples kept per merged window.
    pub(crate) samples: usize,
}

/// The merged windows by version index, and their coverage.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    pub(crate) windows: Vec<Window>,
    pub(crate) coverage: Coverage,
}

/// Decodes and merges every fresh summary of `reading`.
pub(crate) fn merge(
    reading: &Reading,
    policy: &Policy,
    candidate: usize,
    baseline: usize,
) -> Merged {
    let started = Instant::now();
    let mut counted = Vec::new();
    let mut not_counted = Vec::new();
    let mut merge = SummaryMerge::new(policy.samples);
    for r in &reading.replicas {
        match &r.bytes {
            None => not_counted.push((r.id.clone(), "missing: no summary".to_owned())),
            Some(_) if r.age > policy.late_after => not_counted.push((
                r.id.clone(),
                format!("late: last summary {:.1} s ago", r.age.as_secs_f64()),
            )),
            Some(bytes) => match merge.add_encoded(bytes) {
                Ok(_) => counted.push(r.id.clone()),
                Err(e) => not_counted.push((r.id.clone(), format!("unreadable: {e}"))),
            },
        }
    }
    let now = Timestamp::from_millis(reading.server_time_ms);
    let mut windows = merge.finish(now);
    while windows.len() <= candidate.max(baseline) {
        windows.push(Window::empty(windows.len(), now));
    }
    let known = counted.len() + not_counted.len();
    let share = if known == 0 {
        0.0
    } else {
        counted.len() as f64 / known as f64
    };
    let c = windows.get(candidate);
    let b = windows.get(baseline);
    let candidate_requests = c.map_or(0, Window::requests);
    let requests = candidate_requests + b.map_or(0, Window::requests);
    let with_data: Vec<&Window> = [c, b]
        .into_iter()
        .flatten()
        .filter(|w| w.requests() > 0 || w.totals().requests > 0)
        .collect();
    let coverage = Coverage {
        counted,
        not_counted,
        requests,
        candidate_requests,
        window_start_ms: with_data
            .iter()
            .map(|w| w.start().as_millis())
            .min()
            .unwrap_or(0),
        window_end_ms: with_data
            .iter()
            .map(|w| w.end().as_millis())
            .max()
            .unwrap_or(0),
        share,
        floor: policy.floor,
        read_ms: reading.read_time.as_secs_f64() * 1e3,
        merge_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    Merged { windows, coverage }
}

/// The fleet's merged windows for the leader's gates: the leader reads
/// every replica's summary right before each tick and hands the merge
/// here; the controller's gate evaluator then judges it with the plan's
/// checks. Below the coverage floor, or when the summaries could not be
/// read, the step is Inconclusive with the reason (never Pass).
#[derive(Debug, Default)]
pub(crate) struct FleetWindows {
    prepared: Mutex<Option<Result<Merged, String>>>,
}

impl FleetWindows {
    pub(crate) fn set(&self, merged: Result<Merged, String>) {
        *self.prepared.lock().unwrap_or_else(PoisonError::into_inner) = Some(merged);
    }

    pub(crate) fn coverage(&self) -> Option<Coverage> {
        match &*self.prepared.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(Ok(m)) => Some(m.coverage.clone()),
            _ => None,
        }
    }
}

impl WindowSource for FleetWindows {
    fn windows(&self, request: &WindowRequest) -> Result<Windows, String> {
        let guard = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        match &*guard {
            None => Err("the fleet's window summaries were not read before this tick".into()),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(m)) => hand_over(m, request),
        }
    }
}

/// The merged windows `request` asks for, unless the coverage is below
/// its floor.
fn hand_over(merged: &Merged, request: &WindowRequest) -> Result<Windows, String> {
    let c = &merged.coverage;
    if !c.is_enough() {
        return Err(format!(
            "fleet coverage {}/{} replicas ({:.0} %) is below the floor of {:.0} %, so the step is not judged: {}",
            c.replicas_counted(),
            c.replicas_known(),
            c.share * 100.0,
            c.floor * 100.0,
            c.describe()
        ));
    }
    let window = |v: usize| {
        merged
            .windows
            .get(v)
            .cloned()
            .unwrap_or_else(|| Window::empty(v, request.now))
    };
    Ok(Windows {
        canary: window(request.candidate.get()),
        baseline: window(request.baseline.get()),
        note: Some(c.describe()),
    })
}

/// The latest reading (or why there is none), and when it was handed over.
type Latest = (Instant, Result<Arc<Reading>, String>);

/// A [`WindowSource`] over the latest [`Reading`] of a rollout's
/// [`Summaries`](crate::Summaries), for arrangements that read the
/// summaries themselves (fledge-registry's `RedisFleet` does, for each
/// registry rollout): whoever reads hands each reading to
/// [`set`](Self::set); the controller's gates then judge the fleet's
/// merged windows, exactly as a [`Member`](crate::Member)'s leader does.
///
/// The merge happens when the controller asks, for the versions it asks
/// about. A replica's summary counts when it is fresher than `late_after`
/// (its age at the reading plus the reading's own age); below the coverage
/// floor, with no reading, or with a reading older than `late_after`, the
/// step is Inconclusive with the reason (never Pass). The windows' note
/// says how many replicas and requests the verdict covers
/// ([`Coverage::describe`]).
#[derive(Debug)]
pub struct ReadingWindows {
    policy: Policy,
    reading: Mutex<Option<Latest>>,
    last: Mutex<Option<Coverage>>,
}

impl ReadingWindows {
    /// Summaries older than `late_after` are not counted; at least `floor`
    /// of the known replicas (clamped to `[0, 1]`; NaN: the default
    /// [`DEFAULT_COVERAGE_FLOOR`]) must be counted for a step to be judged.
    pub fn new(late_after: Duration, floor: f64) -> ReadingWindows {
        ReadingWindows {
            policy: Policy {
                late_after,
                floor: if floor.is_nan() {
                    DEFAULT_COVERAGE_FLOOR
                } else {
                    floor.clamp(0.0, 1.0)
                },
                samples: DEFAULT_MERGED_SAMPLES,
            },
            reading: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    /// Custom-metric samples a merged window keeps (default
    /// [`DEFAULT_MERGED_SAMPLES`]).
    pub fn merged_samples(mut self, samples: usize) -> ReadingWindows {
        self.policy.samples = samples;
        self
    }

    /// The latest reading of the summaries, or why there is none (Redis
    /// unreachable): the next judgement is Inconclusive with that reason.
    pub fn set(&self, reading: Result<Reading, String>) {
        *self.reading.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), reading.map(Arc::new)));
    }

    /// The coverage of the last windows handed to the controller.
    pub fn coverage(&self) -> Option<Coverage> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl WindowSource for ReadingWindows {
    fn windows(&self, request: &WindowRequest) -> Result<Windows, String> {
        let latest = self
            .reading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (at, reading) = match latest {
            None => return Err("the fleet's window summaries were not read yet".into()),
            Some((_, Err(e))) => return Err(e),
            Some((at, Ok(reading))) => (at, reading),
        };
        let since = at.elapsed();
        if since > self.policy.late_after {
            return Err(format!(
                "the fleet's window summaries were last read {:.1} s ago, so the step is not judged",
                since.as_secs_f64()
            ));
        }
        // Ages as of now: the reading's own age added.
        let mut reading = Reading::clone(&reading);
        for r in &mut reading.replicas {
            r.age += since;
        }
        let merged = merge(
            &reading,
            &self.policy,
            request.candidate.get(),
            request.baseline.get(),
        );
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(merged.coverage.clone());
        hand_over(&merged, request)
    }
}

/// The summary of `controller`'s recorder (the traffic this replica
/// served) over the span of the step in effect (the first step's before
/// any, the last's after all): what a replica publishes for the leader to
/// merge. `replica` names it, `seq` orders its summaries, `samples` caps
/// the custom-metric samples per version
/// ([`DEFAULT_SUMMARY_SAMPLES`](fledge_gate::summary::DEFAULT_SUMMARY_SAMPLES)
/// is the members' default).
///
/// # Errors
///
/// The recorder cannot give a window (see [`RecorderError`]).
pub fn controller_summary(
    controller: &Controller,
    replica: &str,
    seq: u64,
    samples: usize,
) -> Result<WindowSummary, RecorderError> {
    WindowSummary::from_recorder(
        controller.routing().recorder(),
        replica,
        seq,
        controller.now(),
        judged_span(controller),
        samples,
    )
}

/// The bake time of the step in effect (the first before any, the last
/// after all): the span the leader's gates judge.
pub(crate) fn judged_span(c: &Controller) -> Duration {
    let plan = c.checked_plan();
    let steps = plan.steps();
    let i = c
        .state()
        .step
        .unwrap_or(0)
        .min(steps.len().saturating_sub(1));
    steps.get(i).map_or(Duration::from_secs(60), |s| s.interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summaries::ReplicaReading;
    use fledge_gate::{Recorder, RecorderConfig, WindowSummary};
    use fledge_select::VersionIndex;

    fn summary(id: &str, n: u64) -> Vec<u8> {
        let r = Recorder::new(RecorderConfig::new(2)).unwrap();
        for i in 0..n {
            r.record((i % 2) as usize, Duration::from_millis(5), false);
        }
        WindowSummary::from_recorder(
            &r,
            id,
            1,
            Timestamp::from_millis(1_000_000),
            Duration::from_secs(10),
            8,
        )
        .unwrap()
        .encode()
    }

    fn reading(parts: Vec<(&str, u64, Option<Vec<u8>>)>) -> Reading {
        Reading {
            server_time_ms: 5_000,
            read_time: Duration::from_millis(1),
            replicas: parts
                .into_iter()
                .map(|(id, age, bytes)| ReplicaReading {
                    id: id.to_owned(),
                    age: Duration::from_millis(age),
                    bytes,
                })
                .collect(),
        }
    }

    const POLICY: Policy = Policy {
        late_after: Duration::from_secs(3),
        floor: 0.6,
        samples: 100,
    };

    fn request() -> WindowRequest {
        WindowRequest {
            candidate: VersionIndex::new(0).unwrap(),
            baseline: VersionIndex::new(1).unwrap(),
            now: Timestamp::from_millis(1_000_000),
            span: Duration::from_secs(10),
            step: 0,
            attempt: 0,
        }
    }

    #[test]
    fn counts_fresh_summaries_and_names_the_others() {
        let m = merge(
            &reading(vec![
                ("a", 100, Some(summary("a", 100))),
                ("b", 200, Some(summary("b", 300))),
                ("c", 9_000, Some(summary("c", 50))),
                ("d", 100, None),
                ("e", 100, Some(b"garbage".to_vec())),
            ]),
            &POLICY,
            0,
            1,
        );
        let c = &m.coverage;
        assert_eq!(c.counted, ["a", "b"]);
        assert_eq!(c.requests, 400);
        assert_eq!(c.candidate_requests, 200);
        assert_eq!(c.replicas_known(), 5);
        assert!((c.share - 0.4).abs() < 1e-9);
        let text = c.describe();
        assert!(text.contains("c (late: last summary 9.0 s ago)"), "{text}");
        assert!(text.contains("d (missing: no summary)"), "{text}");
        assert!(
            text.contains("e (unreadable: not a window summary"),
            "{text}"
        );
        let source = FleetWindows::default();
        source.set(Ok(m));
        let err = source.windows(&request()).unwrap_err();
        assert!(err.contains("below the floor of 60 %"), "{err}");
    }

    #[test]
    fn hands_over_merged_windows() {
        let m = merge(
            &reading(vec![
                ("a", 100, Some(summary("a", 100))),
                ("b", 200, Some(summary("b", 300))),
            ]),
            &POLICY,
            0,
            1,
        );
        let source = FleetWindows::default();
        assert!(source.windows(&request()).is_err());
        source.set(Ok(m));
        let w = source.windows(&request()).unwrap();
        assert_eq!(w.canary.requests(), 200);
        assert_eq!(w.baseline.requests(), 200);
        assert_eq!(w.canary.version(), 0);
        assert_eq!(w.baseline.version(), 1);
        assert!(
            w.note
                .unwrap()
                .starts_with("fleet: 2/2 replicas, 400 requests")
        );
        source.set(Err("cannot read".into()));
        assert_eq!(source.windows(&request()).unwrap_err(), "cannot read");
    }

    #[test]
    fn reading_windows_merge_the_latest_reading_when_asked() {
        let source = ReadingWindows::new(Duration::from_secs(3), 0.6);
        let err = source.windows(&request()).unwrap_err();
        assert!(err.contains("not read yet"), "{err}");
        source.set(Ok(reading(vec![
            ("a", 100, Some(summary("a", 100))),
            ("b", 200, Some(summary("b", 300))),
            ("c", 100, None),
        ])));
        let w = source.windows(&request()).unwrap();
        assert_eq!(w.canary.requests(), 200);
        assert_eq!(w.baseline.requests(), 200);
        let note = w.note.unwrap();
        assert!(
            note.starts_with("fleet: 2/3 replicas, 400 requests (candidate 200)"),
            "{note}"
        );
        assert!(note.contains("c (missing: no summary)"), "{note}");
        assert_eq!(source.coverage().unwrap().replicas_counted(), 2);
        source.set(Ok(reading(vec![
            ("a", 100, Some(summary("a", 100))),
            ("b", 9_000, Some(summary("b", 300))),
        ])));
        let err = source.windows(&request()).unwrap_err();
        assert!(err.contains("below the floor of 60 %"), "{err}");
        source.set(Err("cannot read".into()));
        assert_eq!(source.windows(&request()).unwrap_err(), "cannot read");
    }

    #[test]
    fn an_empty_fleet_is_not_enough() {
        let m = merge(&reading(vec![]), &POLICY, 0, 1);
        assert!(!m.coverage.is_enough());
        assert_eq!(m.windows.len(), 2);
    }
}
