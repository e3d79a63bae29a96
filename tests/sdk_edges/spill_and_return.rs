//! The spill and the return: what is written, in what order, and what is left alone.

use crate::fake::*;
use crate::world::*;
use aws_sdk_cloudwatch::types::StateValue;
use spillover::Error;
use spillover::report::Outcome;

#[tokio::test]
async fn spill_scales_out_waits_for_health_then_shifts_only_the_two_weights() {
    let fake = Fake::new(World {
        other_tg: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;

    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::Done);
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
    assert_eq!(fake.modify_listener.num_calls(), 1);
    assert_eq!(fake.update_service.num_calls(), 1);
    let wait = summary
        .actions
        .iter()
        .find(|a| a.checks.is_some())
        .expect("a wait step ran");
    assert!(
        wait.checks.unwrap() >= 2,
        "targets needed two checks to turn healthy"
    );
    assert_eq!(summary.aws_calls.writes, 3);
    let after = summary.final_state.expect("final state observed");
    assert_eq!(
        (after.weights.lambda, after.weights.ecs, after.desired),
        (0, 1, 2)
    );
}

#[tokio::test]
async fn a_converged_world_makes_no_writes() {
    for world in [World::spilled(), World::idle()] {
        let fake = Fake::new(world);
        let summary = run(&fake.controller(&[])).await;
        assert_eq!(summary.outcome, Outcome::NoOp);
        assert_eq!(fake.modify_listener.num_calls(), 0);
        assert_eq!(fake.update_service.num_calls(), 0);
        assert_eq!(summary.aws_calls.writes, 0);
        assert!(
            fake.describe_alarms.num_calls() >= 1,
            "the alarm state was read, not trusted from the event"
        );
    }
}

#[tokio::test]
async fn weights_already_in_place_are_not_written_again() {
    let fake = Fake::new(World::idle());
    let controller = fake.controller(&[]);
    let on_lambda = spillover::observed::Weights::ON_LAMBDA;
    let listener = &controller.aws.listener;
    let current = listener.actions().await.unwrap();
    listener.set_weights(current, on_lambda).await.unwrap();
    assert_eq!(fake.modify_listener.num_calls(), 0);
    assert_eq!(controller.aws.calls.count().writes, 0);
}

#[tokio::test]
async fn return_shifts_back_first_and_scales_in_on_a_later_run_once_traffic_left() {
    let fake = Fake::new(World {
        sticky: false,
        ..World::spilled().with_alarm(StateValue::Ok)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );
    assert_eq!(
        fake.get_metric_data.num_calls(),
        0,
        "no evidence read in the return run"
    );

    // Seconds later: one metric period (60 s) has not passed since the return, nor the
    // settle time (180 s) after it.
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let after = summary.plan.unwrap().scale_in_after_secs.unwrap();
    assert!(after > 235.0 && after <= 240.0, "{after}");
    assert_eq!(fake.get_metric_data.num_calls(), 0);

    // Four minutes after the return, no requests and the delay over: scale in.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 240);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0",
            "desired=0"
        ]
    );
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        [
            "AWS/ApplicationELB RequestCount TargetGroup=targetgroup/ecs/2,LoadBalancer=app/web/1 Sum period=60 window=300"
        ]
    );
    assert_eq!(fake.target_group_attributes.num_calls(), 1);
}

#[tokio::test]
async fn a_request_count_of_zero_that_has_not_settled_does_not_count_as_drained() {
    // Two minutes after the return, no stickiness: the one-period window ended a minute
    // ago, and the ECS target group's RequestCount reads nothing there. ELB's datapoints
    // come late: that may be a period whose requests are not in yet.
    let fake = returned_with_requests(vec![], 120);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    let plan = summary.plan.unwrap();
    assert!(plan.reason.contains("has not settled"), "{}", plan.reason);
    assert_eq!(plan.scale_in_after_secs.map(f64::round), Some(120.0));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());

    // Once the window has settled, its 0 is the evidence; the query reaches back over it
    // and the settle time, and every period since counts.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 240);
    run(&fake.controller(&[])).await;
    assert_eq!(fake.writes(), ["desired=0"]);
    // A request in a partial period is a request: the lower bound says ECS still serves.
    let fake = returned_with_requests(vec![0.0, 2.0], 240);
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());

    // With no settle time for the load balancer's metrics, as soon as the window is over
    // (Lambda's settle time does not hold the drain).
    let fake = returned_with_requests(vec![], 120);
    run(&fake.controller(&[("SPILLOVER_ELB_METRIC_SETTLE_SECS", "0")])).await;
    assert_eq!(fake.writes(), ["desired=0"]);
}

