//! CloudWatch: the configured alarms' current state.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use super::Calls;
use crate::error::{Error, Result};
use crate::observed::AlarmState;

pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
    names: Vec<String>,
    calls: Arc<Calls>,
}

/// One alarm as CloudWatch describes it.
struct Found {
    name: String,
    state: Option<StateValue>,
    /// When its state last changed (or, where CloudWatch does not say, was last updated).
    changed_at: Option<DateTime>,
}

impl Found {
    fn new(
        name: Option<&str>,
        state: Option<&StateValue>,
        transitioned: Option<&DateTime>,
        updated: Option<&DateTime>,
    ) -> Self {
        Found {
            name: name.unwrap_or_default().to_string(),
            state: state.cloned(),
            changed_at: transitioned.or(updated).copied(),
        }
    }
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
        Ok(self.read().await?.0)
    }

    /// The combined state, and when the most recent of the alarms changed state.
    pub async fn read(&self) -> Result<(AlarmState, Option<SystemTime>)> {
        let found = self.describe().await?;
        let mut states = Vec::with_capacity(self.names.len());
        let mut latest: Option<SystemTime> = None;
        for name in &self.names {
            let alarm = found.iter().find(|a| &a.name == name).ok_or_else(|| {
                Error::Topology(format!(
                    "alarm {name:?} from SPILLOVER_ALARM_NAMES does not exist in CloudWatch"
                ))
            })?;
            states.push(match alarm.state {
                Some(StateValue::Alarm) => AlarmState::Alarm,
                Some(StateValue::Ok) => AlarmState::Ok,
                _ => AlarmState::InsufficientData,
            });
            let changed_at = alarm.changed_at.and_then(|t| SystemTime::try_from(t).ok());
            latest = latest.max(changed_at);
        }
        let state = AlarmState::combine(states).unwrap_or(AlarmState::InsufficientData);
        Ok((state, latest))
    }

    async fn describe(&self) -> Result<Vec<Found>> {
        let mut found = Vec::new();
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
            let metric = out.metric_alarms().iter().map(|a| {
                Found::new(
                    a.alarm_name(),
                    a.state_value(),
                    a.state_transitioned_timestamp(),
                    a.state_updated_timestamp(),
                )
            });
            let composite = out.composite_alarms().iter().map(|a| {
                Found::new(
                    a.alarm_name(),
                    a.state_value(),
                    a.state_transitioned_timestamp(),
                    a.state_updated_timestamp(),
                )
            });
            found.extend(metric.chain(composite));
            next = out.next_token().map(String::from);
            if next.is_none() {
                return Ok(found);
            }
        }
    }
}
