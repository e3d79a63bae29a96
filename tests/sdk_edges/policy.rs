//! The control policy against the fake AWS: progressive steps, the return hold,
//! INSUFFICIENT_DATA, a scalable target's minimum, the pre-warm, the demand readings.

use crate::fake::*;
use crate::world::*;
use aws_sdk_cloudwatch::types::StateValue;
use spillover::report::Outcome;

#[tokio::test]
async fn progressive_steps_move_one_step_per_run_and_record_each_change() {
    let fake = Fake::new(World::idle().with_alarm(StateValue::Alarm));
    let controller = fake.controller(&[("SPILLOVER_STEPS", "50,100")]);
    run(&controller).await;
    assert_eq!(
        fake.writes(),
        [
            "desired=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=1"
        ]
    );
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes()[3..],
        [
            "tag spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
    // The spill's weight changes are counted with the marks: the shift and one step.
    assert_eq!(fake.world.lock().unwrap().tags["spillover:moves"], "2");
    let summary = run(&controller).await;
    assert_eq!(summary.outcome, Outcome::NoOp, "at the top step");
    assert_eq!(
        fake.world.lock().unwrap().tag_keys(),
        [
            "spillover:moves",
            "spillover:shifted-at",
            "spillover:stepped-at"
        ]
    );
}

#[tokio::test]
async fn a_demand_alarm_returns_in_one_move_and_a_lambda_metric_alarm_one_step() {
    for (demand_alarm, weights) in [
        (true, "weights lambda=1 ecs=0"),
        (false, "weights lambda=1 ecs=1"),
    ] {
        let fake = Fake::new(World {
            demand_alarm,
            ..World::spilled().with_alarm(StateValue::Ok)
        });
        let summary = run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
        assert!(summary.error.is_none(), "{:?}", summary.error);
        assert_eq!(summary.observed.unwrap().alarms_blind, demand_alarm);
        assert_eq!(
            fake.writes().last().map(String::as_str),
            Some(weights),
            "demand alarm: {demand_alarm}"
        );
    }
}

#[tokio::test]
async fn a_return_waits_for_the_alarm_to_be_ok_for_the_hold() {
    let fake = Fake::new(World {
        alarm_changed_secs_ago: 10,
        ..World::spilled().with_alarm(StateValue::Ok)
    });
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let left = summary.plan.unwrap().return_after_secs.unwrap();
    assert!(left > 285.0 && left <= 290.0, "{left}");
    assert!(fake.writes().is_empty());
    // With a hold of 7.5 s (a faster world), the same state returns.
    let summary = run(&fake.controller(&[("SPILLOVER_RETURN_HOLD_SECS", "7.5")])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );
}

/// Half on ECS after a step down 250 s ago, the concurrency alarm OK for 20 s and low
/// enough for Lambda to take it all; its state changes before that are `history`. Its
/// metric has had a datapoint in every period since the step, and none before it.
fn probed(history: Option<Vec<(u64, &'static str, &'static str)>>) -> Fake {
    let mut world = World {
        alarm_changed_secs_ago: 20,
        alarm_history: history,
        concurrency: Some(vec![(245, 30.0), (185, 30.0), (125, 30.0), (65, 30.0)]),
        ..World::spilled()
            .with_alarm(StateValue::Ok)
            .with_mark("spillover:shifted-at", 900)
            .with_mark("spillover:stepped-at", 250)
    };
    world.weights = (1, 1);
    Fake::new(world)
}

#[tokio::test]
async fn the_ok_after_insufficient_data_does_not_start_the_hold_again() {
    let steps = [("SPILLOVER_STEPS", "50,100")];
    let returned = ["weights lambda=1 ecs=0"];
    // The alarm went blind at 100 % (ALARM -> INSUFFICIENT_DATA, 720 s ago), the step down
    // after that hold gave Lambda traffic again, and the alarm went OK: out of ALARM for
    // the whole hold, so the spill goes on back.
    let fake = probed(Some(vec![
        (20, "INSUFFICIENT_DATA", "OK"),
        (720, "ALARM", "INSUFFICIENT_DATA"),
    ]));
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes()[1..], returned);
    assert_eq!(
        fake.world.lock().unwrap().history_queries,
        ["web-app-concurrency-high since 300s"]
    );

    // Held: the alarm was in ALARM inside the hold, its history does not show its last
    // change (not written yet), or the default: from ALARM to OK 20 s ago.
    let held = [
        Some(vec![
            (20, "ALARM", "OK"),
            (200, "INSUFFICIENT_DATA", "ALARM"),
            (720, "ALARM", "INSUFFICIENT_DATA"),
        ]),
        Some(vec![(720, "ALARM", "INSUFFICIENT_DATA")]),
        None,
    ];
    for history in held {
        let fake = probed(history.clone());
        let summary = run(&fake.controller(&steps)).await;
        assert_eq!(summary.outcome, Outcome::NoOp, "{history:?}");
        let left = summary.plan.unwrap().return_after_secs.unwrap();
        assert!(left > 275.0 && left <= 280.0, "{history:?}: {left}");
        assert!(fake.writes().is_empty(), "{history:?}");
        assert_eq!(fake.world.lock().unwrap().history_queries.len(), 1);
    }

    // An ALARM on no data (TreatMissingData breaching) until the step down: its metric had
    // no datapoint from before the hold until the step's periods. Those before the step
    // have settled: that time in ALARM does not count, and the spill goes on back.
    let fake = probed(None);
    fake.world.lock().unwrap().treat_missing = Some("breaching");
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes()[1..], returned);
    // The same with missing data missing: an ALARM on no data is someone's SetAlarmState,
    // and counts.
    let fake = probed(None);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty());

    // A history that cannot be read holds as it did before it was read, and fails nothing.
    let denied_history = denied_once!(
        aws_sdk_cloudwatch::Client::describe_alarm_history,
        "cloudwatch:DescribeAlarmHistory"
    );
    let fake = probed(Some(vec![
        (20, "INSUFFICIENT_DATA", "OK"),
        (720, "ALARM", "INSUFFICIENT_DATA"),
    ]));
    let controller = fake.controller_with_reads(&steps, &fake.get_metric_data, &denied_history);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(denied_history.num_calls(), 1);
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty());

    // No history is read for a change before the hold, or with nothing on ECS.
    let long_calm = probed(None);
    long_calm.world.lock().unwrap().alarm_changed_secs_ago = 7200;
    run(&long_calm.controller(&steps)).await;
    assert_eq!(long_calm.writes()[1..], returned);
    let idle = Fake::new(World {
        alarm_changed_secs_ago: 20,
        ..World::idle()
    });
    run(&idle.controller(&steps)).await;
    for fake in [&long_calm, &idle] {
        assert!(fake.world.lock().unwrap().history_queries.is_empty());
        assert_eq!(fake.describe_alarm_history.num_calls(), 0);
    }
}