/// Traffic back on Lambda `returned_secs_ago`, no stickiness, the ECS target group still
/// serving these `RequestCount` datapoints.
fn returned_with_requests(request_counts: Vec<f64>, returned_secs_ago: u64) -> Fake {
    let fake = Fake::new(World {
        sticky: false,
        request_counts,
        ..World::spilled()
            .with_alarm(StateValue::Ok)
            .with_mark("spillover:returned-at", returned_secs_ago)
    });
    fake.world.lock().unwrap().weights = (1, 0);
    fake
}

#[tokio::test]
async fn no_scale_in_while_the_ecs_target_group_still_serves_requests_or_drains() {
    let fake = returned_with_requests(vec![3.0, 1.0], 600);
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let reason = summary.plan.unwrap().reason;
    assert!(reason.contains("still served 4 requests"), "{reason}");

    // No requests, but a deregistration delay longer than the time since the return.
    {
        let mut world = fake.world.lock().unwrap();
        world.request_counts.clear();
        world.deregistration_delay = "900";
    }
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert_eq!(
        summary.plan.unwrap().scale_in_after_secs.map(f64::round),
        Some(300.0)
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_trickle_that_never_stops_is_scaled_in_after_the_longest_wait() {
    let fake = returned_with_requests(vec![1.0], 1500);
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let plan = summary.plan.unwrap();
    assert!(
        plan.reason.contains("still served 1 requests"),
        "{}",
        plan.reason
    );
    // The next look: once a window (60 s) has passed and settled (180 s), sooner than the
    // longest wait (300 s away).
    assert_eq!(plan.scale_in_after_secs.map(f64::round), Some(240.0));

    // 30 minutes since the return, a request still arrives now and then: scale in.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 1800);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let reason = summary.plan.unwrap().reason;
    assert!(
        reason.contains("SPILLOVER_SCALE_IN_MAX_WAIT_SECS"),
        "{reason}"
    );
    assert_eq!(fake.writes(), ["desired=0"]);
}

#[tokio::test]
async fn rule_mode_writes_the_rule_and_not_the_listener() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller =
        fake.controller(&[("SPILLOVER_LISTENER_ARN", ""), ("SPILLOVER_RULE_ARN", RULE)]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "rule weights lambda=0 ecs=1"
        ]
    );
    assert_eq!(fake.modify_listener.num_calls(), 0);
    assert_eq!(fake.describe_listeners.num_calls(), 0);
}

#[tokio::test]
async fn a_weight_write_whose_answer_shows_other_weights_is_an_error() {
    let fake = Fake::new(World {
        lying_write: true,
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    match &summary.error {
        Some(Error::Verify {
            want_ecs, got_ecs, ..
        }) => assert_eq!((*want_ecs, *got_ecs), (1, 0)),
        other => panic!("expected Verify, got {other:?}"),
    }
    assert_eq!(summary.retryable, Some(true));
}

#[tokio::test]
async fn dry_run_reads_and_plans_but_writes_nothing() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller = fake.controller(&[]);
    let summary = controller
        .run(tick(), controller.deadline(None), true)
        .await;
    assert_eq!(summary.outcome, Outcome::DryRun);
    assert_eq!(summary.plan.unwrap().steps.len(), 3);
    assert!(
        summary
            .actions
            .iter()
            .all(|a| a.result == "skipped (dry run)")
    );
    assert!(fake.writes().is_empty());
    assert_eq!(summary.aws_calls.writes, 0);
}

#[tokio::test]
async fn no_scale_in_when_someone_gave_ecs_weight_after_we_looked() {
    // Return with weights already on Lambda: the plan is one scale-in; the listener's
    // second read (the check right before it) finds ECS weighted again.
    let fake = Fake::new(World {
        weights: (1, 0),
        ecs_weight_on_read: Some((2, 1)),
        ..World::spilled().with_alarm(StateValue::Ok)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(
        matches!(summary.error, Some(Error::Changed(_))),
        "{:?}",
        summary.error
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn with_stickiness_the_scale_in_waits_until_sticky_sessions_expire() {
    // The OK event: weights back, no scale-in in the same run.
    let fake = Fake::new(World::spilled().with_alarm(StateValue::Ok));
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );

    // A tick soon after: the stickiness window (3600 s) since the return is ahead, and the
    // settle time (180 s) after it.
    let summary = run(&fake.controller(&[])).await;
    let after = summary.plan.unwrap().scale_in_after_secs.unwrap();
    assert!(after > 3770.0 && after <= 3780.0, "{after}");

    // A reconcile tick after the stickiness duration has settled, no requests over it:
    // the scale-in.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 3781);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes()[2..], ["desired=0"]);
    assert!(
        fake.world.lock().unwrap().metric_queries[0].ends_with("window=3840"),
        "{:?}",
        fake.world.lock().unwrap().metric_queries
    );
}
