//! The safety grid.

use super::*;

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
                    let excess = o
                        .demand_load
                        .and_then(crate::decide::sight::excess_percent)
                        .filter(|_| c.steps.len() > 1);
                    if let Some(excess) = excess {
                        assert!(
                            percent(from) < f64::from(excess),
                            "step up past the excess: {o:?} {plan:?}"
                        );
                        let to = percent(to);
                        assert!(
                            c.steps.iter().any(|&s| f64::from(s) == to) || to == f64::from(excess),
                            "a stop other than a step or the excess: {o:?} {plan:?}"
                        );
                    }
                }
                let safety = to == ON_LAMBDA && !o.is_ready(c.min_healthy);
                if percent(to) < percent(from) && o.alarm == Ok && !o.alarms_blind && !safety {
                    let there = o.split_load.and_then(|load| {
                        crate::decide::sight::carried(load, percent(from), percent(to))
                    });
                    assert!(
                        there.is_none_or(|there| there < 1.0),
                        "step back to a split the alarm would read over its threshold: {o:?} {plan:?}"
                    );
                    assert!(
                        o.split_settles_in_secs.is_none(),
                        "step back on a reading with no settled period: {o:?} {plan:?}"
                    );
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
                let settled = window + c.elb_metric_settle.as_secs_f64();
                if let Some(age) = o.marks.returned_secs_ago {
                    assert!(
                        age >= drain.deregistration_delay_secs && age >= settled,
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
        // The stickiness window passed since the return, but has not settled.
        Marks {
            returned_secs_ago: Some(120.0),
            stepped_secs_ago: Some(120.0),
            ..Marks::default()
        },
    ];
    let drains = [None, Some((0.0, 300.0)), Some((5.0, 0.0)), Some((0.0, 0.0))];
    // (split load, seconds until it has a settled period, demand load, demand unsettled):
    // read for alarms that see the split, or that read demand.
    let loads = [
        (None, None, None, false),
        (Some(0.3), None, None, false),
        (Some(0.8), None, None, false),
        (Some(0.3), Some(60.0), None, false),
        (None, None, Some(2.5), false),
        (None, None, None, true),
    ];
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
                                                // Blind alarms or not, a load read or
                                                // not: the same rules.
                                                for (
                                                    split_load,
                                                    split_settles_in_secs,
                                                    demand_load,
                                                    demand_unsettled,
                                                ) in loads
                                                {
                                                    let o = Observed {
                                                        split_load,
                                                        split_settles_in_secs,
                                                        demand_load,
                                                        demand_unsettled,
                                                        ..o.clone()
                                                    };
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
    }
    assert_eq!(checked, 2 * 3 * 2 * 4 * 6 * 4 * 2 * 3 * 2 * 5 * 4 * 6 * 2);
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
                world.marks.moves = Some(crate::marks::moves_after(from, to, world.marks.moves));
                for mark in crate::marks::for_weights(from, to) {
                    match mark {
                        crate::marks::Mark::ShiftedAt => world.marks.shifted_secs_ago = Some(0.0),
                        crate::marks::Mark::ReturnedAt => world.marks.returned_secs_ago = Some(0.0),
                        crate::marks::Mark::SteppedAt => world.marks.stepped_secs_ago = Some(0.0),
                        crate::marks::Mark::SavedMinCapacity | crate::marks::Mark::Moves => {}
                    }
                }
            }
        }
    }
    (world.running, world.healthy) = (world.desired as u32, world.desired as u32);
}

/// Time passes between runs: every hold in the config is over, traffic has drained, the
/// metrics' periods have settled.
fn later(world: &mut Observed) {
    let age = |a: Option<f64>| a.map(|a| a + LONG_AGO);
    world.marks.shifted_secs_ago = age(world.marks.shifted_secs_ago);
    world.marks.returned_secs_ago = age(world.marks.returned_secs_ago);
    world.marks.stepped_secs_ago = age(world.marks.stepped_secs_ago);
    world.drain = None;
    world.split_settles_in_secs = None;
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
            for (alarm, unsettled) in [Ok, Alarm, InsufficientData]
                .into_iter()
                .flat_map(|a| [(a, false), (a, true)])
            {
                // Unsettled: the demand never has a settled period, and a look right after
                // each run finds none since its weight change.
                let mut world = Observed {
                    demand_unsettled: unsettled,
                    ..start.clone().with_alarm(alarm)
                };
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
                    if unsettled {
                        let soon = Observed {
                            split_settles_in_secs: Some(120.0),
                            split_load: Some(0.1),
                            ..world.clone()
                        };
                        assert_safe(&soon, &decide(&tick(), &soon, config), config);
                    }
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
