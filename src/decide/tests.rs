//! The decision over observed states: tables of behaviours, then the safety grid and the
//! "never stuck" convergence check.

use super::fixtures::LONG_AGO;
use super::*;
use crate::config::Config;
use crate::config::tests::{test_config, test_config_with};
use crate::observed::AlarmState::{self, *};
use crate::observed::{Drain, Marks, is_ready};
use Step::*;

const ON_ECS: Weights = Weights { lambda: 0, ecs: 1 };
const HALF: Weights = Weights { lambda: 1, ecs: 1 };
const ON_LAMBDA: Weights = Weights::ON_LAMBDA;

fn tick() -> Trigger {
    Trigger::Tick { event_id: None }
}

fn event(text: &str) -> Trigger {
    Trigger::parse(text, &test_config()).expect("recorded event parses")
}

/// All or nothing, as before progressive steps.
fn all_or_nothing() -> Config {
    test_config_with(&[("SPILLOVER_STEPS", "100")])
}

fn plan_with(config: &Config, observed: &Observed) -> Plan {
    decide(&tick(), observed, config)
}

fn steps(observed: Observed) -> Vec<Step> {
    plan_with(&test_config(), &observed).steps
}

const SPILL_FROM_IDLE: [Step; 3] = [
    ScaleOut { from: 0, to: 2 },
    WaitUntilReady { min_healthy: 1 },
    SetWeights {
        from: ON_LAMBDA,
        to: ON_ECS,
    },
];

// ---- events and the alarm's current state ------------------------------------------------

#[test]
fn every_recorded_alarm_event_against_every_observed_state() {
    let alarm_events = [
        include_str!("../../events/alarm-metric.json"),
        include_str!("../../events/alarm-metric-math.json"),
        include_str!("../../events/alarm-composite.json"),
    ];
    let ok_events = [
        include_str!("../../events/ok-metric.json"),
        include_str!("../../events/ok-metric-math.json"),
        include_str!("../../events/ok-composite.json"),
    ];
    let config = all_or_nothing();
    for text in alarm_events {
        let trigger = event(text);
        let plan = |o: Observed| decide(&trigger, &o, &config);
        assert_eq!(
            plan(Observed::idle().with_alarm(Alarm)).steps,
            SPILL_FROM_IDLE
        );
        assert_eq!(
            plan(Observed::idle().with_alarm(Alarm)).intent,
            Intent::Spill
        );
        assert_eq!(
            plan(Observed::scaling()).steps,
            [
                WaitUntilReady { min_healthy: 1 },
                SetWeights {
                    from: ON_LAMBDA,
                    to: ON_ECS
                }
            ]
        );
        assert!(plan(Observed::spilled()).is_noop());
        assert_eq!(
            plan(Observed::half_returned().with_alarm(Alarm)).steps,
            [SetWeights {
                from: ON_LAMBDA,
                to: ON_ECS
            }]
        );
    }
    for text in ok_events {
        let trigger = event(text);
        let plan = |o: Observed| decide(&trigger, &o, &config);
        assert!(plan(Observed::idle()).is_noop());
        assert_eq!(plan(Observed::idle()).intent, Intent::Return);
        assert_eq!(
            plan(Observed::scaling().with_alarm(Ok).drained()).steps,
            [ScaleIn { from: 2, to: 0 }]
        );
        assert_eq!(
            plan(Observed::spilled().with_alarm(Ok)).steps,
            [SetWeights {
                from: ON_ECS,
                to: ON_LAMBDA
            }]
        );
        assert_eq!(
            plan(Observed::half_returned().drained()).steps,
            [ScaleIn { from: 2, to: 0 }]
        );
    }
}

#[test]
fn ok_event_while_alarm_is_still_firing_changes_nothing() {
    let plan = decide(
        &event(include_str!("../../events/ok-metric.json")),
        &Observed::spilled(),
        &test_config(),
    );
    assert_eq!(plan.intent, Intent::Spill);
    assert!(plan.is_noop(), "{plan:?}");
    assert!(
        plan.reason
            .contains("alarm is ALARM now (alarm web-app-concurrency-high event says OK)"),
        "{}",
        plan.reason
    );
}

#[test]
fn late_alarm_event_after_the_alarm_cleared_long_ago_steps_back() {
    let plan = decide(
        &event(include_str!("../../events/alarm-metric.json")),
        &Observed::spilled().with_alarm(Ok),
        &test_config(),
    );
    assert_eq!(plan.intent, Intent::Return);
    assert_eq!(
        plan.steps,
        [SetWeights {
            from: ON_ECS,
            to: HALF
        }]
    );
}

