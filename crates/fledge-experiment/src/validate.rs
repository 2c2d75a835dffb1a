//! Checks shared by the experiments: ids, metrics, alpha, the sticky
//! bucketer. A leaf: it imports no engine.

use std::collections::HashSet;

use fledge_rollout::plan::Sticky;
use fledge_select::{MAX_VERSIONS, VersionId};
use fledge_sticky::Bucketer;

use crate::error::ExperimentError;
use crate::metric::MetricSpec;

/// The sticky bucketer of an experiment from its settings.
pub(crate) fn bucketer(sticky: &Sticky, default_salt: String) -> Result<Bucketer, ExperimentError> {
    let mode = sticky.mode().map_err(|_| ExperimentError::UnknownHash {
        hash: sticky.hash.clone().unwrap_or_default(),
    })?;
    let salt = sticky.salt.clone().unwrap_or(default_salt);
    if salt.is_empty() {
        return Err(ExperimentError::EmptySalt);
    }
    Ok(Bucketer::new(mode, &salt))
}

/// Checks a list of variant ids: count and uniqueness.
pub(crate) fn check_ids<'a>(
    ids: impl IntoIterator<Item = &'a VersionId>,
    strategy: &'static str,
    what: &'static str,
) -> Result<usize, ExperimentError> {
    let mut seen = HashSet::new();
    let mut count = 0;
    for id in ids {
        if !seen.insert(id.as_str()) {
            return Err(ExperimentError::DuplicateVariant { id: id.to_string() });
        }
        count += 1;
    }
    if count < 2 {
        return Err(ExperimentError::TooFewVariants {
            strategy,
            count,
            min: 2,
            what,
        });
    }
    if count > MAX_VERSIONS {
        return Err(ExperimentError::TooManyVariants {
            count,
            max: MAX_VERSIONS,
        });
    }
    Ok(count)
}

/// Checks the metrics: at least one, valid and distinct names.
pub(crate) fn check_metrics(metrics: &[MetricSpec]) -> Result<(), ExperimentError> {
    if metrics.is_empty() {
        return Err(ExperimentError::NoMetric);
    }
    for (i, m) in metrics.iter().enumerate() {
        m.validate()?;
        if metrics[..i].iter().any(|o| o.name == m.name) {
            return Err(ExperimentError::BadMetric {
                name: m.name.clone(),
                problem: "listed twice".to_owned(),
            });
        }
    }
    Ok(())
}

pub(crate) fn check_alpha(alpha: f64) -> Result<(), ExperimentError> {
    if alpha > 0.0 && alpha < 0.5 {
        Ok(())
    } else {
        Err(ExperimentError::range(
            "alpha",
            alpha,
            "a significance level in (0, 0.5), e.g. 0.05",
        ))
    }
}
