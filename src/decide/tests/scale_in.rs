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
    // (observed, drain evidence) -> scales in, needs the evidence, seconds after.
    // RequestCount periods settle 180 s (the default) after they end.
    let table = [
        // Sticky window 600 s not over since the return, nor settled: nothing read yet.
        (
            (returned(100.0).with_sticky(600), None),
            (false, None, Some(680.0)),
        ),
        // Window over but not settled: a 0 there may be a datapoint still on its way.
        (
            (returned(600.0).with_sticky(600), None),
            (false, None, Some(180.0)),
        ),
        (
            (returned(600.0).with_sticky(600), Some(drain(0.0, 0.0))),
            (false, None, Some(180.0)),
        ),
        // Window over and settled: the evidence is asked for, up to now.
        (
            (returned(780.0).with_sticky(600), None),
            (false, Some(780.0), None),
        ),
        // Still requests on ECS over the window.
        (
            (returned(780.0).with_sticky(600), Some(drain(12.0, 0.0))),
            (false, None, Some(600.0)),
        ),
        // No requests, but the deregistration delay (900 s) is not over.
        (
            (returned(780.0).with_sticky(600), Some(drain(0.0, 900.0))),
            (false, None, Some(120.0)),
        ),
        // No requests, delay over.
        (
            (returned(780.0).with_sticky(600), Some(drain(0.0, 300.0))),
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
        ((returned(30.0), None), (false, None, Some(210.0))),
        ((returned(60.0), None), (false, None, Some(180.0))),
        ((returned(240.0), None), (false, Some(240.0), None)),
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
fn a_request_count_of_zero_that_has_not_settled_is_no_drain() {
    // The window (one 60 s period, no stickiness) passed 120 s ago and read no request:
    // ELB's datapoints come late, so that 0 is not yet evidence.
    let config = all_or_nothing();
    let observed = Observed::half_returned()
        .returned_ago(180.0)
        .with_drain(0.0, 0.0);
    let plan = plan_with(&config, &observed);
    assert!(plan.is_noop(), "{plan:?}");
    assert_eq!(plan.scale_in_after_secs, Some(60.0));
    assert!(plan.reason.contains("has not settled"), "{}", plan.reason);
    // Settled: the same 0 is.
    let plan = plan_with(&config, &observed.returned_ago(240.0));
    assert_eq!(plan.steps, [ScaleIn { from: 2, to: 0 }]);
    // The drain reads the load balancer's metrics: their settle time holds it, not
    // Lambda's. With none, as soon as the window is over.
    let observed = Observed::half_returned()
        .returned_ago(60.0)
        .with_drain(0.0, 0.0);
    let lambda_only = test_config_with(&[
        ("SPILLOVER_STEPS", "100"),
        ("SPILLOVER_METRIC_SETTLE_SECS", "0"),
    ]);
    assert!(plan_with(&lambda_only, &observed).is_noop());
    let instant = test_config_with(&[
        ("SPILLOVER_STEPS", "100"),
        ("SPILLOVER_ELB_METRIC_SETTLE_SECS", "0"),
    ]);
    assert_eq!(
        plan_with(&instant, &observed).steps,
        [ScaleIn { from: 2, to: 0 }]
    );
    // 90 s for the load balancer: settled at 60 + 90.
    let elb_90 = test_config_with(&[
        ("SPILLOVER_STEPS", "100"),
        ("SPILLOVER_ELB_METRIC_SETTLE_SECS", "90"),
    ]);
    assert!(plan_with(&elb_90, &observed.clone().returned_ago(149.0)).is_noop());
    assert_eq!(
        plan_with(&elb_90, &observed.returned_ago(150.0)).steps,
        [ScaleIn { from: 2, to: 0 }]
    );
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