// ---- hysteresis and INSUFFICIENT_DATA ------------------------------------------------------

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

// ---- progressive steps ----------------------------------------------------------------------

#[test]
fn steps_go_up_one_per_run_while_the_alarm_fires_and_ecs_has_the_targets() {
    let config = test_config_with(&[
        ("SPILLOVER_STEPS", "10,50,100"),
        ("SPILLOVER_SPILL_COUNT", "4"),
    ]);
    let at = |w: Weights| {
        Observed::spilled()
            .with_weights(w.lambda, w.ecs)
            .with_desired(4)
    };
    let table: [(Observed, Vec<Step>); 6] = [
        // From idle: scale out, wait for 1 (10% of 4, at least min_healthy), first step.
        (
            Observed::idle().with_alarm(Alarm),
            vec![
                ScaleOut { from: 0, to: 4 },
                WaitUntilReady { min_healthy: 1 },
                SetWeights {
                    from: ON_LAMBDA,
                    to: weights_at(10),
                },
            ],
        ),
        // At 10% with 2 healthy: 50% needs 2, there: step now.
        (
            at(weights_at(10)).with_healthy(2).with_running(2),
            vec![SetWeights {
                from: weights_at(10),
                to: HALF,
            }],
        ),
        // At 10% with 1 healthy of 4 starting: wait for the second, then step.
        (
            at(weights_at(10)).with_healthy(1).with_running(1),
            vec![
                WaitUntilReady { min_healthy: 2 },
                SetWeights {
                    from: weights_at(10),
                    to: HALF,
                },
            ],
        ),
        // At 50%: 100% needs all 4.
        (
            at(HALF).with_healthy(4).with_running(4),
            vec![SetWeights {
                from: HALF,
                to: ON_ECS,
            }],
        ),
        // At the top: nothing.
        (at(ON_ECS).with_healthy(4).with_running(4), vec![]),
        // Odd weights (1/3 on ECS) go up to the next step above them.
        (
            at(Weights { lambda: 2, ecs: 1 })
                .with_healthy(4)
                .with_running(4),
            vec![SetWeights {
                from: Weights { lambda: 2, ecs: 1 },
                to: HALF,
            }],
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
fn under_a_scaling_policy_the_spill_goes_to_the_last_step_at_once() {
    // Steps 50,100 (the default): a partial step would halve the load the policy scales
    // the service on, while Lambda keeps throttling.
    let plan = plan_with(
        &test_config(),
        &Observed::idle().with_alarm(Alarm).with_scalable(0, 10),
    );
    assert_eq!(
        plan.steps.last(),
        Some(&SetWeights {
            from: ON_LAMBDA,
            to: ON_ECS,
        }),
        "{plan:?}"
    );
    // Without one, the first step is the first of the list.
    let plan = plan_with(&test_config(), &Observed::idle().with_alarm(Alarm));
    assert_eq!(
        plan.steps.last(),
        Some(&SetWeights {
            from: ON_LAMBDA,
            to: HALF,
        }),
        "{plan:?}"
    );
}

#[test]
fn a_step_is_not_taken_without_room_for_its_targets() {
    // The scalable target's maximum (1) is below what 100% needs (2): stay at 50%.
    let config = test_config();
    let observed = Observed::spilled()
        .with_weights(1, 1)
        .with_desired(1)
        .with_running(1)
        .with_healthy(1)
        .with_scalable(1, 1);
    let plan = plan_with(&config, &observed);
    assert!(plan.is_noop(), "{plan:?}");
    assert!(
        plan.reason.contains("needs 2 healthy targets"),
        "{}",
        plan.reason
    );
}

#[test]
fn steps_go_down_one_per_run_after_the_hold_and_the_settle_time() {
    let config = test_config_with(&[("SPILLOVER_STEPS", "10,50,100")]);
    let calm = |w: Weights| {
        Observed::spilled()
            .with_alarm(Ok)
            .with_weights(w.lambda, w.ecs)
    };
    let table = [
        (calm(ON_ECS), Some(HALF)),
        (calm(HALF), Some(weights_at(10))),
        (calm(weights_at(10)), Some(ON_LAMBDA)),
        // The settle time (120 s) since the last change holds the next step.
        (calm(HALF).stepped_ago(119.0), None),
        (calm(HALF).stepped_ago(120.0), Some(weights_at(10))),
    ];
    for (observed, to) in table {
        let plan = plan_with(&config, &observed);
        let expected: Vec<Step> = to
            .map(|to| SetWeights {
                from: observed.weights,
                to,
            })
            .into_iter()
            .collect();
        assert_eq!(plan.steps, expected, "{observed:?}");
    }
}

#[test]
fn alarms_blind_to_the_split_return_in_one_move_after_the_hold() {
    let config = test_config_with(&[("SPILLOVER_STEPS", "10,50,100")]);
    let blind = |w: Weights| {
        Observed::spilled()
            .blind()
            .with_alarm(Ok)
            .with_weights(w.lambda, w.ecs)
    };
    let table = [
        // OK for the hold: back to Lambda at once, from any step.
        (blind(ON_ECS), Some(ON_LAMBDA)),
        (blind(HALF), Some(ON_LAMBDA)),
        // The hold, the minimum spill and the settle time still hold it.
        (blind(ON_ECS).with_alarm_age(299.0), None),
        (blind(ON_ECS).shifted_ago(119.0), None),
        (blind(HALF).stepped_ago(119.0), None),
        // INSUFFICIENT_DATA says nothing about demand: one step, as for any alarm.
        (blind(ON_ECS).with_alarm(InsufficientData), Some(HALF)),
    ];
    for (observed, to) in table {
        let plan = plan_with(&config, &observed);
        let expected: Vec<Step> = to
            .map(|to| SetWeights {
                from: observed.weights,
                to,
            })
            .into_iter()
            .collect();
        assert_eq!(plan.steps, expected, "{observed:?}");
        if to == Some(ON_LAMBDA) {
            assert_eq!(plan.intent, Intent::Return);
            assert!(plan.reason.contains("one move"), "{}", plan.reason);
        }
    }
    // An alarm that sees the split still steps down one step.
    assert_eq!(
        plan_with(&config, &Observed::spilled().with_alarm(Ok)).steps,
        [SetWeights {
            from: ON_ECS,
            to: HALF
        }]
    );
}

#[test]
fn all_or_nothing_stays_available() {
    let config = all_or_nothing();
    assert_eq!(
        plan_with(&config, &Observed::idle().with_alarm(Alarm)).steps,
        SPILL_FROM_IDLE
    );
    assert_eq!(
        plan_with(&config, &Observed::spilled().with_alarm(Ok)).steps,
        [SetWeights {
            from: ON_ECS,
            to: ON_LAMBDA
        }]
    );
}

// ---- pre-warm ----------------------------------------------------------------------------------

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

// ---- Application Auto Scaling ---------------------------------------------------------------

#[test]
fn a_scalable_target_gets_its_minimum_raised_and_its_desired_count_left_to_the_policy() {
    let config = all_or_nothing();
    let table = [
        // (min, max, saved already) -> raise
        (
            (0, 10, None),
            Some(RaiseMinCapacity {
                from: 0,
                to: 2,
                save: true,
            }),
        ),
        (
            (1, 10, None),
            Some(RaiseMinCapacity {
                from: 1,
                to: 2,
                save: true,
            }),
        ),
        (
            (1, 10, Some(0)),
            Some(RaiseMinCapacity {
                from: 1,
                to: 2,
                save: false,
            }),
        ),
        (
            (0, 1, None),
            Some(RaiseMinCapacity {
                from: 0,
                to: 1,
                save: true,
            }),
        ),
        ((3, 10, None), None),
    ];
    for ((min, max, saved), raise) in table {
        let mut observed = Observed::idle().with_alarm(Alarm).with_scalable(min, max);
        if let Some(saved) = saved {
            observed = observed.with_saved_min(saved);
        }
        let plan = plan_with(&config, &observed);
        assert_eq!(
            plan.steps
                .first()
                .filter(|s| matches!(s, RaiseMinCapacity { .. })),
            raise.as_ref(),
            "{min}..{max}"
        );
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s, ScaleOut { .. } | ScaleIn { .. })),
            "desired count written under a scaling policy: {plan:?}"
        );
    }
}

