//! Hysteresis and INSUFFICIENT_DATA.

use super::*;

#[test]
fn a_return_waits_for_every_alarm_to_be_calm_for_the_hold() {
    // Hold 300 s (default), from the alarms' own state change.
    let config = all_or_nothing();
    let table = [
        // (alarm, seconds in that state) -> steps back now?, seconds left
        ((Ok, 0.0), false, Some(300.0)),
        ((Ok, 299.0), false, Some(1.0)),
        ((Ok, 300.0), true, None),
        ((InsufficientData, 10.0), false, Some(290.0)),
        ((InsufficientData, 300.0), true, None),
    ];
    for ((alarm, age), returns, left) in table {
        let observed = Observed::spilled().with_alarm(alarm).with_alarm_age(age);
        let plan = plan_with(&config, &observed);
        let expected = if returns {
            vec![SetWeights {
                from: ON_ECS,
                to: ON_LAMBDA,
            }]
        } else {
            vec![]
        };
        assert_eq!(plan.steps, expected, "{alarm} for {age}s");
        assert_eq!(plan.return_after_secs, left, "{alarm} for {age}s");
        let intent = if returns {
            Intent::Return
        } else {
            Intent::Hold
        };
        assert_eq!(plan.intent, intent, "{alarm} for {age}s");
    }
}

#[test]
fn an_alarm_age_cloudwatch_does_not_give_never_holds_for_ever() {
    let observed = Observed {
        alarm_age_secs: None,
        ..Observed::spilled().with_alarm(InsufficientData)
    };
    assert_eq!(
        plan_with(&all_or_nothing(), &observed).steps,
        [SetWeights {
            from: ON_ECS,
            to: ON_LAMBDA
        }]
    );
}

#[test]
fn insufficient_data_while_spilled_steps_down_one_step_so_lambda_reports_again() {
    // Full spill: Lambda's metric is gone and the alarm is INSUFFICIENT_DATA for good.
    let config = test_config_with(&[("SPILLOVER_STEPS", "25,50,100")]);
    let stuck = Observed::spilled().with_alarm(InsufficientData);
    assert_eq!(
        plan_with(&config, &stuck).steps,
        [SetWeights {
            from: ON_ECS,
            to: HALF
        }],
        "one step, so Lambda serves again and the alarm sees data"
    );
    // Right after that step the alarm gets the settle time to see the new split.
    let just_stepped = stuck.clone().with_weights(1, 1).stepped_ago(30.0);
    let plan = plan_with(&config, &just_stepped);
    assert!(plan.is_noop(), "{plan:?}");
    assert_eq!(plan.return_after_secs, Some(90.0));
    // INSUFFICIENT_DATA that has not lasted the hold holds, whatever the state.
    for observed in [
        Observed::idle(),
        Observed::scaling(),
        Observed::spilled(),
        Observed::half_returned().drained(),
    ] {
        let young = observed
            .clone()
            .with_alarm(InsufficientData)
            .with_alarm_age(60.0);
        let plan = plan_with(&config, &young);
        assert_eq!(plan.intent, Intent::Hold);
        assert!(plan.is_noop(), "{observed:?}: {plan:?}");
    }
}

#[test]
fn an_alarm_on_no_data_while_spilled_steps_down_one_step_so_lambda_reports_again() {
    // TreatMissingData breaching (or ignore): all on ECS, Lambda publishes nothing and the
    // alarm stays in ALARM on no data.
    let config = test_config_with(&[("SPILLOVER_STEPS", "25,50,100")]);
    let silent = |secs| Observed::spilled().with_alarm(Alarm).with_silence(secs);
    let plan = plan_with(&config, &silent(300.0));
    assert_eq!(
        plan.steps,
        [SetWeights {
            from: ON_ECS,
            to: HALF
        }],
        "one step, as for INSUFFICIENT_DATA"
    );
    assert!(
        plan.reason.contains("alarm is ALARM now"),
        "{}",
        plan.reason
    );
    assert!(
        plan.reason.contains("no datapoint for 300s"),
        "{}",
        plan.reason
    );
    // Silent for less than the hold, or not read: an ALARM, at the last step.
    for observed in [silent(299.0), Observed::spilled().with_alarm(Alarm)] {
        let plan = plan_with(&config, &observed);
        assert!(plan.is_noop(), "{observed:?}: {plan:?}");
        assert_eq!(plan.intent, Intent::Spill);
    }
    // The silence counts from the last weight change at most: before it Lambda had a
    // share (here an alarm with no metric at all, set by hand, right after the shift).
    let plan = plan_with(&config, &silent(420.0).stepped_ago(60.0));
    assert!(plan.is_noop(), "{plan:?}");
    assert_eq!(
        plan_with(&config, &silent(420.0).stepped_ago(480.0))
            .steps
            .len(),
        1
    );
}

