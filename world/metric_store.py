"""What the world publishes to CloudWatch, kept for the alarms: samples by metric
(namespace, name, full dimension set) in world seconds, and CloudWatch's statistics over a
period. A period without a sample has no datapoint, which is what `TreatMissingData` is
about.

Each sample has a timestamp (the period it counts in) and the world second it reaches
CloudWatch. A statistic taken `seen_at` a moment counts only the samples that have arrived
by then: the newest periods are partial, as CloudWatch's are ("data points published within
the last minute ... might not be fully aggregated", CloudWatch user guide, live data,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-live-data.html)."""

from __future__ import annotations

import bisect
from typing import Mapping

STATISTICS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")


def _key(namespace: str, name: str, dims: Mapping[str, str]) -> tuple[str, str, frozenset]:
    return (namespace, name, frozenset(dims.items()))


class MetricStore:
    """Samples by metric (namespace, name, full dimension set), in world seconds."""

    def __init__(self) -> None:
        # by metric: timestamps (sorted), values, and when each sample reaches CloudWatch
        self._series: dict[tuple[str, str, frozenset], tuple[list[float], list[float], list[float]]] = {}

    def add(self, namespace: str, name: str, dims: Mapping[str, str], t: float, value: float,
            arrives: float | None = None) -> None:
        """Records one sample stamped `t`, as `PutMetricData` with one value would; it is
        visible from world second `arrives` on (at once by default)."""
        times, values, arrivals = self._series.setdefault(_key(namespace, name, dims), ([], [], []))
        at = t if arrives is None else arrives
        if not times or t >= times[-1]:
            times.append(t)
            values.append(value)
            arrivals.append(at)
        else:
            i = bisect.bisect_right(times, t)
            times.insert(i, t)
            values.insert(i, value)
            arrivals.insert(i, at)

    def samples(
        self, namespace: str, name: str, dims: Mapping[str, str], start: float, end: float,
        seen_at: float | None = None,
    ) -> list[float]:
        """The values of the samples stamped in [start, end); with `seen_at`, only those that
        have reached CloudWatch by then."""
        series = self._series.get(_key(namespace, name, dims))
        if series is None:
            return []
        times, values, arrivals = series
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
        if seen_at is None:
            return values[lo:hi]
        return [v for v, a in zip(values[lo:hi], arrivals[lo:hi]) if a <= seen_at]

    def stat(
        self,
        namespace: str,
        name: str,
        dims: Mapping[str, str],
        stat: str,
        period: int,
        period_start: float,
        seen_at: float | None = None,
    ) -> float | None:
        """One statistic over [period_start, period_start + period), of the samples that have
        arrived by `seen_at` (all of them without); None: no datapoint."""
        values = self.samples(namespace, name, dims, period_start, period_start + period, seen_at)
        if not values:
            return None
        if stat == "Sum":
            return float(sum(values))
        if stat == "Average":
            return float(sum(values) / len(values))
        if stat == "Maximum":
            return float(max(values))
        if stat == "Minimum":
            return float(min(values))
        if stat == "SampleCount":
            return float(len(values))
        raise ValueError(f"unknown statistic {stat!r}; one of {', '.join(STATISTICS)}")
