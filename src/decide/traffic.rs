//! Progressive steps: how much traffic ECS gets.
//!
//! `SPILLOVER_STEPS` lists the percents of traffic on ECS (`50,100`; `100` alone is all or
//! nothing). While a spill alarm fires, each run takes one step up, once ECS has the
//! healthy targets for it; once the return rules allow, each run takes one step down
//! toward 0, or goes back to 0 at once when every alarm is blind to the split (`sight`).
//! The first step needs `SPILLOVER_MIN_HEALTHY` healthy targets, each later one its share
//! of the spill count. Moving only part of the traffic keeps Lambda busy with what it can
//! carry (and keeps its metrics, which the alarm may need), and keeps a small service from
//! being flooded before it has grown.
//!
//! When the alarms read the demand itself (`sight::reads_demand`), a step up stops at the
//! excess, the share Lambda should not carry, and none is taken while ECS carries it. The
//! spill's weight changes are counted (`spillover:moves`): a stop is made only while the
//! weights can still reach the last step and come back within two changes per step.

use super::Draft;
use crate::observed::{AlarmState, Weights, is_ready};

/// Percent of new traffic the weights send to ECS.
pub fn percent(weights: Weights) -> f64 {
    let (lambda, ecs) = (weights.lambda.max(0), weights.ecs.max(0));
    if ecs == 0 {
        return 0.0;
    }
    100.0 * f64::from(ecs) / f64::from(lambda + ecs)
}

