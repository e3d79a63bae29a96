"""What the world publishes is what a controller reads back with `GetMetricData`."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import boto3
from moto import mock_aws

from world.clock import Clock
from world.metric_store import MetricStore
from world.metrics import Publisher
from world.patches import apply_moto_patches

ECS_TG = "targetgroup/web-app-ecs/0123456789abcdef"
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
        publisher = Publisher(MetricStore(), cw, clock)
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