#[test]
fn the_silence_since_a_weight_change_counts_only_once_its_periods_have_settled() {
    // The silence the reading proves already stops at the settle horizon; the time since
    // the last weight change must too: the 180 s after it may still get Lambda's datapoints
    // (an invocation started before the change is stamped with its start).
    let config = test_config_with(&[("SPILLOVER_STEPS", "25,50,100")]);
    let silent = |stepped| {
        Observed::spilled()
            .with_alarm(Alarm)
            .with_silence(420.0)
            .stepped_ago(stepped)
    };
    let plan = plan_with(&config, &silent(479.0));
    assert!(plan.is_noop(), "{plan:?}");
    assert_eq!(plan.intent, Intent::Spill);
    assert!(
        plan.reason.contains(
            "no datapoint for 299s of the 300s return hold, in periods that have settled"
        ),
        "{}",
        plan.reason
    );
    assert_eq!(plan_with(&config, &silent(480.0)).steps.len(), 1);
    // With no settle time, the change alone.
    let instant = test_config_with(&[
        ("SPILLOVER_STEPS", "25,50,100"),
        ("SPILLOVER_METRIC_SETTLE_SECS", "0"),
    ]);
    assert_eq!(plan_with(&instant, &silent(300.0)).steps.len(), 1);
    assert!(plan_with(&instant, &silent(299.0)).is_noop());
}

#[test]
fn the_silence_changes_nothing_for_an_alarm_out_of_alarm() {
    let config = test_config_with(&[("SPILLOVER_STEPS", "25,50,100")]);
    // The silence changes nothing for an alarm out of ALARM.
    let ok = Observed::spilled()
        .with_alarm(Ok)
        .with_alarm_age(10.0)
        .with_silence(400.0);
    assert!(plan_with(&config, &ok).is_noop());
}

#[test]
fn never_returns_before_the_minimum_spill_time() {
    // Min spill 120 s (default): an alarm that cleared long ago does not shorten it.
    let config = all_or_nothing();
    let table = [
        (10.0, false),
        (119.0, false),
        (120.0, true),
        (LONG_AGO, true),
    ];
    for (shifted, returns) in table {
        let observed = Observed::spilled().with_alarm(Ok).shifted_ago(shifted);
        let plan = plan_with(&config, &observed);
        assert_eq!(!plan.is_noop(), returns, "shifted {shifted}s ago: {plan:?}");
    }
}

/// A fixed clock for the history tests: `secs` before it.
fn ago(secs: u64) -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 - secs)
}

/// A state change in an alarm's history, `secs` ago.
fn change(secs: u64, from: AlarmState, to: AlarmState) -> crate::decide::hold::Transition {
    crate::decide::hold::Transition {
        at: ago(secs),
        from,
        to,
    }
}

#[test]
fn the_hold_counts_from_when_the_alarm_left_alarm() {
    use crate::decide::hold::out_of_alarm_since;
    // Over the last 300 s (since), for an alarm that last changed 20 s ago.
    let since = ago(300);
    let table = [
        // The OK after INSUFFICIENT_DATA, which followed ALARM before the window.
        (vec![change(20, InsufficientData, Ok)], ago(300)),
        // ... in any order, with the change into INSUFFICIENT_DATA inside the window.
        (
            vec![
                change(250, Alarm, InsufficientData),
                change(20, InsufficientData, Ok),
            ],
            ago(250),
        ),
        // ALARM inside the window: from when it left.
        (
            vec![
                change(20, Alarm, Ok),
                change(200, InsufficientData, Alarm),
                change(280, Ok, InsufficientData),
            ],
            ago(20),
        ),
        (
            vec![
                change(20, InsufficientData, Ok),
                change(100, Alarm, InsufficientData),
                change(160, Ok, Alarm),
            ],
            ago(100),
        ),
        // OK and INSUFFICIENT_DATA back and forth, no ALARM.
        (
            vec![
                change(20, InsufficientData, Ok),
                change(140, Ok, InsufficientData),
            ],
            ago(300),
        ),
        // Proves nothing: empty (not written yet), without the last change, ending in ALARM.
        (vec![], ago(20)),
        (vec![change(140, Alarm, InsufficientData)], ago(20)),
        (vec![change(20, Ok, Alarm)], ago(20)),
        // The same change, stamped a second apart by the two APIs.
        (vec![change(21, InsufficientData, Ok)], ago(300)),
    ];
    for (changes, want) in table {
        assert_eq!(
            out_of_alarm_since(&changes, since, ago(20), None),
            want,
            "{changes:?}"
        );
    }
}

