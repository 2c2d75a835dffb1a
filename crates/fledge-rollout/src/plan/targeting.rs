//! Targeting rules: send matching requests to a version regardless of weight.
//!
//! A rule looks at one request header or one request attribute (a value the
//! serving layer extracts, such as a region or a user's tier) and, when it
//! matches, forces a version:
//!
//! ```toml
//! targeting = [
//!   # testers always get the candidate, whatever the weight
//!   { header = "x-fledge-tester", equals = "true", version = "v2" },
//!   # the beta phase adds two regions
//!   { attribute = "region", in = ["eu-west-1", "eu-central-1"], version = "v2" },
//! ]
//! ```
//!
//! Rules are evaluated in order; the first that matches wins. They are active
//! while a rollout is running (not after it is promoted, rolled back or
//! aborted), so a rolled-back candidate gets no request at all.

use serde::{Deserialize, Serialize};

use fledge_select::VersionId;

/// Where a rule reads its value from: a header or an attribute of the request.
///
/// Implemented by the serving layer (`fledge-tower` looks headers up in the
/// `http` request; attributes come from a user-supplied extractor).
pub trait Attributes {
    /// The value of header `name` (matched case-insensitively by the
    /// implementation), if the request has it and it is valid text.
    fn header(&self, name: &str) -> Option<&str>;
    /// The value of attribute `name`, if known.
    fn attribute(&self, name: &str) -> Option<&str>;
}

/// No headers and no attributes: nothing matches.
impl Attributes for () {
    fn header(&self, _name: &str) -> Option<&str> {
        None
    }
    fn attribute(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// A slice of `(name, value)` pairs answers both headers (case-insensitively)
/// and attributes: handy in tests and simulations.
impl Attributes for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
    fn attribute(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// One targeting rule: a condition on a header or attribute, and the version
/// that matching requests go to.
///
/// Exactly one of `header` and `attribute` is set. With `equals` the value must
/// be equal; with `in` it must be one of the list; with neither, the header or
/// attribute only has to be present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRule {
    /// A request header to look at (e.g. `x-fledge-tester`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A request attribute to look at (e.g. `region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The value must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The value must be one of these.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    /// The version matching requests are sent to (the plan's baseline or candidate).
    pub version: VersionId,
}

impl TargetRule {
    /// A rule matching requests whose header `name` equals `value`.
    pub fn header_equals(
        name: impl Into<String>,
        value: impl Into<String>,
        version: VersionId,
    ) -> Self {
        TargetRule {
            header: Some(name.into()),
            attribute: None,
            equals: Some(value.into()),
            one_of: None,
            version,
        }
    }

    /// A rule matching requests whose attribute `name` is one of `values`.
    pub fn attribute_in<I, S>(name: impl Into<String>, values: I, version: VersionId) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TargetRule {
            header: None,
            attribute: Some(name.into()),
            equals: None,
            one_of: Some(values.into_iter().map(Into::into).collect()),
            version,
        }
    }

    /// A rule matching requests whose attribute `name` equals `value`.
    pub fn attribute_equals(
        name: impl Into<String>,
        value: impl Into<String>,
        version: VersionId,
    ) -> Self {
        TargetRule {
            header: None,
            attribute: Some(name.into()),
            equals: Some(value.into()),
            one_of: None,
            version,
        }
    }

    /// Whether a request with these headers and attributes matches.
    pub fn matches<A: Attributes + ?Sized>(&self, request: &A) -> bool {
        matches(
            request,
            self.header.as_deref(),
            self.attribute.as_deref(),
            self.equals.as_deref(),
            self.one_of.as_deref(),
        )
    }

    /// What is wrong with the rule's shape (both or neither of `header` and
    /// `attribute`, an invalid header name, both `equals` and `in`, an empty
    /// `in`), if anything.
    pub fn problem(&self) -> Option<&'static str> {
        match (&self.header, &self.attribute) {
            (Some(_), Some(_)) => {
                return Some("set either `header` or `attribute`, not both");
            }
            (None, None) => return Some("set `header` or `attribute`"),
            (Some(h), None) => {
                if h.is_empty() || !h.bytes().all(is_header_char) {
                    return Some(
                        "`header` must be a non-empty HTTP header name (letters, digits, `-`, `_`)",
                    );
                }
            }
            (None, Some(a)) => {
                if a.is_empty() {
                    return Some("`attribute` must not be empty");
                }
            }
        }
        match (&self.equals, &self.one_of) {
            (Some(_), Some(_)) => Some("set either `equals` or `in`, not both"),
            (None, Some(list)) if list.is_empty() => Some("`in` must list at least one value"),
            _ => None,
        }
    }
}

fn is_header_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// The test of a [`TargetRule`] (and of an experiment's segment condition,
/// which has no version): the header (else the attribute) is present and,
/// with `equals` or `one_of`, has the value or one of the values.
pub fn matches<A: Attributes + ?Sized>(
    request: &A,
    header: Option<&str>,
    attribute: Option<&str>,
    equals: Option<&str>,
    one_of: Option<&[String]>,
) -> bool {
    let value = match (header, attribute) {
        (Some(h), _) => request.header(h),
        (None, Some(a)) => request.attribute(a),
        (None, None) => None,
    };
    let Some(value) = value else {
        return false;
    };
    match (equals, one_of) {
        (Some(expected), _) => value == expected,
        (None, Some(list)) => list.iter().any(|v| v == value),
        (None, None) => true,
    }
}

/// The first rule in `rules` that matches `request`, if any.
pub fn first_match<'r, A: Attributes + ?Sized>(
    rules: &'r [TargetRule],
    request: &A,
) -> Option<&'r TargetRule> {
    rules.iter().find(|r| r.matches(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> VersionId {
        VersionId::new("v2").unwrap()
    }

    #[test]
    fn header_and_attribute_rules_match() {
        let tester = TargetRule::header_equals("x-tester", "true", v2());
        let region = TargetRule::attribute_in("region", ["eu-west-1", "eu-central-1"], v2());
        let req: &[(&str, &str)] = &[("X-Tester", "true"), ("region", "eu-west-1")];
        assert!(tester.matches(req));
        assert!(region.matches(req));
        let other: &[(&str, &str)] = &[("x-tester", "false"), ("region", "us-east-1")];
        assert!(!tester.matches(other));
        assert!(!region.matches(other));
        assert!(!tester.matches(&()));
        let present = TargetRule {
            equals: None,
            ..tester.clone()
        };
        assert!(present.matches(other));
        assert_eq!(
            first_match(&[tester, region], req).map(|r| r.version.as_str()),
            Some("v2")
        );
    }

    #[test]
    fn shape_problems_are_reported() {
        let mut r = TargetRule::header_equals("x-tester", "1", v2());
        assert_eq!(r.problem(), None);
        r.attribute = Some("a".into());
        assert!(r.problem().is_some());
        r.attribute = None;
        r.header = Some("bad header".into());
        assert!(r.problem().is_some());
        let mut r = TargetRule::attribute_in("region", Vec::<String>::new(), v2());
        assert!(r.problem().is_some());
        r.one_of = Some(vec!["x".into()]);
        r.equals = Some("x".into());
        assert!(r.problem().is_some());
    }
}
