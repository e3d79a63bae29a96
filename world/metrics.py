"""What AWS publishes to CloudWatch, from one world second of the data plane.

Lambda publishes `ConcurrentExecutions`, `Invocations` and `Throttles` for a function only
while it is invoked; ALB publishes a target group's `RequestCount` and 5xx counts only for
periods with requests, and `HealthyHostCount` always. A period without a datapoint is what
an alarm's `TreatMissingData` is about, so the world keeps that distinction.

The samples go into the world's `MetricStore` (which the alarm evaluation reads) at once,
and into moto once per world minute as statistic sets (`PutMetricData`), timestamped with
the wall-clock time of that minute, so a controller reading them (`GetMetricData`) sees the
same numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .metric_store import MetricStore
from .clock import Clock
from .dataplane import SecondOut

PUBLISH_PERIOD = 60  # world seconds


def samples(out: SecondOut, names: dict[str, str], ecs_healthy: int
            ) -> list[tuple[str, str, dict[str, str], float]]:
    """(namespace, metric, dimensions, value) for one world second."""
    fn = {"FunctionName": names["function"]}
    lb = {"LoadBalancer": names["load_balancer"]}
    lam_tg = {"TargetGroup": names["lambda_tg"], **lb}
    ecs_tg = {"TargetGroup": names["ecs_tg"], **lb}
    found: list[tuple[str, str, dict[str, str], float]] = []
    if out.to_lambda > 0:
        found += [
            ("AWS/Lambda", "ConcurrentExecutions", fn, out.lambda_concurrency),
            ("AWS/Lambda", "Invocations", fn, out.lambda_served),
            ("AWS/Lambda", "Throttles", fn, out.lambda_throttled),
            ("AWS/ApplicationELB", "RequestCount", lam_tg, out.to_lambda),
            ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lam_tg, out.lambda_throttled),
        ]
    if out.to_ecs > 0:
        found += [
            ("AWS/ApplicationELB", "RequestCount", ecs_tg, out.to_ecs),
            ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", ecs_tg,
             out.ecs_no_target - out.unrouted + out.ecs_overloaded),
        ]
    if out.demand > 0:
        found += [
            ("AWS/ApplicationELB", "RequestCount", lb, out.demand),
            ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, out.errors_5xx),
        ]
    found.append(("AWS/ApplicationELB", "HealthyHostCount", ecs_tg, float(ecs_healthy)))
    return found


class Publisher:
    """Feeds the world's metric store every second and moto every world minute."""

    def __init__(self, store: MetricStore, cloudwatch: Any, clock: Clock) -> None:
        self.store = store
        self.cw = cloudwatch
        self.clock = clock
        # (namespace, name, dims) -> [sum, max, min, count] for the minute being filled
        self.pending: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = {}
        self.minute = 0

    def add(self, t: int, found: list[tuple[str, str, dict[str, str], float]]) -> None:
        minute = t // PUBLISH_PERIOD
        if minute != self.minute:
            self.flush()
            self.minute = minute
        for namespace, name, dims, value in found:
            self.store.add(namespace, name, dims, float(t), value)
            key = (namespace, name, tuple(sorted(dims.items())))
            agg = self.pending.get(key)
            if agg is None:
                self.pending[key] = [value, value, value, 1.0]
            else:
                agg[0] += value
                agg[1] = max(agg[1], value)
                agg[2] = min(agg[2], value)
                agg[3] += 1

    def flush(self) -> None:
        if not self.pending:
            return
        stamp = datetime.fromtimestamp(self.clock.wall(self.minute * PUBLISH_PERIOD), timezone.utc)
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for (namespace, name, dims), (total, high, low, count) in self.pending.items():
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
        self.pending = {}
