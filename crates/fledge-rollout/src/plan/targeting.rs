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

use std::fmt;

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

/// A condition on one request header or attribute: the test of a targeting
/// rule ([`TargetRule`]), and of who enters an experiment's segment
/// (`fledge_experiment::Condition` is this type).
///
/// Exactly one of `header` and `attribute` is set. With `equals` the value must
/// be equal; with `in` it must be one of the list; with neither, the header or
/// attribute only has to be present. Serde: `{ attribute = "country", in =
/// ["fr", "de"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A request header to look at (e.g. `x-fledge-tester`; matched
    /// case-insensitively by the serving layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A request attribute to look at (a value the serving layer extracts:
    /// e.g. `region`, a tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The value must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The value must be one of these.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
}

impl Condition {
    fn on(header: Option<String>, attribute: Option<String>) -> Self {
        Condition {
            header,
            attribute,
            equals: None,
            one_of: None,
        }
    }

    fn equal_to(mut self, value: impl Into<String>) -> Self {
        self.equals = Some(value.into());
        self
    }

    fn one_of<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.one_of = Some(values.into_iter().map(Into::into).collect());
        self
    }

    /// Requests whose header `name` equals `value`.
    pub fn header_equals(name: impl Into<String>, value: impl Into<String>) -> Self {
        Condition::on(Some(name.into()), None).equal_to(value)
    }

    /// Requests whose header `name` is one of `values`.
    pub fn header_in<I, S>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Condition::on(Some(name.into()), None).one_of(values)
    }

    /// Requests whose attribute `name` equals `value`.
    pub fn attribute_equals(name: impl Into<String>, value: impl Into<String>) -> Self {
        Condition::on(None, Some(name.into())).equal_to(value)
    }

    /// Requests whose attribute `name` is one of `values`.
    pub fn attribute_in<I, S>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Condition::on(None, Some(name.into())).one_of(values)
    }

    /// Whether a request with these headers and attributes matches: the
    /// header (else the attribute) is present and, with `equals` or `in`,
    /// has the value or one of the values.
    pub fn matches<A: Attributes + ?Sized>(&self, request: &A) -> bool {
        let value = match (&self.header, &self.attribute) {
            (Some(h), _) => request.header(h),
            (None, Some(a)) => request.attribute(a),
            (None, None) => None,
        };
        let Some(value) = value else {
            return false;
        };
        match (&self.equals, &self.one_of) {
            (Some(expected), _) => value == expected,
            (None, Some(list)) => list.iter().any(|v| v == value),
            (None, None) => true,
        }
    }

    /// What is wrong with the condition's shape (both or neither of `header`
    /// and `attribute`, an invalid header name, both `equals` and `in`, an
    /// empty `in`), if anything.
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

/// `header x-tester = "true"`, `attribute region in ["eu-west-1"]`,
/// `header x-beta present`.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.header, &self.attribute) {
            (Some(h), _) => write!(f, "header {h}")?,
            (None, Some(a)) => write!(f, "attribute {a}")?,
            (None, None) => f.write_str("nothing")?,
        }
        match (&self.equals, &self.one_of) {
            (Some(v), _) => write!(f, " = {v:?}"),
            (None, Some(list)) => write!(f, " in {list:?}"),
            (None, None) => f.write_str(" present"),
        }
    }
}

/// One targeting rule: a [`Condition`] on a header or attribute, and the
/// version that matching requests go to.
///
/// In a plan it is written flat: `{ header = "x-fledge-tester", equals =
/// "true", version = "v2" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FlatRule", into = "FlatRule")]
pub struct TargetRule {
    /// Which requests the rule matches.
    pub condition: Condition,
    /// The version matching requests are sent to (the plan's baseline or candidate).
    pub version: VersionId,
}

/// A [`TargetRule`] as written: the condition's fields and `version`, side
/// by side (`#[serde(flatten)]` would not deny unknown fields).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    one_of: Option<Vec<String>>,
    version: VersionId,
}

impl From<FlatRule> for TargetRule {
    fn from(r: FlatRule) -> Self {
        TargetRule {
            condition: Condition {
                header: r.header,
                attribute: r.attribute,
                equals: r.equals,
                one_of: r.one_of,
            },
            version: r.version,
        }
    }
}

