//! The `fledge` binary on good and bad input.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn fledge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fledge"))
        .args(args)
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn no_panic(o: &Output) {
    let (out, err) = text(o);
    for s in [&out, &err] {
        assert!(
            !s.contains("panicked") && !s.contains("stack backtrace"),
            "{s}"
        );
    }
}

#[test]
fn plan_check_summarizes_every_example_plan() {
    for entry in std::fs::read_dir(root().join("examples/plans")).unwrap() {
        let path = entry.unwrap().path();
        let o = fledge(&["plan", "check", path.to_str().unwrap()]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{}: {err}", path.display());
        assert!(out.contains("(valid)") && out.contains("steps:"), "{out}");
        assert!(out.lines().count() < 40, "one screen: {out}");
    }
    let o = fledge(&["plan", "check", "examples/plans/canary.toml"]);
    let (out, _) = text(&o);
    assert!(
        out.contains("p99 latency") && out.contains("error rate") && out.contains("25%"),
        "{out}"
    );
    let o = fledge(&["plan", "check", "--json", "examples/plans/canary.toml"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["candidate"], "v2");
}

#[test]
fn an_invalid_plan_exits_2_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad-steps.toml",
            "name = \"x\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nsteps = [5, 50, 25]\ninterval = \"30s\"\n",
            "steps[2]",
        ),
        (
            "unknown.toml",
            "name = \"x\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nsteps = [5]\ninterval = \"30s\"\nbogus = 1\n",
            "bogus",
        ),
        ("syntax.toml", "name = \"x\n", "TOML"),
        ("bad.json", "{\"name\": 5}", "JSON"),
        ("bad.yaml", "name: [", "YAML"),
        ("plan.txt", "whatever", "extension"),
        ("binary.toml", "name = \"x\"\n\u{1}", "not UTF-8 text"),
    ];
    for (name, body, needle) in cases {
        let path = dir.path().join(name);
        let mut bytes = body.as_bytes().to_vec();
        if name == "binary.toml" {
            bytes.extend_from_slice(&[0xff, 0xfe, 0x00]);
        }
        std::fs::write(&path, bytes).unwrap();
        for cmd in [&["plan", "check"][..], &["simulate"][..]] {
            let mut args: Vec<&str> = cmd.to_vec();
            args.push(path.to_str().unwrap());
            let o = fledge(&args);
            no_panic(&o);
            let (_, err) = text(&o);
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(
                err.starts_with("error: ") && err.contains(needle),
                "{name}: {err}"
            );
        }
    }
}

