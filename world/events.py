"""EventBridge as the controllers see it: the events it delivers and the rules that pick them.

Pure functions over plain dicts, no AWS calls. The event shapes follow AWS's documentation and
the recorded samples in `events/` (which spillover's own tests parse):

- "CloudWatch Alarm State Change", from `aws.cloudwatch`: "Alarm events and EventBridge",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
  (`detail.state` / `detail.previousState` with value, reason, reasonData and timestamp;
  `detail.configuration` with the alarm's description and `metrics`, one entry per metric
  query, `metricStat.metric` with `namespace`, `name` and `dimensions` as a map).
- "Scheduled Event", from `aws.events`, with an empty `detail` and the rule's ARN in
  `resources`: "Amazon EventBridge events detail reference",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/event-reference.html
- Pattern matching: "Event pattern syntax" and "Arrays in Amazon EventBridge event patterns",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html and
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from .names import ACCOUNT as DEFAULT_ACCOUNT
from .names import ALARM_STATES
from .names import REGION as DEFAULT_REGION

ALARM_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
TICK_SOURCE = "aws.events"
TICK_DETAIL_TYPE = "Scheduled Event"

# The seed's own rule (seeds/001, "Configuracão Event Bridge"): every alarm of the account,
# only the OK and ALARM states.
SEED_PATTERN: dict[str, Any] = {
    "source": [ALARM_SOURCE],
    "detail-type": [ALARM_DETAIL_TYPE],
    "detail": {"state": {"value": ["OK", "ALARM"]}},
}


def spillover_pattern(alarm_names: list[str]) -> dict[str, Any]:
    """The pattern of `infra/template.yaml`'s AlarmRule: only the configured alarms, every state."""
    return {
        "source": [ALARM_SOURCE],
        "detail-type": [ALARM_DETAIL_TYPE],
        "detail": {
            "alarmName": list(alarm_names),
            "state": {"value": ["ALARM", "OK", "INSUFFICIENT_DATA"]},
        },
    }


