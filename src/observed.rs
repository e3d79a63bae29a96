//! The observed state of the world: what the loop reads before it decides.

use serde::{Deserialize, Serialize};

/// A CloudWatch alarm state, as CloudWatch spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// Folds the states of all configured alarms into one: any ALARM spills, all OK returns,
    /// anything else holds.
    pub fn combine(states: impl IntoIterator<Item = AlarmState>) -> Option<AlarmState> {
        let mut combined = None;
        for state in states {
            combined = Some(match (combined, state) {
                (_, AlarmState::Alarm) | (Some(AlarmState::Alarm), _) => AlarmState::Alarm,
                (None | Some(AlarmState::Ok), AlarmState::Ok) => AlarmState::Ok,
                _ => AlarmState::InsufficientData,
            });
        }
        combined
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl std::fmt::Display for AlarmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two weights of the listener's forward action that spillover owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub lambda: i32,
    pub ecs: i32,
}

impl Weights {
    /// All traffic on the Lambda target group.
    pub const ON_LAMBDA: Weights = Weights { lambda: 1, ecs: 0 };

    /// ALB accepts weights 0..=999 and at least one of them must be above 0.
    pub fn check(self) -> Result<Self, String> {
        let in_range = |w: i32| (0..=999).contains(&w);
        if !in_range(self.lambda) || !in_range(self.ecs) {
            return Err(format!("weights must be within 0..=999, got {self}"));
        }
        if self.lambda == 0 && self.ecs == 0 {
            return Err("weights must not both be 0".into());
        }
        Ok(self)
    }

    /// Both target groups get new traffic.
    pub fn is_split(self) -> bool {
        self.lambda > 0 && self.ecs > 0
    }
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lambda {} / ecs {}", self.lambda, self.ecs)
    }
}

/// Everything the decision needs to know about the world, read fresh on every invocation.
///
/// Times are ages in seconds (how long ago), taken when the world was read, so the
/// decision needs no clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The configured alarms' current state, combined (see [`AlarmState::combine`]).
    pub alarm: AlarmState,
    /// Seconds since the most recent state change among the configured alarms
    /// (`StateTransitionedTimestamp`, else `StateUpdatedTimestamp`), when CloudWatch says;
    /// while spilled and out of ALARM, since they left ALARM (from their history: see
    /// [`crate::decide::hold`]).
    #[serde(default)]
    pub alarm_age_secs: Option<f64>,
    /// Whether every spill alarm measures demand the split cannot change (see
    /// [`crate::decide::sight`]): then traffic returns in one move.
    #[serde(default)]
    pub alarms_blind: bool,
    /// The warm alarms combined, when `SPILLOVER_WARM_ALARM_NAMES` is set.
    #[serde(default)]
    pub warm: Option<AlarmState>,
    /// Seconds since the most recent state change among the warm alarms.
    #[serde(default)]
    pub warm_age_secs: Option<f64>,
    /// The forward weights of the listener default action or rule.
    pub weights: Weights,
    /// The ECS service's desired count.
    pub desired: i32,
    /// Tasks of this service whose last status is RUNNING.
    pub running: u32,
    /// Healthy targets in the ECS target group.
    pub healthy: u32,
    /// Target-group stickiness of the forward action in seconds, 0 when off. Sticky clients
    /// keep going to the ECS target group after its weight drops to 0, for this long.
    #[serde(default)]
    pub sticky_secs: u32,
    /// The service's Application Auto Scaling target, when it is one.
    #[serde(default)]
    pub scalable: Option<Scalable>,
    /// What spillover recorded on the service (tags) in earlier runs.
    #[serde(default)]
    pub marks: Marks,
    /// Whether traffic has left ECS; read only when a scale-in is otherwise due.
    #[serde(default)]
    pub drain: Option<Drain>,
    /// The load the spill alarms that see the split measured on Lambda since the last
    /// weight change, as a share of their thresholds (the highest value over the threshold,
    /// 1.0 = at the threshold), over settled and partial periods alike: a partial one is a
    /// lower bound (see [`crate::decide::settled`]). Read only while traffic is split, the
    /// alarms are OK and each one that sees the split can be projected (see
    /// [`crate::decide::sight::projectable`]).
    #[serde(default)]
    pub split_load: Option<f64>,
    /// Set when that reading has no settled period since the last weight change yet: the
    /// seconds until one surely has. A step back waits for it.
    #[serde(default)]
    pub split_settles_in_secs: Option<f64>,
    /// The demand the spill alarms read, as a share of their thresholds (the highest over
    /// their last settled periods, carried along their rise, and their partial ones, and
    /// over the alarms, 1.0 = at the threshold). Read only while they are in ALARM, every
    /// one is blind to the split and reads the demand (see
    /// [`crate::decide::sight::reads_demand`]), and ECS is below the last step.
    #[serde(default)]
    pub demand_load: Option<f64>,
    /// The demand was read but an alarm had no settled period: the steps go as configured.
    #[serde(default)]
    pub demand_unsettled: bool,
    /// Seconds the spill alarms' own metric has had no datapoint, at least, as settled
    /// periods tell: from the end of the last period with one to `SPILLOVER_METRIC_SETTLE_SECS`
    /// ago (0 when a newer, partial period has one). Read only while they are in ALARM with
    /// all the traffic on ECS and each one is the app function's `ConcurrentExecutions`
    /// (see [`crate::decide::sight::projectable`]). Lambda publishes it only while invoked,
    /// so an ALARM then rests on no data (`TreatMissingData: breaching` or `ignore`).
    #[serde(default)]
    pub alarm_silent_secs: Option<f64>,
    /// Whether the spill alarms' own metric has read a datapoint at or over its threshold
    /// (a partial one counts: it only grows) lately: in the periods an alarm evaluates and
    /// the late ones before them, and only since the last weight change. Read only while
    /// they are in ALARM, Lambda has a share of the traffic, and each one's ALARM may rest
    /// on no data (the app function's `ConcurrentExecutions` with `TreatMissingData`
    /// `breaching` or `ignore`): CloudWatch's metrics arrive a minute or more late, and
    /// such an alarm is in ALARM on the periods not received yet.
    #[serde(default)]
    pub alarm_breach_read: Option<bool>,
}

