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
