//! The command line without AWS: `plan` over every recorded event, usage and config errors.

use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn spillover(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("SPILLOVER_CLUSTER", "web-app")
        .env("SPILLOVER_SERVICE", "web-app")
        .env(
            "SPILLOVER_LISTENER_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2",
        )
        .env(
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1",
        )
        .env(
            "SPILLOVER_ECS_TARGET_GROUP_ARN",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2",
        )
        .env(
            "SPILLOVER_ALARM_NAMES",
            "web-app-concurrency-high,web-app-concurrency-percent,web-app-overloaded",
        )
        // Nothing here may reach AWS: an endpoint that refuses connections proves it.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn plan_of(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan prints JSON")
}

#[test]
fn plan_answers_every_recorded_event_with_a_plan_or_exit_2() {
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{ROOT}/events")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let out = spillover(&["plan", path.to_str().unwrap()], &[]);
        let rejected = name.starts_with("malformed-") || name == "alarm-unconfigured.json";
        if rejected {
            assert_eq!(out.status.code(), Some(2), "{name} should be rejected");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(&name), "the error names the file: {stderr}");
            assert!(out.stdout.is_empty());
        } else {
            let intent = plan_of(&out)["plan"]["intent"]
                .as_str()
                .unwrap()
                .to_string();
            let expected = match name.as_str() {
                n if n.starts_with("alarm-") => "spill",
                // The alarm just went OK: inside the return hold.
                n if n.starts_with("ok-") => "hold",
                "insufficient-data.json" => "hold",
                "scheduled-tick.json" => "return",
                other => panic!("no expectation for {other}"),
            };
            assert_eq!(intent, expected, "{name}");
        }
    }
    assert!(seen >= 13, "only {seen} events found");
}

#[test]
fn plan_uses_an_observed_state_from_a_file() {
    let dir = std::env::temp_dir().join(format!("spillover-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("spilled.json");
    std::fs::write(
        &state,
        r#"{"alarm":"OK","weights":{"lambda":0,"ecs":1},"desired":2,"running":2,"healthy":2}"#,
    )
    .unwrap();
    let event = format!("{ROOT}/events/ok-metric.json");
    let out = spillover(
        &["plan", &event, "--observed", state.to_str().unwrap()],
        &[],
    );
    let steps: Vec<String> = plan_of(&out)["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect();
    // The scale-in comes in a later run, once ALB has applied the weights.
    assert_eq!(steps, ["set_weights"]);

    std::fs::write(&state, r#"{"alarm":"OK"}"#).unwrap();
    let out = spillover(
        &["plan", &event, "--observed", state.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an observed state"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Arguments, extra environment, and what stderr must say.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn usage_and_config_errors_exit_2_with_a_clear_message() {
    let cases: [Case; 5] = [
        (&["frobnicate"], &[], "unknown command \"frobnicate\""),
        (&["plan"], &[], "plan takes one EVENT.json"),
        (&["replay"], &[], "replay needs at least one EVENT.json"),
        (
            &["plan", "/nonexistent/event.json"],
            &[],
            "cannot read /nonexistent/event.json",
        ),
        (
            &["plan", "events/alarm-metric.json"],
            &[("SPILLOVER_CLUSTER", "")],
            "SPILLOVER_CLUSTER is not set",
        ),
    ];
    for (args, env, expected) in cases {
        let out = spillover(args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let help = spillover(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("spillover replay [--dry-run]"));
}

#[test]
fn replay_rejects_every_event_before_any_aws_call() {
    // The first event is fine, the second is not: nothing runs, not even the first.
    let good = format!("{ROOT}/events/alarm-metric.json");
    let bad = format!("{ROOT}/events/alarm-unconfigured.json");
    let out = spillover(&["replay", &good, &bad], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "no summary: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("billing-estimate-high"));
}

#[test]
fn check_refuses_bad_arguments_before_any_aws_call() {
    let cases: [Case; 4] = [
        (&["check", "--frob"], &[], "check: unknown argument --frob"),
        (
            &["check", "--timeout-secs"],
            &[],
            "--timeout-secs needs a number",
        ),
        (
            &["check", "--timeout-secs", "soon"],
            &[],
            "must be a number of seconds above 0, got \"soon\"",
        ),
        (
            &["check", "--json"],
            &[("AWS_LAMBDA_FUNCTION_TIMEOUT", "0")],
            "must be a number of seconds above 0, got \"0\"",
        ),
    ];
    for (args, env, expected) in cases {
        let out = spillover(args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: no checklist");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let help = spillover(&["--help"], &[]);
    assert!(
        String::from_utf8_lossy(&help.stdout)
            .contains("spillover check [--json] [--timeout-secs N]")
    );
}
