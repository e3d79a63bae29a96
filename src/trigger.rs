//! What woke the loop up: a CloudWatch alarm state change or a scheduled reconcile tick.
//!
//! The trigger only wakes the loop; the alarm's *current* state, read from CloudWatch,
//! decides. So parsing is strict about the envelope (an unknown event must not cause a
//! write, nor an event that names a key twice) and keeps only what the report needs.

use aws_lambda_events::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::observed::AlarmState;

const ALARM_SOURCE: &str = "aws.cloudwatch";
const ALARM_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
const TICK_SOURCE: &str = "aws.events";
const TICK_DETAIL_TYPE: &str = "Scheduled Event";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A configured alarm changed state.
    Alarm {
        alarm_name: String,
        /// The state the event reports; the decision uses the state read from CloudWatch.
        state: AlarmState,
        previous_state: Option<AlarmState>,
        event_id: Option<String>,
    },
    /// The scheduled reconcile tick.
    Tick { event_id: Option<String> },
}

impl Trigger {
    /// Parses raw event text (as read from a file, or as the Lambda runtime hands it over).
    ///
    /// A key given twice in one object is refused: `serde_json::Value` would keep the last
    /// one, so `{"alarmName": "other", "alarmName": "configured"}` would pass the alarm
    /// filter as whichever name came last, whatever the sender meant.
    pub fn parse(text: &str, config: &Config) -> Result<Self> {
        let value = serde_json::from_str::<NoDuplicateKeys>(text)
            .map_err(|e| Error::BadInput(format!("the event is not valid JSON: {e}")))?
            .0;
        Self::from_value(value, config)
    }

    /// Parses an event already decoded as JSON (duplicate keys are gone by then: use
    /// [`Trigger::parse`] on the raw text where there is one).
    pub fn from_value(value: Value, config: &Config) -> Result<Self> {
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (source, detail_type) = (field("source"), field("detail-type"));
        match (source.as_str(), detail_type.as_str()) {
            (ALARM_SOURCE, ALARM_DETAIL_TYPE) => Self::alarm(value, config),
            (TICK_SOURCE, TICK_DETAIL_TYPE) => Ok(Trigger::Tick {
                event_id: value.get("id").and_then(Value::as_str).map(String::from),
            }),
            _ => Err(Error::BadInput(format!(
                "unsupported event (source {source:?}, detail-type {detail_type:?}); spillover accepts \
                 EventBridge \"{ALARM_DETAIL_TYPE}\" events from {ALARM_SOURCE} and \"{TICK_DETAIL_TYPE}\" ticks from {TICK_SOURCE}"
            ))),
        }
    }

    fn alarm(value: Value, config: &Config) -> Result<Self> {
        // `CloudWatchMetricAlarm` would also accept this envelope, silently, with empty fields:
        // the EventBridge envelope with `CloudWatchAlarmData` in `detail` is the right type.
        let event: EventBridgeEvent<CloudWatchAlarmData<Value>> = serde_json::from_value(value)
            .map_err(|e| Error::BadInput(format!("not a valid {ALARM_DETAIL_TYPE} event: {e}")))?;
        let detail = event.detail;
        if detail.alarm_name.is_empty() {
            return Err(Error::BadInput(
                "the alarm event has no detail.alarmName".into(),
            ));
        }
        if !config.is_configured_alarm(&detail.alarm_name) {
            return Err(Error::BadInput(format!(
                "alarm {:?} is not one of SPILLOVER_ALARM_NAMES ({}) or SPILLOVER_WARM_ALARM_NAMES; the event was ignored",
                detail.alarm_name,
                config.alarm_names.join(", ")
            )));
        }
        let state = detail
            .state
            .ok_or_else(|| Error::BadInput("the alarm event has no detail.state".into()))?;
        Ok(Trigger::Alarm {
            state: alarm_state(state.value)?,
            previous_state: detail
                .previous_state
                .map(|s| alarm_state(s.value))
                .transpose()?,
            alarm_name: detail.alarm_name,
            event_id: event.id,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Trigger::Alarm {
                alarm_name, state, ..
            } => format!("alarm {alarm_name} event says {state}"),
            Trigger::Tick { .. } => "scheduled reconcile tick".into(),
        }
    }
}

/// A JSON value in which no object names a key twice, at any depth.
struct NoDuplicateKeys(Value);

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(NoDuplicatesVisitor)
            .map(NoDuplicateKeys)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(NoDuplicateKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} appears twice in one object; an event must name each field once"
                )));
            }
            let NoDuplicateKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

