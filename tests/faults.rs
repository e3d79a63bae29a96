//! Faults at the edge: the real binary against a local world whose fault middleware
//! (`world/faults.py`) answers chosen calls as AWS sometimes does: throttled, a 5xx, a
//! read that does not yet show the last write. Each must be absorbed, not fail the run.

mod support;

use serde_json::{Value, json};
use support::{World, weights};

/// A world that starts tasks and passes their health checks within about a second.
fn quick_world() -> World {
    World::start(&["--task-start-delay", "0.3", "--health-delay", "0.3"])
}

/// The wait's action record in a summary.
fn wait_action(summary: &Value) -> &Value {
    summary["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["step"] == "wait_until_ready"))
        .unwrap_or_else(|| panic!("no wait in {summary:#}"))
}

#[test]
fn reads_throttled_four_times_in_a_row_still_spill() {
    let world = quick_world();
    world.set_faults(json!([
        {"operation": "DescribeAlarms", "kind": "throttle", "count": 4},
        {"operation": "DescribeTargetHealth", "kind": "throttle", "count": 4},
    ]));
    let run = world.replay("alarm-metric.json");
    assert_eq!(world.faults_injected(), 8, "{:#}", world.faults());
    let summary = run.expect_ok().summary();
    assert_eq!(summary["outcome"], "done", "{summary:#}");
    assert_eq!(weights(&world.snapshot()), (0, 1));
    let retried = summary["aws_calls"]["retried"].as_u64();
    assert!(
        retried >= Some(8),
        "every throttle retried and counted: {}",
        summary["aws_calls"]
    );
}

#[test]
fn a_read_that_fails_inside_the_wait_counts_as_not_yet() {
    let world = quick_world();
    // The first read (observe) passes; the wait's first check then gets five 503s in a
    // row, more than the SDK's attempts.
    world.set_faults(json!([
        {"operation": "DescribeTargetHealth", "kind": "status", "status": 503,
         "after": 1, "count": 5},
    ]));
    let run = world.replay("alarm-metric.json");
    assert_eq!(world.faults_injected(), 5, "{:#}", world.faults());
    let summary = run.expect_ok().summary();
    assert_eq!(summary["outcome"], "done", "{summary:#}");
    assert_eq!(weights(&world.snapshot()), (0, 1));
    let wait = wait_action(&summary);
    assert_eq!(wait["errors"], 1, "{wait:#}");
    assert!(wait["checks"].as_u64() >= Some(2), "{wait:#}");
}

#[test]
fn access_denied_inside_the_wait_ends_it_at_once() {
    let world = quick_world();
    world.set_faults(json!([
        {"operation": "DescribeTargetHealth", "kind": "status", "status": 403,
         "code": "AccessDenied", "after": 1},
    ]));
    let run = world.replay("alarm-metric.json");
    assert_eq!(run.code, 1, "{}", run.stdout);
    let summary = run.summary();
    assert!(
        summary["error"].as_str().unwrap().contains("AccessDenied"),
        "{summary:#}"
    );
    assert_eq!(wait_action(&summary)["result"], "failed");
    assert_eq!(weights(&world.snapshot()), (1, 0), "traffic left on Lambda");
}

#[test]
fn a_stale_read_after_the_weight_write_does_not_fail_the_shift() {
    let world = quick_world();
    // Only spillover's first DescribeListeners after its own ModifyListener is stale.
    world.set_faults(json!([
        {"operation": "DescribeListeners", "kind": "stale"},
    ]));
    let run = world.replay("alarm-metric.json");
    let summary = run.expect_ok().summary();
    assert_eq!(summary["outcome"], "done", "{summary:#}");
    assert_eq!(weights(&world.snapshot()), (0, 1));
    assert_eq!(world.faults_injected(), 1, "{:#}", world.faults());
}

#[test]
fn a_weight_write_that_hangs_is_abandoned_before_the_lambda_deadline_with_a_summary() {
    let world = quick_world();
    // Every attempt at the weight write hangs longer than the function has left.
    world.set_faults(json!([
        {"operation": "ModifyListener", "kind": "delay", "secs": 20, "count": 10},
    ]));
    world.alarm_from("alarm-metric.json");
    let started = std::time::Instant::now();
    // A 12 s function timeout with a 4 s margin: the wait may last 8 s, each call 10 s.
    let run = world.spillover(
        &[
            "replay",
            "--timeout-secs",
            "12",
            &support::event("alarm-metric.json"),
        ],
        &[("SPILLOVER_DEADLINE_MARGIN_MS", "4000")],
    );
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        took.as_secs_f64() < 12.0,
        "ended after the deadline: {took:?}"
    );
    let summary = run.summary();
    let error = summary["error"].as_str().unwrap();
    assert!(
        error.contains("step \"set weights") && error.contains("2.0s before the Lambda deadline"),
        "{error}"
    );
    assert_eq!(summary["retryable"], true, "{summary:#}");
    let set = summary["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["step"] == "set_weights"))
        .unwrap_or_else(|| panic!("no weight step in {summary:#}"));
    assert_eq!(set["result"], "failed", "{set:#}");
    assert!(world.faults_injected() >= 1, "{:#}", world.faults());
}

#[test]
fn the_look_for_a_failed_start_does_not_hold_up_the_health_read() {
    let world = quick_world();
    // The wait's first check, after the look before it (one of each): the stopped tasks and
    // the target health each take 3 s to answer.
    world.set_faults(json!([
        {"operation": "ListTasks", "kind": "delay", "secs": 3, "after": 1},
        {"operation": "DescribeTargetHealth", "kind": "delay", "secs": 3, "after": 1},
    ]));
    let run = world.replay("alarm-metric.json");
    assert_eq!(world.faults_injected(), 2, "{:#}", world.faults());
    let summary = run.expect_ok().summary();
    assert_eq!(weights(&world.snapshot()), (0, 1));
    let wait = wait_action(&summary);
    let took = wait["duration_ms"].as_u64().unwrap();
    // Read together, the first check takes 3 s; one after the other, 6 s.
    assert!(
        (3000..5000).contains(&took),
        "the wait took {took} ms: {wait:#}"
    );
}
