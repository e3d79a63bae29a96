//! Progressive steps.

use super::*;

/// The one step a run takes from `observed`'s weights to `to`, or none.
fn weights_to(observed: &Observed, to: Option<Weights>) -> Vec<Step> {
    to.map(|to| SetWeights {
        from: observed.weights,
        to,
    })
    .into_iter()
    .collect()
}

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
        let expected = weights_to(&observed, to);
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
        let expected = weights_to(&observed, to);
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

#[test]
fn a_step_back_waits_until_the_alarm_would_still_be_ok_on_the_next_split() {
    // Steps 50,100 (the default); the hold and the settle time have passed.
    let config = test_config();
    let calm = |w: Weights| {
        Observed::spilled()
            .with_alarm(Ok)
            .with_weights(w.lambda, w.ecs)
    };
    let table: [(&str, Observed, Option<Weights>); 7] = [
        // concurrency-missing at 50 %: Lambda at 70 of 90 would be at 140 with it all.
        (
            "70 of 90 at 50%",
            calm(HALF).with_split_load(70.0 / 90.0),
            None,
        ),
        (
            "exactly at the threshold there",
            calm(HALF).with_split_load(0.5),
            None,
        ),
        // The overload is over: 15 of 90 at 50 % is 30 with it all.
        (
            "15 of 90 at 50%",
            calm(HALF).with_split_load(15.0 / 90.0),
            Some(ON_LAMBDA),
        ),
        // Not read (the alarm cannot be carried): the alarm judges the step after it.
        ("not read", calm(HALF), Some(ON_LAMBDA)),
        // At 100 % Lambda measured nothing: one step, judged after it.
        ("at 100%", calm(ON_ECS).with_split_load(0.0), Some(HALF)),
        // INSUFFICIENT_DATA: the one-step probe, whatever was read before.
        (
            "insufficient data",
            calm(HALF)
                .with_alarm(InsufficientData)
                .with_split_load(70.0 / 90.0),
            Some(ON_LAMBDA),
        ),
        // Blind alarms measure demand: their OK already covers all of it.
        (
            "blind",
            calm(HALF).blind().with_split_load(70.0 / 90.0),
            Some(ON_LAMBDA),
        ),
    ];
    for (name, observed, to) in table {
        let plan = plan_with(&config, &observed);
        let expected = weights_to(&observed, to);
        assert_eq!(plan.steps, expected, "{name}: {}", plan.reason);
        if to.is_none() {
            assert!(
                plan.reason.contains("the alarm would read"),
                "{name}: {}",
                plan.reason
            );
        }
    }
}

#[test]
fn a_step_back_waits_for_a_settled_period_of_the_alarms_reading() {
    // Steps 50,100 (the default); the hold and the settle time have passed. Since the last
    // weight change only partial periods have come (the first settles in 45 s).
    let config = test_config();
    let calm = || {
        Observed::spilled()
            .with_alarm(Ok)
            .with_weights(1, 1)
            .with_split_unsettled(45.0)
    };
    let table: [(&str, Observed, Option<Weights>, &str); 5] = [
        // Low, but partial: a dip at the end, not the load.
        (
            "partial and low",
            calm().with_split_load(15.0 / 90.0),
            None,
            "has no settled period yet (periods settle 180s after they end)",
        ),
        (
            "no datapoint yet",
            calm(),
            None,
            "has no settled period yet",
        ),
        // Partial and already high: conclusive, whatever is still to come.
        (
            "partial and high",
            calm().with_split_load(70.0 / 90.0),
            None,
            "at 0% the alarm would read 156%",
        ),
        // INSUFFICIENT_DATA: the one-step probe, as without a reading.
        (
            "insufficient data",
            calm().with_alarm(InsufficientData),
            Some(ON_LAMBDA),
            "return",
        ),
        // Blind alarms measure demand: their OK already covers all of it.
        ("blind", calm().blind(), Some(ON_LAMBDA), "one move"),
    ];
    for (name, observed, to, why) in table {
        let plan = plan_with(&config, &observed);
        let expected = weights_to(&observed, to);
        assert_eq!(plan.steps, expected, "{name}: {}", plan.reason);
        assert!(plan.reason.contains(why), "{name}: {}", plan.reason);
        if name == "partial and low" {
            assert_eq!(plan.return_after_secs, Some(45.0), "{name}");
        }
    }
    // Settled and low: the step.
    let settled = Observed {
        split_settles_in_secs: None,
        ..calm().with_split_load(15.0 / 90.0)
    };
    assert_eq!(
        plan_with(&config, &settled).steps,
        weights_to(&settled, Some(ON_LAMBDA))
    );
}