#[test]
fn the_saved_minimum_is_restored_only_after_traffic_has_left_ecs() {
    let config = all_or_nothing();
    let returned = Observed::half_returned()
        .with_desired(5)
        .with_scalable(2, 10)
        .with_saved_min(0);
    assert_eq!(
        plan_with(&config, &returned.clone().drained()).steps,
        [RestoreMinCapacity { from: 2, to: 0 }]
    );
    let still_served = returned.clone().returned_ago(600.0).with_drain(3.0, 0.0);
    assert!(plan_with(&config, &still_served).is_noop());
    // Nothing saved: the policy's own minimum stays, nothing to restore.
    let never_raised = Observed::half_returned().with_scalable(1, 10).drained();
    assert!(plan_with(&config, &never_raised).is_noop());
}

// ---- scale-in only after traffic has left ECS ------------------------------------------------

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

// ---- the safety rules of the old policy, still holding --------------------------------------

#[test]
fn ready_targets_are_shifted_to_without_waiting() {
    assert_eq!(
        steps(Observed::scaling().with_running(2).with_healthy(1)),
        [SetWeights {
            from: ON_LAMBDA,
            to: HALF
        }]
    );
}

#[test]
fn healthy_targets_without_running_tasks_are_not_ready() {
    assert_eq!(
        steps(Observed::scaling().with_healthy(2)),
        [
            WaitUntilReady { min_healthy: 1 },
            SetWeights {
                from: ON_LAMBDA,
                to: HALF
            }
        ]
    );
}

