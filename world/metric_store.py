"""What the world publishes to CloudWatch, kept for the alarms: samples by metric
(namespace, name, full dimension set) in world seconds, and CloudWatch's statistics over a
period. A period without a sample has no datapoint, which is what `TreatMissingData` is
about."""

from __future__ import annotations

import bisect
from typing import Mapping

STATISTICS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")


def _key(namespace: str, name: str, dims: Mapping[str, str]) -> tuple[str, str, frozenset]:
    return (namespace, name, frozenset(dims.items()))


class MetricStore:
    """Samples by metric (namespace, name, full dimension set), in world seconds."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, frozenset], tuple[list[float], list[float]]] = {}

    def add(self, namespace: str, name: str, dims: Mapping[str, str], t: float, value: float) -> None:
        """Records one sample, as `PutMetricData` with one value would."""
        times, values = self._series.setdefault(_key(namespace, name, dims), ([], []))
        if not times or t >= times[-1]:
            times.append(t)
            values.append(value)
        else:
            i = bisect.bisect_right(times, t)
            times.insert(i, t)
            values.insert(i, value)

    def samples(
        self, namespace: str, name: str, dims: Mapping[str, str], start: float, end: float
    ) -> list[float]:
        """The values of the samples in [start, end)."""
        series = self._series.get(_key(namespace, name, dims))
        if series is None:
            return []
        times, values = series
        return values[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]

    def stat(
        self,
        namespace: str,
        name: str,
        dims: Mapping[str, str],
        stat: str,
        period: int,
        period_start: float,
    ) -> float | None:
        """One statistic over [period_start, period_start + period); None: no datapoint."""
        values = self.samples(namespace, name, dims, period_start, period_start + period)
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