#[test]
fn a_demand_reading_without_a_settled_period_leaves_the_steps_as_configured() {
    // The demand alarm fires; its reading has no settled period (the spike is in partial
    // periods only, or it began less than the settle time ago). The ALARM decides the
    // spill, the reading only sizes it: the steps as configured, never a stall.
    let config = test_config_with(&[("SPILLOVER_SPILL_COUNT", "4")]);
    let at = |w: Weights| {
        let mut o = Observed::spilled()
            .with_weights(w.lambda, w.ecs)
            .with_desired(4)
            .with_running(4)
            .with_healthy(4)
            .with_demand_unsettled();
        o.marks.moves = Some(2);
        o
    };
    let table: [(&str, Observed, Option<Weights>); 3] = [
        ("from idle", Observed::idle().with_alarm(Alarm), None),
        ("at 50 %", at(HALF), Some(ON_ECS)),
        ("at a stop", at(weights_at(64)), Some(ON_ECS)),
    ];
    for (name, observed, to) in table {
        let observed = Observed {
            demand_unsettled: true,
            ..observed.blind()
        };
        let plan = plan_with(&config, &observed);
        match to {
            Some(to) => assert_eq!(plan.steps, weights_to(&observed, Some(to)), "{name}"),
            None => assert_eq!(
                plan.steps.last(),
                Some(&SetWeights {
                    from: ON_LAMBDA,
                    to: HALF
                }),
                "{name}: {}",
                plan.reason
            ),
        }
        assert!(
            plan.reason.contains("the demand has no settled period yet"),
            "{name}: {}",
            plan.reason
        );
    }
    // A settled reading under the threshold (the settled window predates the spike) while
    // the alarm fires: no excess read, the steps as configured too.
    let plan = plan_with(&config, &at(HALF).with_demand_load(0.6));
    assert_eq!(
        plan.steps,
        weights_to(&at(HALF), Some(ON_ECS)),
        "{}",
        plan.reason
    );
}