impl From<TargetRule> for FlatRule {
    fn from(r: TargetRule) -> Self {
        let Condition {
            header,
            attribute,
            equals,
            one_of,
        } = r.condition;
        FlatRule {
            header,
            attribute,
            equals,
            one_of,
            version: r.version,
        }
    }
}

impl TargetRule {
    /// Requests matching `condition` go to `version`.
    pub fn new(condition: Condition, version: VersionId) -> Self {
        TargetRule { condition, version }
    }

    /// A rule matching requests whose header `name` equals `value`.
    pub fn header_equals(
        name: impl Into<String>,
        value: impl Into<String>,
        version: VersionId,
    ) -> Self {
        TargetRule::new(Condition::header_equals(name, value), version)
    }

    /// A rule matching requests whose attribute `name` is one of `values`.
    pub fn attribute_in<I, S>(name: impl Into<String>, values: I, version: VersionId) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TargetRule::new(Condition::attribute_in(name, values), version)
    }

    /// A rule matching requests whose attribute `name` equals `value`.
    pub fn attribute_equals(
        name: impl Into<String>,
        value: impl Into<String>,
        version: VersionId,
    ) -> Self {
        TargetRule::new(Condition::attribute_equals(name, value), version)
    }

    /// Whether a request with these headers and attributes matches
    /// ([`Condition::matches`]).
    pub fn matches<A: Attributes + ?Sized>(&self, request: &A) -> bool {
        self.condition.matches(request)
    }

    /// What is wrong with the rule's condition ([`Condition::problem`]), if
    /// anything.
    pub fn problem(&self) -> Option<&'static str> {
        self.condition.problem()
    }
}

/// What is wrong with an HTTP header a configuration sets (a webhook's, a
/// Prometheus client's), if anything: the name must be a non-empty HTTP
/// token, the value visible ASCII, spaces and tabs.
///
/// ```
/// use fledge_rollout::plan::targeting::header_problem;
/// assert_eq!(header_problem("Authorization", "Bearer t0k3n"), None);
/// assert!(header_problem("bad header", "x").is_some());
/// assert!(header_problem("x-note", "line\nbreak").is_some());
/// ```
pub fn header_problem(name: &str, value: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("the name is empty");
    }
    if !name.bytes().all(is_header_char) {
        return Some("the name holds a character HTTP does not allow in header names");
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Some("the value holds a control or non-ASCII character");
    }
    None
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
        let mut present = tester.clone();
        present.condition.equals = None;
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
        r.condition.attribute = Some("a".into());
        assert!(r.problem().is_some());
        r.condition.attribute = None;
        r.condition.header = Some("bad header".into());
        assert!(r.problem().is_some());
        let mut r = TargetRule::attribute_in("region", Vec::<String>::new(), v2());
        assert!(r.problem().is_some());
        r.condition.one_of = Some(vec!["x".into()]);
        r.condition.equals = Some("x".into());
        assert!(r.problem().is_some());
    }

    #[test]
    fn rules_are_written_flat_and_conditions_describe_themselves() {
        let rule: TargetRule =
            toml::from_str("header = \"x-tester\"\nequals = \"true\"\nversion = \"v2\"").unwrap();
        assert_eq!(rule, TargetRule::header_equals("x-tester", "true", v2()));
        assert_eq!(
            toml::to_string(&rule).unwrap(),
            "header = \"x-tester\"\nequals = \"true\"\nversion = \"v2\"\n"
        );
        assert!(
            toml::from_str::<TargetRule>("header = \"x\"\nvalue = \"y\"\nversion = \"v2\"")
                .is_err()
        );
        let cond: Condition =
            toml::from_str("attribute = \"country\"\nin = [\"fr\", \"de\"]").unwrap();
        assert_eq!(cond, Condition::attribute_in("country", ["fr", "de"]));
        assert!(toml::from_str::<Condition>("attribute = \"a\"\nversion = \"v2\"").is_err());
        assert_eq!(cond.to_string(), r#"attribute country in ["fr", "de"]"#);
        assert_eq!(rule.condition.to_string(), r#"header x-tester = "true""#);
        assert_eq!(
            Condition::on(Some("x-beta".into()), None).to_string(),
            "header x-beta present"
        );
    }
}
