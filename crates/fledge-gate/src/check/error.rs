//! [`SpecError`]: why a check or judge specification was rejected.

use super::kind::CheckKind;

/// Why a check or judge specification was rejected. Every version names the
/// check (its label) and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A required field is missing.
    #[error("check `{check}` (kind `{kind}`): missing field `{field}`: {hint}")]
    Missing {
        /// The check's label.
        check: String,
        /// Its kind.
        kind: CheckKind,
        /// The missing field.
        field: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// A field was given that the kind does not use.
    #[error("check `{check}` (kind `{kind}`): field `{field}` does not apply to this kind")]
    NotApplicable {
        /// The check's label.
        check: String,
        /// Its kind.
        kind: CheckKind,
        /// The field.
        field: &'static str,
    },
    /// A field's value is out of range.
    #[error("check `{check}`: field `{field}` = {value} is invalid: expected {expected}")]
    Invalid {
        /// The check's label.
        check: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// The metric cannot be used with the kind.
    #[error(
        "check `{check}`: field `metric` = `{metric}` does not work with kind `{kind}`: {hint}"
    )]
    MetricNotSupported {
        /// The check's label.
        check: String,
        /// The metric.
        metric: String,
        /// The kind.
        kind: CheckKind,
        /// What to use instead.
        hint: &'static str,
    },
    /// A judge-level field is out of range.
    #[error("judge: field `{field}` = {value} is invalid: expected {expected}")]
    Judge {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
    /// Two checks share a label.
    #[error("two checks are labelled `{0}`: give them distinct `name`s")]
    DuplicateName(String),
}
