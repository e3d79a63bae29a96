"""Tests of world/events.py: the events it builds are the recorded samples in `events/`
(which spillover's own parser reads), EventBridge matching, and the two rules' patterns."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from world.binary import spillover_binary
from world.events import (
    SEED_PATTERN,
    alarm_state_change,
    configuration_metrics,
    event_time,
    matches,
    scheduled_event,
    spillover_pattern,
    state_timestamp,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
BINARY = Path(spillover_binary())
ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
UTC = timezone.utc

LAMBDA_CONCURRENCY = {
    "Namespace": "AWS/Lambda",
    "MetricName": "ConcurrentExecutions",
    "Dimensions": [{"Name": "FunctionName", "Value": "web-app"}],
}
# The PutMetricAlarm parameters of the two alarms the samples were recorded from.
HIGH = {
    "AlarmName": "web-app-concurrency-high",
    "AlarmDescription": "Lambda ConcurrentExecutions near the account limit",
    **LAMBDA_CONCURRENCY,
    "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 900.0,
    "ComparisonOperator": "GreaterThanThreshold",
}
PERCENT = {
    "AlarmName": "web-app-concurrency-percent",
    "AlarmDescription": "Concurrency as a share of the reserved limit",
    "Metrics": [
        {"Id": "e1", "Expression": "100 * m1 / 1000", "Label": "ConcurrencyPercent",
         "ReturnData": True},
        {"Id": "m1", "MetricStat": {"Metric": LAMBDA_CONCURRENCY, "Period": 60,
                                    "Stat": "Maximum"},
         "ReturnData": False},
    ],
    "EvaluationPeriods": 1, "Threshold": 90.0, "ComparisonOperator": "GreaterThanThreshold",
}


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def parsed(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")


def rebuilt(recorded: dict[str, Any], alarm: dict[str, Any]) -> dict[str, Any]:
    """The event alarm_state_change builds for the alarm and the recorded transition."""
    detail = recorded["detail"]
    state, previous = detail["state"], detail["previousState"]
    return alarm_state_change(
        alarm_name=alarm["AlarmName"],
        alarm_arn=ALARM_ARN + alarm["AlarmName"],
        description=alarm.get("AlarmDescription"),
        metrics=configuration_metrics(alarm),
        state=state["value"], reason=state["reason"], reason_data=state.get("reasonData"),
        timestamp=parsed(state["timestamp"]),
        previous_state=previous["value"], previous_reason=previous["reason"],
        previous_timestamp=parsed(previous["timestamp"]),
        event_id=recorded["id"],
    )


@pytest.mark.parametrize("name, alarm", [
    ("alarm-metric.json", HIGH),
    ("ok-metric.json", HIGH),
    ("insufficient-data.json", HIGH),
    ("alarm-metric-math.json", PERCENT),
    ("ok-metric-math.json", PERCENT),
])
def test_alarm_state_change_is_the_recorded_sample(name: str, alarm: dict[str, Any]) -> None:
    recorded = sample(name)
    assert rebuilt(recorded, alarm) == recorded


def test_scheduled_event_is_the_recorded_tick() -> None:
    recorded = sample("scheduled-tick.json")
    built = scheduled_event(
        time=datetime(2026, 11, 21, 10, 15, tzinfo=UTC),
        rule_arn="arn:aws:events:us-east-1:123456789012:rule/spillover-reconcile",
        event_id=recorded["id"],
    )
    assert built == recorded


def test_timestamps_are_formatted_like_aws_in_utc() -> None:
    moment = datetime(2026, 11, 21, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert event_time(moment) == "2026-11-21T10:00:00Z"
    assert state_timestamp(moment) == "2026-11-21T10:00:00.123+0000"
    assert state_timestamp(datetime(2026, 11, 21, 10, 0)) == "2026-11-21T10:00:00.000+0000"


def test_event_ids_are_fresh_unless_given() -> None:
    tick = {"time": datetime(2026, 11, 21, tzinfo=UTC), "rule_arn": "arn:rule"}
    assert scheduled_event(**tick)["id"] != scheduled_event(**tick)["id"]


def test_configuration_metrics_keeps_unit_and_extended_statistic() -> None:
    alarm = {**HIGH, "Unit": "Count", "ExtendedStatistic": "p99"}
    del alarm["Statistic"]
    (query,) = configuration_metrics(alarm)
    assert query["metricStat"]["stat"] == "p99"
    assert query["metricStat"]["unit"] == "Count"
    assert query["metricStat"]["metric"]["dimensions"] == {"FunctionName": "web-app"}


def test_configuration_metrics_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="MetricName"):
        configuration_metrics({"AlarmName": "x", "Period": 60})


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="state"):
        rebuilt({**sample("alarm-metric.json"), "detail": {
            **sample("alarm-metric.json")["detail"],
            "state": {"value": "FIRING", "reason": "r", "timestamp": "2026-11-21T10:00:00.000+0000"},
        }}, HIGH)


EVENT = {
    "source": "aws.cloudwatch",
    "resources": ["arn:a", "arn:b"],
    "detail": {"alarmName": "a", "state": {"value": "OK"}, "flag": True, "count": 1,
               "nothing": None},
}


@pytest.mark.parametrize("pattern, expected", [
    ({}, True),
    ({"source": ["aws.cloudwatch"]}, True),
    ({"source": ["aws.ec2", "aws.cloudwatch"]}, True),
    ({"source": ["aws.ec2"]}, False),
    ({"detail": {"state": {"value": ["OK", "ALARM"]}}}, True),
    ({"detail": {"state": {"value": ["ALARM"]}}}, False),
    ({"detail": {"missing": ["x"]}}, False),  # every field named must be present
    ({"detail": {"alarmName": {"nested": ["a"]}}}, False),  # same nesting
    ({"resources": ["arn:b", "arn:c"]}, True),  # arrays match when they intersect
    ({"resources": ["arn:c"]}, False),
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"count": [True]}}, False),  # true is not 1
    ({"detail": {"count": [1.0]}}, True),
    ({"detail": {"count": ["1"]}}, False),
    ({"detail": {"nothing": [None]}}, True),
    ({"source": []}, False),
])
def test_matches_like_eventbridge(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize("pattern", [
    {"source": [{"prefix": "aws."}]},
    {"source": "aws.cloudwatch"},
])
def test_content_filters_and_bare_values_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        matches(pattern, EVENT)


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Split, ...) as {"Fn::X": ...} / {"Ref": ...}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def test_spillover_pattern_is_the_templates_alarm_rule() -> None:
    template = yaml.load((ROOT / "infra" / "template.yaml").read_text(), Loader=_CfnLoader)
    rules = [r["Properties"]["EventPattern"] for r in template["Resources"].values()
             if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]]
    assert len(rules) == 1
    pattern = rules[0]
    names = ["web-app-concurrency-high", "web-app-concurrency-percent"]
    # The rule takes the spill alarms and, when there are any, the warm alarms.
    assert pattern["detail"]["alarmName"] == {"Fn::If": [
        "HasWarmAlarms",
        {"Fn::Split": [",", {"Fn::Sub": "${AlarmNames},${WarmAlarmNames}"}]},
        {"Fn::Split": [",", {"Ref": "AlarmNames"}]},
    ]}
    pattern["detail"]["alarmName"] = names  # what !Split gives for "high,percent"
    assert spillover_pattern(names) == pattern


@pytest.mark.parametrize("name, by_spillover, by_seed", [
    ("alarm-metric.json", True, True),
    ("alarm-metric-math.json", True, True),
    ("ok-metric.json", True, True),
    ("insufficient-data.json", True, False),  # the seed's rule drops INSUFFICIENT_DATA
    ("alarm-unconfigured.json", False, True),  # the seed's rule takes every alarm
    ("alarm-composite.json", False, True),
    ("scheduled-tick.json", False, False),  # the tick comes from its own schedule rule
    ("malformed-other-source.json", False, False),
])
def test_each_rule_picks_its_events(name: str, by_spillover: bool, by_seed: bool) -> None:
    event = sample(name)
    configured = ["web-app-concurrency-high", "web-app-concurrency-percent"]
    assert matches(spillover_pattern(configured), event) is by_spillover
    assert matches(SEED_PATTERN, event) is by_seed


def test_the_seed_pattern_is_the_seeds_rule() -> None:
    assert SEED_PATTERN == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"state": {"value": ["OK", "ALARM"]}},
    }


def test_the_spillover_binary_accepts_the_events(tmp_path: Path) -> None:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is not built (cargo build --bin spillover)")
    at = datetime(2026, 11, 21, 10, 0, 0, 250000, tzinfo=UTC)
    common = {"reason": "world", "timestamp": at, "previous_reason": "world",
              "previous_timestamp": at - timedelta(minutes=3)}
    events = {
        "alarm": alarm_state_change(
            alarm_name=HIGH["AlarmName"], alarm_arn=ALARM_ARN + HIGH["AlarmName"],
            description=HIGH["AlarmDescription"], metrics=configuration_metrics(HIGH),
            state="ALARM", previous_state="OK",
            reason_data=json.dumps({"version": "1.0", "queryDate": state_timestamp(at),
                                    "statistic": "Maximum", "period": 60,
                                    "recentDatapoints": [950.0], "threshold": 900.0,
                                    "evaluatedDatapoints": [{"timestamp": state_timestamp(at),
                                                             "sampleCount": 60.0,
                                                             "value": 950.0}]}),
            **common),
        "math": alarm_state_change(
            alarm_name=PERCENT["AlarmName"], alarm_arn=ALARM_ARN + PERCENT["AlarmName"],
            description=None, metrics=configuration_metrics(PERCENT),
            state="OK", previous_state="ALARM", reason_data=None, **common),
        "insufficient": alarm_state_change(
            alarm_name=HIGH["AlarmName"], alarm_arn=ALARM_ARN + HIGH["AlarmName"],
            description=HIGH["AlarmDescription"], metrics=configuration_metrics(HIGH),
            state="INSUFFICIENT_DATA", previous_state="ALARM", reason_data=None, **common),
        "tick": scheduled_event(time=at, rule_arn="arn:aws:events:us-east-1:123456789012:rule/t"),
    }
    # README's example configuration, with both alarms configured.
    env = {
        **os.environ,
        "SPILLOVER_CLUSTER": "web-app", "SPILLOVER_SERVICE": "web-app",
        "SPILLOVER_LISTENER_ARN":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2",
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1",
        "SPILLOVER_ECS_TARGET_GROUP_ARN":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2",
        "SPILLOVER_ALARM_NAMES": f"{HIGH['AlarmName']},{PERCENT['AlarmName']}",
    }
    for name, event in events.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(event))
        done = subprocess.run([str(BINARY), "plan", str(path)], env=env,
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert json.loads(done.stdout), name
