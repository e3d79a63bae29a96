//! End to end: the real binary against a local moto world whose scheduler starts tasks
//! and registers targets after delays. Each test starts and stops its own world.

mod support;

use serde_json::Value;
use support::{World, event, stickiness, weights};

/// The timeline lines in which the listener's ECS weight is above 0.
fn ecs_weighted(timeline: &[Value]) -> Vec<&Value> {
    timeline
        .iter()
        .filter(|l| l["ecs_weight"].as_i64() > Some(0))
        .collect()
}

#[test]
fn alarm_then_ok_spills_only_to_healthy_targets_and_returns() {
    let world = World::start(&[
        "--task-start-delay",
        "0.5",
        "--health-delay",
        "1",
        "--sticky-secs",
        "2",
    ]);
    world.set_deregistration_delay(1);
    let before = world.snapshot();
    assert_eq!(weights(&before), (1, 0));

    let spill = world.replay("alarm-metric.json").expect_ok().summary();
    assert_eq!(spill["outcome"], "done");
    let after_spill = world.snapshot();
    assert_eq!(weights(&after_spill), (0, 1));
    assert_eq!(after_spill["desired"], 2);
    assert_eq!(
        stickiness(&after_spill),
        stickiness(&before),
        "stickiness kept"
    );
    assert_eq!(
        after_spill["rule_actions"], before["rule_actions"],
        "the rule was not touched"
    );

    // OK: weights back at once; the scale-in waits for a later run, once sticky sessions
    // on ECS have expired and no request reached it over their window.
    let back = world.replay("ok-metric.json").expect_ok().summary();
    assert_eq!(back["outcome"], "done");
    assert_eq!(back["plan"]["steps"].as_array().unwrap().len(), 1);
    let early = world
        .spillover(&["replay", &event("scheduled-tick.json")], &[])
        .expect_ok()
        .summary();
    assert_eq!(early["outcome"], "no_op");
    assert!(early["plan"]["scale_in_after_secs"].as_f64().unwrap() <= 2.0);
    let sticky_window = world.snapshot();
    assert_eq!(
        (weights(&sticky_window), sticky_window["desired"].as_i64()),
        ((1, 0), Some(2))
    );
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let tick = world
        .spillover(&["replay", &event("scheduled-tick.json")], &[])
        .expect_ok()
        .summary();
    assert_eq!(tick["plan"]["steps"][0]["step"], "scale_in");
    let after_return = world.snapshot();
    assert_eq!(weights(&after_return), (1, 0));
    assert_eq!(after_return["desired"], 0);
    assert_eq!(stickiness(&after_return), stickiness(&before));

    // The world's own record. Every line that shows ECS weighted shows healthy targets.
    let timeline = world.timeline();
    let weighted = ecs_weighted(&timeline);
    assert!(!weighted.is_empty(), "ECS never got weight: {timeline:#?}");
    for line in &weighted {
        assert!(
            line["healthy"].as_i64() >= Some(1),
            "ECS weight without healthy targets: {line}"
        );
    }
    // And the writes in the order moto applied them: scale out, targets registered (the
    // health checks passing), shift; then shift back, and only then scale in.
    let writes = world.api_writes();
    let order: Vec<String> = writes
        .iter()
        .map(|w| match w["desired"].as_i64() {
            Some(d) => format!("{}({d})", w["api"].as_str().unwrap()),
            None => w["api"].as_str().unwrap().to_string(),
        })
        .collect();
    let at = |what: &str| {
        order
            .iter()
            .position(|o| o == what)
            .unwrap_or_else(|| panic!("no {what} in {order:?}"))
    };
    let last = |what: &str| {
        order
            .iter()
            .rposition(|o| o == what)
            .unwrap_or_else(|| panic!("no {what} in {order:?}"))
    };
    let scale_out = at("UpdateService(2)");
    let registered = scale_out
        + order[scale_out..]
            .iter()
            .position(|o| o == "RegisterTargets")
            .expect("targets registered");
    assert!(
        registered < at("ModifyListener"),
        "shifted before a target was healthy: {order:?}"
    );
    assert!(
        last("ModifyListener") < last("UpdateService(0)"),
        "scaled in before shifting back: {order:?}"
    );
    assert_eq!(
        order.iter().filter(|o| *o == "ModifyListener").count(),
        2,
        "{order:?}"
    );
}

