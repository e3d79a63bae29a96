"""The scenario format: the library loads, defaults fill in, and every error names its field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from world import scenario
from world.scenario import (
    Clients,
    LambdaSpec,
    ListenerSpec,
    ScenarioError,
    demand_at,
    expand,
    load,
    parse,
)

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"


def minimal() -> dict:
    """The smallest scenario that runs: every optional field left to its default."""
    return {
        "name": "tiny",
        "duration_secs": 600,
        "demand": {"rps": [[0, 10], [60, 20]]},
        "request_secs": 0.5,
        "ecs": {"task_capacity_rps": 100},
        "alarms": [
            {
                "AlarmName": "busy",
                "Namespace": "AWS/Lambda",
                "MetricName": "ConcurrentExecutions",
                "Dimensions": [{"Name": "FunctionName", "Value": "${function}"}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 90,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            }
        ],
        "controller": {"alarm_names": ["busy"]},
    }


def with_change(path: str, value, doc: dict | None = None) -> dict:
    """`minimal()` with the field at dotted `path` set to `value` (`...` deletes it)."""
    doc = copy.deepcopy(doc or minimal())
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    elif value is ...:
        del node[last]
    else:
        node[last] = value
    return doc


def library_files() -> list[Path]:
    return sorted(LIBRARY.glob("*.json"))


def test_the_library_holds_every_scenario_the_issue_asks_for():
    names = {p.stem for p in library_files()}
    assert {
        "spike",
        "ramp",
        "sawtooth",
        "short-burst",
        "never-overloaded",
        "overload-beyond-ecs",
        "concurrency-notbreaching",
        "concurrency-missing",
        "concurrency-breaching",
        "concurrency-ignore",
        "concurrency-long",
    } <= names


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.stem)
def test_every_library_scenario_loads_and_is_consistent(path: Path):
    s = load(path)
    assert s.name == path.stem
    assert s.source == str(path)
    assert s.duration_secs <= 47 * 60
    assert s.controller.tick_secs == 60
    # Each scenario ends with at least ten minutes below Lambda's capacity, so every hold can finish.
    last_overload = max(
        (t for t in range(int(s.duration_secs)) if s.demand_at(t) > s.lambda_capacity_rps), default=0
    )
    assert s.duration_secs - last_overload >= 600
    for alarm in s.alarms:
        expanded = expand(alarm, {"function": "f", "lambda_tg": "tg/l", "ecs_tg": "tg/e", "load_balancer": "app/lb"})
        assert "${" not in json.dumps(expanded)


def test_the_concurrency_scenarios_differ_only_in_treat_missing_data():
    a = json.loads((LIBRARY / "concurrency-notbreaching.json").read_text())
    b = json.loads((LIBRARY / "concurrency-missing.json").read_text())
    assert a["alarms"][0].pop("TreatMissingData") == "notBreaching"
    assert b["alarms"][0].pop("TreatMissingData") == "missing"
    for doc in (a, b):
        for key in ("name", "description"):
            doc.pop(key)
    assert a == b


def test_omitted_optional_fields_take_their_defaults():
    s = parse(minimal(), "tiny.json")
    assert s.description == ""
    assert s.clients == Clients(sticky_share=0.0, session_secs=300.0, refresh_cookie=True)
    assert s.lambda_ == LambdaSpec(function_name="web-app", concurrency_limit=1000, burst_per_10s=1000)
    assert s.ecs.task_start_secs == (30.0, 60.0)
    assert (s.ecs.health_check_interval_secs, s.ecs.healthy_threshold) == (5, 2)
    assert (s.ecs.deregistration_delay_secs, s.ecs.idle_count, s.ecs.auto_scaling) == (30, 0, None)
    assert s.listener == ListenerSpec(stickiness_secs=0)
    assert s.controller.warm_alarm_names == ()
    assert (s.controller.tick_secs, s.controller.timeout_secs, s.controller.env) == (300.0, 300.0, {})
    assert s.random_seed == 1
    assert s.demand == ((0.0, 10.0), (60.0, 20.0))
    assert s.lambda_capacity_rps == 2000.0


def test_auto_scaling_is_read_with_aws_default_cooldowns():
    doc = with_change("ecs.auto_scaling", {"min_capacity": 0, "max_capacity": 6, "target_requests_per_task": 6000})
    a = parse(doc).ecs.auto_scaling
    assert (a.min_capacity, a.max_capacity, a.target_requests_per_task) == (0, 6, 6000.0)
    assert (a.scale_out_cooldown_secs, a.scale_in_cooldown_secs) == (300.0, 300.0)
    assert a.target_rps_per_task == 100.0


def test_parsing_does_not_share_the_callers_alarm_dicts():
    doc = minimal()
    s = parse(doc)
    doc["alarms"][0]["Threshold"] = 1
    assert s.alarms[0]["Threshold"] == 90


@pytest.mark.parametrize(
    "path, value, field, words",
    [
        ("name", ..., "name", "is required"),
        ("name", "", "name", "must not be empty"),
        ("duraton_secs", 60, "duraton_secs", "unknown key"),
        ("duration_secs", 0, "duration_secs", "must be above 0"),
        ("request_secs", True, "request_secs", "must be a number"),
        ("demand.rps", [], "demand.rps", "non-empty list"),
        ("demand.rps", [[0, 10], [60, 20], [60, 30]], "demand.rps[2][0]", "strictly increasing"),
        ("demand.rps", [[0, 10], [60, -1]], "demand.rps[1][1]", ">= 0"),
        ("demand.rps", [[0, 10, 3]], "demand.rps[0]", "pair"),
        ("demand.rsp", [[0, 1]], "demand.rsp", "unknown key"),
        ("clients.sticky_shar", 0.3, "clients.sticky_shar", "unknown key"),
        ("clients.sticky_share", 1.5, "clients.sticky_share", "at most 1"),
        ("clients.session_secs", 0, "clients.session_secs", "at least 1"),
        ("clients.refresh_cookie", "yes", "clients.refresh_cookie", "true or false"),
        ("lambda.concurrency_limit", 0, "lambda.concurrency_limit", "at least 1"),
        ("lambda.concurrency_limit", 10.5, "lambda.concurrency_limit", "integer"),
        ("ecs.task_capacity_rps", ..., "ecs.task_capacity_rps", "is required"),
        ("ecs.task_start_secs", [60, 30], "ecs.task_start_secs[1]", "at least fastest"),
        ("ecs.task_start_secs", [30], "ecs.task_start_secs", "[fastest, slowest]"),
        ("ecs.health_check_interval_secs", 2, "ecs.health_check_interval_secs", "HealthCheckIntervalSeconds"),
        ("ecs.healthy_threshold", 1, "ecs.healthy_threshold", "HealthyThresholdCount"),
        ("ecs.deregistration_delay_secs", 4000, "ecs.deregistration_delay_secs", "0-3600"),
        ("ecs.auto_scaling", {"min_capacity": 3, "max_capacity": 2, "target_requests_per_task": 1},
         "ecs.auto_scaling.max_capacity", "at least min_capacity"),
        ("ecs.auto_scaling", {"min_capacity": 0, "max_capacity": 2}, "ecs.auto_scaling.target_requests_per_task",
         "is required"),
        ("listener.stickiness_secs", -1, "listener.stickiness_secs", "at least 0"),
        ("listener.stickiness_secs", 700000, "listener.stickiness_secs", "604800"),
        ("alarms", [], "alarms", "non-empty list"),
        ("alarms.0.EvaluationPeriods", 0, "alarms[0].EvaluationPeriods", "at least 1"),
        ("alarms.0.DatapointsToAlarm", 2, "alarms[0].DatapointsToAlarm", "within 1..EvaluationPeriods (1)"),
        ("alarms.0.ComparisonOperator", "GreaterThan", "alarms[0].ComparisonOperator", "GreaterThanThreshold"),
        ("alarms.0.TreatMissingData", "notbreaching", "alarms[0].TreatMissingData", "notBreaching"),
        ("alarms.0.Statistic", "p99", "alarms[0].Statistic", "must be one of"),
        ("alarms.0.ExtendedStatistic", "p99", "alarms[0].ExtendedStatistic", "percentile"),
        ("alarms.0.Period", 45, "alarms[0].Period", "multiple of 60"),
        ("alarms.0.Threshhold", 1, "alarms[0].Threshhold", "unknown key"),
        ("alarms.0.Dimensions", [{"Name": "FunctionName", "Value": "${functon}"}],
         "alarms[0].Dimensions[0].Value", "unknown placeholder ${functon}"),
        ("alarms.0.AlarmName", "${function}-busy", "alarms[0].AlarmName", "placeholders"),
        ("controller.alarm_names", ["bussy"], "controller.alarm_names[0]", "not an alarm of this scenario"),
        ("controller.alarm_names", [], "controller.alarm_names", "at least one"),
        ("controller.warm_alarm_names", ["warm"], "controller.warm_alarm_names[0]", "not an alarm"),
        ("controller.env", {"SPILLOVER_SPILL_COUNT": 4}, "controller.env.SPILLOVER_SPILL_COUNT", "must be a string"),
        ("controller.tick_secs", -60, "controller.tick_secs", "above 0"),
        ("controller.timeout_secs", 1000, "controller.timeout_secs", "900"),
        ("controller.alarms", ["busy"], "controller.alarms", "unknown key"),
        ("random_seed", "1", "random_seed", "integer"),
    ],
)
def test_a_bad_field_is_named_with_the_file(path, value, field, words):
    with pytest.raises(ScenarioError) as err:
        parse(with_change(path, value), "world/scenarios/tiny.json")
    assert err.value.path == field
    assert words in err.value.message
    assert str(err.value).startswith(f"world/scenarios/tiny.json: {field}: ")


def second_alarm(**changes) -> dict:
    alarm = dict(minimal()["alarms"][0], AlarmName="busy2")
    alarm.update(changes)
    return alarm


@pytest.mark.parametrize(
    "alarm, field, words",
    [
        (second_alarm(AlarmName="busy"), "alarms[1].AlarmName", "defined twice"),
        (
            {
                "AlarmName": "math",
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Metrics": [
                    {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60,
                                                "Stat": "Sum"}},
                    {"Id": "e1", "Expression": "m1 * 2"},
                ],
            },
            "alarms[1].Metrics",
            "exactly one entry must have ReturnData true",
        ),
        (
            {
                "AlarmName": "math",
                "MetricName": "M",
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Metrics": [{"Id": "e1", "Expression": "1"}],
            },
            "alarms[1].MetricName",
            "cannot be given with Metrics",
        ),
        ("not an object", "alarms[1]", "must be an object"),
    ],
)
def test_each_alarm_is_checked_as_put_metric_alarm_would(alarm, field, words):
    doc = minimal()
    doc["alarms"].append(alarm)
    with pytest.raises(ScenarioError) as err:
        parse(doc, "x.json")
    assert err.value.path == field
    assert words in err.value.message


def test_load_names_the_file_when_it_is_not_json(tmp_path: Path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"name": "x",\n  "duration_secs": }')
    with pytest.raises(ScenarioError) as err:
        load(bad)
    assert str(bad) in str(err.value)
    assert "line 2" in str(err.value)


def test_load_names_a_missing_file(tmp_path: Path):
    with pytest.raises(ScenarioError, match="nowhere.json"):
        load(tmp_path / "nowhere.json")


def test_the_top_level_must_be_an_object():
    with pytest.raises(ScenarioError, match="must be an object"):
        parse([1, 2], "list.json")


@pytest.mark.parametrize(
    "t, rps",
    [
        (-10, 60.0),  # flat before the first point
        (0, 60.0),
        (60, 60.0),
        (90, 330.0),  # halfway up the ramp
        (120, 600.0),
        (300, 600.0),
        (301, 60.0),  # a one-second cliff
        (10_000, 60.0),  # flat after the last point
    ],
)
def test_demand_is_piecewise_linear_and_flat_outside(t, rps):
    points = ((0.0, 60.0), (60.0, 60.0), (120.0, 600.0), (300.0, 600.0), (301.0, 60.0))
    assert demand_at(points, t) == pytest.approx(rps)


def test_a_single_point_is_a_constant_demand():
    assert demand_at(((100.0, 42.0),), 0) == 42.0
    assert demand_at(((100.0, 42.0),), 500) == 42.0


def test_expand_fills_every_placeholder_and_leaves_the_input_alone():
    alarm = minimal()["alarms"][0]
    alarm["AlarmDescription"] = "on ${function} behind ${load_balancer}"
    out = expand(alarm, {"function": "web-app", "load_balancer": "app/lb/1"})
    assert out["Dimensions"] == [{"Name": "FunctionName", "Value": "web-app"}]
    assert out["AlarmDescription"] == "on web-app behind app/lb/1"
    assert alarm["Dimensions"][0]["Value"] == "${function}"
    assert out["Threshold"] == 90


def test_expand_names_an_unknown_placeholder_and_where_it_is():
    alarm = minimal()["alarms"][0]
    with pytest.raises(ValueError) as err:
        expand(alarm, {"lambda_tg": "tg"})
    assert "${function}" in str(err.value)
    assert "Dimensions[0].Value" in str(err.value)


def test_the_placeholders_are_the_documented_four():
    assert scenario.PLACEHOLDERS == ("function", "lambda_tg", "ecs_tg", "load_balancer")
    readme = (LIBRARY / "README.md").read_text()
    for name in scenario.PLACEHOLDERS:
        assert f"${{{name}}}" in readme


def test_the_late_world_is_the_default_and_its_keys_take_their_defaults():
    s = parse(minimal(), "tiny.json")
    assert s.timing == "late" and s.late
    assert s.cloudwatch.ingestion_delay_secs == {"AWS/Lambda": (60.0, 180.0),
                                                 "AWS/ApplicationELB": (30.0, 90.0)}
    assert (s.cloudwatch.publish_every_secs, s.cloudwatch.evaluation_offset_secs,
            s.cloudwatch.extra_range_periods) == (10, 20, 2)
    assert (s.events.delivery_delay_secs, s.events.duplicate_share) == ((1.0, 10.0), 0.1)
    assert s.listener.propagation_secs == (5.0, 30.0)
    assert (s.ecs.start_failure_share, s.ecs.never_healthy, s.ecs.unhealthy_threshold) == (0.0, False, 2)
    assert s.new_target_health_secs == 5.0, "one passing check"
    instant = s.with_timing("instant")
    assert instant.cloudwatch_timing.delay_range("AWS/Lambda") == (0.0, 0.0)
    assert instant.events_timing.delivery_delay_secs == (0.0, 0.0)
    assert instant.propagation_secs == (0.0, 0.0)
    assert instant.new_target_health_secs == 10.0, "interval x threshold, as before"


@pytest.mark.parametrize("patch, path, words", [
    ({"timing": "slow"}, "timing", "must be one of late, instant"),
    ({"cloudwatch": {"ingestion_delay_secs": {"AWS/Lambda": [90, 60]}}},
     "cloudwatch.ingestion_delay_secs.AWS/Lambda[1]", "must be at least low"),
    ({"cloudwatch": {"ingestion_delay_secs": ["AWS/Lambda"]}},
     "cloudwatch.ingestion_delay_secs", "namespace: [low, high]"),
    ({"cloudwatch": {"publish_every_secs": 30}}, "cloudwatch.publish_every_secs", "at most 10"),
    ({"cloudwatch": {"evaluation_offset_secs": 60}}, "cloudwatch.evaluation_offset_secs", "at most 59"),
    ({"events": {"duplicate_share": 2}}, "events.duplicate_share", "at most 1"),
    ({"events": {"delay": [1, 2]}}, "events.delay", "unknown key"),
    ({"listener": {"propagation_secs": [5]}}, "listener.propagation_secs", "[low, high]"),
])
def test_a_bad_late_world_key_is_refused_by_name(patch, path, words):
    doc = minimal()
    doc.update(patch)
    with pytest.raises(ScenarioError) as e:
        parse(doc, "tiny.json")
    assert e.value.path == path and words in e.value.message, str(e.value)
