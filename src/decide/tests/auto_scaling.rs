//! Application Auto Scaling.

use super::*;

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