#[tokio::test]
async fn the_capacity_hold_after_insufficient_data_counts_from_when_the_alarm_left_alarm() {
    // Back on Lambda long ago, tasks still up; the alarm left ALARM for INSUFFICIENT_DATA
    // 720 s ago and went OK 20 s ago. Out of ALARM for the whole hold: scale in, as the
    // spill's own return would have done.
    let returned = |history| {
        let fake = Fake::new(World {
            sticky: false,
            request_counts: vec![0.0, 0.0],
            alarm_changed_secs_ago: 20,
            alarm_history: history,
            ..World::spilled()
                .with_alarm(StateValue::Ok)
                .with_mark("spillover:returned-at", 600)
        });
        fake.world.lock().unwrap().weights = (1, 0);
        fake
    };
    let fake = returned(Some(vec![
        (20, "INSUFFICIENT_DATA", "OK"),
        (720, "ALARM", "INSUFFICIENT_DATA"),
    ]));
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes(), ["desired=0"]);
    assert_eq!(fake.world.lock().unwrap().history_queries.len(), 1);

    // In ALARM inside the hold: the capacity stays for the rest of it.
    let fake = returned(Some(vec![
        (20, "ALARM", "OK"),
        (200, "INSUFFICIENT_DATA", "ALARM"),
    ]));
    let summary = run(&fake.controller(&[])).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let reason = summary.plan.unwrap().reason;
    assert!(reason.contains("capacity kept"), "{reason}");
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn an_alarm_in_alarm_on_no_data_steps_down_one_step_after_the_hold() {
    // The concurrency alarm with TreatMissingData breaching, all traffic on ECS for long:
    // Lambda publishes nothing and the alarm stays in ALARM. (At 50 % the run reads the
    // metric again until its wait budget ends.)
    let steps = [
        ("SPILLOVER_STEPS", "50,100"),
        ("SPILLOVER_WAIT_BUDGET_SECS", "1"),
    ];
    let silent = |datapoints: Vec<(u64, f64)>| {
        Fake::new(World {
            concurrency: Some(datapoints),
            treat_missing: Some("breaching"),
            ..World::spilled()
                .with_mark("spillover:shifted-at", 900)
                .with_mark("spillover:stepped-at", 900)
        })
    };
    let fake = silent(vec![]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, Some(420.0));
    assert_eq!(fake.writes()[1..], ["weights lambda=1 ecs=1"]);
    // The alarm's own metric and statistic, over the hold, two periods and the settle time.
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        ["AWS/Lambda ConcurrentExecutions FunctionName=web-app Maximum period=60 window=600"]
    );

    // A datapoint in the last period: the ALARM is real, and the spill stays.
    let fake = silent(vec![(30, 95.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, Some(0.0));
    assert!(fake.writes().is_empty());

    // Not read with Lambda still in the split, for an alarm whose missing data is missing
    // (its ALARM rests on data, or on someone's SetAlarmState), nor for one that cannot be
    // read.
    let fake = Fake::new(World {
        concurrency: Some(vec![]),
        ..World::spilled()
            .with_mark("spillover:shifted-at", 900)
            .with_mark("spillover:stepped-at", 900)
    });
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, None);
    assert!(fake.writes().is_empty());
    let mut half = World {
        concurrency: Some(vec![]),
        treat_missing: Some("breaching"),
        ..World::spilled()
    };
    half.weights = (1, 1);
    let fake = Fake::new(half);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, None);
    let fake = Fake::new(World::spilled());
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, None);
    assert_eq!(fake.get_metric_data.num_calls(), 0);
}

