"""What AWS publishes to CloudWatch, from one world second of the data plane, and when it
gets there.

Lambda publishes `ConcurrentExecutions`, `Invocations` and `Throttles` for a function only
while it is invoked; ALB publishes a target group's `RequestCount` only for periods with
requests, its `HTTPCode_ELB_5XX_Count` only when it is not zero ("Reporting criteria: there
is a nonzero value", ALB user guide, load-balancer-cloudwatch-metrics, in the late world;
the instant world publishes 0 too), and `HealthyHostCount` always. A period without a
datapoint is what an alarm's `TreatMissingData` is about, so the world keeps that distinction.

**Ingestion.** Each second's samples of one namespace reach CloudWatch after a delay drawn
from the scenario's `cloudwatch.ingestion_delay_secs` for that namespace, and keep their own
timestamp: Lambda stamps a metric with the invocation's start and sends it when the
invocation ends, "several minutes" later for a long one (Lambda developer guide, function
metrics, https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html); ALB reports
"in 60-second intervals" (ALB user guide). The world's `MetricStore` (which the alarm
evaluation reads) gets each sample with its arrival time; moto gets what has arrived every
`cloudwatch.publish_every_secs` (10) world seconds, as statistic sets stamped with the
wall-clock start of the sample's minute, so a period's datapoint grows as its samples
arrive and a controller's `GetMetricData` sees the same partial newest periods an alarm
does. In the instant world every sample arrives at once and moto gets each minute whole
at its end.
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


class Publisher:
    """Feeds the world's metric store every second, each sample with the second it reaches
    CloudWatch, and moto with what has arrived every `publish_every_secs`."""

    def __init__(self, store: MetricStore, cloudwatch: Any, clock: Clock,
                 timing: CloudWatchSpec, seed: int = 1) -> None:
        self.store = store
        self.cw = cloudwatch
        self.clock = clock
        self.timing = timing
        self.rng = random.Random(f"{seed}/ingestion")
        # (arrives, order, sample, t): samples on their way to CloudWatch
        self.in_flight: list[tuple[float, int, Sample, int]] = []
        self.order = itertools.count()

    def delay(self, namespace: str) -> float:
        low, high = self.timing.delay_range(namespace)
        return self.rng.uniform(low, high) if high > 0 else 0.0

    def add(self, t: int, found: list[Sample]) -> None:
        """Records one world second's samples; moto gets what has arrived before `t` when
        `t` is on the publishing cadence."""
        if t > 0 and t % self.timing.publish_every_secs == 0:
            self.publish(before=t)
        # One draw per listed namespace every second, samples or not: the draws, and so the
        # alarms' timing, are the same whichever controller runs and however it splits.
        delays = {ns: self.delay(ns) for ns in sorted(self.timing.ingestion_delay_secs)}
        for sample in found:
            namespace, name, dims, value = sample
            arrives = t + delays.get(namespace, 0.0)
            self.store.add(namespace, name, dims, float(t), value, arrives=arrives)
            heapq.heappush(self.in_flight, (arrives, next(self.order), sample, t))

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
