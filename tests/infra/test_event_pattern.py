"""The EventBridge rules of infra/template.yaml, exercised with moto's event routing.

The alarm rule's pattern is resolved with test parameters and installed in moto's
EventBridge (in-process); each recorded event in events/ is put on the bus and we look
at what reaches an SQS queue target. (moto's TestEventPattern API is not used: it is
unreliable; put_rule/put_events goes through the same matcher real routing uses.)
"""

import json
import re

import boto3
import pytest
from moto import mock_aws

import cfn_eval
from conftest import ALARM_NAMES, LISTENER_PARAMS

EVENTS = cfn_eval.REPO / "events"

SHOULD_MATCH = {
    "alarm-metric.json",
    "ok-metric.json",
    "alarm-metric-math.json",
    "ok-metric-math.json",
    "alarm-composite.json",
    "ok-composite.json",
    "insufficient-data.json",
}
SHOULD_NOT_MATCH = {
    "alarm-unconfigured.json",  # alarm billing-estimate-high is not configured
    "malformed-other-source.json",  # source aws.ec2
    "malformed-missing-state.json",  # no detail.state
    "malformed-unknown-state.json",  # state RED
    "scheduled-tick.json",  # the reconcile tick has a rule of its own
}
UNSENDABLE = {
    "malformed-truncated.json",  # not JSON: cannot be put on a bus at all
    # alarmName twice: Python keeps one of them before the bus sees it; spillover refuses it
    "malformed-duplicate-key.json",
}


def recorded_events() -> dict[str, dict]:
    events = {}
    for path in sorted(EVENTS.glob("*.json")):
        if path.name in UNSENDABLE:
            continue
        events[path.name] = json.loads(path.read_text())
    return events