#[test]
fn slow_start_is_waited_for_with_reads_bounded_by_the_poll_interval() {
    let world = World::start(&["--task-start-delay", "1", "--health-delay", "3"]);
    world.alarm_from("alarm-metric.json");
    let run = world.spillover(
        &["replay", &event("alarm-metric.json")],
        &[
            ("SPILLOVER_POLL_INTERVAL_MS", "500"),
            ("SPILLOVER_POLL_MAX_INTERVAL_MS", "500"),
        ],
    );
    let summary = run.expect_ok().summary();
    assert_eq!(weights(&world.snapshot()), (0, 1));

    let wait = summary["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["step"] == "wait_until_ready")
        .expect("a wait");
    let (waited_ms, checks) = (
        wait["duration_ms"].as_u64().unwrap(),
        wait["checks"].as_u64().unwrap(),
    );
    assert!(
        waited_ms >= 3_000,
        "targets were healthy only after ~4s, waited {waited_ms}ms"
    );
    // One check per 500 ms interval, plus the first one.
    assert!(
        checks <= waited_ms / 500 + 2,
        "{checks} checks in {waited_ms}ms"
    );
    // Each check reads the target health; the stopped tasks every fifth check, the
    // running tasks once they look ready. Two observations of 7-8 reads each, the check
    // before the shift (2) and the shift (2) come on top.
    let reads = summary["aws_calls"]["reads"].as_u64().unwrap();
    assert!(
        reads <= 16 + checks + 2 * (checks / 5 + 1) + 2 + 2 + 2,
        "{reads} reads for {checks} checks"
    );
}

#[test]
fn never_healthy_within_the_budget_leaves_traffic_on_lambda() {
    let world = World::start(&["--task-start-delay", "0.5", "--health-delay", "600"]);
    world.alarm_from("alarm-metric.json");
    let run = world.spillover(
        &["replay", &event("alarm-metric.json")],
        &[("SPILLOVER_WAIT_BUDGET_SECS", "3")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("timed out after"), "{}", run.stderr);
    assert!(
        run.stderr.contains("traffic left where it was"),
        "{}",
        run.stderr
    );
    let summary = run.summary();
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["retryable"], true);
    assert_eq!(weights(&world.snapshot()), (1, 0));
    assert!(ecs_weighted(&world.timeline()).is_empty());
}

#[test]
fn a_task_that_stops_with_a_reason_ends_the_wait_early() {
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)";
    let world = World::start(&["--task-start-delay", "1", "--fail-start", reason]);
    world.alarm_from("alarm-metric.json");
    let started = std::time::Instant::now();
    let run = world.spillover(
        &["replay", &event("alarm-metric.json")],
        &[("SPILLOVER_WAIT_BUDGET_SECS", "60")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(reason), "{}", run.stderr);
    assert!(
        started.elapsed().as_secs() < 30,
        "stopped waiting long before the 60s budget"
    );
    assert_eq!(weights(&world.snapshot()), (1, 0));
    assert!(ecs_weighted(&world.timeline()).is_empty());
}

/// Replays events in order, each with the alarm set as the event says, and returns the final snapshot.
fn replay_all(world: &World, events: &[&str]) -> Value {
    for name in events {
        world.replay(name).expect_ok();
    }
    world.snapshot()
}

#[test]
fn a_duplicate_alarm_converges_without_a_second_transition() {
    let world = World::start(&["--task-start-delay", "0.2", "--health-delay", "0.3"]);
    world.replay("alarm-metric.json").expect_ok();
    let again = world.replay("alarm-metric.json").expect_ok().summary();
    assert_eq!(again["outcome"], "no_op");
    assert_eq!(again["aws_calls"]["writes"], 0);
    let snapshot = world.snapshot();
    assert_eq!(
        (weights(&snapshot), snapshot["desired"].as_i64()),
        ((0, 1), Some(2))
    );
    let writes = world.api_writes();
    let shifts = writes
        .iter()
        .filter(|w| w["api"] == "ModifyListener")
        .count();
    let scale_outs = writes
        .iter()
        .filter(|w| w["api"] == "UpdateService")
        .count();
    assert_eq!((shifts, scale_outs), (1, 1), "{writes:?}");
}

#[test]
fn ok_arriving_before_the_alarms_retry_leaves_everything_on_lambda() {
    let world = World::start(&["--task-start-delay", "0.2", "--health-delay", "0.3"]);
    // The ALARM event's first delivery failed; the alarm cleared; OK is handled; then
    // ALARM's retry arrives late while the alarm is OK.
    world.replay("ok-metric.json").expect_ok();
    let late = world
        .spillover(&["replay", &event("alarm-metric.json")], &[])
        .expect_ok()
        .summary();
    assert_eq!(late["observed"]["alarm"], "OK");
    assert_eq!(late["outcome"], "no_op");
    let snapshot = world.snapshot();
    assert_eq!(
        (weights(&snapshot), snapshot["desired"].as_i64()),
        ((1, 0), Some(0))
    );
    assert!(ecs_weighted(&world.timeline()).is_empty());
}

#[test]
fn alarm_ok_alarm_in_quick_succession_ends_spilled() {
    let world = World::start(&[
        "--task-start-delay",
        "0.2",
        "--health-delay",
        "0.3",
        "--sticky-secs",
        "0",
    ]);
    world.set_deregistration_delay(0);
    let snapshot = replay_all(
        &world,
        &["alarm-metric.json", "ok-metric.json", "alarm-metric.json"],
    );
    assert_eq!(weights(&snapshot), (0, 1));
    assert_eq!(snapshot["desired"], 2);
    assert!(snapshot["healthy"].as_i64() >= Some(1));
    // And the last word wins the other way too: weights back now, the scale-in on the
    // first tick after one metric period without requests.
    let snapshot = replay_all(&world, &["ok-metric.json"]);
    assert_eq!(
        (weights(&snapshot), snapshot["desired"].as_i64()),
        ((1, 0), Some(2))
    );
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    world
        .spillover(&["replay", &event("scheduled-tick.json")], &[])
        .expect_ok();
    let snapshot = world.snapshot();
    assert_eq!(
        (weights(&snapshot), snapshot["desired"].as_i64()),
        ((1, 0), Some(0))
    );
    for line in ecs_weighted(&world.timeline()) {
        assert!(
            line["healthy"].as_i64() >= Some(1),
            "ECS weight without healthy targets: {line}"
        );
    }
}

#[test]
fn dry_run_changes_nothing_in_the_world() {
    let world = World::start(&[]);
    world.alarm_from("alarm-metric.json");
    let before = world.snapshot();
    let summary = world
        .spillover(&["replay", "--dry-run", &event("alarm-metric.json")], &[])
        .expect_ok()
        .summary();
    assert_eq!(summary["outcome"], "dry_run");
    assert_eq!(summary["aws_calls"]["writes"], 0);
    assert_eq!(summary["plan"]["steps"].as_array().unwrap().len(), 3);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = world.snapshot();
    assert_eq!(after["desired"], before["desired"]);
    assert_eq!(
        after["listener_default_actions"],
        before["listener_default_actions"]
    );
    assert_eq!(after["tasks"], before["tasks"]);
}

#[test]
fn rule_mode_shifts_the_rule_and_leaves_the_default_action() {
    let world = World::start(&["--task-start-delay", "0.2", "--health-delay", "0.3"]);
    let rule = world.info["arns"]["rule"].as_str().unwrap().to_string();
    world.alarm_from("alarm-metric.json");
    let run = world.spillover(
        &["replay", &event("alarm-metric.json")],
        &[
            ("SPILLOVER_LISTENER_ARN", ""),
            ("SPILLOVER_RULE_ARN", &rule),
        ],
    );
    run.expect_ok();
    let snapshot = world.snapshot();
    assert_eq!(
        (
            snapshot["rule_lambda_weight"].as_i64(),
            snapshot["rule_ecs_weight"].as_i64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(weights(&snapshot), (1, 0), "default action untouched");
}

#[test]
fn bad_input_and_bad_config_exit_2_without_writing() {
    let world = World::start(&[]);
    let before = world.snapshot();
    for name in [
        "alarm-unconfigured.json",
        "malformed-truncated.json",
        "malformed-other-source.json",
    ] {
        let run = world.spillover(&["replay", &event(name)], &[]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "{name}: no summary before the event is accepted"
        );
    }
    let run = world.spillover(&["status"], &[("SPILLOVER_SPILL_COUNT", "zero")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("SPILLOVER_SPILL_COUNT"),
        "{}",
        run.stderr
    );
    let after = world.snapshot();
    assert_eq!(
        after["listener_default_actions"],
        before["listener_default_actions"]
    );
    assert_eq!(after["desired"], before["desired"]);
}

#[test]
fn status_prints_the_observed_state() {
    let world = World::start(&[]);
    let status: Value =
        serde_json::from_str(&world.spillover(&["status"], &[]).expect_ok().stdout).unwrap();
    assert_eq!(status["alarm"], "OK");
    assert_eq!(
        status["weights"],
        serde_json::json!({"lambda": 1, "ecs": 0})
    );
    assert_eq!(status["desired"], 0);
}

#[test]
fn progressive_steps_and_the_return_hold_move_one_step_per_run() {
    let world = World::start(&["--task-start-delay", "0.2", "--health-delay", "0.3"]);
    let policy = [
        ("SPILLOVER_STEPS", "50,100"),
        ("SPILLOVER_RETURN_HOLD_SECS", "1.5"),
    ];
    let tick = |world: &World| {
        world
            .spillover(&["replay", &event("scheduled-tick.json")], &policy)
            .expect_ok()
            .summary()
    };
    world.alarm_from("alarm-metric.json");
    world
        .spillover(&["replay", &event("alarm-metric.json")], &policy)
        .expect_ok();
    assert_eq!(weights(&world.snapshot()), (1, 1), "first step: half");
    tick(&world);
    assert_eq!(
        weights(&world.snapshot()),
        (0, 1),
        "second step on the next run"
    );

    // OK, but not for the 1.5 s hold yet: nothing moves.
    world.set_alarm("OK");
    let held = tick(&world);
    assert_eq!(held["plan"]["intent"], "hold");
    assert_eq!(weights(&world.snapshot()), (0, 1));
    std::thread::sleep(std::time::Duration::from_millis(1_600));
    tick(&world);
    assert_eq!(weights(&world.snapshot()), (1, 1), "one step back");
    // The alarm watches Lambda's concurrency, whose reading at the new split judges the
    // next step: not before a whole 1 s period since the step has settled (8 s here, so
    // that a slow machine still reads before it), which is sure 10 s after it.
    let settle = [("SPILLOVER_METRIC_SETTLE_SECS", "8")];
    let tick_settled = |world: &World| {
        world
            .spillover(
                &["replay", &event("scheduled-tick.json")],
                &[&policy[..], &settle[..]].concat(),
            )
            .expect_ok()
            .summary()
    };
    let unsettled = tick_settled(&world);
    assert_eq!(weights(&world.snapshot()), (1, 1), "{unsettled}");
    let reason = unsettled["plan"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no settled period yet"), "{reason}");
    std::thread::sleep(std::time::Duration::from_millis(10_100));
    tick_settled(&world);
    assert_eq!(weights(&world.snapshot()), (1, 0), "and the next");
    let writes = world.api_writes();
    let shifts = writes
        .iter()
        .filter(|w| w["api"] == "ModifyListener")
        .count();
    assert_eq!(shifts, 4, "{writes:?}");
    for line in ecs_weighted(&world.timeline()) {
        assert!(
            line["healthy"].as_i64() >= Some(1),
            "ECS weight without healthy targets: {line}"
        );
    }
}

/// Routes spillover's events on the world's default bus to a new SQS queue, as a user's
/// EventBridge rule would; returns the queue URL.
fn route_notifications_to_a_queue(world: &World) -> String {
    let script = "import boto3, json, sys\n\
         env = json.load(open(sys.argv[1]))['env']\n\
         kw = dict(endpoint_url=env['AWS_ENDPOINT_URL'], region_name=env['AWS_REGION'],\n\
             aws_access_key_id=env['AWS_ACCESS_KEY_ID'], aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'])\n\
         sqs, events = boto3.client('sqs', **kw), boto3.client('events', **kw)\n\
         url = sqs.create_queue(QueueName='spillover-notifications')['QueueUrl']\n\
         arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         events.put_rule(Name='spillover-notifications', EventPattern=json.dumps({'source': ['spillover']}))\n\
         events.put_targets(Rule='spillover-notifications', Targets=[{'Id': 'queue', 'Arn': arn}])\n\
         print(url)\n";
    let out = std::process::Command::new(support::python())
        .args(["-c", script])
        .arg(world.dir.join("world.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "routing the notifications failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The events the queue received since the last call (and deletes them).
fn received(world: &World, queue_url: &str) -> Vec<Value> {
    let script = "import boto3, json, sys\n\
         env = json.load(open(sys.argv[1]))['env']\n\
         sqs = boto3.client('sqs', endpoint_url=env['AWS_ENDPOINT_URL'], region_name=env['AWS_REGION'],\n\
             aws_access_key_id=env['AWS_ACCESS_KEY_ID'], aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'])\n\
         got = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10, WaitTimeSeconds=0).get('Messages', [])\n\
         for m in got:\n    sqs.delete_message(QueueUrl=sys.argv[2], ReceiptHandle=m['ReceiptHandle'])\n\
         print(json.dumps([json.loads(m['Body']) for m in got]))\n";
    let out = std::process::Command::new(support::python())
        .args(["-c", script])
        .arg(world.dir.join("world.json"))
        .arg(queue_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reading the queue failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list")
}

#[test]
fn a_spill_and_a_return_are_published_and_a_failed_publish_does_not_fail_the_run() {
    let world = World::start(&[
        "--task-start-delay",
        "0.2",
        "--health-delay",
        "0.3",
        "--sticky-secs",
        "0",
    ]);
    let queue = route_notifications_to_a_queue(&world);
    let bus = [("SPILLOVER_EVENT_BUS", "default")];
    let replay = |name: &str, env: &[(&str, &str)]| {
        world.alarm_from(name);
        world.spillover(&["replay", &event(name)], env)
    };

    let spill = replay("alarm-metric.json", &bus).expect_ok().summary();
    assert_eq!(spill["notification"]["published"], true, "{spill}");
    let got = received(&world, &queue);
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(
        (&e["source"], &e["detail-type"]),
        (
            &Value::from("spillover"),
            &Value::from("Spillover Traffic Spilled")
        )
    );
    let d = &e["detail"];
    assert_eq!(d["effect"], "Spilled");
    assert_eq!(d["reason"], spill["plan"]["reason"], "the plan's reason");
    assert_eq!(
        (
            d["ecs_share_before"].as_f64(),
            d["ecs_share_after"].as_f64()
        ),
        (Some(0.0), Some(100.0))
    );
    assert_eq!(
        (d["desired"].as_i64(), d["service"].as_str()),
        (Some(2), Some("web-app"))
    );
    assert!(d["time_to_ready_ms"].as_u64() >= Some(300), "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("100% of traffic on ECS")
    );

    let back = replay("ok-metric.json", &bus).expect_ok().summary();
    assert_eq!(back["notification"]["published"], true, "{back}");
    let got = received(&world, &queue);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["detail-type"], "Spillover Traffic Returned");
    assert_eq!(got[0]["detail"]["ecs_share_after"].as_f64(), Some(0.0));

    // A tick that changes no weights publishes nothing.
    let tick = world
        .spillover(&["replay", &event("scheduled-tick.json")], &bus)
        .expect_ok()
        .summary();
    assert!(tick.get("notification").is_none(), "{tick}");
    assert_eq!(received(&world, &queue), Vec::<Value>::new());

    // A bus that does not exist: the spill happens all the same, the failure is recorded.
    let spill = replay(
        "alarm-metric.json",
        &[("SPILLOVER_EVENT_BUS", "no-such-bus")],
    );
    assert!(
        spill.stderr.contains("could not publish the notification"),
        "{}",
        spill.stderr
    );
    let spill = spill.expect_ok().summary();
    assert_eq!(spill["outcome"], "done");
    assert_eq!(spill["notification"]["published"], false, "{spill}");
    assert!(
        spill["notification"]["error"]
            .as_str()
            .unwrap()
            .contains("PutEvents"),
        "{spill}"
    );
    assert_eq!(weights(&world.snapshot()), (0, 1));
}