#[test]
fn only_the_excess_moves_when_the_alarm_reads_the_demand() {
    // Steps 50,100 (the default), spill count 4. A demand of 250 against a threshold of 90
    // is 2.78 thresholds: Lambda should keep 36 %, ECS take 64 %.
    let config = test_config_with(&[("SPILLOVER_SPILL_COUNT", "4")]);
    let spike = 250.0 / 90.0;
    // One weight change so far (the shift), two at a stop past the first step.
    let at = |w: Weights| {
        let mut o = Observed::spilled()
            .with_weights(w.lambda, w.ecs)
            .with_desired(4)
            .with_running(4)
            .with_healthy(4);
        o.marks.moves = Some(if config.steps.contains(&(percent(w) as u8)) {
            1
        } else {
            2
        });
        o
    };
    let uncounted = |o: Observed| Observed {
        marks: Marks {
            moves: None,
            ..o.marks
        },
        ..o
    };
    let moved = |o: Observed, moves: u32| Observed {
        marks: Marks {
            moves: Some(moves),
            ..o.marks
        },
        ..o
    };
    let table: [(&str, Observed, Option<Weights>); 13] = [
        // The first step is below the excess: taken whole.
        (
            "at 50 %: the step to 100 stops at the excess",
            at(HALF).with_demand_load(spike),
            Some(weights_at(64)),
        ),
        (
            "at the excess: stay",
            at(weights_at(64)).with_demand_load(spike),
            None,
        ),
        (
            "a step already carries the excess: stay",
            at(HALF).with_demand_load(1.5),
            None,
        ),
        // Shift, stop, stop again, return: within two changes per step.
        (
            "past a stop, the next step comes first",
            moved(at(weights_at(37)), 1).with_demand_load(5.0),
            Some(HALF),
        ),
        (
            "under a scaling policy the shift was a stop: a second one fits",
            moved(at(weights_at(37)), 1)
                .with_scalable(4, 10)
                .with_demand_load(5.0),
            Some(weights_at(80)),
        ),
        (
            "two moves made: a second stop would not fit",
            moved(at(weights_at(37)), 2)
                .with_scalable(4, 10)
                .with_demand_load(5.0),
            Some(ON_ECS),
        ),
        (
            "a stop without the count: the steps as configured",
            uncounted(at(weights_at(37))).with_demand_load(5.0),
            Some(HALF),
        ),
        (
            "no count of the moves: the steps as configured",
            uncounted(at(HALF)).with_demand_load(spike),
            Some(ON_ECS),
        ),
        (
            "a stop that still carries a smaller excess stays",
            at(weights_at(64)).with_demand_load(1.5),
            None,
        ),
        // A reading under the threshold while the alarm fires: the alarm is trusted.
        (
            "no excess read",
            at(HALF).with_demand_load(0.9),
            Some(ON_ECS),
        ),
        ("not read", at(HALF).blind(), Some(ON_ECS)),
        // The alarm says nothing about the demand unless it fires.
        (
            "OK inside the hold",
            at(HALF)
                .with_alarm(Ok)
                .with_alarm_age(10.0)
                .with_demand_load(spike),
            None,
        ),
        ("at the last step", at(ON_ECS).with_demand_load(spike), None),
    ];
    for (name, observed, to) in table {
        let plan = plan_with(&config, &observed);
        assert_eq!(
            plan.steps,
            weights_to(&observed, to),
            "{name}: {}",
            plan.reason
        );
    }
    // Waiting for the stop's targets: 64 % of 4 is 3 healthy.
    let starting = at(HALF).with_healthy(2).with_demand_load(spike);
    assert_eq!(
        plan_with(&config, &starting).steps,
        vec![
            WaitUntilReady { min_healthy: 3 },
            SetWeights {
                from: HALF,
                to: weights_at(64),
            },
        ]
    );
    let plan = plan_with(&config, &at(HALF).with_demand_load(spike));
    assert!(plan.reason.contains("the excess"), "{}", plan.reason);
    let plan = plan_with(&config, &at(weights_at(64)).with_demand_load(spike));
    assert!(
        plan.reason
            .contains("carries the excess (64%: the demand is 278%"),
        "{}",
        plan.reason
    );
}

/// Where a spill from idle (alarm in ALARM, the demand read at `load` thresholds) puts the
/// weights first.
fn first_move(config: &Config, idle: Observed, load: f64) -> Option<Weights> {
    let plan = plan_with(config, &idle.with_alarm(Alarm).with_demand_load(load));
    plan.steps.iter().rev().find_map(|s| match *s {
        SetWeights { from, to } if from == ON_LAMBDA => Some(to),
        _ => None,
    })
}

#[test]
fn the_excess_can_be_the_first_move_but_not_of_all_or_nothing() {
    // Under a scaling policy the spill goes to the last step at once, or to the excess.
    let scalable = Observed::idle().with_scalable(0, 10);
    assert_eq!(
        first_move(&test_config(), scalable, 5.0),
        Some(weights_at(80))
    );
    // A first step above the excess stops at it.
    assert_eq!(
        first_move(&test_config(), Observed::idle(), 1.25),
        Some(weights_at(20))
    );
    // All or nothing means all.
    assert_eq!(
        first_move(&all_or_nothing(), Observed::idle(), 1.25),
        Some(ON_ECS)
    );
}