#[test]
fn spilled_without_healthy_targets_goes_back_to_lambda_first() {
    assert_eq!(
        steps(Observed::spilled().with_healthy(0)),
        [
            SetWeights {
                from: ON_ECS,
                to: ON_LAMBDA
            },
            WaitUntilReady { min_healthy: 1 },
            SetWeights {
                from: ON_LAMBDA,
                to: HALF
            },
        ]
    );
    // Whatever the alarm, and before any hold.
    for alarm in [Ok, InsufficientData] {
        let hold = Observed::spilled()
            .with_healthy(0)
            .with_alarm(alarm)
            .with_alarm_age(1.0);
        assert_eq!(
            steps(hold),
            [SetWeights {
                from: ON_ECS,
                to: ON_LAMBDA
            }]
        );
    }
}

#[test]
fn a_service_scaled_down_by_hand_while_spilled_is_scaled_out_again() {
    assert_eq!(
        steps(Observed::spilled().with_desired(1)),
        [ScaleOut { from: 1, to: 2 }]
    );
}

#[test]
fn more_tasks_than_the_spill_count_are_left_alone_while_spilled() {
    assert!(steps(Observed::spilled().with_desired(5)).is_empty());
}

#[test]
fn return_leaves_a_custom_lambda_weight_alone_and_repairs_invalid_ones() {
    assert_eq!(steps(Observed::idle().with_weights(5, 0)), []);
    assert_eq!(
        steps(Observed::idle().with_weights(0, 0)),
        [SetWeights {
            from: Weights { lambda: 0, ecs: 0 },
            to: ON_LAMBDA
        }]
    );
}

// ---- the safety grid --------------------------------------------------------------------------