#[test]
fn bad_input_of_any_kind_gets_a_message_and_a_nonzero_exit() {
    let cases: &[&[&str]] = &[
        &[],
        &["nonsense"],
        &["plan"],
        &["plan", "check"],
        &["plan", "check", "/nonexistent/plan.toml"],
        &["simulate", "examples/plans/canary.toml", "--rps", "0"],
        &["simulate", "examples/plans/canary.toml", "--rps", "lots"],
        &[
            "simulate",
            "examples/plans/canary.toml",
            "--canary-error-rate",
            "1.5",
        ],
        &[
            "simulate",
            "examples/plans/canary.toml",
            "--canary-p99-ms",
            "-3",
        ],
        &["simulate", "examples/plans/canary.toml", "--tick", "0s"],
        &[
            "simulate",
            "examples/plans/drift.toml",
            "--output-shift",
            "-1",
        ],
        &[
            "simulate",
            "examples/plans/drift.toml",
            "--output-shift",
            "NaN",
        ],
        &[
            "simulate",
            "examples/plans/drift.toml",
            "--label-shift",
            "1.5",
        ],
        &["simulate", "examples/plans/canary.toml", "--tick", "fast"],
        &["bucket", "--hash", "md5", "--salt", "s", "k"],
        &["bucket", "--salt", "s"],
        &["bucket", "k"],
        &["bucket", "--salt", "s", "--weight", "5", "k"],
        &[
            "bucket",
            "--salt",
            "s",
            "--plan",
            "examples/plans/canary.toml",
            "--weight",
            "250",
            "k",
        ],
        &[
            "bucket",
            "--plan",
            "/nonexistent.toml",
            "--weight",
            "5",
            "k",
        ],
    ];
    for args in cases {
        let o = fledge(args);
        no_panic(&o);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(!err.trim().is_empty(), "{args:?}: no message");
    }
    let o = fledge(&["plan", "check", "/nonexistent/plan.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        fledge(&["simulate", "examples/plans/canary.toml", "--rps", "0"])
            .status
            .code(),
        Some(2)
    );
    assert!(fledge(&["--help"]).status.success());
    assert!(fledge(&["--version"]).status.success());
}

#[test]
fn simulate_a_healthy_canary_is_promoted() {
    let start = Instant::now();
    let o = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--expect",
        "promoted",
    ]);
    let elapsed = start.elapsed();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}\n{out}");
    let last = out.lines().last().unwrap();
    assert_eq!(last, "result: promoted", "{out}");
    assert!(out.contains("simulated time: 2m"), "{out}");
    assert!(out.contains("canary requests served: "), "{out}");
    for w in ["5%", "25%", "50%", "100%"] {
        assert!(out.contains(w), "{out}");
    }
    // Debug builds are slower; release runs in tens of milliseconds.
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn simulate_errors_roll_back_with_the_reason() {
    let o = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--canary-error-rate",
        "0.05",
        "--expect",
        "rolled-back",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}\n{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("result: rolled back (") && last.contains("error rate"),
        "{out}"
    );
    let o = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--canary-p99-ms",
        "120",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"], "rolled back");
    assert!(v["reason"].as_str().unwrap().contains("p99 latency"), "{v}");
    assert!(v["canary_requests"].as_u64().unwrap() > 0);
    let timeline = v["timeline"].as_array().unwrap();
    assert_eq!(timeline.last().unwrap()["kind"], "rolled_back");
    // The expectation is checked.
    let o = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--canary-error-rate",
        "0.05",
        "--expect",
        "promoted",
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn plan_check_prints_the_outputs_and_the_drift_gates() {
    let o = fledge(&["plan", "check", "examples/plans/drift.toml"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for needle in [
        "forecast distribution ks on forecast (numeric output): alpha=0.01",
        "forecast mean         output_mean on forecast (numeric output): alpha=0.01",
        "direction=\"either\" min_samples=200 tolerance=0.02",
        "category mix          chi_square on top_category (categorical output): alpha=0.01",
        "judge: pass at score 95, fail below 85",
        "outputs (recorded per response, read by drift gates):",
        "forecast       numeric, resolution=0.01 max_abs=1000000; read by forecast distribution, forecast mean",
        "top_category   categorical, max_labels=50; read by category mix",
    ] {
        assert!(out.contains(needle), "{needle}\n{out}");
    }
    // A plan without outputs prints no outputs section.
    let o = fledge(&["plan", "check", "examples/plans/canary.toml"]);
    assert!(!text(&o).0.contains("outputs"));
}

#[test]
fn the_drift_plan_comments_every_field() {
    let text = std::fs::read_to_string(root().join("examples/plans/drift.toml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let is_field =
            !t.is_empty() && !t.starts_with('#') && !t.starts_with('[') && t.contains('=');
        if is_field {
            assert!(
                i > 0 && lines[i - 1].trim().starts_with('#'),
                "drift.toml line {}: `{t}` has no comment above it",
                i + 1
            );
        }
    }
}

#[test]
fn simulate_output_drift_rolls_back_on_the_drift_gates() {
    // Same outputs on both sides: promoted.
    let o = fledge(&[
        "simulate",
        "examples/plans/drift.toml",
        "--expect",
        "promoted",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}\n{out}");
    assert!(
        out.contains("output forecast: lognormal, median 100, cv 25 %; candidate's x 1\n"),
        "{out}"
    );
    assert!(
        out.contains("c00 27.8 % on the baseline, 27.8 % on the candidate"),
        "{out}"
    );

    // Forecasts 5 % too high: rolled back in the first step, by the
    // forecast gates, and the timeline says when.
    let o = fledge(&[
        "simulate",
        "examples/plans/drift.toml",
        "--output-shift",
        "0.05",
        "--expect",
        "rolled-back",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}\n{out}");
    assert!(out.contains("candidate's x 1.05"), "{out}");
    let rolled = out
        .lines()
        .find(|l| l.contains("rolled back: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(rolled.contains(" 1/4 "), "{rolled}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("result: rolled back (")
            && last.contains("forecast")
            && last.contains("canary higher"),
        "{out}"
    );

    // The top category 27.8 % -> 32.8 % on the candidate: the label mix.
    let o = fledge(&[
        "simulate",
        "examples/plans/drift.toml",
        "--label-shift",
        "0.05",
        "--json",
        "--expect",
        "rolled-back",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("category mix") && reason.contains("chi-square"),
        "{reason}"
    );
    assert!(!reason.contains("forecast"), "{reason}");

    // A plan without outputs ignores the shifts.
    let o = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--output-shift",
        "0.5",
        "--expect",
        "promoted",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn simulate_is_deterministic_per_seed() {
    let a = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--seed",
        "7",
        "--json",
    ]);
    let b = fledge(&[
        "simulate",
        "examples/plans/canary.toml",
        "--seed",
        "7",
        "--json",
    ]);
    let strip = |o: &Output| {
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_object_mut().unwrap().remove("real_ms");
        v
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn simulate_runs_the_other_builders_plans() {
    for (plan, extra) in [
        ("examples/plans/linear.toml", &[][..]),
        (
            "examples/plans/blue_green.toml",
            &["--targeted-share", "0.2"][..],
        ),
        ("examples/plans/shadow_first.yaml", &[][..]),
        ("examples/plans/approvals.json", &["--tick", "10s"][..]),
    ] {
        let mut args = vec!["simulate", plan, "--expect", "promoted"];
        args.extend_from_slice(extra);
        let o = fledge(&args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{plan}: {err}\n{out}");
    }
}

#[test]
fn bucket_prints_buckets_and_versions() {
    let o = fledge(&["bucket", "--hash", "fledge", "--salt", "s", "alice", "bob"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, key) in lines.iter().zip(["alice", "bob"]) {
        let parts: Vec<&str> = line.split('\t').collect();
        assert_eq!(parts[0], key);
        assert!(parts[1].parse::<u32>().unwrap() < 10_000);
    }
    // Same answer twice; different salt, (almost surely) different buckets.
    assert_eq!(
        fledge(&["bucket", "--salt", "s", "alice", "bob"]).stdout,
        o.stdout
    );
    for mode in ["unleash", "growthbook-v1", "growthbook-v2"] {
        assert!(
            fledge(&["bucket", "--hash", mode, "--salt", "s", "alice"])
                .status
                .success()
        );
    }
    // With a plan and a weight: the version. 100 % → all candidate, 0 % → none.
    let o = fledge(&[
        "bucket",
        "--plan",
        "examples/plans/canary.toml",
        "--weight",
        "100",
        "a",
        "b",
        "c",
    ]);
    let (out, _) = text(&o);
    assert!(out.lines().all(|l| l.ends_with("\tv2")), "{out}");
    let o = fledge(&[
        "bucket",
        "--plan",
        "examples/plans/canary.toml",
        "--weight",
        "0",
        "a",
        "b",
        "c",
    ]);
    let (out, _) = text(&o);
    assert!(out.lines().all(|l| l.ends_with("\tv1")), "{out}");
    let o = fledge(&["bucket", "--json", "--salt", "s", "alice"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["key"], "alice");
}
