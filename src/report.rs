//! The one JSON summary each invocation returns and logs, and the log line built from it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::aws::CallCount;
use crate::config::MetricsSettings;
use crate::decide::{Plan, Step, percent};
use crate::error::Error;
use crate::observed::{Observed, StoppedTask};
use crate::trigger::Trigger;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step of the plan ran.
    Done,
    /// The world already matched the alarm.
    NoOp,
    /// `--dry-run`: the plan was printed, nothing was written.
    DryRun,
    /// A step or the observation failed; see `error`.
    Failed,
    /// The event is not one spillover accepts; nothing was read or written.
    Rejected,
}

/// What a run did to the world, as the metrics count it and the notification names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// The run raised the share of traffic on ECS.
    Spilled,
    /// The run lowered the share of traffic on ECS.
    Returned,
    /// The run changed capacity only (a pre-warm scale-out, a scale-in after a return).
    Scaled,
    /// Nothing needed to change (or a dry run).
    NoOp,
    /// The observation or a step failed.
    Failed,
    /// The event was rejected before any AWS call.
    Rejected,
}

impl Effect {
    pub const ALL: [Effect; 6] = [
        Effect::Spilled,
        Effect::Returned,
        Effect::Scaled,
        Effect::NoOp,
        Effect::Failed,
        Effect::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Effect::Spilled => "Spilled",
            Effect::Returned => "Returned",
            Effect::Scaled => "Scaled",
            Effect::NoOp => "NoOp",
            Effect::Failed => "Failed",
            Effect::Rejected => "Rejected",
        }
    }
}

/// The notification a run published, or failed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub detail_type: String,
    pub published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One step as it ran.
#[derive(Debug, Serialize)]
pub struct ActionRecord {
    #[serde(flatten)]
    pub step: Step,
    /// Milliseconds since the invocation started.
    pub started_at_ms: u64,
    pub duration_ms: u64,
    /// "ok", "failed" or "skipped (dry run)".
    pub result: &'static str,
    /// Checks the poller made, for a wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<u32>,
    /// Of those, checks that failed with a transient AWS error and counted as "not yet".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u32>,
    /// Tasks that stopped while the wait ran (a failed start), which ECS replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_starts: Vec<StoppedTask>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub outcome: Outcome,
    /// What woke the loop; `None` for a rejected event.
    pub trigger: Option<Trigger>,
    /// The world as read before deciding.
    pub observed: Option<Observed>,
    pub plan: Option<Plan>,
    pub actions: Vec<ActionRecord>,
    /// The world as read after acting.
    pub final_state: Option<Observed>,
    #[serde(serialize_with = "error_text")]
    pub error: Option<Error>,
    /// Whether running the loop again later may succeed (for failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    pub durations_ms: Durations,
    pub aws_calls: CallCount,
    /// The event published about this run (`SPILLOVER_EVENT_BUS`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

#[derive(Debug, Default, Serialize)]
pub struct Durations {
    pub total: u64,
    pub observe: u64,
    pub act: u64,
}

impl Summary {
    pub fn new(trigger: Trigger) -> Self {
        Summary {
            trigger: Some(trigger),
            ..Summary::new_empty()
        }
    }

    /// The summary of an event rejected before the loop ran: no trigger, nothing read.
    pub fn rejected(error: Error) -> Self {
        Summary {
            outcome: Outcome::Rejected,
            trigger: None,
            retryable: Some(error.is_retryable()),
            error: Some(error),
            ..Summary::new_empty()
        }
    }

    fn new_empty() -> Self {
        Summary {
            outcome: Outcome::NoOp,
            trigger: None,
            observed: None,
            plan: None,
            actions: Vec::new(),
            final_state: None,
            error: None,
            retryable: None,
            durations_ms: Durations::default(),
            aws_calls: CallCount::default(),
            notification: None,
        }
    }

    /// What the run did: a failure first, then the direction the weights moved (from the
    /// weight writes that succeeded), then whether anything else was written.
    pub fn effect(&self) -> Effect {
        if self.outcome == Outcome::Rejected {
            return Effect::Rejected;
        }
        if self.error.is_some() {
            return Effect::Failed;
        }
        let done = || self.actions.iter().filter(|a| a.result == "ok");
        let mut moved = 0.0;
        for action in done() {
            if let Step::SetWeights { from, to } = action.step {
                moved += percent(to) - percent(from);
            }
        }
        if moved > 0.0 {
            Effect::Spilled
        } else if moved < 0.0 {
            Effect::Returned
        } else if done().next().is_some() {
            Effect::Scaled
        } else {
            Effect::NoOp
        }
    }

    /// The state after the run: as read after acting, else as read before.
    pub fn last_seen(&self) -> Option<&Observed> {
        self.final_state.as_ref().or(self.observed.as_ref())
    }

    pub fn fail(&mut self, error: Error) {
        self.outcome = Outcome::Failed;
        self.retryable = Some(error.is_retryable());
        self.error = Some(error);
    }

    /// 0 done or nothing to do, 2 bad input or config, 1 AWS failure or timeout.
    pub fn exit_code(&self) -> i32 {
        self.error.as_ref().map_or(0, Error::exit_code)
    }
}

fn error_text<S: Serializer>(error: &Option<Error>, s: S) -> Result<S::Ok, S::Error> {
    match error {
        Some(e) => s.serialize_str(&e.to_string()),
        None => s.serialize_none(),
    }
}

/// The per-invocation log line: the summary, a `level` and a `timestamp` for Lambda's
/// log-level filter, and (unless metrics are off) the embedded metrics.
///
/// Lambda filters JSON application logs on their `level` key and gives a line without one
/// the level INFO; it reads `timestamp` only in RFC 3339 form.
/// <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>
pub fn log_line(summary: &Summary, metrics: Option<&MetricsSettings>, now: SystemTime) -> Value {
    let Value::Object(mut line) = serde_json::to_value(summary).expect("summaries serialize")
    else {
        unreachable!("a summary serializes to an object")
    };
    let level = match summary.effect() {
        Effect::Failed | Effect::Rejected => "ERROR",
        _ => "INFO",
    };
    line.insert("level".into(), level.into());
    line.insert("timestamp".into(), rfc3339(now).into());
    if let Some(settings) = metrics {
        let at_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let emf: Map<String, Value> = crate::metrics::emf(summary, settings, at_ms);
        for (key, value) in emf {
            let clash = line.insert(key.clone(), value);
            debug_assert!(
                clash.is_none(),
                "{key} is both a summary field and a metric"
            );
        }
    }
    Value::Object(line)
}

/// RFC 3339 in UTC, e.g. `2026-11-22T19:14:44.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    use aws_sdk_ecs::primitives::{DateTime, DateTimeFormat};
    DateTime::from(at)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
