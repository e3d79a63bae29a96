//! How many tasks: up to the spill count for a spill or a pre-warm, back to idle only after
//! traffic has left ECS.
//!
//! When the service is an Application Auto Scaling scalable target, its scaling policy owns
//! the desired count (a write to it would be overridden): spillover raises the target's
//! `MinCapacity` instead, so the policy can still grow the service beyond the spill count
//! while spilled, and puts the saved minimum back on the way out.
//!
//! The scale-in (or the restored minimum) waits until:
//! - the ECS target group has weight 0, and not from a change made in this run: ALB applies
//!   listener changes eventually, so the next run scales in;
//! - every alarm has been out of ALARM for the return hold (and the warm alarms too);
//! - the stickiness window (at least one metric period) has passed since the return, and
//!   settled (`SPILLOVER_METRIC_SETTLE_SECS` more), and the target group's deregistration
//!   delay too;
//! - the ECS target group's `RequestCount` over that window and since is 0: sticky clients
//!   stay on the target group they got, whatever the weights, as long as their cookie
//!   lives, and a period counts as empty only once it has settled;
//! - or, so that it is never stuck, `SPILLOVER_SCALE_IN_MAX_WAIT_SECS` has passed since the
//!   return: a client that never pauses for a whole window refreshes its cookie forever
//!   (a monitor, a long session), and the tasks would otherwise stay for it.

use super::hold::{Held, warm_calm};
use super::{Draft, Step};

/// Capacity up to the spill count, unless it is there already.
pub(super) fn ensure(draft: &mut Draft) {
    let (o, c) = (draft.observed, draft.config);
    match o.scalable {
        Some(target) => {
            let to = c.spill_count.min(target.max);
            if target.min < to {
                draft.steps.push(Step::RaiseMinCapacity {
                    from: target.min,
                    to,
                    save: o.marks.saved_min_capacity.is_none(),
                });
            }
            draft.capacity = o.desired.max(to).max(target.min);
        }
        None => {
            if o.desired < c.spill_count {
                draft.steps.push(Step::ScaleOut {
                    from: o.desired,
                    to: c.spill_count,
                });
            }
            draft.capacity = o.desired.max(c.spill_count);
        }
    }
}

/// Back to the idle count (or the saved minimum) once traffic has left ECS.
pub(super) fn scale_in(draft: &mut Draft, calm: &Result<(), Held>) {
    let (o, c) = (draft.observed, draft.config);
    let step = match o.scalable {
        Some(target) => o
            .marks
            .saved_min_capacity
            .map(|saved| Step::RestoreMinCapacity {
                from: target.min,
                to: saved,
            }),
        None => (o.desired > c.idle_count).then_some(Step::ScaleIn {
            from: o.desired,
            to: c.idle_count,
        }),
    };
    let Some(step) = step else {
        return;
    };
    if draft.changes_weights() {
        draft.note("scale-in in a later run, once ALB has applied the new weights");
        return;
    }
    if let Err(held) = calm.clone().and_then(|()| warm_calm(o, c)) {
        draft.note(format!("capacity kept: {}", held.why));
        draft.scale_in_after_secs = Some(held.secs_left);
        return;
    }
    let window = f64::from(o.sticky_secs).max(c.metric_period.as_secs_f64());
    // A `RequestCount` of 0 proves nothing until its period has settled: ELB's datapoints
    // come late, and a period with requests has none yet (see `settled`). So the window
    // that must be empty is the one that ended the ELB settle time ago, after the return.
    let settle = c.elb_metric_settle.as_secs_f64();
    if let Some(age) = o.marks.returned_secs_ago
        && age < window + settle
    {
        let why = if age < window {
            "sticky sessions may still reach ECS"
        } else {
            "the ECS target group's RequestCount since the return has not settled"
        };
        draft.note(format!(
            "scale-in waits {:.0}s more: {why}",
            window + settle - age
        ));
        draft.scale_in_after_secs = Some(window + settle - age);
        return;
    }
    let Some(drain) = o.drain else {
        draft.note(format!(
            "scale-in due once the ECS target group's RequestCount over {window:.0}s, settled, is read"
        ));
        draft.needs_drain_window_secs = Some(window + settle);
        return;
    };
    if let Some(age) = o.marks.returned_secs_ago
        && age < drain.deregistration_delay_secs
    {
        let left = drain.deregistration_delay_secs - age;
        draft.note(format!(
            "scale-in waits {left:.0}s more for the deregistration delay"
        ));
        draft.scale_in_after_secs = Some(left);
        return;
    }
    if drain.requests > 0.0 {
        let max_wait = c.scale_in_max_wait.as_secs_f64();
        let served = format!(
            "the ECS target group still served {:.0} requests in the last {:.0}s",
            drain.requests.ceil(),
            drain.window_secs
        );
        match o.marks.returned_secs_ago {
            Some(age) if age >= max_wait => {
                draft.note(format!(
                    "scale in although {served}: {age:.0}s since the return, past SPILLOVER_SCALE_IN_MAX_WAIT_SECS ({max_wait:.0}s); sticky clients still on ECS lose their session"
                ));
                draft.steps.push(step);
            }
            age => {
                draft.note(format!("scale-in waits: {served}"));
                let to_bound = age.map_or(f64::INFINITY, |age| max_wait - age);
                draft.scale_in_after_secs = Some(drain.window_secs.min(to_bound));
            }
        }
        return;
    }
    draft.note("traffic has left ECS: scale in");
    draft.steps.push(step);
}
