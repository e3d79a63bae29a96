//! The safety rules of the old policy, still holding.

use super::*;

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
