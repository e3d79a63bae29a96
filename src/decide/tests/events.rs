//! Events and the alarm's current state.

use super::*;

#[test]
fn every_recorded_alarm_event_against_every_observed_state() {
    let alarm_events = [
        include_str!("../../../events/alarm-metric.json"),
        include_str!("../../../events/alarm-metric-math.json"),
        include_str!("../../../events/alarm-composite.json"),
    ];
    let ok_events = [
        include_str!("../../../events/ok-metric.json"),
        include_str!("../../../events/ok-metric-math.json"),
        include_str!("../../../events/ok-composite.json"),
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
        &event(include_str!("../../../events/ok-metric.json")),
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
        &event(include_str!("../../../events/alarm-metric.json")),
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
