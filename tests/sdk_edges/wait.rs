//! The wait for healthy targets: what it reads, how fast, and what ends it.

use crate::fake::*;
use crate::world::*;
use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_ecs::types::TaskStopCode;
use spillover::Error;
use spillover::report::Summary;

/// One run that waits for healthy targets, a check every 2.5 ms; it must succeed.
async fn run_waiting(fake: &Fake) -> Summary {
    let controller = fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "2.5"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "2.5"),
    ]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    summary
}

#[tokio::test]
async fn the_wait_reads_the_target_health_and_looks_at_the_tasks_rarely() {
    let fake = Fake::new(World {
        healthy_after_checks: 12,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run_waiting(&fake).await;
    let checks = u64::from(summary.actions.iter().find_map(|a| a.checks).unwrap());
    assert!(checks >= 10, "{checks}");
    // Observe twice (1 ListTasks each), one failure scan every 5 checks.
    let list_tasks = fake.list_tasks.num_calls() as u64;
    assert!(
        list_tasks <= 2 + checks.div_ceil(5),
        "{list_tasks} ListTasks for {checks} checks"
    );
    // The check that found the targets healthy read the running count in one call, not the
    // task list and then its describe: only the two looks list the running tasks.
    assert_eq!(fake.world.lock().unwrap().running_task_lists, 2);
    // One target-health read per check, plus the two observations: the check that found
    // them healthy is the pre-shift check (it reads the alarm and the listener as well).
    assert_eq!(fake.target_health.num_calls() as u64, checks + 2);
    assert_eq!(
        fake.describe_alarms.num_calls(),
        3,
        "observe, last check, last look"
    );
}

#[tokio::test]
async fn healthy_targets_wait_for_the_service_to_count_its_tasks_running() {
    let fake = Fake::new(World {
        healthy_after_checks: 2,
        running_after_checks: Some(6),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run_waiting(&fake).await;
    let checks = summary.actions.iter().find_map(|a| a.checks).unwrap();
    assert!(
        checks >= 5,
        "shifted after {checks} checks, before the tasks ran"
    );
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
}

#[tokio::test]
async fn a_service_slow_to_count_its_tasks_running_does_not_make_the_wait_read_faster() {
    // The targets are healthy at once, and DescribeServices counts no task running for 30
    // checks: each of those reads the target health, the running count, the alarm and the
    // listener, four reads where a check usually makes one.
    let fake = Fake::new(World {
        healthy_after_checks: 0,
        running_after_checks: Some(30),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "10"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "10"),
    ]))
    .await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let wait = summary.actions.iter().find(|a| a.checks.is_some()).unwrap();
    let checks = f64::from(wait.checks.unwrap());
    assert!(checks >= 28.0, "{checks}");
    assert!(fake.describe_services.num_calls() as f64 >= checks);
    // 1.5 requests per 10 ms interval is 150 a second, with 6 at once and one check's
    // overdraft: at the interval alone it would be 400.
    let reads = 4.0 * checks;
    let ms = wait.duration_ms as f64;
    assert!(
        reads <= 6.0 + 4.0 + 0.15 * ms,
        "{reads} reads in {ms} ms: more than 150 a second"
    );
}

#[tokio::test]
async fn a_task_that_cannot_pull_its_image_ends_the_wait_and_traffic_stays_on_lambda() {
    // Every start fails, each replacement too: the wait ends at the third, the threshold of
    // ECS's own deployment circuit breaker, with each failed start recorded.
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)";
    let fake = Fake::new(World {
        fail_reason: Some(reason.into()),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "10"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "10"),
    ]))
    .await;
    match &summary.error {
        Some(Error::TaskStopped {
            reason: got, task, ..
        }) => {
            assert_eq!(got, reason);
            assert_eq!(task, "task/failed-3");
        }
        other => panic!("expected TaskStopped, got {other:?}"),
    }
    assert_eq!(summary.exit_code(), 1);
    assert_eq!(fake.writes(), ["desired=2"], "no weight change");
    let wait = summary.actions.last().unwrap();
    let failed: Vec<&str> = wait.failed_starts.iter().map(|t| t.arn.as_str()).collect();
    assert_eq!(failed, ["task/failed-1", "task/failed-2", "task/failed-3"]);
    assert!(
        summary.durations_ms.total < 2000,
        "stopped at the third failed start, took {}ms",
        summary.durations_ms.total
    );
}