#[tokio::test]
async fn an_alarm_on_no_data_counts_its_silence_only_up_to_the_settled_periods() {
    // The concurrency alarm with TreatMissingData breaching, all traffic on ECS for long.
    let steps = [("SPILLOVER_STEPS", "50,100")];
    let silent = |datapoints: Vec<(u64, f64)>| {
        Fake::new(World {
            concurrency: Some(datapoints),
            treat_missing: Some("breaching"),
            ..World::spilled()
                .with_mark("spillover:shifted-at", 900)
                .with_mark("spillover:stepped-at", 900)
        })
    };
    // The last datapoint's period ended 360 s ago: more than the hold (300 s), but only
    // 180 s of that silence has settled; the rest may still bring a late datapoint.
    let fake = silent(vec![(420, 95.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    let secs = summary.observed.unwrap().alarm_silent_secs.unwrap();
    assert!((180.0..181.0).contains(&secs), "{secs}");
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // A datapoint in a partial period, not the last: not silent.
    let fake = silent(vec![(150, 95.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.unwrap().alarm_silent_secs, Some(0.0));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // Silent for the hold up to the settle horizon: the step down.
    let fake = silent(vec![(540, 95.0)]);
    let summary = run(&fake.controller(&steps)).await;
    let secs = summary.observed.unwrap().alarm_silent_secs.unwrap();
    assert!((300.0..301.0).contains(&secs), "{secs}");
    assert_eq!(fake.writes()[1..], ["weights lambda=1 ecs=1"]);
    // The last weight change 400 s ago: the silence since it has settled for 220 s only.
    let fake = silent(vec![]);
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:stepped-at", 400);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_scalable_target_gets_its_minimum_raised_and_restored_never_its_desired_count() {
    let fake = Fake::new(World {
        scalable: Some((0, 10)),
        ..World::idle().with_alarm(StateValue::Alarm)
    });
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:saved-min-capacity",
            "min capacity=2",
            "tag spillover:shifted-at,spillover:stepped-at,spillover:moves",
            "weights lambda=0 ecs=1"
        ]
    );
    assert_eq!(
        fake.world.lock().unwrap().tags["spillover:saved-min-capacity"],
        "0"
    );

    // The alarm cleared long ago and the spill is old: weights back.
    {
        let mut world = fake.world.lock().unwrap();
        world.alarm = StateValue::Ok;
        world.set_mark("spillover:shifted-at", 3600);
        world.set_mark("spillover:stepped-at", 3600);
    }
    run(&fake.controller(&[])).await;
    // Traffic left long ago (the stickiness window, 3600 s, has passed and settled): the
    // saved minimum goes back, and its tag.
    fake.world
        .lock()
        .unwrap()
        .set_mark("spillover:returned-at", 3600 + 180);
    let summary = run(&fake.controller(&[])).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes()[4..],
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0",
            "min capacity=0",
            "untag spillover:saved-min-capacity"
        ]
    );
    assert_eq!(
        fake.update_service.num_calls(),
        0,
        "desired count never written"
    );
    assert_eq!(fake.world.lock().unwrap().scalable, Some((0, 10)));
}

#[tokio::test]
async fn a_warm_alarm_scales_out_at_weight_zero_and_in_after_it_clears() {
    let fake = Fake::new(World {
        warm: Some(StateValue::Alarm),
        ..World::idle()
    });
    let controller = fake.controller(&[("SPILLOVER_WARM_ALARM_NAMES", WARM_ALARM)]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes(), ["desired=2"]);
    assert_eq!(fake.modify_listener.num_calls(), 0);
    assert_eq!(
        fake.describe_alarms.num_calls(),
        2,
        "one DescribeAlarms per observation, both groups"
    );

    fake.world.lock().unwrap().warm = Some(StateValue::Ok);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(fake.writes(), ["desired=2", "desired=0"]);
    assert_eq!(fake.modify_listener.num_calls(), 0);
}

/// Half on ECS since a step `stepped_secs_ago`, long after the shift, the concurrency alarm
/// OK for two hours: only its reading can hold the return. Its datapoints as (seconds ago
/// their 60 s period began, value).
fn half_and_calm(stepped_secs_ago: u64, concurrency: Vec<(u64, f64)>) -> Fake {
    let mut world = World::spilled()
        .with_alarm(StateValue::Ok)
        .with_mark("spillover:shifted-at", 7200)
        .with_mark("spillover:stepped-at", stepped_secs_ago);
    world.weights = (1, 1);
    world.concurrency = Some(concurrency);
    Fake::new(world)
}

#[tokio::test]
async fn a_concurrency_alarm_holds_the_last_step_back_until_lambda_could_carry_it_all() {
    // Lambda read 70 of the alarm's 90 with half the traffic, in a settled period.
    let steps = [("SPILLOVER_STEPS", "50,100")];
    let fake = half_and_calm(7200, vec![(310, 40.0), (250, 70.0)]);
    let controller = fake.controller(&steps);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    let reason = summary.plan.unwrap().reason;
    assert!(
        reason.contains("at 0% the alarm would read 156% of its threshold"),
        "{reason}"
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // The alarm's own metric, statistic and dimensions, over the last three periods and
    // the settle time before them.
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        ["AWS/Lambda ConcurrentExecutions FunctionName=web-app Maximum period=60 window=360"]
    );

    // The overload is over: 15 of 90 with half is 30 with all of it.
    fake.world.lock().unwrap().concurrency = Some(vec![(250, 15.0)]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(
        fake.writes(),
        [
            "tag spillover:returned-at,spillover:stepped-at,spillover:moves",
            "weights lambda=1 ecs=0"
        ]
    );

    // The last weight change less than a period and the settle time ago: no settled period
    // to read, no query, and the step waits for one (at most two periods and the settle
    // time after the change).
    let fake = half_and_calm(0, vec![(250, 15.0)]);
    let summary = run(&fake.controller(&[
        ("SPILLOVER_STEPS", "50,100"),
        ("SPILLOVER_STEP_SETTLE_SECS", "0"),
    ]))
    .await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert!(fake.world.lock().unwrap().metric_queries.is_empty());
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let plan = summary.plan.unwrap();
    assert!(
        plan.reason.contains("no settled period yet"),
        "{}",
        plan.reason
    );
    let after = plan.return_after_secs.unwrap();
    assert!(after > 295.0 && after <= 300.0, "{after}");

    // No datapoint (Lambda published nothing) in periods that have settled: the step is
    // judged by the alarm after it.
    let fake = half_and_calm(7200, vec![]);
    run(&fake.controller(&steps)).await;
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=0")
    );
}

#[tokio::test]
async fn a_partial_period_that_reads_low_never_steps_back() {
    let steps = [("SPILLOVER_STEPS", "50,100")];
    // The step 260 s ago; since then only the newest period has a datapoint, and it is
    // partial: 10 of 90 may be the start of 70.
    let fake = half_and_calm(260, vec![(90, 10.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    let observed = summary.observed.unwrap();
    assert_eq!(observed.split_load, Some(10.0 / 90.0));
    let left = observed.split_settles_in_secs.unwrap();
    assert!(left > 35.0 && left <= 40.0, "{left}");
    let plan = summary.plan.unwrap();
    assert!(
        plan.reason.contains("no settled period yet"),
        "{}",
        plan.reason
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());

    // One period since the step has settled, and it read low too: the step.
    let fake = half_and_calm(260, vec![(250, 12.0), (90, 10.0)]);
    run(&fake.controller(&steps)).await;
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=0")
    );

    // A partial period already high holds the step, whatever has settled.
    let fake = half_and_calm(7200, vec![(250, 12.0), (90, 70.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.outcome, Outcome::NoOp);
    let reason = summary.plan.unwrap().reason;
    assert!(reason.contains("the alarm would read 156%"), "{reason}");
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_demand_alarm_that_reads_the_demand_moves_only_the_excess() {
    // Half on ECS, the demand alarm firing: its evaluated query read 450 for two settled
    // periods against a threshold of 90. Lambda should keep 90 / 450 = 20 %: the step to
    // 100 stops at 80.
    // One weight change so far, the shift: the stop, the last step and the return fit in
    // two changes per step.
    let fake = Fake::new(World::half_with_demand(vec![450.0, 450.0]));
    let controller = fake.controller(&[("SPILLOVER_STEPS", "50,100")]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.observed.as_ref().unwrap().demand_load, Some(5.0));
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=4"),
        "{:?}",
        summary.plan
    );
    // The alarm's queries as they are, over its last three settled periods (and one
    // before) and the settle time since.
    assert_eq!(
        fake.world.lock().unwrap().metric_queries,
        ["(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60 ids=m1,m2,e1 window=420"]
    );
    assert_eq!(fake.world.lock().unwrap().tags["spillover:moves"], "2");

    // The demand falls to 100: 80 % on ECS still carries the excess, nothing moves.
    let writes = fake.writes().len();
    fake.world.lock().unwrap().demand = Some(vec![100.0]);
    let summary = run(&controller).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert_eq!(
        summary.observed.as_ref().unwrap().demand_load,
        Some(100.0 / 90.0)
    );
    assert!(
        summary.plan.unwrap().reason.contains("carries the excess"),
        "{:?}",
        fake.writes()
    );
    assert_eq!(fake.writes().len(), writes);

    // It rises, 300 then 420: the trend carried from the last settled period's middle to
    // now (the settle time and half a period: 3.5 periods), 840 is 9.3 thresholds, 90 % on
    // ECS. A second stop after the shift and the first would leave no change for the last
    // step and the return: the last step.
    fake.world.lock().unwrap().demand = Some(vec![300.0, 420.0]);
    let summary = run(&controller).await;
    let load = summary.observed.as_ref().unwrap().demand_load.unwrap();
    assert!((9.33..9.45).contains(&load), "{load}");
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );
    assert_eq!(fake.world.lock().unwrap().tags["spillover:moves"], "3");

    // No datapoint: the steps as configured.
    let fake = Fake::new(World::half_with_demand(vec![]));
    run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );

    // At the last step there is nothing to read for.
    let fake = Fake::new(World {
        demand: Some(vec![450.0]),
        ..World::spilled()
    });
    run(&fake.controller(&[("SPILLOVER_STEPS", "50,100")])).await;
    assert!(fake.world.lock().unwrap().metric_queries.is_empty());
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_demand_reading_sizes_the_step_from_settled_periods_and_partial_floors() {
    let steps = [("SPILLOVER_STEPS", "50,100")];
    let half = |settled: Vec<f64>, partial: Vec<f64>| {
        let mut world = World::half_with_demand(settled);
        world.demand_partial = partial;
        Fake::new(world)
    };
    // Settled, the demand rose from 300 to 420; the newest periods are partial and read
    // low (a dip at the end). Their trend is not the demand's: carried from the settled
    // ones to now, 840 is 9.3 thresholds, and the partial ones only count as floors.
    // Lambda keeps about a tenth: a stop at 90 % would leave no change for the last step
    // and the return after the shift, so the last step.
    let fake = half(vec![300.0, 420.0], vec![200.0, 20.0]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let load = summary.observed.as_ref().unwrap().demand_load.unwrap();
    assert!((9.33..9.45).contains(&load), "{load}");

    // Settled at 150 (1.67 thresholds: 50 % on ECS carries its excess), but a partial
    // period already read 450: a lower bound, so the excess is at least 80 %.
    let fake = half(vec![150.0, 150.0], vec![450.0, 100.0]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.observed.as_ref().unwrap().demand_load, Some(5.0));
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=4"),
        "{:?}",
        summary.plan
    );

    // Only partial periods (the spike began less than the settle time ago): they cannot
    // size a smaller step on their own. The ALARM spills, the steps as configured.
    let fake = half(vec![], vec![450.0, 200.0]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let observed = summary.observed.unwrap();
    assert_eq!(observed.demand_load, None);
    assert!(observed.demand_unsettled);
    let reason = summary.plan.unwrap().reason;
    assert!(
        reason.contains("the demand has no settled period yet"),
        "{reason}"
    );
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );

    // A settled reading under the threshold: its window predates the spike that put the
    // alarm in ALARM. No excess read, the steps as configured: never a stall.
    let fake = half(vec![60.0, 60.0], vec![]);
    run(&fake.controller(&steps)).await;
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );
    // The same with a partial period over it (half a minute of the spike received, 123 of
    // a 90 threshold): the settled periods are from before the spike, so how far over the
    // demand is, is not known. Not a reading of 137 % (27 % excess, "carried" at 50 %):
    // the steps as configured.
    let fake = half(vec![60.0, 60.0], vec![123.0]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(summary.observed.as_ref().unwrap().demand_load, None);
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1"),
        "{:?}",
        summary.plan
    );
}

#[tokio::test]
async fn a_reading_that_cannot_be_taken_neither_stops_a_spill_nor_holds_one() {
    let get_metric_data = || {
        denied_once!(
            aws_sdk_cloudwatch::Client::get_metric_data,
            "cloudwatch:GetMetricData"
        )
    };
    let steps = [("SPILLOVER_STEPS", "50,100")];

    // The demand alarm fires at half on ECS: without its reading, the next step as
    // configured.
    let fake = Fake::new(World::half_with_demand(vec![450.0, 450.0]));
    let denied_read = get_metric_data();
    let summary = run(&fake.controller_with_metric_data(&steps, &denied_read)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(denied_read.num_calls(), 1);
    assert_eq!(summary.observed.unwrap().demand_load, None);
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=0 ecs=1")
    );

    // A concurrency alarm calm for long at half on ECS: without its reading, the step back
    // is judged by the alarm after it, as before the reading existed.
    let mut world = World::spilled()
        .with_alarm(StateValue::Ok)
        .with_mark("spillover:shifted-at", 7200)
        .with_mark("spillover:stepped-at", 7200);
    world.weights = (1, 1);
    world.concurrency = Some(vec![(250, 70.0)]);
    let fake = Fake::new(world);
    let denied_read = get_metric_data();
    let summary = run(&fake.controller_with_metric_data(&steps, &denied_read)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(denied_read.num_calls(), 1);
    assert_eq!(
        fake.writes().last().map(String::as_str),
        Some("weights lambda=1 ecs=0")
    );
}

#[tokio::test]
async fn an_alarm_on_periods_not_received_yet_spills_in_the_same_run_once_its_metric_breaches() {
    // The concurrency alarm (breaching) went to ALARM on the newest periods, not received
    // yet; the breaching datapoint reaches CloudWatch a few seconds later, by the third
    // read. The run reads the metric again each twelfth of a period (1 s here) and spills.
    let config = [
        ("SPILLOVER_SPILL_COUNT", "2"),
        ("SPILLOVER_METRIC_PERIOD_SECS", "12"),
        ("SPILLOVER_WAIT_BUDGET_SECS", "20"),
    ];
    let alarmed = |late: Vec<(usize, u64, f64)>| {
        Fake::new(World {
            alarm: StateValue::Alarm,
            alarm_changed_secs_ago: 2,
            concurrency: Some(vec![(240, 40.0)]),
            concurrency_late: late,
            treat_missing: Some("breaching"),
            healthy_after_checks: 0,
            ..World::idle()
        })
    };
    let fake = alarmed(vec![(3, 60, 100.0)]);
    let started = std::time::Instant::now();
    let summary = run(&fake.controller(&config)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::Done);
    let reason = summary.plan.as_ref().unwrap().reason.clone();
    assert!(
        reason.contains("a datapoint over the threshold"),
        "{reason}"
    );
    assert_eq!(fake.writes()[0], "desired=2");
    assert_eq!(
        fake.writes()[fake.writes().len() - 1],
        "weights lambda=0 ecs=1"
    );
    let reads = fake.world.lock().unwrap().metric_queries.len();
    assert!((3..=5).contains(&reads), "{reads} metric reads");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // No breach before the wait budget ends: nothing written, nothing failed.
    let fake = alarmed(vec![]);
    let short = [config[0], config[1], ("SPILLOVER_WAIT_BUDGET_SECS", "2")];
    let summary = run(&fake.controller(&short)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let reads = fake.world.lock().unwrap().metric_queries.len();
    assert!((2..=4).contains(&reads), "{reads} metric reads in 2 s");
}

#[tokio::test]
async fn an_alarm_in_alarm_on_periods_not_received_yet_moves_nothing_until_its_metric_breaches() {
    // The concurrency alarm with TreatMissingData breaching, at 50 % after a step down 40 s
    // ago: CloudWatch has not received Lambda's new share yet, and the alarm is in ALARM on
    // the missing periods. Its metric read nothing over 90 since: the split holds.
    let steps = [
        ("SPILLOVER_STEPS", "50,100"),
        ("SPILLOVER_SPILL_COUNT", "2"),
        // The run reads the metric again until its wait budget ends.
        ("SPILLOVER_WAIT_BUDGET_SECS", "1"),
    ];
    let half = |datapoints: Vec<(u64, f64)>| {
        let mut world = World {
            weights: (1, 1),
            concurrency: Some(datapoints),
            treat_missing: Some("breaching"),
            ..World::spilled()
                .with_mark("spillover:shifted-at", 900)
                .with_mark("spillover:stepped-at", 40)
        };
        world.tags.insert("spillover:moves".into(), "2".into());
        Fake::new(world)
    };
    // Before the step down, 95; since, nothing received.
    let fake = half(vec![(120, 95.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(summary.outcome, Outcome::NoOp);
    assert_eq!(
        summary.observed.as_ref().unwrap().alarm_breach_read,
        Some(false)
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // A datapoint since, under the threshold (partial or not): still nothing over it.
    let fake = half(vec![(120, 95.0), (30, 40.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(
        summary.observed.as_ref().unwrap().alarm_breach_read,
        Some(false)
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    // One over it since the step: the ALARM is real, the step up goes.
    let fake = half(vec![(120, 95.0), (30, 92.0)]);
    let summary = run(&fake.controller(&steps)).await;
    assert_eq!(
        summary.observed.as_ref().unwrap().alarm_breach_read,
        Some(true)
    );
    assert_eq!(
        fake.writes()[fake.writes().len() - 1],
        "weights lambda=0 ecs=1"
    );
}