/// An Application Auto Scaling scalable target (`ecs:service:DesiredCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scalable {
    pub min: i32,
    pub max: i32,
}

/// spillover's own records, kept as tags on the ECS service so that they survive between
/// invocations and are seen by any copy of the controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    /// Seconds since ECS last got weight from 0 (`spillover:shifted-at`).
    pub shifted_secs_ago: Option<f64>,
    /// Seconds since ECS last went back to weight 0 (`spillover:returned-at`).
    pub returned_secs_ago: Option<f64>,
    /// Seconds since the weights last changed (`spillover:stepped-at`).
    pub stepped_secs_ago: Option<f64>,
    /// The scalable target's `MinCapacity` before spillover raised it
    /// (`spillover:saved-min-capacity`), while raised.
    pub saved_min_capacity: Option<i32>,
    /// Weight changes since the spill began, the shift included (`spillover:moves`).
    #[serde(default)]
    pub moves: Option<u32>,
}

/// Evidence that traffic has left the ECS target group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drain {
    /// The ECS target group's `deregistration_delay.timeout_seconds`.
    pub deregistration_delay_secs: f64,
    /// Its `RequestCount` summed over the last `window_secs` (no datapoints = 0: ELB
    /// publishes nothing for a period without requests). The window reaches back past the
    /// settle time, so that its settled periods cover the stickiness window; the newer,
    /// partial ones count too, as the lower bounds they are.
    pub requests: f64,
    pub window_secs: f64,
}

impl Observed {
    /// Enough running tasks and healthy targets to take traffic.
    pub fn is_ready(&self, min_healthy: u32) -> bool {
        is_ready(self.running, self.healthy, min_healthy)
    }
}

/// The one readiness rule, for the decision and for the poller: enough tasks running and
/// enough targets passing their health checks.
pub fn is_ready(running: u32, healthy: u32, min_healthy: u32) -> bool {
    running >= min_healthy && healthy >= min_healthy
}

/// A task that stopped, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoppedTask {
    pub arn: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmState::*;

    #[test]
    fn any_alarm_wins_and_all_ok_returns() {
        assert_eq!(
            AlarmState::combine([Ok, Alarm, InsufficientData]),
            Some(Alarm)
        );
        assert_eq!(AlarmState::combine([Ok, Ok]), Some(Ok));
        assert_eq!(
            AlarmState::combine([Ok, InsufficientData]),
            Some(InsufficientData)
        );
        assert_eq!(
            AlarmState::combine([InsufficientData, Ok]),
            Some(InsufficientData)
        );
        assert_eq!(AlarmState::combine([]), None);
    }

    #[test]
    fn weights_outside_alb_limits_are_rejected() {
        assert!(Weights { lambda: 0, ecs: 0 }.check().is_err());
        assert!(
            Weights {
                lambda: 1000,
                ecs: 1
            }
            .check()
            .is_err()
        );
        assert!(Weights { lambda: -1, ecs: 1 }.check().is_err());
        assert!(
            Weights {
                lambda: 0,
                ecs: 999
            }
            .check()
            .is_ok()
        );
    }
}
