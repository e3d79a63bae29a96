//! CloudWatch: the configured alarms' current state.

use std::sync::Arc;

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use super::Calls;
use crate::error::{Error, Result};
use crate::observed::AlarmState;

pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
    names: Vec<String>,
    calls: Arc<Calls>,
}

impl Alarms {
    pub fn new(client: aws_sdk_cloudwatch::Client, names: Vec<String>, calls: Arc<Calls>) -> Self {
        Alarms {
            client,
            names,
            calls,
        }
    }

    /// The combined state of every configured alarm, metric or composite.
    pub async fn state(&self) -> Result<AlarmState> {
        let mut found: Vec<(String, Option<StateValue>)> = Vec::new();
        let mut next = None;
        loop {
            self.calls.read();
            let out = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(self.names.clone()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| Error::aws("cloudwatch:DescribeAlarms", e))?;
            let metric = out
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            let composite = out
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            found.extend(
                metric
                    .chain(composite)
                    .map(|(name, state)| (name.unwrap_or_default().to_string(), state.cloned())),
            );
            next = out.next_token().map(String::from);
            if next.is_none() {
                break;
            }
        }
        let mut states = Vec::with_capacity(self.names.len());
        for name in &self.names {
            let state = found
                .iter()
                .find(|(found_name, _)| found_name == name)
                .ok_or_else(|| {
                    Error::Topology(format!(
                        "alarm {name:?} from SPILLOVER_ALARM_NAMES does not exist in CloudWatch"
                    ))
                })?;
            states.push(match &state.1 {
                Some(StateValue::Alarm) => AlarmState::Alarm,
                Some(StateValue::Ok) => AlarmState::Ok,
                _ => AlarmState::InsufficientData,
            });
        }
        Ok(AlarmState::combine(states).unwrap_or(AlarmState::InsufficientData))
    }
}
