"""What AWS publishes to CloudWatch, from one world second of the data plane, and when it
gets there.

Lambda publishes `ConcurrentExecutions`, `Invocations` and `Throttles` for a function only
while it is invoked; ALB publishes a target group's `RequestCount` only for periods with
requests, its `HTTPCode_ELB_5XX_Count` only when it is not zero ("Reporting criteria: there
is a nonzero value", ALB user guide, load-balancer-cloudwatch-metrics, in the late world;
the instant world publishes 0 too), and `HealthyHostCount` always. A period without a
datapoint is what an alarm's `TreatMissingData` is about, so the world keeps that distinction.

**Ingestion.** Lambda and ALB send their metrics once a minute ("Lambda sends metrics to
CloudWatch at 1-minute intervals", Lambda developer guide, function metrics,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html; an ALB reports "in
60-second intervals", ALB user guide, load-balancer-cloudwatch-metrics). So the world sends
each namespace's samples in one batch per minute and per reporter, at the end of the
minute, and a batch reaches CloudWatch after a delay drawn from the scenario's
`cloudwatch.ingestion_delay_secs` for that namespace. A namespace can have several
reporters (`cloudwatch.reporters`: an ALB's nodes, one per Availability Zone at least, 2 by
default), each sending its share of the counts (and the same gauges) after its own delay, so a
period's datapoint grows as its batches arrive. Samples keep their timestamp: Lambda stamps a
metric with the invocation's start and sends it when the invocation ends, so the invocations
of a second that end in the next minute go out with the next minute's batch, still stamped
in theirs (with the scenario's `request_secs`, a long request makes that share large).

The world's `MetricStore` (which the alarm evaluation reads) gets each sample with its
arrival time; moto gets what has arrived every `cloudwatch.publish_every_secs` (10) world
seconds, as statistic sets stamped with the wall-clock start of the sample's minute, so a
controller's `GetMetricData` sees the same partial newest periods an alarm does. Each delay
is drawn from its own seeded stream (namespace, reporter, minute), so the draws are the same
whichever controller runs and at any speed. In the instant world every sample arrives at
once and moto gets each minute whole at its end.
"""

from __future__ import annotations

import heapq
import itertools
import random
from datetime import datetime, timezone
from typing import Any

from .clock import Clock
from .dataplane import SecondOut
from .metric_store import MetricStore
from .scenario import CloudWatchSpec

PUBLISH_PERIOD = 60  # world seconds: the period every metric the world publishes is in

Sample = tuple[str, str, dict[str, str], float]


def samples(out: SecondOut, names: dict[str, str], ecs_healthy: int, *,
            errors_only_nonzero: bool = False) -> list[Sample]:
    """(namespace, metric, dimensions, value) for one world second."""
    fn = {"FunctionName": names["function"]}
    lb = {"LoadBalancer": names["load_balancer"]}
    lam_tg = {"TargetGroup": names["lambda_tg"], **lb}
    ecs_tg = {"TargetGroup": names["ecs_tg"], **lb}
    found: list[Sample] = []

    def errors(dims: dict[str, str], value: float) -> list[Sample]:
        if errors_only_nonzero and value <= 0:
            return []
        return [("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", dims, value)]

    if out.to_lambda > 0:
        found += [
            ("AWS/Lambda", "ConcurrentExecutions", fn, out.lambda_concurrency),
            ("AWS/Lambda", "Invocations", fn, out.lambda_served),
            ("AWS/Lambda", "Throttles", fn, out.lambda_throttled),
            ("AWS/ApplicationELB", "RequestCount", lam_tg, out.to_lambda),
        ]
        found += errors(lam_tg, out.lambda_throttled)
    if out.to_ecs > 0:
        found.append(("AWS/ApplicationELB", "RequestCount", ecs_tg, out.to_ecs))
        found += errors(ecs_tg, out.ecs_no_target - out.unrouted + out.ecs_overloaded)
    if out.demand > 0:
        found.append(("AWS/ApplicationELB", "RequestCount", lb, out.demand))
        found += errors(lb, out.errors_5xx)
    found.append(("AWS/ApplicationELB", "HealthyHostCount", ecs_tg, float(ecs_healthy)))
    return found