def event_time(moment: datetime) -> str:
    """The envelope's `time`: whole seconds, UTC, e.g. `2026-11-21T10:00:00Z`."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_timestamp(moment: datetime) -> str:
    """A state's `timestamp`: milliseconds and a `+0000` offset, e.g. `2026-11-21T10:00:00.000+0000`."""
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def configuration_metrics(put_metric_alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """`detail.configuration.metrics` for an alarm created with these PutMetricAlarm parameters.

    A single-metric alarm gives one `metricStat` query with id `m1` (AWS uses an opaque id
    there; the project's samples use `m1`); a metric-math alarm (`Metrics`) gives every query,
    in order, expressions with `expression`/`label` and metrics with `metricStat`.
    """
    queries = put_metric_alarm.get("Metrics")
    if queries:
        return [_query(q) for q in queries]
    stat = put_metric_alarm.get("Statistic") or put_metric_alarm.get("ExtendedStatistic")
    if not put_metric_alarm.get("MetricName") or not stat:
        raise ValueError("PutMetricAlarm parameters need Metrics, or MetricName and a statistic")
    metric_stat = {
        "metric": _metric(put_metric_alarm),
        "period": put_metric_alarm["Period"],
        "stat": stat,
    }
    if put_metric_alarm.get("Unit"):
        metric_stat["unit"] = put_metric_alarm["Unit"]
    return [{"id": "m1", "metricStat": metric_stat, "returnData": True}]


def _state(value: str, reason: str, timestamp: datetime, reason_data: str | None) -> dict[str, Any]:
    """One side of the event's `state` / `previousState`."""
    found: dict[str, Any] = {"value": value, "reason": reason,
                             "timestamp": state_timestamp(timestamp)}
    if reason_data is not None:
        found["reasonData"] = reason_data
    return found


def alarm_state_change(
    *,
    alarm_name: str,
    alarm_arn: str,
    description: str | None,
    metrics: list[dict[str, Any]],
    state: str,
    reason: str,
    reason_data: str | None,
    timestamp: datetime,
    previous_state: str,
    previous_reason: str,
    previous_timestamp: datetime,
    previous_reason_data: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event CloudWatch sends when an alarm changes state.

    `time` is the moment of the change (the new state's timestamp); `reason_data` is the JSON
    text CloudWatch puts in `reasonData` (left out when None, as for a state set by hand).
    """
    for name, value in (("state", state), ("previous_state", previous_state)):
        if value not in ALARM_STATES:
            raise ValueError(f"{name} must be one of {', '.join(ALARM_STATES)}, got {value!r}")
    new_state = _state(state, reason, timestamp, reason_data)
    old_state = _state(previous_state, previous_reason, previous_timestamp, previous_reason_data)
    configuration: dict[str, Any] = {}
    if description is not None:
        configuration["description"] = description
    configuration["metrics"] = metrics
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": ALARM_DETAIL_TYPE,
        "source": ALARM_SOURCE,
        "account": account,
        "time": event_time(timestamp),
        "region": region,
        "resources": [alarm_arn],
        "detail": {
            "alarmName": alarm_name,
            "state": new_state,
            "previousState": old_state,
            "configuration": configuration,
        },
    }


def scheduled_event(
    *,
    time: datetime,
    rule_arn: str,
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The "Scheduled Event" a schedule rule (e.g. spillover's ReconcileRule) delivers."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": TICK_DETAIL_TYPE,
        "source": TICK_SOURCE,
        "account": account,
        "time": event_time(time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an EventBridge rule with this pattern delivers this event.

    As AWS documents it: every field named in the pattern must be in the event, with the same
    nesting; a pattern's leaf is an array of values and matches if any of them equals the
    event's value (or, when the event's value is an array, if the two arrays intersect).
    Fields the pattern does not name are ignored. Content filters (prefix, anything-but,
    numeric, exists, ...) are not modelled: they raise ValueError rather than match wrongly.
    """
    for key, wanted in pattern.items():
        if key not in event:
            return False
        have = event[key]
        if isinstance(wanted, dict):
            if not isinstance(have, dict) or not matches(wanted, have):
                return False
        elif isinstance(wanted, list):
            if any(isinstance(w, (dict, list)) for w in wanted):
                raise ValueError(f"content filters are not supported (field {key!r}: {wanted!r})")
            values = have if isinstance(have, list) else [have]
            if not any(_same(v, w) for v in values for w in wanted):
                return False
        else:
            raise ValueError(f"a pattern's values must be in an array (field {key!r}: {wanted!r})")
    return True


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, and a string is never a number.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC, as the world's clock hands them out.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _metric(params: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's Namespace/MetricName/Dimensions as the event's `metric`."""
    metric: dict[str, Any] = {}
    if params.get("Namespace"):
        metric["namespace"] = params["Namespace"]
    metric["name"] = params["MetricName"]
    metric["dimensions"] = {d["Name"]: d["Value"] for d in params.get("Dimensions", [])}
    return metric


def _query(query: dict[str, Any]) -> dict[str, Any]:
    """One MetricDataQuery of PutMetricAlarm's `Metrics` as the event shows it."""
    out: dict[str, Any] = {"id": query["Id"]}
    if "MetricStat" in query:
        ms = query["MetricStat"]
        metric_stat: dict[str, Any] = {
            "metric": _metric(ms["Metric"]),
            "period": ms["Period"],
            "stat": ms["Stat"],
        }
        if ms.get("Unit"):
            metric_stat["unit"] = ms["Unit"]
        out["metricStat"] = metric_stat
    if "Expression" in query:
        out["expression"] = query["Expression"]
    if "Label" in query:
        out["label"] = query["Label"]
    if "Period" in query:
        out["period"] = query["Period"]
    if "AccountId" in query:
        out["accountId"] = query["AccountId"]
    # PutMetricAlarm's ReturnData defaults to true.
    out["returnData"] = query.get("ReturnData", True)
    return out