#[test]
fn a_growing_excess_never_changes_the_weights_more_than_twice_a_step() {
    // An overload episode under a blind alarm whose demand grows every run, with every
    // target healthy, then calm: the weights change at most twice per step, the return
    // included.
    let loads = [1.05, 1.2, 1.5, 1.8, 2.2, 3.0, 4.0, 6.0, 9.0, 20.0];
    for steps in ["50,100", "10,25,50,100", "25,100", "100", "30,60,90"] {
        let config =
            test_config_with(&[("SPILLOVER_STEPS", steps), ("SPILLOVER_SPILL_COUNT", "4")]);
        let mut observed = Observed::spilled()
            .with_weights(1, 0)
            .with_desired(4)
            .with_running(4)
            .with_healthy(4);
        let mut changes = 0;
        let mut apply = |observed: &mut Observed, plan: &Plan| {
            for step in &plan.steps {
                if let SetWeights { from, to } = *step {
                    observed.weights = to;
                    observed.marks.moves =
                        Some(crate::marks::moves_after(from, to, observed.marks.moves));
                    changes += 1;
                }
            }
        };
        for load in loads {
            observed = observed.with_demand_load(load);
            let plan = plan_with(&config, &observed);
            apply(&mut observed, &plan);
        }
        let calm = Observed {
            demand_load: None,
            ..observed.clone().with_alarm(Ok)
        };
        let plan = plan_with(&config, &calm);
        apply(&mut observed, &plan);
        assert_eq!(observed.weights, ON_LAMBDA, "{steps}: {}", plan.reason);
        let budget = 2 * config.steps.len();
        assert!(
            changes <= budget,
            "{steps}: {changes} changes, budget {budget}"
        );
    }
}

#[test]
fn an_alarm_that_rests_on_no_data_spills_and_steps_up_only_once_its_metric_breaches() {
    // At 50% after a step down, in ALARM on periods not received yet (breaching): nothing
    // over the threshold read since, so the split holds; once a datapoint breaches, the
    // ALARM is real and the step up goes.
    let config = test_config_with(&[
        ("SPILLOVER_STEPS", "50,100"),
        ("SPILLOVER_SPILL_COUNT", "2"),
    ]);
    let at_half = Observed::spilled()
        .with_weights(1, 1)
        .with_desired(2)
        .with_healthy(2)
        .with_running(2)
        .stepped_ago(40.0);
    let plan = plan_with(&config, &at_half.clone().breach_read(false));
    assert_eq!(plan.intent, Intent::Spill);
    assert!(plan.steps.is_empty(), "{plan:#?}");
    assert!(plan.reason.contains("rests on no data"), "{}", plan.reason);
    assert!(
        plan.reason.contains("the weights changed 40s ago"),
        "{}",
        plan.reason
    );
    let plan = plan_with(&config, &at_half.clone().breach_read(true));
    assert_eq!(
        plan.steps,
        vec![SetWeights {
            from: HALF,
            to: ON_ECS
        }],
        "{}",
        plan.reason
    );
    // Not read (another kind of alarm): the steps go as before.
    let plan = plan_with(&config, &at_half);
    assert_eq!(
        plan.steps,
        vec![SetWeights {
            from: HALF,
            to: ON_ECS
        }]
    );
    // All on Lambda, an ALARM on periods not received yet: no scale-out, no spill.
    let idle = Observed::idle().with_alarm(Alarm).breach_read(false);
    let plan = plan_with(&config, &idle);
    assert!(plan.steps.is_empty(), "{plan:#?}");
    let plan = plan_with(
        &config,
        &Observed::idle().with_alarm(Alarm).breach_read(true),
    );
    assert!(matches!(plan.steps[0], ScaleOut { .. }), "{plan:#?}");
}
