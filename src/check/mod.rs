//! `spillover check`: a read-only walk over the configured world that prints a checklist,
//! one line per check, ✓ / ⚠ / ✗ with what to do.
//!
//! The reads are at the edge ([`read`]); the checks are one pure function from what was read
//! to the checklist ([`rules::checklist`]), tested rule by rule.

pub mod read;
pub mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde::Serialize;

use crate::aws::alarms::AlarmInfo;
use crate::aws::ecs::ServiceInfo;
use crate::aws::listener::TargetGroupInfo;
use crate::observed::{Scalable, Weights};

/// Everything `check` reads; a read that failed keeps its error, so the other checks still run.
#[derive(Debug, Clone)]
pub struct Facts {
    pub site: Result<SiteFacts, String>,
    pub lambda_tg: Result<TargetGroupInfo, String>,
    pub ecs_tg: Result<TargetGroupInfo, String>,
    /// The ECS target group's attributes, by key.
    pub ecs_tg_attributes: Result<HashMap<String, String>, String>,
    /// The targets of the Lambda target group: the function's ARN.
    pub lambda_targets: Result<Vec<String>, String>,
    pub service: Result<ServiceInfo, String>,
    pub scalable: Result<Option<Scalable>, String>,
    /// The configured alarms that exist (spill and warm).
    pub alarms: Result<Vec<AlarmInfo>, String>,
    /// The controller's Lambda timeout, when the user gave it.
    pub function_timeout_secs: Option<f64>,
}

/// The listener default action or rule, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteFacts {
    pub is_default_rule: bool,
    /// The two weights and the stickiness in seconds, or why the forward action does not fit.
    pub forward: Result<(Weights, u32), String>,
}

/// One line's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "⚠",
            Status::Fail => "✗",
        }
    }
}

/// One line of the checklist: what was checked, and what was found (and what to do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub status: Status,
    pub topic: String,
    pub message: String,
}

impl Item {
    pub fn new(status: Status, topic: impl Into<String>, message: impl Into<String>) -> Self {
        Item {
            status,
            topic: topic.into(),
            message: message.into(),
        }
    }
}

/// 0 when every line is ✓, 1 with a warning, 2 with a failure.
pub fn exit_code(items: &[Item]) -> i32 {
    match items.iter().map(|i| i.status).max() {
        Some(Status::Fail) => 2,
        Some(Status::Warn) => 1,
        _ => 0,
    }
}

/// The checklist as text, one line each.
pub fn render(items: &[Item]) -> String {
    items
        .iter()
        .map(|i| format!("{} {}: {}\n", i.status.symbol(), i.topic, i.message))
        .collect()
}