fn alarm_state(value: CloudWatchAlarmStateValue) -> Result<AlarmState> {
    #[allow(unreachable_patterns)]
    match value {
        CloudWatchAlarmStateValue::Ok => Ok(AlarmState::Ok),
        CloudWatchAlarmStateValue::Alarm => Ok(AlarmState::Alarm),
        CloudWatchAlarmStateValue::InsufficientData => Ok(AlarmState::InsufficientData),
        other => Err(Error::BadInput(format!("unknown alarm state {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::test_config;

    fn parse(text: &str) -> Result<Trigger> {
        Trigger::parse(text, &test_config())
    }

    fn alarm(name: &str, state: AlarmState, previous: AlarmState) -> Trigger {
        Trigger::Alarm {
            alarm_name: name.into(),
            state,
            previous_state: Some(previous),
            event_id: None,
        }
    }

    fn without_id(t: Trigger) -> Trigger {
        match t {
            Trigger::Alarm {
                alarm_name,
                state,
                previous_state,
                ..
            } => Trigger::Alarm {
                alarm_name,
                state,
                previous_state,
                event_id: None,
            },
            Trigger::Tick { .. } => Trigger::Tick { event_id: None },
        }
    }

    #[test]
    fn metric_metric_math_and_composite_alarms_parse() {
        use AlarmState::*;
        let cases = [
            (
                include_str!("../events/alarm-metric.json"),
                alarm("web-app-concurrency-high", Alarm, Ok),
            ),
            (
                include_str!("../events/ok-metric.json"),
                alarm("web-app-concurrency-high", Ok, Alarm),
            ),
            (
                include_str!("../events/alarm-metric-math.json"),
                alarm("web-app-concurrency-percent", Alarm, Ok),
            ),
            (
                include_str!("../events/ok-metric-math.json"),
                alarm("web-app-concurrency-percent", Ok, Alarm),
            ),
            (
                include_str!("../events/alarm-composite.json"),
                alarm("web-app-overloaded", Alarm, Ok),
            ),
            (
                include_str!("../events/ok-composite.json"),
                alarm("web-app-overloaded", Ok, Alarm),
            ),
            (
                include_str!("../events/insufficient-data.json"),
                alarm("web-app-concurrency-high", InsufficientData, Alarm),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(without_id(parse(text).unwrap()), expected);
        }
    }

    #[test]
    fn the_event_id_is_kept_for_the_report() {
        let Trigger::Alarm { event_id, .. } =
            parse(include_str!("../events/alarm-metric.json")).unwrap()
        else {
            panic!("not an alarm trigger")
        };
        assert_eq!(
            event_id.as_deref(),
            Some("6f1c1f63-9a1d-4a5e-8f6c-2c3f4b0a0001")
        );
    }

    #[test]
    fn numbers_strings_and_nesting_survive_the_duplicate_check() {
        let text =
            r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": {"d": 18446744073709551615}}"#;
        let strict = serde_json::from_str::<NoDuplicateKeys>(text).unwrap().0;
        assert_eq!(strict, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_scheduled_event_is_a_tick() {
        let trigger = parse(include_str!("../events/scheduled-tick.json")).unwrap();
        assert_eq!(
            trigger,
            Trigger::Tick {
                event_id: Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa".into())
            }
        );
    }

    #[test]
    fn rejected_events_say_what_was_wrong() {
        let cases = [
            (
                include_str!("../events/alarm-unconfigured.json"),
                "\"billing-estimate-high\" is not one of SPILLOVER_ALARM_NAMES",
            ),
            (
                include_str!("../events/malformed-other-source.json"),
                "unsupported event (source \"aws.ec2\"",
            ),
            (
                include_str!("../events/malformed-missing-state.json"),
                "has no detail.state",
            ),
            (
                include_str!("../events/malformed-unknown-state.json"),
                "unknown variant `RED`",
            ),
            (
                include_str!("../events/malformed-truncated.json"),
                "not valid JSON",
            ),
            ("[]", "unsupported event"),
            (
                include_str!("../events/malformed-duplicate-key.json"),
                "the key \"alarmName\" appears twice",
            ),
            (
                r#"{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {"a": [{"b": 1, "b": 2}]}}"#,
                "the key \"b\" appears twice",
            ),
            (
                r#"{"source": "aws.events", "source": "aws.events", "detail-type": "Scheduled Event"}"#,
                "the key \"source\" appears twice",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(expected);
            assert!(matches!(err, Error::BadInput(_)), "{err}");
            assert!(
                err.to_string().contains(expected),
                "{err} should contain {expected}"
            );
        }
    }
}
