//! No accidental production change: without a global `AWS_ENDPOINT_URL`, `replay` treats
//! its target as real AWS. It refuses to run without `--aws`, makes `--aws` alone a dry run,
//! and writes only with `--aws --yes`, naming the account and region first. The world
//! stands in for AWS through per-service endpoints, so that what was written can be seen.

mod support;

use support::{World, event, weights};

/// The account the world's listener lives in (from its ARN) and the world's region.
fn account_and_region(world: &World) -> (String, String) {
    let arn = world.env["SPILLOVER_LISTENER_ARN"].clone();
    let parts: Vec<&str> = arn.split(':').collect();
    (parts[4].to_string(), parts[3].to_string())
}

/// The writes a controller makes that moto applied (the world's own setup is left out).
fn controller_writes(world: &World) -> Vec<String> {
    const CONTROLLER: [&str; 6] = [
        "UpdateService",
        "ModifyListener",
        "ModifyRule",
        "TagResource",
        "UntagResource",
        "RegisterScalableTarget",
    ];
    world
        .api_writes()
        .iter()
        .filter_map(|w| w["api"].as_str())
        .filter(|api| CONTROLLER.contains(api))
        .map(str::to_string)
        .collect()
}

#[test]
fn real_aws_is_refused_without_aws_a_dry_run_without_yes_and_written_with_both() {
    let world = World::start(&["--task-start-delay", "0.5", "--health-delay", "1"]);
    let (account, region) = account_and_region(&world);
    let banner = format!("real AWS, account {account}, region {region}");
    world.alarm_from("alarm-metric.json");
    let alarm = event("alarm-metric.json");

    // No flag: exit 2 before any call, saying how to choose.
    let refused = world.spillover_as_if_real(&["replay", &alarm]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&banner) && refused.stderr.contains("--aws"),
        "the refusal names the account, the region and the flag:\n{}",
        refused.stderr
    );
    assert!(
        refused.stdout.is_empty(),
        "no summary: the loop did not run"
    );
    assert!(controller_writes(&world).is_empty(), "nothing was written");

    // --aws alone: the loop observes and plans, and writes nothing.
    let dry = world.spillover_as_if_real(&["replay", "--aws", &alarm]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(&banner) && dry.stderr.contains("add --yes to write"),
        "{}",
        dry.stderr
    );
    let summary = dry.summary();
    assert_eq!(summary["outcome"], "dry_run");
    assert_eq!(summary["aws_calls"]["writes"], 0);
    assert!(
        controller_writes(&world).is_empty(),
        "a dry run writes nothing"
    );
    assert_eq!(weights(&world.snapshot()), (1, 0));

    // --aws --yes: written, with the account and region named before the first write.
    let written = world.spillover_as_if_real(&["replay", "--aws", "--yes", &alarm]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    assert!(
        written.stderr.contains(&format!("{banner}: writing")),
        "{}",
        written.stderr
    );
    assert_eq!(written.summary()["outcome"], "done");
    assert!(!controller_writes(&world).is_empty());
    assert_eq!(weights(&world.snapshot()), (0, 1));
}

#[test]
fn real_aws_in_another_region_than_the_listener_is_refused_before_any_call() {
    let world = World::start(&[]);
    world.alarm_from("alarm-metric.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(["replay", "--aws", "--yes", &event("alarm-metric.json")])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_PROFILE")
        .envs(&world.env)
        .env_remove("AWS_ENDPOINT_URL")
        .env(
            "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
            &world.env["AWS_ENDPOINT_URL"],
        )
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("eu-west-1"), "{stderr}");
    assert!(controller_writes(&world).is_empty());
}