/// Runs a plan on a model of the world, assuming every step succeeds, and checks the safety
/// rules at each step.
fn assert_safe(o: &Observed, plan: &Plan, c: &Config) {
    let (mut weights, mut running, mut healthy) = (o.weights, o.running, o.healthy);
    let mut ups = 0;
    let mut weights_changed = false;
    for step in &plan.steps {
        match *step {
            WaitUntilReady { min_healthy } => {
                assert!(min_healthy >= c.min_healthy, "{plan:?}");
                running = running.max(min_healthy);
                healthy = healthy.max(min_healthy);
            }
            SetWeights { from, to } => {
                assert_eq!(
                    from, weights,
                    "step starts from the weights it will find: {plan:?}"
                );
                assert!(to.check().is_ok(), "{plan:?}");
                assert!(
                    to.ecs == 0 || is_ready(running, healthy, c.min_healthy),
                    "ECS weight before ready: {o:?} {plan:?}"
                );
                if percent(to) > percent(from) {
                    ups += 1;
                    assert_eq!(o.alarm, Alarm, "step up without ALARM: {o:?} {plan:?}");
                }
                if percent(to) < percent(from) && o.alarm == Alarm {
                    assert!(
                        to == ON_LAMBDA && !o.is_ready(c.min_healthy),
                        "step down under ALARM other than the safety one: {o:?} {plan:?}"
                    );
                }
                weights = to;
                weights_changed = true;
            }
            ScaleIn { .. } | RestoreMinCapacity { .. } => {
                assert_eq!(
                    weights.ecs, 0,
                    "scale-in while ECS has weight: {o:?} {plan:?}"
                );
                assert!(
                    !weights_changed,
                    "scale-in in the run that moved traffic: {o:?} {plan:?}"
                );
                assert_ne!(o.alarm, Alarm, "{plan:?}");
                assert_ne!(o.warm, Some(Alarm), "{plan:?}");
                let drain = o
                    .drain
                    .expect("scale-in without evidence that traffic left");
                assert!(
                    drain.requests == 0.0
                        || o.marks
                            .returned_secs_ago
                            .is_some_and(|age| age >= c.scale_in_max_wait.as_secs_f64()),
                    "scale-in while ECS still serves, inside the longest wait: {o:?} {plan:?}"
                );
                let window = f64::from(o.sticky_secs).max(c.metric_period.as_secs_f64());
                if let Some(age) = o.marks.returned_secs_ago {
                    assert!(
                        age >= drain.deregistration_delay_secs && age >= window,
                        "scale-in too soon after the return: {o:?} {plan:?}"
                    );
                }
                assert!(
                    o.alarm_age_secs
                        .is_none_or(|a| a >= c.return_hold.as_secs_f64()),
                    "scale-in inside the return hold: {o:?} {plan:?}"
                );
                if matches!(step, ScaleIn { .. }) {
                    assert!(
                        o.scalable.is_none(),
                        "desired count under a scaling policy: {plan:?}"
                    );
                }
            }
            ScaleOut { from, to } => {
                assert!(to > from, "{plan:?}");
                assert!(
                    o.scalable.is_none(),
                    "desired count under a scaling policy: {plan:?}"
                );
            }
            RaiseMinCapacity { from, to, .. } => {
                assert!(to > from, "{plan:?}");
                assert!(o.scalable.is_some(), "{plan:?}");
            }
        }
    }
    assert!(ups <= 1, "more than one step up in a run: {o:?} {plan:?}");
    let unsafe_now =
        o.weights.check().is_err() || (o.weights.ecs > 0 && !o.is_ready(c.min_healthy));
    if unsafe_now {
        assert!(
            matches!(plan.steps.first(), Some(SetWeights { to: ON_LAMBDA, .. })),
            "unsafe weights left alone: {o:?} {plan:?}"
        );
    }
}