/// Weights with `percent` of the traffic on ECS, in lowest terms: 100 is Lambda 0 / ECS 1,
/// 50 is 1 / 1, 25 is 3 / 1, 0 is all on Lambda.
pub fn weights_at(percent: u8) -> Weights {
    let ecs = i32::from(percent.min(100));
    if ecs == 0 {
        return Weights::ON_LAMBDA;
    }
    let lambda = 100 - ecs;
    let d = gcd(ecs, lambda);
    Weights {
        lambda: lambda / d,
        ecs: ecs / d,
    }
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Healthy targets ECS needs before it gets `percent` of the traffic: its share of the
/// spill count, and never fewer than `min_healthy`.
pub fn healthy_needed(percent: u8, spill_count: i32, min_healthy: u32) -> u32 {
    let share = (f64::from(percent) * f64::from(spill_count.max(0)) / 100.0).ceil() as u32;
    share.max(min_healthy)
}

/// A hair of tolerance: weights like 1/2 are 33.33…%, never exactly a step.
const EPSILON: f64 = 1e-6;

fn next_up(steps: &[u8], now: f64) -> Option<u8> {
    steps
        .iter()
        .copied()
        .find(|&s| f64::from(s) > now + EPSILON)
}

fn next_down(steps: &[u8], now: f64) -> u8 {
    steps
        .iter()
        .rev()
        .copied()
        .find(|&s| f64::from(s) < now - EPSILON)
        .unwrap_or(0)
}

/// Whether a stop at the excess, `to` percent, keeps the spill within two weight changes
/// per step: the moves made since the shift (`spillover:moves`), this one, one for each
/// step still above it and the return. Without the mark, a spill in progress makes no stop.
fn stop_fits(draft: &Draft, now: f64, to: u8) -> bool {
    let c = draft.config;
    let made = if now < EPSILON {
        Some(0)
    } else {
        draft.observed.marks.moves
    };
    let above = c.steps.iter().filter(|&&s| s > to).count();
    // Made, this stop, the steps above it and the return, within twice the steps.
    let needed = |made: u32| made as usize + 1 + above + 1;
    made.is_some_and(|made| needed(made) <= 2 * c.steps.len())
}

/// One step up, when ECS has (or will have, after waiting) the healthy targets for it.
pub(super) fn step_up(draft: &mut Draft) {
    let (o, c) = (draft.observed, draft.config);
    let now = percent(draft.weights);
    // With Application Auto Scaling the service grows from the load it is given: a partial
    // step only halves the signal its policy scales on while Lambda keeps throttling, so
    // the spill goes to the last step at once (measured in `overload-beyond-ecs`).
    let next_step = if o.scalable.is_some() {
        c.steps
            .last()
            .copied()
            .filter(|&last| f64::from(last) > now + EPSILON)
    } else {
        next_up(&c.steps, now)
    };
    // Only the excess moves: when the alarms read the demand (`sight::reads_demand`), ECS
    // takes what Lambda should not carry and no more, as often as the flapping bound allows.
    // The ALARM decides the spill; the reading only makes a step smaller, so it comes from
    // settled periods (`sight::demand_load`), and without one the steps go as configured.
    let excess = o
        .demand_load
        .and_then(super::sight::excess_percent)
        .filter(|_| c.steps.len() > 1);
    if o.demand_unsettled && c.steps.len() > 1 && next_step.is_some() {
        draft.note(format!(
            "the demand has no settled period yet (periods settle {:.0}s after they end): the steps as configured",
            c.metric_settle.as_secs_f64()
        ));
    }
    let next_step = match (next_step, excess) {
        (Some(_), Some(excess)) if f64::from(excess) <= now + EPSILON => {
            draft.note(format!(
                "{now:.0}% on ECS carries the excess ({excess}%: the demand is {:.0}% of the alarm's threshold)",
                o.demand_load.unwrap_or_default() * 100.0,
            ));
            return;
        }
        (Some(next), Some(excess)) if excess < next && stop_fits(draft, now, excess) => {
            Some(excess)
        }
        (next, _) => next,
    };
    let Some(next) = next_step else {
        if draft.steps.is_empty() {
            draft.note(format!(
                "spilled: {:.0}% on ECS (the last step), desired {}, {} healthy",
                now, o.desired, o.healthy
            ));
        }
        return;
    };
    // The first step is the relief Lambda is waiting for: `min_healthy` is enough for it,
    // as the user said. Later steps wait for their share of the spill count.
    let need = if now == 0.0 {
        c.min_healthy
    } else {
        healthy_needed(next, c.spill_count, c.min_healthy)
    };
    let to = weights_at(next);
    let what = if excess == Some(next) && !c.steps.contains(&next) {
        format!(
            "{next}% on ECS, the excess (the demand is {:.0}% of the alarm's threshold)",
            o.demand_load.unwrap_or_default() * 100.0
        )
    } else {
        format!("{next}% on ECS")
    };
    if draft.weights == o.weights && is_ready(o.running, o.healthy, need) {
        draft.note(format!("step up {now:.0}% -> {what}"));
        draft.set_weights(to);
    } else if draft.capacity >= need as i32 {
        draft.note(format!(
            "step up {now:.0}% -> {what} once {need} targets are healthy"
        ));
        draft
            .steps
            .push(super::Step::WaitUntilReady { min_healthy: need });
        draft.set_weights(to);
    } else {
        draft.note(format!(
            "{now:.0}% on ECS; the next step ({next}%) needs {need} healthy targets and the service has room for {}",
            draft.capacity
        ));
    }
}

/// One step down, when the return rules allow (`calm` says whether the alarms do).
pub(super) fn step_down(draft: &mut Draft, calm: &Result<(), super::hold::Held>) {
    let now = percent(draft.weights);
    if now == 0.0 {
        return;
    }
    if let Err(held) = calm {
        draft.note(format!("{now:.0}% stays on ECS: {}", held.why));
        draft.return_after_secs = Some(held.secs_left);
        return;
    }
    if let Err(held) = super::hold::may_step_down(draft.observed, draft.config) {
        draft.note(format!("{now:.0}% stays on ECS: {}", held.why));
        draft.return_after_secs = Some(held.secs_left);
        return;
    }
    // An alarm blind to the split has said for the whole hold that Lambda can take all
    // the demand: the return is one move. One that sees the split judges each step
    // (see `sight`); so does INSUFFICIENT_DATA, which says nothing about demand.
    let o = draft.observed;
    let at_once = o.alarms_blind && o.alarm == AlarmState::Ok;
    let next = if at_once {
        0
    } else {
        next_down(&draft.config.steps, now)
    };
    // An alarm that sees the split says OK about Lambda's share alone. When its reading can
    // be carried to the next split (`sight::projectable`), the step waits until it would
    // still be under the threshold there: an OK at 50 % with Lambda at 70 of 90 would be
    // 140 with all of it, a throttled return and a second spill. A partial period is a
    // lower bound: one already over holds the step; one under proves nothing, and the step
    // waits for a settled period (`sight::split_reading`).
    let foreseen = !at_once && o.alarm == AlarmState::Ok;
    if foreseen
        && let Some(load) = o.split_load
        && let Some(there) = super::sight::carried(load, now, f64::from(next))
        && there >= 1.0
    {
        draft.note(format!(
            "{now:.0}% stays on ECS: at {next}% the alarm would read {:.0}% of its threshold ({:.0}% now)",
            there * 100.0,
            load * 100.0
        ));
        return;
    }
    if foreseen && let Some(secs) = o.split_settles_in_secs {
        draft.note(format!(
            "{now:.0}% stays on ECS: the alarm's reading on Lambda since the last weight change has no settled period yet (periods settle {:.0}s after they end)",
            draft.config.metric_settle.as_secs_f64()
        ));
        draft.return_after_secs = Some(secs);
        return;
    }
    draft.note(match (next, at_once) {
        (0, true) => {
            format!("return {now:.0}% -> 0% on ECS in one move (the alarms are blind to the split)")
        }
        (0, false) => format!("return {now:.0}% -> 0% on ECS"),
        _ => format!("step down {now:.0}% -> {next}% on ECS"),
    });
    draft.set_weights(weights_at(next));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_for_each_step_are_in_lowest_terms() {
        let cases = [
            (0, (1, 0)),
            (10, (9, 1)),
            (25, (3, 1)),
            (50, (1, 1)),
            (75, (1, 3)),
            (100, (0, 1)),
            (33, (67, 33)),
        ];
        for (p, (lambda, ecs)) in cases {
            assert_eq!(weights_at(p), Weights { lambda, ecs }, "{p}%");
            assert!((percent(weights_at(p)) - f64::from(p)).abs() < 1e-9);
        }
    }

    #[test]
    fn odd_weights_fall_between_steps() {
        let steps = [10, 25, 50, 100];
        let third = percent(Weights { lambda: 2, ecs: 1 });
        assert_eq!(next_up(&steps, third), Some(50));
        assert_eq!(next_down(&steps, third), 25);
        assert_eq!(next_up(&steps, 100.0), None);
        assert_eq!(next_down(&steps, 10.0), 0);
        assert_eq!(next_down(&[100], 100.0), 0);
        assert_eq!(percent(Weights { lambda: 5, ecs: 0 }), 0.0);
        assert_eq!(percent(Weights { lambda: 0, ecs: 0 }), 0.0);
    }

    #[test]
    fn each_step_needs_its_share_of_the_spill_count_healthy() {
        let table = [
            // (percent, spill count, min healthy) -> healthy needed
            ((10, 2, 1), 1),
            ((50, 2, 1), 1),
            ((100, 2, 1), 2),
            ((25, 10, 1), 3),
            ((10, 4, 2), 2),
            ((100, 1, 1), 1),
        ];
        for ((p, spill, min), want) in table {
            assert_eq!(healthy_needed(p, spill, min), want, "{p}% of {spill}");
        }
    }
}
