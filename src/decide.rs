//! The decision: a pure function from what woke us, what we see and what we were told,
//! to the steps that move the world toward the alarm's current state.
//!
//! No async, no clients. The plan is exact and small enough to assert in a test, and the
//! safety rules hold for every plan:
//! - the ECS target group never gets weight > 0 unless `min_healthy` targets are healthy
//!   (or a `WaitUntilReady` step comes first);
//! - the service is never scaled in while the ECS target group has weight > 0;
//! - weights stay within 0..=999 and are never both 0.

use serde::Serialize;

use crate::config::Config;
use crate::observed::{AlarmState, Observed, Weights};
use crate::trigger::Trigger;

/// What the plan is for, from the alarm's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// ALARM: move traffic to ECS.
    Spill,
    /// OK: move traffic back to Lambda and scale in.
    Return,
    /// INSUFFICIENT_DATA: change nothing, unless the ECS weight is unsafe.
    Hold,
}

/// One step; the executor runs them in order and stops at the first failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Raise the service's desired count.
    ScaleOut { from: i32, to: i32 },
    /// Poll until `min_healthy` tasks run and `min_healthy` targets are healthy.
    WaitUntilReady { min_healthy: u32 },
    /// Write the two forward weights, then read them back.
    SetWeights { from: Weights, to: Weights },
    /// Lower the service's desired count.
    ScaleIn { from: i32, to: i32 },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::ScaleOut { from, to } => write!(f, "scale out {from} -> {to}"),
            Step::WaitUntilReady { min_healthy } => {
                write!(
                    f,
                    "wait for {min_healthy} running task(s) and healthy target(s)"
                )
            }
            Step::SetWeights { from, to } => write!(f, "set weights {from} -> {to}"),
            Step::ScaleIn { from, to } => write!(f, "scale in {from} -> {to}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub intent: Intent,
    /// Why, in one sentence, for the report and the logs.
    pub reason: String,
    /// Empty when the world already matches the alarm: a no-op.
    pub steps: Vec<Step>,
    /// Seconds until the scale-in may run, when sticky sessions still reach ECS; the
    /// reconcile tick scales in once they have expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_in_after_secs: Option<u64>,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Decides what to do. The trigger only explains why we looked; `observed.alarm` decides.
pub fn decide(trigger: &Trigger, observed: &Observed, config: &Config) -> Plan {
    let mut scale_in_after_secs = None;
    let (intent, steps) = match observed.alarm {
        AlarmState::Alarm => (Intent::Spill, spill(observed, config)),
        AlarmState::Ok => {
            let (steps, wait) = return_to_lambda(observed, config);
            scale_in_after_secs = wait;
            (Intent::Return, steps)
        }
        AlarmState::InsufficientData => (
            Intent::Hold,
            protect(observed, config).into_iter().collect(),
        ),
    };
    let now = format!("alarm is {} now ({})", observed.alarm, trigger.describe());
    let reason = match (intent, steps.is_empty(), scale_in_after_secs) {
        (Intent::Spill, true, _) => format!(
            "{now}; already spilled: {}, desired {}, {} healthy",
            observed.weights, observed.desired, observed.healthy
        ),
        (Intent::Spill, false, _) => format!("{now}; spill to ECS"),
        (Intent::Return, empty, Some(secs)) => format!(
            "{now}; {}; scale-in waits {secs}s more for sticky sessions on ECS to expire",
            if empty {
                "already on Lambda"
            } else {
                "return to Lambda"
            }
        ),
        (Intent::Return, true, None) => {
            format!(
                "{now}; already on Lambda: {}, desired {}",
                observed.weights, observed.desired
            )
        }
        (Intent::Return, false, None) => format!("{now}; return to Lambda"),
        (Intent::Hold, true, _) => format!("{now}; hold: nothing changes"),
        (Intent::Hold, false, _) => format!(
            "{now}; hold, but ECS has weight with {} of {} healthy targets: back to Lambda",
            observed.healthy, config.min_healthy
        ),
    };
    Plan {
        intent,
        reason,
        steps,
        scale_in_after_secs,
    }
}

/// Takes the weight off ECS when it has weight but is not ready: the one change made in any state.
fn protect(observed: &Observed, config: &Config) -> Option<Step> {
    (observed.weights.ecs > 0 && !observed.is_ready(config.min_healthy)).then_some(
        Step::SetWeights {
            from: observed.weights,
            to: Weights::ON_LAMBDA,
        },
    )
}

fn spill(observed: &Observed, config: &Config) -> Vec<Step> {
    let mut steps: Vec<Step> = protect(observed, config).into_iter().collect();
    let weights = if steps.is_empty() {
        observed.weights
    } else {
        Weights::ON_LAMBDA
    };
    if observed.desired < config.spill_count {
        steps.push(Step::ScaleOut {
            from: observed.desired,
            to: config.spill_count,
        });
    }
    if weights != config.spill_weights {
        if !observed.is_ready(config.min_healthy) {
            steps.push(Step::WaitUntilReady {
                min_healthy: config.min_healthy,
            });
        }
        steps.push(Step::SetWeights {
            from: weights,
            to: config.spill_weights,
        });
    }
    steps
}

/// Weights back to Lambda, then scale in, unless sticky sessions may still reach ECS:
/// then the scale-in is left to a later run, and the seconds to wait are returned.
fn return_to_lambda(observed: &Observed, config: &Config) -> (Vec<Step>, Option<u64>) {
    let mut steps = Vec::new();
    if observed.weights.ecs > 0 || observed.weights.lambda == 0 {
        steps.push(Step::SetWeights {
            from: observed.weights,
            to: Weights::ON_LAMBDA,
        });
    }
    if observed.desired <= config.idle_count {
        return (steps, None);
    }
    let wait = sticky_sessions_left(observed);
    if wait.is_none() {
        steps.push(Step::ScaleIn {
            from: observed.desired,
            to: config.idle_count,
        });
    }
    (steps, wait)
}

/// Seconds sticky clients may still be routed to the ECS target group, if any.
///
/// With target-group stickiness, ALB keeps a client on the target group it first got for
/// the stickiness duration, whatever the weights. The weights go back to Lambda right after
/// the alarm clears, so the time since the alarm's last change stands for the time since
/// the shift. Without that time, the whole window is taken to be ahead.
fn sticky_sessions_left(observed: &Observed) -> Option<u64> {
    let window = u64::from(observed.sticky_secs);
    if window == 0 {
        return None;
    }
    if observed.weights.ecs > 0 {
        return Some(window);
    }
    let age = observed.alarm_age_secs.unwrap_or(0);
    (age < window).then(|| window - age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::test_config;
    use crate::observed::AlarmState::*;
    use Step::*;

    const SPILLED: Weights = Weights { lambda: 0, ecs: 1 };
    const ON_LAMBDA: Weights = Weights::ON_LAMBDA;

    impl Observed {
        /// Traffic on Lambda, service at 0, alarm OK.
        fn idle() -> Self {
            Observed {
                alarm: Ok,
                weights: ON_LAMBDA,
                desired: 0,
                running: 0,
                healthy: 0,
                sticky_secs: 0,
                alarm_age_secs: None,
            }
        }
        /// Service scaled out, tasks starting, traffic still on Lambda.
        fn scaling() -> Self {
            Observed {
                alarm: Alarm,
                desired: 2,
                ..Self::idle()
            }
        }
        /// Traffic on ECS with two healthy tasks.
        fn spilled() -> Self {
            Observed {
                alarm: Alarm,
                weights: SPILLED,
                desired: 2,
                running: 2,
                healthy: 2,
                ..Self::idle()
            }
        }
        /// Weights back on Lambda but the service still up: a return interrupted halfway.
        fn half_returned() -> Self {
            Observed {
                alarm: Ok,
                weights: ON_LAMBDA,
                ..Self::spilled()
            }
        }
        fn with_alarm(self, alarm: AlarmState) -> Self {
            Observed { alarm, ..self }
        }
        fn with_healthy(self, healthy: u32) -> Self {
            Observed { healthy, ..self }
        }
        fn with_running(self, running: u32) -> Self {
            Observed { running, ..self }
        }
        fn with_weights(self, lambda: i32, ecs: i32) -> Self {
            Observed {
                weights: Weights { lambda, ecs },
                ..self
            }
        }
        fn with_desired(self, desired: i32) -> Self {
            Observed { desired, ..self }
        }
        /// Target-group stickiness on, with the alarm in its state for `age` seconds.
        fn with_sticky(self, sticky_secs: u32, alarm_age_secs: Option<u64>) -> Self {
            Observed {
                sticky_secs,
                alarm_age_secs,
                ..self
            }
        }
    }

    fn event(text: &str) -> Trigger {
        Trigger::parse(text, &test_config()).expect("recorded event parses")
    }

    fn steps(observed: Observed) -> Vec<Step> {
        let trigger = Trigger::Tick { event_id: None };
        decide(&trigger, &observed, &test_config()).steps
    }

    const SPILL_FROM_IDLE: [Step; 3] = [
        ScaleOut { from: 0, to: 2 },
        WaitUntilReady { min_healthy: 1 },
        SetWeights {
            from: ON_LAMBDA,
            to: SPILLED,
        },
    ];
    const RETURN_FROM_SPILLED: [Step; 2] = [
        SetWeights {
            from: SPILLED,
            to: ON_LAMBDA,
        },
        ScaleIn { from: 2, to: 0 },
    ];

    #[test]
    fn every_recorded_alarm_event_against_every_observed_state() {
        let alarm_events = [
            include_str!("../events/alarm-metric.json"),
            include_str!("../events/alarm-metric-math.json"),
            include_str!("../events/alarm-composite.json"),
        ];
        let ok_events = [
            include_str!("../events/ok-metric.json"),
            include_str!("../events/ok-metric-math.json"),
            include_str!("../events/ok-composite.json"),
        ];
        let config = test_config();
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
                        to: SPILLED
                    }
                ]
            );
            assert!(plan(Observed::spilled()).is_noop());
            assert_eq!(
                plan(Observed::half_returned().with_alarm(Alarm)).steps,
                [SetWeights {
                    from: ON_LAMBDA,
                    to: SPILLED
                }]
            );
        }
        for text in ok_events {
            let trigger = event(text);
            let plan = |o: Observed| decide(&trigger, &o, &config);
            assert!(plan(Observed::idle()).is_noop());
            assert_eq!(plan(Observed::idle()).intent, Intent::Return);
            assert_eq!(
                plan(Observed::scaling().with_alarm(Ok)).steps,
                [ScaleIn { from: 2, to: 0 }]
            );
            assert_eq!(
                plan(Observed::spilled().with_alarm(Ok)).steps,
                RETURN_FROM_SPILLED
            );
            assert_eq!(
                plan(Observed::half_returned()).steps,
                [ScaleIn { from: 2, to: 0 }]
            );
        }
    }

    #[test]
    fn ok_event_while_alarm_is_still_firing_changes_nothing() {
        let plan = decide(
            &event(include_str!("../events/ok-metric.json")),
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
    fn late_alarm_event_after_the_alarm_cleared_returns() {
        let plan = decide(
            &event(include_str!("../events/alarm-metric.json")),
            &Observed::spilled().with_alarm(Ok),
            &test_config(),
        );
        assert_eq!(plan.intent, Intent::Return);
        assert_eq!(plan.steps, RETURN_FROM_SPILLED);
    }

    #[test]
    fn insufficient_data_holds_where_it_is() {
        let trigger = event(include_str!("../events/insufficient-data.json"));
        let config = test_config();
        for observed in [
            Observed::idle(),
            Observed::scaling(),
            Observed::spilled(),
            Observed::half_returned(),
        ] {
            let plan = decide(
                &trigger,
                &observed.clone().with_alarm(InsufficientData),
                &config,
            );
            assert_eq!(plan.intent, Intent::Hold);
            assert!(plan.is_noop(), "{observed:?}: {plan:?}");
        }
    }

    #[test]
    fn a_scheduled_tick_reconciles_like_an_event() {
        let tick = event(include_str!("../events/scheduled-tick.json"));
        let config = test_config();
        assert_eq!(
            decide(&tick, &Observed::idle().with_alarm(Alarm), &config).steps,
            SPILL_FROM_IDLE
        );
        assert_eq!(
            decide(&tick, &Observed::spilled().with_alarm(Ok), &config).steps,
            RETURN_FROM_SPILLED
        );
        assert!(decide(&tick, &Observed::idle(), &config).is_noop());
    }

    #[test]
    fn ready_targets_are_shifted_to_without_waiting() {
        assert_eq!(
            steps(Observed::scaling().with_running(2).with_healthy(1)),
            [SetWeights {
                from: ON_LAMBDA,
                to: SPILLED
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
                    to: SPILLED
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
                    from: SPILLED,
                    to: ON_LAMBDA
                },
                WaitUntilReady { min_healthy: 1 },
                SetWeights {
                    from: ON_LAMBDA,
                    to: SPILLED
                },
            ]
        );
        let hold = Observed::spilled()
            .with_healthy(0)
            .with_alarm(InsufficientData);
        assert_eq!(
            steps(hold),
            [SetWeights {
                from: SPILLED,
                to: ON_LAMBDA
            }]
        );
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
    fn return_leaves_a_custom_lambda_weight_alone() {
        assert_eq!(steps(Observed::idle().with_weights(5, 0)), []);
        assert_eq!(
            steps(Observed::idle().with_weights(0, 0)),
            [SetWeights {
                from: Weights { lambda: 0, ecs: 0 },
                to: ON_LAMBDA
            }]
        );
    }

    #[test]
    fn with_sticky_sessions_the_return_shifts_now_and_scales_in_after_they_expire() {
        let config = test_config();
        let tick = Trigger::Tick { event_id: None };
        // The OK event: weights back now, scale-in left for later.
        let now = decide(
            &tick,
            &Observed::spilled().with_alarm(Ok).with_sticky(600, Some(5)),
            &config,
        );
        assert_eq!(
            now.steps,
            [SetWeights {
                from: SPILLED,
                to: ON_LAMBDA
            }]
        );
        assert_eq!(now.scale_in_after_secs, Some(600));
        assert!(
            now.reason
                .contains("scale-in waits 600s more for sticky sessions"),
            "{}",
            now.reason
        );
        // A tick inside the window: nothing yet, and it says how long.
        let early = decide(
            &tick,
            &Observed::half_returned().with_sticky(600, Some(200)),
            &config,
        );
        assert!(early.is_noop());
        assert_eq!(early.scale_in_after_secs, Some(400));
        // A tick after the window: scale in.
        let late = decide(
            &tick,
            &Observed::half_returned().with_sticky(600, Some(600)),
            &config,
        );
        assert_eq!(late.steps, [ScaleIn { from: 2, to: 0 }]);
        assert_eq!(late.scale_in_after_secs, None);
        // Without the alarm's age, the whole window is taken to be ahead.
        let unknown = decide(
            &tick,
            &Observed::half_returned().with_sticky(600, None),
            &config,
        );
        assert_eq!(unknown.scale_in_after_secs, Some(600));
        // Already idle: nothing to wait for.
        let idle = decide(&tick, &Observed::idle().with_sticky(600, Some(1)), &config);
        assert_eq!(idle.scale_in_after_secs, None);
    }

    #[test]
    fn a_partial_spill_keeps_lambda_weight() {
        let mut config = test_config();
        config.spill_weights = Weights { lambda: 3, ecs: 1 };
        let plan = decide(
            &Trigger::Tick { event_id: None },
            &Observed::idle().with_alarm(Alarm),
            &config,
        );
        assert_eq!(
            plan.steps.last(),
            Some(&SetWeights {
                from: ON_LAMBDA,
                to: Weights { lambda: 3, ecs: 1 }
            })
        );
    }

    /// Runs a plan on a model of the world, assuming every step succeeds, and checks the
    /// safety rules at each step.
    fn assert_safe(observed: &Observed, plan: &Plan, min_healthy: u32) {
        let mut weights = observed.weights;
        let mut ready = observed.is_ready(min_healthy);
        for step in &plan.steps {
            match *step {
                WaitUntilReady { .. } => ready = true,
                SetWeights { from, to } => {
                    assert_eq!(
                        from, weights,
                        "step starts from the weights it will find: {plan:?}"
                    );
                    assert!(to.check().is_ok(), "{plan:?}");
                    assert!(
                        to.ecs == 0 || ready,
                        "ECS weight before ready: {observed:?} {plan:?}"
                    );
                    weights = to;
                }
                ScaleIn { .. } => {
                    assert_eq!(
                        weights.ecs, 0,
                        "scale-in while ECS has weight: {observed:?} {plan:?}"
                    );
                    let window = u64::from(observed.sticky_secs);
                    let expired = observed.weights.ecs == 0
                        && observed.alarm_age_secs.is_some_and(|a| a >= window);
                    assert!(
                        window == 0 || expired,
                        "scale-in while sticky sessions may reach ECS: {observed:?} {plan:?}"
                    );
                }
                ScaleOut { from, to } => assert!(to > from),
            }
        }
        if observed.weights.ecs > 0 && !observed.is_ready(min_healthy) {
            assert!(
                !plan.steps.is_empty(),
                "unsafe weights left alone: {observed:?}"
            );
        }
    }

    #[test]
    fn safety_rules_hold_for_every_state_in_a_grid() {
        let config = test_config();
        let tick = Trigger::Tick { event_id: None };
        let weights = [(1, 0), (0, 1), (1, 1), (5, 0), (0, 0), (3, 1)];
        let mut checked = 0;
        for alarm in [Ok, Alarm, InsufficientData] {
            for (lambda, ecs) in weights {
                for desired in 0..=3 {
                    for running in 0..=3 {
                        for healthy in 0..=3 {
                            for (sticky_secs, alarm_age_secs) in
                                [(0, None), (60, None), (60, Some(10)), (60, Some(60))]
                            {
                                let weights = Weights { lambda, ecs };
                                let observed = Observed {
                                    alarm,
                                    weights,
                                    desired,
                                    running,
                                    healthy,
                                    sticky_secs,
                                    alarm_age_secs,
                                };
                                let plan = decide(&tick, &observed, &config);
                                assert_safe(&observed, &plan, config.min_healthy);
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 6 * 4 * 4 * 4 * 4);
    }

    #[test]
    fn planning_twice_from_the_result_of_a_plan_is_a_no_op() {
        // Apply each plan to the model and decide again: converged means no steps.
        let config = test_config();
        let tick = Trigger::Tick { event_id: None };
        for start in [
            Observed::idle(),
            Observed::scaling(),
            Observed::spilled(),
            Observed::half_returned(),
        ] {
            for alarm in [Ok, Alarm] {
                let mut world = start.clone().with_alarm(alarm);
                for step in decide(&tick, &world, &config).steps {
                    match step {
                        ScaleOut { to, .. } | ScaleIn { to, .. } => world.desired = to,
                        WaitUntilReady { .. } => {
                            world.running = world.desired as u32;
                            world.healthy = world.desired as u32;
                        }
                        SetWeights { to, .. } => world.weights = to,
                    }
                }
                if world.desired == 0 {
                    (world.running, world.healthy) = (0, 0);
                }
                assert!(
                    decide(&tick, &world, &config).is_noop(),
                    "{start:?} under {alarm}: {world:?}"
                );
            }
        }
    }
}