def route(pattern: dict, events: dict[str, dict]) -> dict[str, list[dict]]:
    """Put each event on a moto event bus with one rule; return what reached the target."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="spillover-target")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        bus = boto3.client("events", region_name="us-east-1")
        bus.put_rule(Name="spillover-alarm-state", EventPattern=json.dumps(pattern), State="ENABLED")
        bus.put_targets(Rule="spillover-alarm-state", Targets=[{"Id": "sink", "Arn": queue_arn}])

        delivered = {}
        for name, event in events.items():
            response = bus.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                    }
                ]
            )
            assert response["FailedEntryCount"] == 0, (name, response)
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            delivered[name] = [json.loads(m["Body"]) for m in messages]
        return delivered


def alarm_rule_pattern(stack: cfn_eval.Stack) -> dict:
    rules = stack.of_type("AWS::Events::Rule")
    with_pattern = [r for r in rules.values() if "EventPattern" in r["Properties"]]
    assert len(with_pattern) == 1, "expected exactly one rule with an EventPattern"
    return with_pattern[0]["Properties"]["EventPattern"]


def test_every_recorded_event_is_classified():
    names = {p.name for p in EVENTS.glob("*.json")}
    assert names, "no recorded events found"
    assert names == SHOULD_MATCH | SHOULD_NOT_MATCH | UNSENDABLE, (
        "classify new event files here: "
        f"{sorted(names - SHOULD_MATCH - SHOULD_NOT_MATCH - UNSENDABLE)}"
    )


def test_pattern_names_exactly_the_configured_alarms(listener_stack):
    pattern = alarm_rule_pattern(listener_stack)
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"]["alarmName"] == ALARM_NAMES.split(",")
    assert sorted(pattern["detail"]["state"]["value"]) == ["ALARM", "INSUFFICIENT_DATA", "OK"]


def test_alarm_rule_routes_only_configured_alarm_state_changes(listener_stack):
    delivered = route(alarm_rule_pattern(listener_stack), recorded_events())

    matched = {name for name, messages in delivered.items() if messages}
    assert matched == SHOULD_MATCH
    assert not matched & SHOULD_NOT_MATCH
    for name in SHOULD_MATCH:
        (message,) = delivered[name]
        sent = json.loads((EVENTS / name).read_text())
        assert message["detail"]["alarmName"] == sent["detail"]["alarmName"]
        assert message["detail"]["state"]["value"] == sent["detail"]["state"]["value"]


def test_single_alarm_configuration_narrows_the_rule(controller_template):
    stack = cfn_eval.Stack(
        controller_template, {**LISTENER_PARAMS, "AlarmNames": "web-app-overloaded"}
    )
    delivered = route(alarm_rule_pattern(stack), recorded_events())
    assert {n for n, m in delivered.items() if m} == {"alarm-composite.json", "ok-composite.json"}


def test_warm_alarms_wake_the_controller_too(controller_template):
    stack = cfn_eval.Stack(
        controller_template,
        {**LISTENER_PARAMS, "AlarmNames": "web-app-overloaded", "WarmAlarmNames": "web-app-concurrency-high"},
    )
    assert alarm_rule_pattern(stack)["detail"]["alarmName"] == ["web-app-overloaded", "web-app-concurrency-high"]
    delivered = route(alarm_rule_pattern(stack), recorded_events())
    assert {n for n, m in delivered.items() if m} == {
        "alarm-composite.json",
        "ok-composite.json",
        "alarm-metric.json",
        "ok-metric.json",
        "insufficient-data.json",
    }


def test_routing_harness_can_fail():
    """Without the alarmName filter (the seed's rule) the unconfigured alarm gets through,
    so the assertions above really depend on the template's pattern."""
    broad = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    delivered = route(broad, recorded_events())
    assert delivered["alarm-unconfigured.json"], "moto should route the unconfigured alarm here"
    assert not delivered["malformed-other-source.json"]


# ---- the reconcile tick -------------------------------------------------------------------

_RATE = re.compile(r"rate\((?:1 (?:minute|hour|day)|([1-9][0-9]*) (?:minutes|hours|days))\)")
_CRON_FIELDS = 6


def is_valid_schedule(expression: str) -> bool:
    """An EventBridge rate(...) or cron(...) expression (coarse check of the cron form)."""
    match = _RATE.fullmatch(expression)
    if match:
        return match.group(1) is None or int(match.group(1)) > 1
    cron = re.fullmatch(r"cron\((.+)\)", expression)
    if not cron:
        return False
    fields = cron.group(1).split(" ")
    if len(fields) != _CRON_FIELDS or any(not f for f in fields):
        return False
    day_of_month, day_of_week = fields[2], fields[4]
    # EventBridge: one of day-of-month and day-of-week must be '?'.
    return (day_of_month == "?") != (day_of_week == "?")


@pytest.mark.parametrize(
    "expression, valid",
    [
        ("rate(5 minutes)", True),
        ("rate(1 minute)", True),
        ("rate(1 hour)", True),
        ("cron(0/5 * * * ? *)", True),
        ("rate(1 minutes)", False),
        ("rate(5 minute)", False),
        ("rate(0 minutes)", False),
        ("rate(5 mins)", False),
        ("every 5 minutes", False),
        ("cron(0/5 * * * *)", False),
        ("cron(0/5 * * * * *)", False),
    ],
)
def test_schedule_checker(expression, valid):
    assert is_valid_schedule(expression) is valid


def test_reconcile_rule_uses_the_schedule_parameter(controller_template):
    for expression in ("rate(5 minutes)", "rate(1 minute)", "cron(0/10 * * * ? *)"):
        stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ReconcileSchedule": expression})
        rules = stack.of_type("AWS::Events::Rule")
        scheduled = [r["Properties"] for r in rules.values() if "ScheduleExpression" in r["Properties"]]
        assert len(scheduled) == 1
        assert scheduled[0]["ScheduleExpression"] == expression
        assert "EventPattern" not in scheduled[0]
        assert is_valid_schedule(scheduled[0]["ScheduleExpression"])


def test_default_schedule_is_valid(listener_stack):
    assert is_valid_schedule(listener_stack.params["ReconcileSchedule"])


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "every 5 minutes", "rate(0 minutes)"])
def test_schedule_parameter_rejects_invalid_expressions(controller_template, expression):
    with pytest.raises(cfn_eval.ParameterError):
        cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ReconcileSchedule": expression})


# ---- both rules invoke the function, each with its own permission ---------------------------


def test_each_rule_targets_the_function_and_has_a_bound_permission(listener_stack):
    resources = listener_stack.resources()
    rules = {n: r for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert len(rules) == 2
    for name, rule in rules.items():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == "getatt:SpilloverFunction.Arn"
        assert target["DeadLetterConfig"]["Arn"] == "getatt:FailureQueue.Arn"
        bound = [p for p in permissions if p["SourceArn"] == f"getatt:{name}.Arn"]
        assert len(bound) == 1, f"rule {name} needs exactly one permission bound to its ARN"
        assert bound[0]["Principal"] == "events.amazonaws.com"
        assert bound[0]["Action"] == "lambda:InvokeFunction"
        assert bound[0]["FunctionName"] == "ref:SpilloverFunction"
    assert all("SourceArn" in p for p in permissions)


# ---- the AlarmNames parameter ------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        "web-app-concurrency-high",
        ALARM_NAMES,
        "a,b,c,d,e",
        "alarm with spaces inside,other",
    ],
)
def test_alarm_names_accepted(controller_template, names):
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "AlarmNames": names})
    assert alarm_rule_pattern(stack)["detail"]["alarmName"] == names.split(",")


@pytest.mark.parametrize(
    "names",
    ["", "a, b", "a ,b", "a,,b", ",a", "a,", "a,b,c,d,e,f", "web-app-*", " a"],
)
def test_alarm_names_rejected(controller_template, names):
    with pytest.raises(cfn_eval.ParameterError):
        cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "AlarmNames": names})