# Metrics that count events: each reporter sends its share. The others (concurrency, healthy
# hosts) are levels every reporter sees whole.
COUNTS = frozenset({"RequestCount", "HTTPCode_ELB_5XX_Count", "Invocations", "Throttles"})


class Publisher:
    """Feeds the world's metric store every second, each sample with the second it reaches
    CloudWatch, and moto with what has arrived every `publish_every_secs`."""

    def __init__(self, store: MetricStore, cloudwatch: Any, clock: Clock,
                 timing: CloudWatchSpec, seed: int = 1, request_secs: float = 0.0) -> None:
        self.store = store
        self.cw = cloudwatch
        self.clock = clock
        self.timing = timing
        self.seed = seed
        self.request_secs = request_secs
        # (arrives, order, sample, t): samples on their way to CloudWatch
        self.in_flight: list[tuple[float, int, Sample, int]] = []
        self.order = itertools.count()

    def arrival(self, namespace: str, reporter: int, t: int) -> float:
        """When a sample of second `t` sent by `reporter` reaches CloudWatch: the end of the
        minute its batch is sent in, plus that batch's delay; at once where the namespace
        has no delay."""
        low, high = self.timing.delay_range(namespace)
        if high <= 0:
            return float(t)
        # Lambda sends an invocation's metrics when it ends, stamped with its start.
        ends = t + (self.request_secs if namespace == "AWS/Lambda" else 0.0)
        minute = int(ends // PUBLISH_PERIOD)
        draw = random.Random(f"{self.seed}/ingestion/{namespace}/{reporter}/{minute}")
        return (minute + 1) * PUBLISH_PERIOD + draw.uniform(low, high)

    def add(self, t: int, found: list[Sample]) -> None:
        """Records one world second's samples; moto gets what has arrived before `t` when
        `t` is on the publishing cadence."""
        if t > 0 and t % self.timing.publish_every_secs == 0:
            self.publish(before=t)
        for namespace, name, dims, value in found:
            reporters = self.timing.reporters_of(namespace)
            share = value / reporters if name in COUNTS else value
            for reporter in range(reporters):
                arrives = self.arrival(namespace, reporter, t)
                self.store.add(namespace, name, dims, float(t), share, arrives=arrives)
                heapq.heappush(self.in_flight,
                               (arrives, next(self.order), (namespace, name, dims, share), t))

    def publish(self, before: float) -> None:
        """Puts into moto every sample that reached CloudWatch before world second `before`,
        summed per metric and minute."""
        sets: dict[tuple[str, str, tuple[tuple[str, str], ...], int], list[float]] = {}
        while self.in_flight and self.in_flight[0][0] < before:
            _, _, (namespace, name, dims, value), t = heapq.heappop(self.in_flight)
            key = (namespace, name, tuple(sorted(dims.items())), t // PUBLISH_PERIOD)
            agg = sets.get(key)
            if agg is None:
                sets[key] = [value, value, value, 1.0]
            else:
                agg[0] += value
                agg[1] = max(agg[1], value)
                agg[2] = min(agg[2], value)
                agg[3] += 1
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for (namespace, name, dims, minute), (total, high, low, count) in sets.items():
            stamp = datetime.fromtimestamp(self.clock.wall(minute * PUBLISH_PERIOD), timezone.utc)
            by_namespace.setdefault(namespace, []).append({
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
                "Timestamp": stamp,
                "StatisticValues": {"SampleCount": count, "Sum": total,
                                    "Minimum": low, "Maximum": high},
            })
        for namespace, data in by_namespace.items():
            for i in range(0, len(data), 20):
                self.cw.put_metric_data(Namespace=namespace, MetricData=data[i:i + 20])

    def flush(self) -> None:
        """Everything still on its way, at the end of a run."""
        self.publish(before=float("inf"))
