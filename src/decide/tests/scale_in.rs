//! Scale-in only after traffic has left ECS.

use super::*;

#[test]
fn scale_in_waits_until_traffic_has_left_ecs() {
    let config = all_or_nothing();
    let returned = |ago: f64| Observed::half_returned().returned_ago(ago);
    let drain = |requests: f64, dereg: f64| Drain {
        deregistration_delay_secs: dereg,
        requests,
        window_secs: 600.0,
    };
    // (observed, drain evidence) -> scales in, needs the evidence, seconds after
    let table = [
        // Sticky window 600 s not over since the return: nothing read yet.
        (
            (returned(100.0).with_sticky(600), None),
            (false, None, Some(500.0)),
        ),
        // Window over: the evidence is asked for.
        (
            (returned(600.0).with_sticky(600), None),
            (false, Some(600.0), None),
        ),
        // Still requests on ECS over the window.
        (
            (returned(600.0).with_sticky(600), Some(drain(12.0, 0.0))),
            (false, None, Some(600.0)),
        ),
        // No requests, but the deregistration delay (900 s) is not over.
        (
            (returned(600.0).with_sticky(600), Some(drain(0.0, 900.0))),
            (false, None, Some(300.0)),
        ),
        // No requests, delay over.
        (
            (returned(600.0).with_sticky(600), Some(drain(0.0, 300.0))),
            (true, None, None),
        ),
        // Still requests, but the longest wait (1800 s) since the return is over: a
        // client that never pauses must not keep the tasks forever.
        (
            (returned(1800.0).with_sticky(600), Some(drain(12.0, 0.0))),
            (true, None, None),
        ),
        // Still requests, the longest wait ends before the window would: wake then.
        (
            (returned(1500.0).with_sticky(600), Some(drain(12.0, 0.0))),
            (false, None, Some(300.0)),
        ),
        // No return mark to count from (someone else returned the traffic): only the
        // evidence decides.
        (
            (
                Observed::half_returned().with_marks(Marks::default()),
                Some(drain(12.0, 0.0)),
            ),
            (false, None, Some(600.0)),
        ),
        // No stickiness: one metric period (60 s) stands for the window.
        ((returned(30.0), None), (false, None, Some(30.0))),
        ((returned(60.0), None), (false, Some(60.0), None)),
        // Never shifted (a pre-warm, or the alarm cleared before the shift): no return
        // to wait from, only the evidence.
        (
            (Observed::scaling().with_alarm(Ok), Some(drain(0.0, 300.0))),
            (true, None, None),
        ),
    ];
    for ((observed, drain), (scales_in, needs, after)) in table {
        let observed = Observed { drain, ..observed };
        let plan = plan_with(&config, &observed);
        assert_eq!(!plan.is_noop(), scales_in, "{observed:?}: {plan:?}");
        assert_eq!(plan.needs_drain_window_secs, needs, "{observed:?}");
        assert_eq!(plan.scale_in_after_secs, after, "{observed:?}");
    }
}

#[test]
fn never_scales_in_in_the_run_that_returned_traffic() {
    let plan = plan_with(
        &all_or_nothing(),
        &Observed::spilled().with_alarm(Ok).drained(),
    );
    assert_eq!(
        plan.steps,
        [SetWeights {
            from: ON_ECS,
            to: ON_LAMBDA
        }]
    );
    assert!(
        plan.reason.contains("scale-in in a later run"),
        "{}",
        plan.reason
    );
}

#[test]
fn capacity_stays_for_the_return_hold_after_the_alarm_cleared() {
    let young = Observed::scaling()
        .with_alarm(Ok)
        .with_alarm_age(100.0)
        .drained();
    let plan = plan_with(&test_config(), &young);
    assert!(plan.is_noop());
    assert_eq!(plan.scale_in_after_secs, Some(200.0));
}