#[test]
fn a_time_in_alarm_on_no_data_does_not_count_against_the_hold() {
    use crate::decide::hold::{Datapoints, out_of_alarm_since};
    use std::time::Duration;
    // Every period settled as soon as it ended (see the next test for a settle time).
    let data = |starts: &[u64]| Datapoints {
        starts: starts.iter().map(|&s| ago(s)).collect(),
        period: Duration::from_secs(60),
        settled_until: ago(0),
        stepped_at: None,
    };
    let since = ago(300);
    // TreatMissingData breaching: ALARM on no data since before the window, then the step
    // down gave Lambda traffic and its first period (from 65 s ago) put the alarm in OK.
    let left = [change(5, Alarm, Ok)];
    let table = [
        (data(&[65]), ago(300)),
        // A datapoint while in ALARM: a real ALARM, the hold counts from its end.
        (data(&[125, 65]), ago(5)),
        (data(&[290, 65]), ago(5)),
    ];
    for (points, want) in table {
        assert_eq!(
            out_of_alarm_since(&left, since, ago(5), Some(&points)),
            want,
            "{points:?}"
        );
    }
    // Without the metric, as before.
    assert_eq!(out_of_alarm_since(&left, since, ago(5), None), ago(5));
    // A real ALARM, then one on no data: from the end of the real one.
    let both = [
        change(280, Ok, Alarm),
        change(200, Alarm, Ok),
        change(150, Ok, Alarm),
        change(5, Alarm, Ok),
    ];
    assert_eq!(
        out_of_alarm_since(&both, since, ago(5), Some(&data(&[320, 250, 65]))),
        ago(200)
    );
    // The same with data in the second one too.
    assert_eq!(
        out_of_alarm_since(&both, since, ago(5), Some(&data(&[320, 250, 125, 65]))),
        ago(5)
    );
    // The data after the last weight change (the step down, 62 s ago) is what it let
    // Lambda report, wherever its period began: the ALARM before it rested on none.
    let stepped = |starts: &[u64], secs: u64| Datapoints {
        stepped_at: Some(ago(secs)),
        ..data(starts)
    };
    // (Periods as the reader aligns them, not as the alarm does: one began 70 s ago.)
    assert_eq!(
        out_of_alarm_since(&left, since, ago(5), Some(&stepped(&[70], 62))),
        ago(300)
    );
    assert_eq!(
        out_of_alarm_since(&left, since, ago(5), Some(&stepped(&[70], 5))),
        ago(5),
        "without that step, the period that began 70 s ago was read in ALARM"
    );
    assert_eq!(
        out_of_alarm_since(&left, since, ago(5), Some(&stepped(&[200, 70], 62))),
        ago(5)
    );
}

#[test]
fn no_datapoint_in_a_period_that_has_not_settled_proves_no_alarm_on_no_data() {
    use crate::decide::hold::{Datapoints, out_of_alarm_since};
    use std::time::Duration;
    // TreatMissingData breaching: ALARM on no data since before the window; it left ALARM
    // 5 s ago. Periods settle 180 s after they end.
    let data = |starts: &[u64], stepped: Option<u64>| Datapoints {
        starts: starts.iter().map(|&s| ago(s)).collect(),
        period: Duration::from_secs(60),
        settled_until: ago(180),
        stepped_at: stepped.map(ago),
    };
    let since = ago(300);
    let left = [change(5, Alarm, Ok)];
    // The periods it evaluated in ALARM run up to 5 s ago: those of the last three minutes
    // may have a datapoint on its way, and the ALARM counts.
    assert_eq!(
        out_of_alarm_since(&left, since, ago(5), Some(&data(&[65], None))),
        ago(5)
    );
    // A step down 200 s ago ends what the ALARM is judged on there: all settled, none had
    // a datapoint, the ALARM rested on no data.
    assert_eq!(
        out_of_alarm_since(&left, since, ago(5), Some(&data(&[65], Some(200)))),
        ago(300)
    );
    // The same step 170 s ago: not yet settled.
    assert_eq!(
        out_of_alarm_since(&left, since, ago(5), Some(&data(&[65], Some(170)))),
        ago(5)
    );
}
