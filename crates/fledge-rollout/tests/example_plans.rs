//! Every plan under `examples/plans/` parses and validates.

use std::path::PathBuf;

use fledge_rollout::plan::{Format, Plan};

fn plans_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans")
}

#[test]
fn every_example_plan_parses_and_validates() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(plans_dir()).expect("examples/plans exists") {
        let path = entry.expect("readable entry").path();
        if Format::from_path(&path).is_err() {
            continue;
        }
        let plan = match Plan::from_path(&path) {
            Ok(plan) => plan,
            // Without the `yaml` feature a YAML plan is refused, by name.
            #[cfg(not(feature = "yaml"))]
            Err(e @ fledge_rollout::PlanError::FormatDisabled { .. }) => {
                assert_eq!(Format::from_path(&path).ok(), Some(Format::Yaml), "{e}");
                seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
                continue;
            }
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let checked = plan.check().expect("checked twice");
        assert!(!checked.steps().is_empty(), "{}", path.display());
        // Round trip through TOML and JSON gives the same plan.
        let toml = plan.to_toml().expect("serializes to TOML");
        assert_eq!(
            Plan::from_toml(&toml).expect("TOML round trip"),
            plan,
            "{}",
            path.display()
        );
        let json = plan.to_json().expect("serializes to JSON");
        assert_eq!(
            Plan::from_json(&json).expect("JSON round trip"),
            plan,
            "{}",
            path.display()
        );
        seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    seen.sort();
    for expected in [
        "approvals.json",
        "blue_green.toml",
        "canary.toml",
        "linear.toml",
        "phased.toml",
        "shadow_first.yaml",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "missing {expected}: {seen:?}"
        );
    }
}

#[test]
fn canonical_canary_is_5_25_50_100_with_two_gates() {
    let plan = Plan::from_path(plans_dir().join("canary.toml")).unwrap();
    let checked = plan.check().unwrap();
    let weights: Vec<u32> = checked.steps().iter().map(|s| s.weight.bps()).collect();
    assert_eq!(weights, [500, 2_500, 5_000, 10_000]);
    assert_eq!(plan.gates.len(), 2);
    assert_eq!(plan.gates[0].metric.to_string(), "latency_p99");
    assert_eq!(plan.gates[1].metric.to_string(), "error_rate");
    assert!(checked.steps().iter().all(|s| s.gates == [0, 1]));
}

#[test]
fn canonical_canary_comments_every_field() {
    let text = std::fs::read_to_string(plans_dir().join("canary.toml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let is_field =
            !t.is_empty() && !t.starts_with('#') && !t.starts_with('[') && t.contains('=');
        if is_field {
            assert!(
                i > 0 && lines[i - 1].trim().starts_with('#'),
                "canary.toml line {}: `{t}` has no comment above it",
                i + 1
            );
        }
    }
}

#[test]
fn builders_match_the_example_files() {
    use fledge_rollout::plan::PlanBuilder;
    let linear = PlanBuilder::linear("checkout-v7", "v6", "v7", 10.0, 50.0)
        .build()
        .unwrap()
        .check()
        .unwrap();
    let file = Plan::from_path(plans_dir().join("linear.toml"))
        .unwrap()
        .check()
        .unwrap();
    let w = |p: &fledge_rollout::plan::CheckedPlan| -> Vec<u32> {
        p.steps().iter().map(|s| s.weight.bps()).collect()
    };
    assert_eq!(w(&linear), w(&file));
    assert_eq!(w(&linear), [1_000, 2_000, 3_000, 4_000, 5_000]);

    let phased = PlanBuilder::phased("ranker-v3", "v2", "v3")
        .internal_header("x-fledge-internal", "true")
        .alpha(2.0)
        .beta_attribute(20.0, "region", ["eu-west-1", "eu-central-1"])
        .approve_ga()
        .build()
        .unwrap()
        .check()
        .unwrap();
    let file = Plan::from_path(plans_dir().join("phased.toml"))
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(w(&phased), w(&file));
    assert_eq!(phased.steps()[2].targeting, file.steps()[2].targeting);
}
