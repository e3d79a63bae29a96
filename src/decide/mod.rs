//! The decision: a pure function from what woke us, what we see and what we were told,
//! to the steps that move the world toward the alarms' current state.
//!
//! No async, no clients, no clock (the observed state carries ages). The rules live in
//! one file each:
//! - [`traffic`]: the progressive steps, one up per run while the alarm fires and ECS has
//!   the healthy targets for it, one down per run once the return rules allow (and, for
//!   a concurrency alarm, once its reading carried to the next split stays under the
//!   threshold: [`sight::carried`]);
//! - [`hold`]: hysteresis (every alarm out of ALARM for the return hold, the minimum spill
//!   time, the settle time between steps), INSUFFICIENT_DATA (and an ALARM on no data)
//!   and the warm alarms;
//! - [`capacity`]: scale-out (desired count, or the Application Auto Scaling minimum),
//!   pre-warm, and the scale-in only after traffic has left ECS;
//! - [`settled`]: which CloudWatch periods are complete; a rule that acts on a low reading
//!   or on no datapoint reads only those.
//!
//! The safety rules hold for every plan:
//! - the ECS target group never gets weight > 0 unless `min_healthy` targets are healthy
//!   (or a `WaitUntilReady` step comes first), and loses it first when it has weight
//!   without them;
//! - the service is never scaled in while the ECS target group has weight > 0, nor in the
//!   run that changed the weights, nor before traffic has left ECS;
//! - weights stay within 0..=999 and are never both 0.

mod capacity;
pub mod hold;
pub mod settled;
pub mod sight;
mod traffic;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::config::Config;
use crate::observed::{AlarmState, Observed, Weights};
use crate::trigger::Trigger;

pub use traffic::{healthy_needed, percent, weights_at};

/// What the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// A spill alarm is in ALARM: move traffic to ECS, a step at a time.
    Spill,
    /// Only a warm alarm is in ALARM: capacity up, weights untouched.
    Warm,
    /// Every alarm has been out of ALARM for the return hold: step back, then scale in.
    Return,
    /// Out of ALARM, but not yet for the return hold: change nothing (unless unsafe).
    Hold,
}

/// One step; the executor runs them in order and stops at the first failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Raise the service's desired count.
    ScaleOut { from: i32, to: i32 },
    /// Raise the scalable target's `MinCapacity` (Application Auto Scaling then scales
    /// the service out to it); with `save`, first keep the old value in a tag.
    RaiseMinCapacity { from: i32, to: i32, save: bool },
    /// Poll until `min_healthy` tasks run and `min_healthy` targets are healthy.
    WaitUntilReady { min_healthy: u32 },
    /// Write the two forward weights, then read them back.
    SetWeights { from: Weights, to: Weights },
    /// Lower the service's desired count.
    ScaleIn { from: i32, to: i32 },
    /// Put the scalable target's `MinCapacity` back to the saved value and drop the tag.
    RestoreMinCapacity { from: i32, to: i32 },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::ScaleOut { from, to } => write!(f, "scale out {from} -> {to}"),
            Step::RaiseMinCapacity { from, to, .. } => {
                write!(f, "raise the scalable target's minimum {from} -> {to}")
            }
            Step::WaitUntilReady { min_healthy } => {
                write!(
                    f,
                    "wait for {min_healthy} running task(s) and healthy target(s)"
                )
            }
            Step::SetWeights { from, to } => write!(f, "set weights {from} -> {to}"),
            Step::ScaleIn { from, to } => write!(f, "scale in {from} -> {to}"),
            Step::RestoreMinCapacity { from, to } => {
                write!(f, "restore the scalable target's minimum {from} -> {to}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub intent: Intent,
    /// Why, in a sentence or two, for the report and the logs.
    pub reason: String,
    /// Empty when nothing needs to change now: a no-op.
    pub steps: Vec<Step>,
    /// Seconds until the next step back may run, when a return rule holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_after_secs: Option<f64>,
    /// Seconds until the scale-in may run, when traffic may still reach ECS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_in_after_secs: Option<f64>,
    /// Set when a scale-in is due but the evidence that traffic has left ECS has not been
    /// read: the seconds of `RequestCount` to read. The loop reads it and decides again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_drain_window_secs: Option<f64>,
    /// Set when nothing steps up only because the ALARM may rest on no data
    /// ([`hold::rests_on_no_data`]): the loop reads the alarm's metric again until it reads
    /// a breach (then decides again), the alarm leaves ALARM, or the wait budget ends.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub awaits_breach: bool,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The plan under construction: the steps so far and the world they leave behind.
struct Draft<'a> {
    observed: &'a Observed,
    config: &'a Config,
    steps: Vec<Step>,
    /// The weights once the steps so far have run.
    weights: Weights,
    /// Capacity the service will have once the steps so far have run.
    capacity: i32,
    notes: Vec<String>,
    return_after_secs: Option<f64>,
    scale_in_after_secs: Option<f64>,
    needs_drain_window_secs: Option<f64>,
    awaits_breach: bool,
}

impl<'a> Draft<'a> {
    fn new(observed: &'a Observed, config: &'a Config) -> Self {
        Draft {
            observed,
            config,
            steps: Vec::new(),
            weights: observed.weights,
            capacity: observed.desired,
            notes: Vec::new(),
            return_after_secs: None,
            scale_in_after_secs: None,
            needs_drain_window_secs: None,
            awaits_breach: false,
        }
    }

    fn set_weights(&mut self, to: Weights) {
        self.steps.push(Step::SetWeights {
            from: self.weights,
            to,
        });
        self.weights = to;
    }

    fn changes_weights(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::SetWeights { .. }))
    }

    fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

