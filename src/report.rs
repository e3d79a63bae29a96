//! The one JSON summary each invocation returns and logs.

use serde::{Serialize, Serializer};

use crate::aws::CallCount;
use crate::decide::{Plan, Step};
use crate::error::Error;
use crate::observed::Observed;
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
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub outcome: Outcome,
    pub trigger: Trigger,
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
            outcome: Outcome::NoOp,
            trigger,
            observed: None,
            plan: None,
            actions: Vec::new(),
            final_state: None,
            error: None,
            retryable: None,
            durations_ms: Durations::default(),
            aws_calls: CallCount::default(),
        }
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