#[test]
fn safety_rules_hold_for_every_state_in_a_grid() {
    let configs = [
        test_config_with(&[("SPILLOVER_WARM_ALARM_NAMES", "web-app-warm")]),
        test_config_with(&[("SPILLOVER_STEPS", "100"), ("SPILLOVER_SPILL_COUNT", "3")]),
    ];
    let weights = [(1, 0), (0, 1), (1, 1), (3, 1), (5, 0), (0, 0)];
    let warms = [
        None,
        Some((Alarm, LONG_AGO)),
        Some((Ok, 10.0)),
        Some((Ok, LONG_AGO)),
    ];
    let marks = [
        Marks::default(),
        Marks {
            shifted_secs_ago: Some(LONG_AGO),
            stepped_secs_ago: Some(LONG_AGO),
            ..Marks::default()
        },
        Marks {
            returned_secs_ago: Some(10.0),
            stepped_secs_ago: Some(10.0),
            saved_min_capacity: Some(0),
            ..Marks::default()
        },
        Marks {
            returned_secs_ago: Some(LONG_AGO),
            stepped_secs_ago: Some(LONG_AGO),
            saved_min_capacity: Some(1),
            ..Marks::default()
        },
    ];
    let drains = [None, Some((0.0, 300.0)), Some((5.0, 0.0))];
    let mut checked = 0;
    for config in &configs {
        for alarm in [Ok, Alarm, InsufficientData] {
            for alarm_age in [10.0, LONG_AGO] {
                for warm in warms {
                    for (lambda, ecs) in weights {
                        for desired in 0..=3 {
                            for running in [0, 2] {
                                for healthy in 0..=2 {
                                    for scalable in [None, Some((1, 4))] {
                                        for marks in marks {
                                            for drain in drains {
                                                let mut o = Observed::idle()
                                                    .with_alarm(alarm)
                                                    .with_alarm_age(alarm_age)
                                                    .with_weights(lambda, ecs)
                                                    .with_desired(desired)
                                                    .with_running(running)
                                                    .with_healthy(healthy)
                                                    .with_sticky(60)
                                                    .with_marks(marks);
                                                if let Some((state, age)) = warm {
                                                    o = o.with_warm(state, age);
                                                }
                                                if let Some((min, max)) = scalable {
                                                    o = o.with_scalable(min, max);
                                                }
                                                if let Some((requests, dereg)) = drain {
                                                    o = o.with_drain(requests, dereg);
                                                }
                                                // Blind alarms or not: the same rules.
                                                for o in [o.clone(), o.blind()] {
                                                    let plan = decide(&tick(), &o, config);
                                                    assert_safe(&o, &plan, config);
                                                    checked += 1;
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 3 * 2 * 4 * 6 * 4 * 2 * 3 * 2 * 4 * 3 * 2);
}

/// Applies a plan's steps to the model, as if each succeeded and the tasks came up.
fn apply(world: &mut Observed, plan: &Plan) {
    for step in &plan.steps {
        match *step {
            ScaleOut { to, .. } | ScaleIn { to, .. } => world.desired = to,
            RaiseMinCapacity { from, to, save } => {
                if save {
                    world.marks.saved_min_capacity = Some(from);
                }
                world.scalable.as_mut().unwrap().min = to;
                world.desired = world.desired.max(to);
            }
            RestoreMinCapacity { to, .. } => {
                world.scalable.as_mut().unwrap().min = to;
                world.marks.saved_min_capacity = None;
                world.desired = to;
            }
            WaitUntilReady { .. } => {
                world.running = world.desired as u32;
                world.healthy = world.desired as u32;
            }
            SetWeights { from, to } => {
                world.weights = to;
                for mark in crate::marks::for_weights(from, to) {
                    match mark {
                        crate::marks::Mark::ShiftedAt => world.marks.shifted_secs_ago = Some(0.0),
                        crate::marks::Mark::ReturnedAt => world.marks.returned_secs_ago = Some(0.0),
                        crate::marks::Mark::SteppedAt => world.marks.stepped_secs_ago = Some(0.0),
                        crate::marks::Mark::SavedMinCapacity => {}
                    }
                }
            }
        }
    }
    (world.running, world.healthy) = (world.desired as u32, world.desired as u32);
}

/// Time passes between runs: every hold in the config is over, traffic has drained.
fn later(world: &mut Observed) {
    let age = |a: Option<f64>| a.map(|a| a + LONG_AGO);
    world.marks.shifted_secs_ago = age(world.marks.shifted_secs_ago);
    world.marks.returned_secs_ago = age(world.marks.returned_secs_ago);
    world.marks.stepped_secs_ago = age(world.marks.stepped_secs_ago);
    world.drain = None;
}

#[test]
fn runs_converge_on_the_alarms_state_and_never_stick() {
    let configs = [
        test_config(),
        test_config_with(&[
            ("SPILLOVER_STEPS", "10,25,50,100"),
            ("SPILLOVER_SPILL_COUNT", "4"),
        ]),
        all_or_nothing(),
    ];
    for config in &configs {
        for start in [
            Observed::idle(),
            Observed::scaling(),
            Observed::spilled(),
            Observed::half_returned(),
            Observed::idle().with_scalable(0, 10),
            Observed::spilled().with_scalable(2, 10).with_saved_min(0),
        ] {
            for alarm in [Ok, Alarm, InsufficientData] {
                let mut world = start.clone().with_alarm(alarm);
                let mut runs = 0;
                loop {
                    let mut plan = decide(&tick(), &world, config);
                    if let Some(window) = plan.needs_drain_window_secs {
                        // The loop reads the evidence and decides again.
                        world.drain = Some(Drain {
                            deregistration_delay_secs: 300.0,
                            requests: 0.0,
                            window_secs: window,
                        });
                        plan = decide(&tick(), &world, config);
                    }
                    assert_safe(&world, &plan, config);
                    if plan.is_noop() {
                        break;
                    }
                    apply(&mut world, &plan);
                    later(&mut world);
                    runs += 1;
                    assert!(
                        runs <= config.steps.len() + 3,
                        "no convergence from {start:?} under {alarm}: {world:?}"
                    );
                }
                let top = percent(weights_at(*config.steps.last().unwrap()));
                if alarm == Alarm {
                    assert_eq!(percent(world.weights), top, "{start:?}: {world:?}");
                } else {
                    // OK or INSUFFICIENT_DATA, once the hold is over: back on Lambda, idle.
                    assert_eq!(world.weights.ecs, 0, "{start:?} under {alarm}: {world:?}");
                    match world.scalable {
                        Some(_) => assert_eq!(world.marks.saved_min_capacity, None, "{world:?}"),
                        None => assert_eq!(
                            world.desired, config.idle_count,
                            "{start:?} under {alarm}: {world:?}"
                        ),
                    }
                }
            }
        }
    }
}