/// Decides what to do. The trigger only explains why we looked; the alarms' current
/// state, the weights, the tasks and the marks decide.
pub fn decide(trigger: &Trigger, observed: &Observed, config: &Config) -> Plan {
    let now = format!("alarm is {} now ({})", observed.alarm, trigger.describe());
    // An ALARM on no data says nothing about demand (see `hold`).
    let heard = hold::on_no_data(observed, config);
    let observed = heard.as_ref().unwrap_or(observed);
    let mut draft = Draft::new(observed, config);
    if heard.is_some() {
        draft.note(format!(
            "the alarm has had no datapoint for {:.0}s with all traffic on ECS (TreatMissingData breaching or ignore): counted as INSUFFICIENT_DATA",
            observed.alarm_age_secs.unwrap_or_default()
        ));
    } else if let Some(silent) = hold::settled_silence(observed, config).filter(|&s| s > 0.0) {
        draft.note(format!(
            "the alarm's metric has had no datapoint for {silent:.0}s of the {:.0}s return hold, in periods that have settled ({:.0}s after they end)",
            config.return_hold.as_secs_f64(),
            config.metric_settle.as_secs_f64()
        ));
    }
    protect(&mut draft);
    let intent = if observed.alarm == AlarmState::Alarm {
        if let Some(why) = hold::rests_on_no_data(observed) {
            // An ALARM on periods CloudWatch has not received: nothing to spill for yet,
            // unless a datapoint over the threshold arrives while the run can still wait.
            draft.note(why);
            draft.awaits_breach = draft.steps.is_empty();
        } else {
            capacity::ensure(&mut draft);
            traffic::step_up(&mut draft);
        }
        Intent::Spill
    } else {
        let calm = hold::calm(observed, config);
        traffic::step_down(&mut draft, &calm);
        let warm = observed.warm == Some(AlarmState::Alarm);
        if warm {
            capacity::ensure(&mut draft);
            if draft
                .steps
                .iter()
                .any(|s| matches!(s, Step::ScaleOut { .. } | Step::RaiseMinCapacity { .. }))
            {
                draft.note("pre-warm: capacity up at ECS weight 0");
            } else {
                draft.note("pre-warmed: capacity is up");
            }
        } else if draft.weights.ecs == 0 {
            capacity::scale_in(&mut draft, &calm);
        }
        if draft.changes_weights() && calm.is_ok() {
            Intent::Return
        } else if warm {
            Intent::Warm
        } else if calm.is_err() {
            Intent::Hold
        } else {
            Intent::Return
        }
    };
    let notes = if draft.notes.is_empty() {
        match intent {
            Intent::Return => format!(
                "on Lambda: {}, desired {}",
                observed.weights, observed.desired
            ),
            _ => "nothing changes".to_string(),
        }
    } else {
        draft.notes.join("; ")
    };
    Plan {
        intent,
        reason: format!("{now}; {notes}"),
        steps: draft.steps,
        return_after_secs: draft.return_after_secs,
        scale_in_after_secs: draft.scale_in_after_secs,
        needs_drain_window_secs: draft.needs_drain_window_secs,
        awaits_breach: draft.awaits_breach,
    }
}

/// The one change made in any state: ECS loses its weight when it has weight but not
/// `min_healthy` healthy targets, and weights ALB would refuse are put back on Lambda.
fn protect(draft: &mut Draft) {
    let o = draft.observed;
    if o.weights.check().is_err() {
        draft.note(format!(
            "weights {} are not valid: back to Lambda",
            o.weights
        ));
        draft.set_weights(Weights::ON_LAMBDA);
    } else if o.weights.ecs > 0 && !o.is_ready(draft.config.min_healthy) {
        draft.note(format!(
            "ECS has weight with {} of {} healthy targets: back to Lambda first",
            o.healthy, draft.config.min_healthy
        ));
        draft.set_weights(Weights::ON_LAMBDA);
    }
}
