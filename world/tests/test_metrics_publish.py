"""What the world publishes is what a controller reads back with `GetMetricData`."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from world.clock import Clock
from world.metric_store import MetricStore
from world.metrics import Publisher
from world.patches import apply_moto_patches
from world.scenario import INSTANT_CLOUDWATCH, CloudWatchSpec

ECS_TG = "targetgroup/web-app-ecs/0123456789abcdef"
LAMBDA_TG = "targetgroup/web-app-lambda/0123456789abcdef"
LB = "app/web-app/0123456789abcdef"


def test_a_target_groups_requests_are_read_back_whatever_the_dimension_order() -> None:
    """The publisher writes dimensions sorted by name (LoadBalancer, TargetGroup); spillover
    asks for TargetGroup first. CloudWatch treats a metric's dimensions as a combination,
    not a sequence; moto 5.2.5 meant to as well (it sorts both lists) but its
    `Dimension.__lt__` compares a value with a name, so the sort, and the match, depend on
    the values. Unpatched, this read finds nothing and a scale-in sees "no requests"."""
    apply_moto_patches()
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        clock = Clock(speed=60.0, start_wall=time.time() - 5.0)
        publisher = Publisher(MetricStore(), cw, clock, INSTANT_CLOUDWATCH)
        dims = {"TargetGroup": ECS_TG, "LoadBalancer": LB}
        for t in range(0, 61):
            publisher.add(t, [("AWS/ApplicationELB", "RequestCount", dims, 2.0)])
        # t=60 began the second minute: the first one (60 samples) is in moto now.
        query = {"Id": "requests", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
                       "Dimensions": [{"Name": "TargetGroup", "Value": ECS_TG},
                                      {"Name": "LoadBalancer", "Value": LB}]},
            "Period": 60, "Stat": "Sum"}}
        now = datetime.now(timezone.utc)
        got = cw.get_metric_data(
            MetricDataQueries=[query],
            StartTime=datetime.fromtimestamp(clock.start_wall - 60, timezone.utc),
            EndTime=now)
        (result,) = got["MetricDataResults"]
        assert sum(result["Values"]) == 120.0


def _requests(id_: str, target_group: str) -> dict:
    """A spike alarm's metric: a target group's RequestCount per minute, not returned."""
    return {"Id": id_, "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
                   "Dimensions": [{"Name": "TargetGroup", "Value": target_group},
                                  {"Name": "LoadBalancer", "Value": LB}]},
        "Period": 60, "Stat": "Sum"}}


def _read_back(rates: dict[str, float], queries: list[dict]) -> list[dict]:
    """Publishes each target group's requests per second for one full minute, then reads
    `queries` back with GetMetricData; the results, as the SDK gives them."""
    apply_moto_patches()
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        clock = Clock(speed=60.0, start_wall=time.time() - 5.0)
        publisher = Publisher(MetricStore(), cw, clock, INSTANT_CLOUDWATCH)
        for t in range(0, 61):
            publisher.add(t, [("AWS/ApplicationELB", "RequestCount",
                               {"TargetGroup": tg, "LoadBalancer": LB}, rate)
                              for tg, rate in rates.items()])
        got = cw.get_metric_data(
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(clock.start_wall - 60, timezone.utc),
            EndTime=datetime.now(timezone.utc))
        return got["MetricDataResults"]


SPIKE = "(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60"


@pytest.mark.parametrize(
    "rates, value",
    [({ECS_TG: 2.0, LAMBDA_TG: 3.0}, 2.5),  # (120 + 180) * 0.5 / 60
     ({ECS_TG: 2.0}, 1.0)],  # the Lambda target group has no datapoint: FILL makes it 0
    ids=["both-target-groups", "one-without-requests"])
def test_get_metric_data_evaluates_a_spike_alarms_metric_math(
        rates: dict[str, float], value: float) -> None:
    """A spike alarm's metrics are its two target groups' RequestCount, not returned, and
    the expression over them. CloudWatch evaluates the expression per period and returns
    only it; moto 5.2.5 looks for a series whose Id is the whole expression text, finds
    none, and answers an empty series (and would return m1 and m2 had they ReturnData)."""
    queries = [_requests("m1", ECS_TG), _requests("m2", LAMBDA_TG),
               {"Id": "e1", "Expression": SPIKE, "ReturnData": True}]
    (result,) = _read_back(rates, queries)
    assert (result["Id"], result["Values"]) == ("e1", [value])
    assert len(result["Timestamps"]) == 1


def test_get_metric_data_evaluates_an_expression_over_another_expression() -> None:
    """An expression may use another one (here e1, itself not returned); the results come
    in the order of the queries, those with ReturnData false left out."""
    queries = [{"Id": "e2", "Expression": "e1 * 0.5 / 60", "ReturnData": True},
               _requests("m1", ECS_TG),
               {"Id": "e1", "Expression": "FILL(m1, 0) + FILL(m2, 0)", "ReturnData": False},
               _requests("m2", LAMBDA_TG),
               {"Id": "e3", "Expression": "m2 - m1", "Label": "lambda minus ecs"}]
    results = _read_back({ECS_TG: 2.0, LAMBDA_TG: 3.0}, queries)
    assert [(r["Id"], r["Label"], r["Values"]) for r in results] == [
        ("e2", "e2", [2.5]), ("e3", "lambda minus ecs", [60.0])]


def test_metric_math_the_world_does_not_model_is_a_validation_error() -> None:
    """Functions beyond FILL(series, number) are refused, not answered with a made-up
    series; so is an expression using an Id no query has."""
    for expression, words in [("RATE(m1)", "function RATE is not modelled"),
                              ("m1 + m9", "uses m9, which no query has as Id")]:
        with pytest.raises(ClientError) as caught:
            _read_back({ECS_TG: 2.0}, [_requests("m1", ECS_TG),
                                       {"Id": "e1", "Expression": expression}])
        assert caught.value.response["Error"]["Code"] == "ValidationError"
        assert words in caught.value.response["Error"]["Message"]


def test_an_alarms_own_queries_read_back_one_world_minute_per_scaled_period() -> None:
    """moto holds an alarm with its periods in the controller's time (`scaled_alarm`): at
    15x a 60 s period is 4 wall seconds, one world minute. Its own queries, read back the
    way spillover reads the demand, give one value per world minute, the one the world's
    alarm evaluates, not the sum of fifteen of them."""
    from world.loop import scaled_alarm

    alarm = {"AlarmName": "demand", "Metrics": [
        _requests("m1", ECS_TG), _requests("m2", LAMBDA_TG),
        {"Id": "e1", "Expression": SPIKE, "ReturnData": True}],
        "EvaluationPeriods": 1, "Threshold": 90, "ComparisonOperator": "GreaterThanThreshold"}
    moto_alarm = scaled_alarm(alarm, 15.0)
    assert [q.get("MetricStat", {}).get("Period") for q in moto_alarm["Metrics"]] == [4, 4, None]
    assert alarm["Metrics"][0]["MetricStat"]["Period"] == 60, "the world's own copy is kept"
    assert scaled_alarm({"Period": 300, "MetricName": "RequestCount"}, 10.0)["Period"] == 30

    apply_moto_patches()
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        clock = Clock(speed=15.0, start_wall=time.time() - 5 * 4.0 - 1.0)
        publisher = Publisher(MetricStore(), cw, clock, INSTANT_CLOUDWATCH)
        # Three world minutes at 100, 200 and 300 requests/s on the ECS side, 60 on Lambda.
        for t in range(0, 181):
            rate = 100.0 * (1 + t // 60)
            publisher.add(t, [("AWS/ApplicationELB", "RequestCount",
                               {"TargetGroup": tg, "LoadBalancer": LB}, r)
                              for tg, r in ((ECS_TG, rate), (LAMBDA_TG, 60.0))])
        got = cw.get_metric_data(
            MetricDataQueries=moto_alarm["Metrics"],
            StartTime=datetime.fromtimestamp(clock.start_wall - 4.0, timezone.utc),
            EndTime=datetime.now(timezone.utc))
        (result,) = got["MetricDataResults"]
        # (rate + 60) * 60 s * 0.5 / 60 each minute.
        assert sorted(result["Values"]) == [80.0, 130.0, 180.0]
