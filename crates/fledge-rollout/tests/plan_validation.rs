//! Plan validation: every rejection names the field or the step.

use fledge_rollout::plan::{Plan, PlanError};

const BASE: &str = r#"
name = "demo"
baseline = "v1"
candidate = "v2"
interval = "30s"
"#;

fn plan(extra: &str) -> Result<Plan, PlanError> {
    Plan::from_toml(&format!("{BASE}\n{extra}"))
}

fn err(extra: &str) -> String {
    match plan(extra) {
        Ok(_) => panic!("plan should be rejected:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_minimal_plan_is_valid() {
    let p = plan("steps = [5, 25, 50, 100]").unwrap();
    assert_eq!(p.failure_limit, 1);
    assert_eq!(p.inconclusive_limit, 5);
    assert_eq!(p.base_salt(), "demo/v2");
}

#[test]
fn unknown_fields_are_rejected_everywhere() {
    assert!(err("steps = [5]\nstpes = [1]").contains("stpes"));
    assert!(err("steps = [{ weight = 5, aproval = true }]").contains("aproval"));
    assert!(err("steps = [5]\n[sticky]\nsalty = \"x\"").contains("salty"));
    assert!(err("steps = [5]\n[[gates]]\nkind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 5.0\nmaxx = 1.0").contains("maxx"));
    assert!(
        err("steps = [5]\ntargeting = [{ header = \"x\", version = \"v2\", value = \"y\" }]")
            .contains("value")
    );
}

#[test]
fn steps_must_strictly_increase_within_0_100() {
    let e = plan("steps = [5, 50, 25]").unwrap_err();
    assert!(matches!(e, PlanError::NotIncreasing { step: 2, .. }), "{e}");
    assert!(e.to_string().contains("steps[2]"));
    assert!(matches!(
        plan("steps = [5, 5]").unwrap_err(),
        PlanError::NotIncreasing { step: 1, .. }
    ));
    let e = err("steps = [5, 150]");
    assert!(e.contains("steps[1].weight") && e.contains("150"), "{e}");
    assert!(err("steps = [-5, 50]").contains("steps[0].weight"));
    assert!(err("steps = [0, 50]").contains("steps[0]"));
    assert!(err("steps = [0.001, 50]").contains("steps[0].weight"));
    assert!(matches!(
        plan("steps = []").unwrap_err(),
        PlanError::NoSteps
    ));
    assert!(matches!(plan("").unwrap_err(), PlanError::NoSteps));
    // Fractions of a percent are fine down to a basis point.
    assert!(plan("steps = [0.5, 2.25, 100]").is_ok());
}

#[test]
fn linear_steps_need_both_fields_and_exclude_steps() {
    assert!(plan("step_weight = 10\nmax_weight = 50").is_ok());
    assert!(matches!(
        plan("step_weight = 10").unwrap_err(),
        PlanError::LinearIncomplete {
            missing: "max_weight"
        }
    ));
    assert!(matches!(
        plan("steps = [5]\nstep_weight = 10\nmax_weight = 50").unwrap_err(),
        PlanError::StepsTwice
    ));
    assert!(err("step_weight = 0\nmax_weight = 50").contains("step_weight"));
    assert!(err("step_weight = 60\nmax_weight = 50").contains("max_weight"));
    assert!(matches!(
        plan("step_weight = 0.01\nmax_weight = 100").unwrap_err(),
        PlanError::TooManySteps { .. }
    ));
}

#[test]
fn durations_must_be_positive_strings_with_units() {
    let e = Plan::from_toml(
        "name = \"d\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nsteps = [5]\ninterval = \"0s\"",
    )
    .unwrap_err();
    assert!(
        matches!(e, PlanError::ZeroDuration { ref field } if field == "interval"),
        "{e}"
    );
    let e = Plan::from_toml(
        "name = \"d\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nsteps = [5]\ninterval = \"-5s\"",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("interval") && e.to_string().contains("negative"),
        "{e}"
    );
    let e = Plan::from_toml(
        "name = \"d\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nsteps = [5]\ninterval = 30",
    )
    .unwrap_err();
    assert!(e.to_string().contains("\"30s\""), "{e}");
    assert!(err("steps = [{ weight = 5, interval = \"0ms\" }]").contains("steps[0].interval"));
    assert!(err("steps = [{ weight = 5, pause = \"0s\" }]").contains("steps[0].pause"));
    assert!(err("steps = [5]\nkeep_warm = \"0s\"").contains("keep_warm"));
    assert!(err("steps = [5]\n[limits.v2]\ntimeout = \"0s\"").contains("limits.v2.timeout"));
}

#[test]
fn zero_limits_are_rejected() {
    assert!(err("steps = [5]\nfailure_limit = 0").contains("failure_limit"));
    assert!(err("steps = [5]\ninconclusive_limit = 0").contains("inconclusive_limit"));
    assert!(err("steps = [5]\n[limits.v2]\nconcurrency = 0").contains("limits.v2.concurrency"));
    assert!(err("steps = [5]\nfailure_limit = -1").contains("failure_limit"));
}

#[test]
fn gates_on_unknown_metrics_or_gates_are_rejected() {
    let e = plan("steps = [5]\n[[gates]]\nkind = \"threshold\"\nmetric = \"mae\"\nmax = 1.0")
        .unwrap_err();
    assert!(
        matches!(e, PlanError::UnknownMetric { ref metric, .. } if metric == "mae"),
        "{e}"
    );
    assert!(plan("steps = [5]\nmetrics = [\"mae\"]\n[[gates]]\nkind = \"threshold\"\nmetric = \"mae\"\nmax = 1.0").is_ok());
    let e = err("steps = [5]\n[[gates]]\nkind = \"threshold\"\nmetric = \"latency_px\"\nmax = 1.0");
    assert!(e.contains("latency_px"), "{e}");
    let e = err(
        "steps = [{ weight = 5, gates = [\"p99\"] }]\n[[gates]]\nname = \"errors\"\nkind = \"proportion\"\nmetric = \"error_rate\"",
    );
    assert!(e.contains("steps[0].gates") && e.contains("p99"), "{e}");
    let e = err("steps = [5]\nmetrics = [\"latency_p99\"]");
    assert!(e.contains("built-in"), "{e}");
    let e = err(
        "steps = [5]\n[[gates]]\nname = \"a\"\nkind = \"proportion\"\nmetric = \"error_rate\"\n[[gates]]\nname = \"a\"\nkind = \"proportion\"\nmetric = \"error_rate\"",
    );
    assert!(e.contains("\"a\""), "{e}");
    let e = err("steps = [5]\n[[gates]]\nkind = \"threshold\"\nmetric = \"latency_p99\"");
    assert!(e.contains("latency_p99"), "{e}");
}

#[test]
fn versions_and_rules_are_checked() {
    let e = Plan::from_toml(
        "name = \"d\"\nbaseline = \"v1\"\ncandidate = \"v1\"\nsteps = [5]\ninterval = \"1s\"",
    )
    .unwrap_err();
    assert!(matches!(e, PlanError::SameVersion { .. }), "{e}");
    let e = Plan::from_toml(
        "name = \"d\"\nbaseline = \"v 1\"\ncandidate = \"v2\"\nsteps = [5]\ninterval = \"1s\"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("baseline"), "{e}");
    assert!(
        err("steps = [5]\ntargeting = [{ header = \"x\", version = \"v3\" }]")
            .contains("targeting[0].version")
    );
    assert!(err("steps = [5]\ntargeting = [{ version = \"v2\" }]").contains("targeting[0]"));
    assert!(
        err("steps = [5]\ntargeting = [{ header = \"x\", attribute = \"y\", version = \"v2\" }]")
            .contains("targeting[0]")
    );
    assert!(err("steps = [{ weight = 5, targeting = [{ attribute = \"r\", in = [], version = \"v2\" }] }]").contains("steps[0].targeting[0]"));
    assert!(err("steps = [5]\n[limits.v9]\nconcurrency = 3").contains("limits.v9"));
    assert!(err("steps = [5]\n[sticky]\nhash = \"md5\"").contains("sticky.hash"));
    assert!(err("steps = [5]\n[sticky]\nsalt = \"\"").contains("sticky.salt"));
    assert!(
        Plan::from_toml(
            "name = \" \"\nbaseline = \"v1\"\ncandidate = \"v2\"\nsteps = [5]\ninterval = \"1s\""
        )
        .unwrap_err()
        .to_string()
        .contains("name")
    );
}

#[test]
fn zero_weight_steps_need_mirror_or_targeting() {
    assert!(matches!(
        plan("steps = [{ weight = 0 }, 5]").unwrap_err(),
        PlanError::EmptyStep { step: 0 }
    ));
    assert!(plan("steps = [{ weight = 0, mirror = 50 }, 5]").is_ok());
    assert!(
        plan("steps = [{ weight = 0, targeting = [{ header = \"x-qa\", version = \"v2\" }] }, 5]")
            .is_ok()
    );
    assert!(err("steps = [{ weight = 0, mirror = 101 }, 5]").contains("steps[0].mirror"));
}

#[test]
fn json_and_yaml_read_the_same_plan() {
    let toml = plan("steps = [5, { weight = 50, approval = true, pause = \"10m\" }]").unwrap();
    let json = Plan::from_json(&toml.to_json().unwrap()).unwrap();
    assert_eq!(json, toml);
    let yaml = "name: demo\nbaseline: v1\ncandidate: v2\ninterval: 30s\nsteps: [5, {weight: 50, approval: true, pause: 10m}]\n";
    #[cfg(feature = "yaml")]
    assert_eq!(Plan::from_yaml(yaml).unwrap(), toml);
    #[cfg(not(feature = "yaml"))]
    assert!(matches!(
        Plan::from_yaml(yaml),
        Err(PlanError::FormatDisabled { .. })
    ));
    let e = Plan::from_json("{\"name\": \"x\", \"bogus\": 1}").unwrap_err();
    assert!(
        matches!(e, PlanError::Parse { .. }) && e.to_string().contains("bogus"),
        "{e}"
    );
    #[cfg(feature = "yaml")]
    {
        let e = Plan::from_yaml("name: [").unwrap_err();
        assert!(matches!(e, PlanError::Parse { .. }), "{e}");
    }
}

#[test]
fn a_file_that_is_not_text_is_a_bad_plan_not_an_io_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, b"name = \"demo\"\n\xff\xfe\x00binary").unwrap();
    let e = Plan::from_path(&path).unwrap_err();
    assert!(matches!(e, PlanError::NotText { offset: 14, .. }), "{e:?}");
    assert!(e.to_string().contains("not UTF-8 text"), "{e}");
    let missing = Plan::from_path(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(missing, PlanError::Io { .. }), "{missing:?}");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\u{0}",
        "[[[",
        "steps = 5",
        "name = 5",
        "interval = \"99999999999999999999h\"",
    ] {
        assert!(Plan::from_toml(text).is_err());
        assert!(Plan::from_json(text).is_err());
        assert!(Plan::from_yaml(text).is_err());
    }
}

