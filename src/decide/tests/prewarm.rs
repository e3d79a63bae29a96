//! Pre-warm.

use super::*;

#[test]
fn a_warm_alarm_scales_out_at_weight_zero() {
    let config = test_config_with(&[("SPILLOVER_WARM_ALARM_NAMES", "web-app-warm")]);
    let plan = plan_with(&config, &Observed::idle().with_warm(Alarm, 5.0));
    assert_eq!(plan.intent, Intent::Warm);
    assert_eq!(plan.steps, [ScaleOut { from: 0, to: 2 }]);
    // The spill alarm just cleared (inside its hold): still a pre-warm.
    let plan = plan_with(
        &config,
        &Observed::idle().with_alarm_age(10.0).with_warm(Alarm, 5.0),
    );
    assert_eq!(plan.intent, Intent::Warm);
    assert_eq!(plan.steps, [ScaleOut { from: 0, to: 2 }]);
    // Already warm: nothing, and certainly no weight.
    let warm = Observed::scaling()
        .with_alarm(Ok)
        .with_warm(Alarm, 60.0)
        .with_running(2)
        .with_healthy(2)
        .drained();
    assert!(plan_with(&config, &warm).is_noop());
}

#[test]
fn pre_warm_ends_after_the_warning_has_cleared_for_the_hold() {
    let config = test_config_with(&[("SPILLOVER_WARM_ALARM_NAMES", "web-app-warm")]);
    let warm = |state: AlarmState, age: f64| {
        Observed::scaling()
            .with_alarm(Ok)
            .with_warm(state, age)
            .with_running(2)
            .with_healthy(2)
            .drained()
    };
    let table = [
        (warm(Alarm, LONG_AGO), vec![]),
        (warm(Ok, 10.0), vec![]),
        (warm(InsufficientData, 10.0), vec![]),
        (warm(Ok, 300.0), vec![ScaleIn { from: 2, to: 0 }]),
        (
            warm(InsufficientData, 300.0),
            vec![ScaleIn { from: 2, to: 0 }],
        ),
    ];
    for (observed, expected) in table {
        assert_eq!(
            plan_with(&config, &observed).steps,
            expected,
            "{observed:?}"
        );
    }
}

#[test]
fn a_warm_alarm_does_not_stop_a_return_but_keeps_the_tasks() {
    let config = test_config_with(&[
        ("SPILLOVER_WARM_ALARM_NAMES", "web-app-warm"),
        ("SPILLOVER_STEPS", "100"),
    ]);
    let spilled = Observed::spilled()
        .with_alarm(Ok)
        .with_warm(Alarm, LONG_AGO);
    let plan = plan_with(&config, &spilled);
    assert_eq!(
        plan.steps,
        [SetWeights {
            from: ON_ECS,
            to: ON_LAMBDA
        }]
    );
    let returned = Observed::half_returned()
        .with_warm(Alarm, LONG_AGO)
        .drained();
    assert!(plan_with(&config, &returned).is_noop());
}