#[tokio::test]
async fn a_failed_start_that_ecs_replaces_is_reported_and_the_spill_goes_on_in_the_same_run() {
    let reason = "ResourceInitializationError: unable to pull secrets or registry auth";
    let fake = Fake::new(World {
        fail_reason: Some(reason.into()),
        fail_starts: Some(1),
        healthy_after_checks: 3,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run_waiting(&fake).await;
    assert_eq!(
        fake.writes()[fake.writes().len() - 1],
        "weights lambda=0 ecs=1",
        "{:?}",
        fake.writes()
    );
    let wait = summary
        .actions
        .iter()
        .find(|a| a.failed_starts.len() == 1)
        .expect("the wait records the failed start");
    assert_eq!(wait.failed_starts[0].reason, reason);
    assert_eq!(wait.result, "ok");
    // The run's announcement says so.
    let config = fake.controller(&[]).config;
    let event = spillover::notify::event(&summary, &config).expect("a spill is announced");
    assert_eq!(event.detail_type, "Spillover Traffic Spilled");
    let message = event.detail["message"].as_str().unwrap();
    assert!(message.contains("1 task start(s) failed"), "{message}");
    assert!(message.contains(reason), "{message}");
    assert_eq!(event.detail["failed_starts"][0]["reason"], reason);
}

#[tokio::test]
async fn a_task_the_scheduler_stops_for_failed_health_checks_ends_the_wait() {
    // ECS gives these the stop code of a scale-in, ServiceSchedulerInitiated; only the
    // reason tells them apart.
    for reason in [
        "Task failed container health checks",
        "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/ecs/2)",
    ] {
        let fake = Fake::new(World {
            fail_reason: Some(reason.into()),
            fail_stop_code: TaskStopCode::ServiceSchedulerInitiated,
            ..World::idle().with_alarm(StateValue::Alarm)
        });
        let summary = run(&fake.controller(&[("SPILLOVER_WAIT_BUDGET_SECS", "2")])).await;
        match &summary.error {
            Some(Error::TaskStopped { reason: got, .. }) => assert_eq!(got, reason),
            other => panic!("expected TaskStopped for {reason:?}, got {other:?}"),
        }
        assert_eq!(fake.writes(), ["desired=2"], "no weight change");
    }
}

#[tokio::test]
async fn a_task_moved_off_retired_infrastructure_does_not_end_the_wait() {
    // The scheduler replaces it: the wait goes on to its budget rather than failing at
    // the first check.
    let fake = Fake::new(World {
        fail_reason: Some(
            "ECS is performing maintenance on the underlying infrastructure hosting the task"
                .into(),
        ),
        fail_stop_code: TaskStopCode::ServiceSchedulerInitiated,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[("SPILLOVER_WAIT_BUDGET_SECS", "2")])).await;
    match &summary.error {
        Some(Error::Timeout { .. }) => {}
        other => panic!("expected the wait to time out, got {other:?}"),
    }
    assert!(
        summary.durations_ms.total >= 1900,
        "{}",
        summary.durations_ms.total
    );
    assert_eq!(fake.writes(), ["desired=2"], "no weight change");
}

#[tokio::test]
async fn never_healthy_within_the_budget_times_out_and_leaves_traffic() {
    let fake = Fake::new(World {
        never_healthy: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[("SPILLOVER_WAIT_BUDGET_SECS", "1")])).await;
    assert!(
        matches!(summary.error, Some(Error::Timeout { .. })),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.retryable, Some(true));
    assert_eq!(summary.exit_code(), 1);
    assert_eq!(fake.writes(), ["desired=2"]);
    let weights = summary.final_state.unwrap().weights;
    assert_eq!((weights.lambda, weights.ecs), (1, 0));
}

#[tokio::test]
async fn the_wait_is_paced_by_the_poll_interval() {
    let fake = Fake::new(World {
        healthy_after_checks: 6,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let controller = fake.controller(&[
        ("SPILLOVER_POLL_INTERVAL_MS", "20"),
        ("SPILLOVER_POLL_MAX_INTERVAL_MS", "40"),
    ]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let wait = summary.actions.iter().find(|a| a.checks.is_some()).unwrap();
    // Sleeps of 20, 40, 40, 40... between checks: the wait lasts at least that long.
    let checks = wait.checks.unwrap() as u64;
    assert!(
        wait.duration_ms >= 20 + 40 * (checks.saturating_sub(2)),
        "{checks} checks in {}ms",
        wait.duration_ms
    );
}

#[tokio::test]
async fn an_alarm_that_clears_while_tasks_start_gets_no_shift() {
    let fake = Fake::new(World {
        healthy_after_checks: 2,
        alarm_clears_after_checks: Some(2),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(
        matches!(summary.error, Some(Error::Changed(_))),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.retryable, Some(true));
    assert_eq!(
        fake.writes(),
        ["desired=2"],
        "scaled out, but no weight moved"
    );
}