#[test]
fn plans_declare_model_outputs_for_drift_gates() {
    let outputs = "outputs = [{ name = \"forecast\", kind = \"numeric\" }, { name = \"top_category\", kind = \"categorical\", max_labels = 20 }]";
    let ok = plan(&format!(
        "steps = [5]\n{outputs}\n[[gates]]\nkind = \"ks\"\nmetric = \"forecast\"\n[[gates]]\nkind = \"chi_square\"\nmetric = \"top_category\"\n[[gates]]\nkind = \"output_mean\"\nmetric = \"forecast\"\ntolerance = 0.05"
    ))
    .unwrap();
    assert_eq!(ok.outputs.len(), 2);
    assert_eq!(ok.outputs[1].label_capacity(), Some(20));
    // Round trip.
    let back = Plan::from_toml(&ok.to_toml().unwrap()).unwrap();
    assert_eq!(back.outputs, ok.outputs);
    // Output kinds must match the gate; drift gates read outputs, not metrics.
    let e = err(&format!(
        "steps = [5]\n{outputs}\n[[gates]]\nkind = \"chi_square\"\nmetric = \"forecast\""
    ));
    assert!(e.contains("categorical") && e.contains("forecast"), "{e}");
    let e = err("steps = [5]\nmetrics = [\"mae\"]\n[[gates]]\nkind = \"ks\"\nmetric = \"mae\"");
    assert!(e.contains("outputs"), "{e}");
    let e = err(&format!(
        "steps = [5]\n{outputs}\n[[gates]]\nkind = \"t_test\"\nmetric = \"forecast\""
    ));
    assert!(e.contains("model output"), "{e}");
    let e = err(&format!(
        "steps = [5]\n{outputs}\n[[gates]]\nkind = \"psi\"\nmetric = \"nope\""
    ));
    assert!(e.contains("nope"), "{e}");
    // Names are one namespace with metrics; bad sizes name the field.
    let e = err(
        "steps = [5]\nmetrics = [\"forecast\"]\noutputs = [{ name = \"forecast\", kind = \"numeric\" }]",
    );
    assert!(e.contains("declared twice"), "{e}");
    let e =
        err("steps = [5]\noutputs = [{ name = \"c\", kind = \"categorical\", max_labels = 0 }]");
    assert!(e.contains("max_labels"), "{e}");
    let e = err("steps = [5]\noutputs = [{ name = \"c\", kind = \"numeric\", max_labels = 3 }]");
    assert!(e.contains("max_labels"), "{e}");
}

#[test]
fn the_controllers_recorder_holds_the_plans_outputs() {
    use fledge_gate::clock::Timestamp;
    use fledge_rollout::control::Controller;
    let p = plan("steps = [5]\noutputs = [{ name = \"forecast\", kind = \"numeric\" }, { name = \"top_category\", kind = \"categorical\" }]\n[[gates]]\nkind = \"ks\"\nmetric = \"forecast\"").unwrap();
    let c = Controller::builder(p)
        .build_at(Timestamp::from_millis(1_700_000_000_000))
        .unwrap();
    let recorder = c.routing().recorder();
    let f = recorder
        .output_id("forecast")
        .expect("declared in the plan");
    let version = c.routing().candidate().get();
    recorder.record_output(version, f, 12.5);
    assert!(recorder.output_id("top_category").is_some());
    assert_eq!(recorder.dropped(), 0);
}
