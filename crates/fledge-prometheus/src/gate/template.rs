//! Query templates: the placeholders `{rollout}`, `{baseline}`,
//! `{candidate}`, `{version}` and `{interval}`, expanded with their values
//! escaped for a double-quoted PromQL string.

use std::time::Duration;

/// Writes a duration as PromQL reads it: `90s`, or `1500ms` below whole
/// seconds (at least `1ms`).
pub fn promql_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

/// The values placeholders stand for in one query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vars<'a> {
    /// `{rollout}`: the plan's name.
    pub(crate) rollout: &'a str,
    /// `{baseline}`: the baseline's id.
    pub(crate) baseline: &'a str,
    /// `{candidate}`: the candidate's id.
    pub(crate) candidate: &'a str,
    /// `{version}`: the side this query is for.
    pub(crate) version: &'a str,
    /// `{interval}`: a PromQL duration (`30s`), inserted as it is.
    pub(crate) interval: &'a str,
}

/// Appends `value` escaped for the inside of a double-quoted PromQL string
/// (label values: `rollout="{rollout}"`): `\` and `"` are escaped, and so
/// are line breaks and tabs. Version ids (letters, digits, `-`, `_`, `.`)
/// come out unchanged; a plan's name may hold anything.
fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

/// Expands the placeholders of `template`. Other braces, such as label
/// matchers, are left alone.
pub(crate) fn render(template: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let known = [
            ("{rollout}", vars.rollout, true),
            ("{baseline}", vars.baseline, true),
            ("{candidate}", vars.candidate, true),
            ("{version}", vars.version, true),
            ("{interval}", vars.interval, false),
        ]
        .into_iter()
        .find(|(name, _, _)| after.starts_with(name));
        match known {
            Some((name, value, escape)) => {
                if escape {
                    push_escaped(&mut out, value);
                } else {
                    out.push_str(value);
                }
                rest = &after[name.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            rollout: "checkout",
            baseline: "v1",
            candidate: "v2",
            version: "v2",
            interval: "30s",
        }
    }

    #[test]
    fn placeholders() {
        let q = r#"sum(rate(x{rollout="{rollout}",version="{version}"}[{interval}])) / on() y{v=~"{baseline}|{candidate}"} {unknown} {"#;
        assert_eq!(
            render(q, &vars()),
            r#"sum(rate(x{rollout="checkout",version="v2"}[30s])) / on() y{v=~"v1|v2"} {unknown} {"#
        );
        assert_eq!(render("", &vars()), "");
        assert_eq!(render("{{version}}", &vars()), "{v2}");
    }

    #[test]
    fn values_are_escaped_for_a_quoted_string() {
        let vars = Vars {
            rollout: "say \"hi\" \\ bye\n",
            ..vars()
        };
        assert_eq!(
            render(r#"x{rollout="{rollout}"}"#, &vars),
            r#"x{rollout="say \"hi\" \\ bye\n"}"#
        );
        // Ids as fledge-select allows them come out unchanged.
        let ids = Vars {
            baseline: "model-1.2_b",
            version: "model-1.2_b",
            ..vars
        };
        assert_eq!(
            render("{baseline}/{version}", &ids),
            "model-1.2_b/model-1.2_b"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(promql_duration(Duration::from_secs(90)), "90s");
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(promql_duration(Duration::ZERO), "1ms");
    }
}
