//! `sequential` checks: the always-valid mixture SPRT on the data since the
//! step started (error rate as proportions, confirmed by the exact
//! always-valid conditional binomial test; means otherwise), and the state
//! it keeps across looks ([`CheckState`]).

use super::decide::{Looks, too_few};
use super::kind::Test;
use super::result::{CheckResult, Outcome};
use super::spec::CheckSpec;
use crate::explain::{self, number, p_value, percent};
use crate::kayenta::Direction;
use crate::metric::MetricRef;
use crate::stats::{self, AlwaysValid};
use crate::window::{Totals, Window};

/// Per-check state kept by the judge across evaluations.
#[derive(Debug, Clone)]
pub(crate) struct CheckState {
    pub(crate) sequential: Option<AlwaysValid>,
    /// Sequential error-rate checks: the running minimum, over this step's
    /// looks, of the exact always-valid test's p-values
    /// ([`stats::conditional_binomial_msprt`]), `[greater, less]`.
    pub(crate) exact: [f64; 2],
    /// Output checks: the tests run this step (alpha spent per look).
    pub(crate) looks: Looks,
}

impl CheckState {
    pub(crate) fn new(spec: &CheckSpec) -> CheckState {
        CheckState {
            sequential: match spec.test {
                Test::Sequential { alpha, .. } => Some(AlwaysValid::new(alpha)),
                _ => None,
            },
            exact: [1.0, 1.0],
            looks: Looks::default(),
        }
    }

    pub(crate) fn reset(&mut self) {
        if let Some(s) = &mut self.sequential {
            s.reset();
        }
        self.exact = [1.0, 1.0];
        self.looks = Looks::default();
    }
}

/// The canary's and the baseline's totals since the step started: since
/// `origin` (their totals at the step's start), or since the recorder was
/// created.
pub(super) fn since(
    canary: &Window,
    baseline: &Window,
    origin: Option<&(Totals, Totals)>,
) -> (Totals, Totals) {
    let empty = Totals::default();
    let (oc, ob) = origin.map_or((&empty, &empty), |(c, b)| (c, b));
    (canary.totals().since(oc), baseline.totals().since(ob))
}

/// Evaluates a `sequential` check on `since` (see [`since`]), one more look
/// for `state`.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    state: &mut CheckState,
    since: &(Totals, Totals),
    alpha: f64,
    tau: f64,
    direction: Direction,
) {
    let (tc, tb) = since;
    r.bound = Some(alpha);
    let mut exact = None;
    let look = match &spec.metric {
        MetricRef::ErrorRate => {
            r.canary_samples = tc.requests;
            r.baseline_samples = tb.requests;
            r.canary = (tc.requests > 0).then(|| tc.errors as f64 / tc.requests as f64);
            r.baseline = (tb.requests > 0).then(|| tb.errors as f64 / tb.requests as f64);
            if too_few(r, spec.min_samples, true) {
                return;
            }
            exact =
                stats::conditional_binomial_msprt(tc.errors, tc.requests, tb.errors, tb.requests)
                    .ok();
            stats::msprt_proportions(tc.errors, tc.requests, tb.errors, tb.requests, tau)
        }
        metric => {
            let (cm, bm) = match metric {
                MetricRef::Custom(name) => (
                    tc.metric(name).copied().unwrap_or_default(),
                    tb.metric(name).copied().unwrap_or_default(),
                ),
                _ => (tc.latency_ms, tb.latency_ms),
            };
            r.canary_samples = cm.count;
            r.baseline_samples = bm.count;
            r.canary = cm.mean();
            r.baseline = bm.mean();
            if too_few(r, spec.min_samples, true) {
                return;
            }
            stats::msprt_means(&cm, &bm, tau)
        }
    };
    let exact_min = &mut state.exact;
    let Some(av) = state.sequential.as_mut() else {
        r.detail = "internal: missing sequential state".to_owned();
        return;
    };
    let look = match look {
        Ok(look) => look,
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    av.observe(&look);
    r.p_value = Some(av.p_value);
    r.interval = Some([av.low, av.high]);
    let up = av.low > 0.0 && matches!(direction, Direction::Increase | Direction::Either);
    let down = av.high < 0.0 && matches!(direction, Direction::Decrease | Direction::Either);
    let mut bad = up || down;
    let mut confirmation = String::new();
    if let Some(e) = &exact {
        // Fail only when the exact always-valid test has rejected too, on
        // the side the mSPRT rejected (two-sided: alpha / 2 per side).
        exact_min[0] = exact_min[0].min(e.p_greater);
        exact_min[1] = exact_min[1].min(e.p_less);
        let level = match direction {
            Direction::Either => alpha / 2.0,
            _ => alpha,
        };
        bad = (up && exact_min[0] <= level) || (down && exact_min[1] <= level);
        let p_exact = match direction {
            Direction::Increase => exact_min[0],
            Direction::Decrease => exact_min[1],
            Direction::Either => exact_min[0].min(exact_min[1]),
        };
        confirmation = format!(
            "; exact always-valid test p = {} ({} of {} errors on the canary, share {})",
            p_value(p_exact),
            tc.errors,
            e.events,
            number(e.share)
        );
        if (up || down) && !bad {
            confirmation.push_str(&format!(
                " > {}: too few errors to confirm the mSPRT's rejection, not failed",
                number(level)
            ));
        }
        r.p_value = Some(av.p_value.max(p_exact));
    }
    r.outcome = if bad { Outcome::Fail } else { Outcome::Pass };
    let unit = spec.metric.unit();
    r.detail = format!(
        "since step start canary {} vs baseline {} ({} vs {} samples), difference {} with always-valid {} interval [{}, {}], p = {} (alpha {alpha}, tau {tau}, {} looks){confirmation}",
        explain::value(r.canary, unit),
        explain::value(r.baseline, unit),
        r.canary_samples,
        r.baseline_samples,
        number(look.difference),
        percent(1.0 - alpha),
        number(av.low),
        number(av.high),
        p_value(av.p_value),
        av.looks
    );
}
