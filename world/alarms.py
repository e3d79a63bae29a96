"""CloudWatch's alarm evaluation, as a pure function over what the world published.

`MetricStore` holds the samples the world publishes, in world seconds; `parse_alarm` turns a
`PutMetricAlarm` request (single metric or metric math) into an `AlarmSpec`; `evaluate` gives
the state CloudWatch would set at world second `now`, with a CloudWatch-like reason.

What follows CloudWatch's documentation, and where:

- M out of N, and how missing data is treated ("Evaluating an alarm" and "Configuring how
  CloudWatch alarms treat missing data",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html and
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html;
  the same text and tables as the archived awsdocs/amazon-cloudwatch-user-guide
  doc_source/AlarmThatSendsEmail.md). The rule, in the doc's words: when at least
  EvaluationPeriods real datapoints are in the evaluation range, the most recent of them decide
  and TreatMissingData is not used; otherwise the missing ones are filled by TreatMissingData, as
  few as possible; then "if fewer than the value of Datapoints to Alarm are breaching, the alarm
  state is set to OK. Otherwise, the state is set to ALARM." `missing` gives INSUFFICIENT_DATA when every datapoint of the range is
  missing; `ignore` keeps the current state. The doc's two example tables are tests
  (`world/tests/test_alarms.py`).
- Metric math ("Using metric math", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html):
  "Missing values in a time series are treated as 0. If the value of a data point causes a
  function to attempt to divide by zero, the data point is dropped." So `m1 + m2` has a datapoint
  in a period where either metric has one (the other counts as 0), none where neither has one;
  `m1 * 2` has none where `m1` has none; `FILL(m1, 0)` fills every missing period.

Simplifications (each one is a choice, not an accident):

- The evaluation range is the `evaluation_periods` most recent periods that have ended by `now`
  (`extra_range_periods`, 0 by default, widens it towards the past). CloudWatch retrieves "a
  higher number of data points than specified by Evaluation Periods", a number it does not
  document in general (5 for 3 in its example); the tests use 2 extra periods to replay that
  example, and the late world evaluates with 2 (`cloudwatch.extra_range_periods`), so that a
  period whose data came late can still count.
- Where the doc's tables disagree with each other (a single breaching datapoint and nothing
  else, with `missing`: INSUFFICIENT_DATA in one row, ALARM in another revision), we follow the
  INSUFFICIENT_DATA row: fewer than DatapointsToAlarm real datapoints, all breaching, give
  INSUFFICIENT_DATA with `missing` and keep the state with `ignore`.
- Periods are aligned to world second 0 (CloudWatch aligns them to the clock).
- Ingestion: a period's datapoint is made of the samples that reached CloudWatch by `now`
  (`MetricStore.add(..., arrives=)`), so the newest periods can be partial or missing, as
  CloudWatch's are: "CloudWatch alarms evaluate metrics based on the datapoints that are
  immediately available ... after the alarm evaluation, CloudWatch can publish new samples"
  (Knowledge Center, https://repost.aws/knowledge-center/cloudwatch-trigger-metric). The
  instant world adds every sample with no delay.
- Statistics: Sum, Average, Maximum, Minimum, SampleCount; no percentiles, no `Unit` filtering
  (`Unit` is accepted and ignored), no anomaly detection.
- Metric math: `+ - * /`, unary minus, parentheses, numbers, metric and expression ids,
  `FILL(series, number)`.
- The reason and reason data are always computed; CloudWatch only records them when the state
  changes, which is the caller's business.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .metric_math import apply, parse_expression, refs
from .metric_store import STATISTICS, MetricStore

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")

# ComparisonOperator -> (test, the words CloudWatch's reason uses).
COMPARISONS: dict[str, tuple[Any, str]] = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}

# PutMetricAlarm parameters the world understands or may ignore (they change nothing here).
_IGNORED_KEYS = {
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "Tags",
    "Unit",
    "EvaluateLowSampleCountPercentile",
}
_SINGLE_METRIC_KEYS = {"Namespace", "MetricName", "Dimensions", "Statistic", "Period"}
_COMMON_KEYS = {
    "AlarmName",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Metrics",
}
_UNSUPPORTED_KEYS = {
    "ExtendedStatistic": "percentile statistics are not modelled; use Statistic",
    "ThresholdMetricId": "anomaly detection alarms are not modelled",
}
_QUERY_KEYS = {"Id", "Expression", "MetricStat", "ReturnData", "Label", "Period"}
_METRIC_STAT_KEYS = {"Metric", "Period", "Stat", "Unit"}
_METRIC_KEYS = {"Namespace", "MetricName", "Dimensions"}
_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")


class AlarmError(ValueError):
    """A `PutMetricAlarm` request the world cannot evaluate; `path` names the field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


# ---------------------------------------------------------------------------------------------
# The alarm


@dataclass(frozen=True)
class MetricStat:
    """One metric and the statistic taken of it per period."""

    namespace: str
    name: str
    dims: tuple[tuple[str, str], ...]
    stat: str
    period: int

    @property
    def dimensions(self) -> dict[str, str]:
        return dict(self.dims)

    def value(self, store: MetricStore, period_start: float, seen_at: float | None = None) -> float | None:
        return store.stat(self.namespace, self.name, self.dimensions, self.stat, self.period,
                          period_start, seen_at)


@dataclass(frozen=True)
class Query:
    """One entry of `Metrics`: a metric (`metric_stat`) or an expression (`expression`)."""

    id: str
    return_data: bool
    metric_stat: MetricStat | None = None
    expression: str | None = None
    ast: Any = None


@dataclass(frozen=True)
class AlarmSpec:
    """What CloudWatch needs to evaluate one alarm."""

    name: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str = "missing"
    metric: MetricStat | None = None
    metrics: tuple[Query, ...] = ()
    extra_range_periods: int = 0

    @property
    def range_periods(self) -> int:
        return self.evaluation_periods + self.extra_range_periods

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][0](value, self.threshold)

    def value_at(self, store: MetricStore, period_start: float,
                 seen_at: float | None = None) -> float | None:
        """The alarm's datapoint for the period starting at `period_start`, of the samples
        that reached CloudWatch by `seen_at` (all, without); None: missing."""
        if self.metric is not None:
            return self.metric.value(store, period_start, seen_at)
        by_id = {q.id: q for q in self.metrics}
        memo: dict[str, float | None] = {}

        def lookup(id_: str) -> float | None:
            if id_ not in memo:
                q = by_id[id_]
                if q.metric_stat is not None:
                    memo[id_] = q.metric_stat.value(store, period_start, seen_at)
                else:
                    memo[id_] = apply(q.ast, lookup)[0]
            return memo[id_]

        returned = next(q for q in self.metrics if q.return_data)
        return lookup(returned.id)


def _number(value: Any, path: str, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AlarmError(path, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise AlarmError(path, f"must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise AlarmError(path, f"must be finite, got {value!r}")
    return int(value) if integer else float(value)


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise AlarmError(path, f"must be a non-empty string, got {value!r}")
    return value


def _check_keys(doc: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in doc:
        if key in _UNSUPPORTED_KEYS and path == "":
            raise AlarmError(key, _UNSUPPORTED_KEYS[key])
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise AlarmError(where, f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _period(value: Any, path: str) -> int:
    period = _number(value, path, integer=True)
    # CloudWatch: 10, 30, or a multiple of 60 seconds.
    if period not in (10, 30) and (period < 60 or period % 60):
        raise AlarmError(path, f"must be 10, 30 or a multiple of 60, got {period}")
    return int(period)


def _dimensions(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise AlarmError(path, f"must be a list of {{Name, Value}}, got {value!r}")
    dims: dict[str, str] = {}
    for i, dim in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(dim, dict):
            raise AlarmError(where, f"must be an object {{Name, Value}}, got {dim!r}")
        _check_keys(dim, {"Name", "Value"}, where)
        for key in ("Name", "Value"):
            if key not in dim:
                raise AlarmError(f"{where}.{key}", "is required")
        name = _string(dim["Name"], f"{where}.Name")
        if name in dims:
            raise AlarmError(f"{where}.Name", f"dimension {name} given twice")
        dims[name] = _string(dim["Value"], f"{where}.Value")
    return tuple(sorted(dims.items()))


def _metric_stat(doc: Any, path: str) -> MetricStat:
    if not isinstance(doc, dict):
        raise AlarmError(path, f"must be an object, got {doc!r}")
    _check_keys(doc, _METRIC_STAT_KEYS, path)
    for key in ("Metric", "Period", "Stat"):
        if key not in doc:
            raise AlarmError(f"{path}.{key}", "is required")
    metric = doc["Metric"]
    if not isinstance(metric, dict):
        raise AlarmError(f"{path}.Metric", f"must be an object, got {metric!r}")
    _check_keys(metric, _METRIC_KEYS, f"{path}.Metric")
    for key in ("Namespace", "MetricName"):
        if key not in metric:
            raise AlarmError(f"{path}.Metric.{key}", "is required")
    stat = doc["Stat"]
    if stat not in STATISTICS:
        raise AlarmError(f"{path}.Stat", f"must be one of {', '.join(STATISTICS)}, got {stat!r}")
    return MetricStat(
        namespace=_string(metric["Namespace"], f"{path}.Metric.Namespace"),
        name=_string(metric["MetricName"], f"{path}.Metric.MetricName"),
        dims=_dimensions(metric.get("Dimensions", []), f"{path}.Metric.Dimensions"),
        stat=stat,
        period=_period(doc["Period"], f"{path}.Period"),
    )


def _queries(doc: Any) -> tuple[tuple[Query, ...], int]:
    """The `Metrics` array, checked; and the period all its metrics share."""
    if not isinstance(doc, list) or not doc:
        raise AlarmError("Metrics", "must be a non-empty list of metric data queries")
    queries: list[Query] = []
    periods: set[int] = set()
    for i, q in enumerate(doc):
        path = f"Metrics[{i}]"
        if not isinstance(q, dict):
            raise AlarmError(path, f"must be an object, got {q!r}")
        _check_keys(q, _QUERY_KEYS, path)
        if "Id" not in q:
            raise AlarmError(f"{path}.Id", "is required")
        id_ = _string(q["Id"], f"{path}.Id")
        if not _ID.match(id_):
            raise AlarmError(f"{path}.Id", f"must start with a lowercase letter and hold only letters, digits and _, got {id_!r}")
        if any(other.id == id_ for other in queries):
            raise AlarmError(f"{path}.Id", f"id {id_} is used twice")
        # PutMetricAlarm: ReturnData defaults to true; exactly one entry may return data.
        return_data = q.get("ReturnData", True)
        if not isinstance(return_data, bool):
            raise AlarmError(f"{path}.ReturnData", f"must be true or false, got {return_data!r}")
        if "Period" in q:
            periods.add(_period(q["Period"], f"{path}.Period"))
        has_expr, has_stat = "Expression" in q, "MetricStat" in q
        if has_expr == has_stat:
            raise AlarmError(path, "needs exactly one of Expression and MetricStat")
        if has_stat:
            stat = _metric_stat(q["MetricStat"], f"{path}.MetricStat")
            periods.add(stat.period)
            queries.append(Query(id=id_, return_data=return_data, metric_stat=stat))
        else:
            text = _string(q["Expression"], f"{path}.Expression")
            try:
                ast = parse_expression(text)
            except ValueError as e:
                raise AlarmError(f"{path}.Expression", f"{text!r}: {e}") from None
            queries.append(Query(id=id_, return_data=return_data, expression=text, ast=ast))
    returning = [q.id for q in queries if q.return_data]
    if len(returning) != 1:
        raise AlarmError(
            "Metrics",
            f"exactly one entry must have ReturnData true (it defaults to true), found {len(returning)}: {returning}",
        )
    if len(periods) > 1:
        raise AlarmError("Metrics", f"every metric must use the same period, found {sorted(periods)}")
    if not periods:
        raise AlarmError("Metrics", "no entry gives a Period (a MetricStat needs one)")
    ids = {q.id: q for q in queries}
    for i, q in enumerate(queries):
        if q.ast is None:
            continue
        for ref in sorted(refs(q.ast)):
            if ref not in ids:
                raise AlarmError(f"Metrics[{i}].Expression", f"{q.expression!r} uses {ref}, which no entry has as Id")
    # No cycles, and the returned entry must be a time series (reach at least one metric).
    def reaches_metric(id_: str, seen: tuple[str, ...]) -> bool:
        if id_ in seen:
            raise AlarmError("Metrics", f"expressions refer to each other in a cycle: {' -> '.join(seen + (id_,))}")
        q = ids[id_]
        if q.metric_stat is not None:
            return True
        return any([reaches_metric(r, seen + (id_,)) for r in sorted(refs(q.ast))])

    for q in queries:
        reaches_metric(q.id, ())
    if not reaches_metric(returning[0], ()):
        raise AlarmError("Metrics", f"{returning[0]} must be a time series (use at least one metric)")
    return tuple(queries), periods.pop()


def parse_alarm(put_metric_alarm: Mapping[str, Any], *, extra_range_periods: int = 0) -> AlarmSpec:
    """An `AlarmSpec` from `PutMetricAlarm` parameters; `AlarmError` names the bad field."""
    doc = put_metric_alarm
    if not isinstance(doc, Mapping):
        raise AlarmError("", f"an alarm must be an object of PutMetricAlarm parameters, got {doc!r}")
    _check_keys(doc, _COMMON_KEYS | _SINGLE_METRIC_KEYS | _IGNORED_KEYS, "")
    for key in ("AlarmName", "EvaluationPeriods", "Threshold", "ComparisonOperator"):
        if key not in doc:
            raise AlarmError(key, "is required")
    name = _string(doc["AlarmName"], "AlarmName")
    evaluation_periods = int(_number(doc["EvaluationPeriods"], "EvaluationPeriods", integer=True))
    if evaluation_periods < 1:
        raise AlarmError("EvaluationPeriods", f"must be at least 1, got {evaluation_periods}")
    datapoints = int(_number(doc.get("DatapointsToAlarm", evaluation_periods), "DatapointsToAlarm", integer=True))
    if not 1 <= datapoints <= evaluation_periods:
        raise AlarmError(
            "DatapointsToAlarm", f"must be within 1..EvaluationPeriods ({evaluation_periods}), got {datapoints}"
        )
    threshold = float(_number(doc["Threshold"], "Threshold"))
    comparison = doc["ComparisonOperator"]
    if comparison not in COMPARISONS:
        raise AlarmError("ComparisonOperator", f"must be one of {', '.join(COMPARISONS)}, got {comparison!r}")
    treat_missing = doc.get("TreatMissingData", "missing")
    if treat_missing not in TREAT_MISSING:
        raise AlarmError("TreatMissingData", f"must be one of {', '.join(TREAT_MISSING)}, got {treat_missing!r}")

    single = sorted(k for k in _SINGLE_METRIC_KEYS if k in doc)
    metric: MetricStat | None = None
    metrics: tuple[Query, ...] = ()
    if "Metrics" in doc:
        if single:
            raise AlarmError(single[0], "cannot be given with Metrics (PutMetricAlarm takes one or the other)")
        metrics, period = _queries(doc["Metrics"])
    else:
        for key in ("Namespace", "MetricName", "Statistic", "Period"):
            if key not in doc:
                raise AlarmError(key, "is required (or give Metrics for metric math)")
        statistic = doc["Statistic"]
        if statistic not in STATISTICS:
            raise AlarmError("Statistic", f"must be one of {', '.join(STATISTICS)}, got {statistic!r}")
        period = _period(doc["Period"], "Period")
        metric = MetricStat(
            namespace=_string(doc["Namespace"], "Namespace"),
            name=_string(doc["MetricName"], "MetricName"),
            dims=_dimensions(doc.get("Dimensions", []), "Dimensions"),
            stat=statistic,
            period=period,
        )
    if evaluation_periods * period > 86_400:
        raise AlarmError("EvaluationPeriods", f"EvaluationPeriods x Period may not exceed one day, got {evaluation_periods * period} s")
    if extra_range_periods < 0:
        raise ValueError(f"extra_range_periods must be at least 0, got {extra_range_periods}")
    return AlarmSpec(
        name=name,
        period=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        threshold=threshold,
        comparison=comparison,
        treat_missing=treat_missing,
        metric=metric,
        metrics=metrics,
        extra_range_periods=extra_range_periods,
    )


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Evaluation:
    """The state CloudWatch would set, and why."""

    state: str
    reason: str
    reason_data: str
    datapoints: tuple[float | None, ...]  # the evaluation range, oldest first; None: missing
    period_starts: tuple[float, ...] = field(default=())  # world second each datapoint starts at
    breaching: int = 0  # breaching datapoints counted, filled ones included
    filled: int = 0  # missing datapoints filled by TreatMissingData


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _iso(epoch: float, t: float, speed: float = 1.0) -> str:
    moment = datetime.fromtimestamp(epoch + t / speed, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _short(epoch: float, t: float, speed: float = 1.0) -> str:
    return datetime.fromtimestamp(epoch + t / speed, tz=timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _reason(
    spec: AlarmSpec,
    state: str,
    evaluated: list[tuple[float, float]],
    filled: int,
    undecided: bool,
    epoch: float,
    speed: float = 1.0,
) -> str:
    """CloudWatch's wording for a state: which datapoints crossed, and how missing ones counted."""
    n, m, treat = spec.evaluation_periods, spec.datapoints_to_alarm, spec.treat_missing

    def were(k: int) -> str:
        return "was" if k == 1 else "were"

    if undecided and treat == "missing":
        return f"Insufficient Data: {_plural(filled, 'datapoint')} {were(filled)} unknown."
    if undecided:
        return f"Missing data ignored: {_plural(filled, 'missing datapoint')} in the last {n}, the alarm stays {state}."
    kind = "Breaching" if treat == "breaching" else "NonBreaching"
    if not evaluated:
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(filled, 'missing datapoint')} {were(filled)} treated as [{kind}]."
        )
    words = COMPARISONS[spec.comparison][1]
    if state == "ALARM":
        shown = [(s, v) for s, v in evaluated if spec.breaches(v)]
        verb, rule = words, f"minimum {_plural(m, 'datapoint')} for OK -> ALARM transition"
    else:
        shown = [(s, v) for s, v in evaluated if not spec.breaches(v)]
        verb, rule = f"not {words}", f"minimum {_plural(n - m + 1, 'datapoint')} for ALARM -> OK transition"
    listed = ", ".join(f"{v!r} ({_short(epoch, s, speed)})" for s, v in reversed(shown))
    reason = (
        f"Threshold Crossed: {len(shown)} out of the last {len(evaluated)} datapoints [{listed}] "
        f"{were(len(shown))} {verb} the threshold ({spec.threshold!r})"
    )
    if filled and treat in ("breaching", "notBreaching"):
        reason += f", and {_plural(filled, 'missing datapoint')} {were(filled)} treated as [{kind}]"
    elif filled:
        reason += f", and {_plural(filled, 'missing datapoint')} {were(filled)} not counted"
    return reason + f" ({rule})."


def _reason_data(
    spec: AlarmSpec,
    store: MetricStore,
    now: float,
    starts: tuple[float, ...],
    values: tuple[float | None, ...],
    evaluated: list[tuple[float, float]],
    epoch: float,
    speed: float = 1.0,
) -> str:
    """The JSON CloudWatch puts in `StateReasonData` for a metric alarm."""
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(epoch, now, speed),
                            "startDate": _iso(epoch, starts[0], speed)}
    if spec.metric is not None:
        data["statistic"] = spec.metric.stat
    data["period"] = spec.period
    data["recentDatapoints"] = [v for _, v in evaluated]
    data["threshold"] = spec.threshold
    points: list[dict[str, Any]] = []
    for s, v in reversed(list(zip(starts, values))):
        point: dict[str, Any] = {"timestamp": _iso(epoch, s, speed)}
        if v is not None:
            if spec.metric is not None:
                d = spec.metric
                point["sampleCount"] = store.stat(d.namespace, d.name, d.dimensions, "SampleCount",
                                                  spec.period, s, now)
            point["value"] = v
        points.append(point)
    data["evaluatedDatapoints"] = points
    return json.dumps(data, separators=(",", ":"))


EVALUATION_EVERY_SECS = 60


def evaluation_due(t: float, offset_secs: int) -> bool:
    """Whether CloudWatch evaluates a standard-resolution alarm at world second `t`: once a
    minute ("Evaluating an alarm", alarm-evaluation: "at the end of minute 5 ... minutes 1
    to 5"), at a fixed offset into the minute, from the first whole minute on."""
    return t >= EVALUATION_EVERY_SECS and t % EVALUATION_EVERY_SECS == offset_secs


def evaluate(
    spec: AlarmSpec,
    store: MetricStore,
    now: float,
    current_state: str,
    *,
    epoch: float = 0.0,
    speed: float = 1.0,
) -> Evaluation:
    """The alarm's state at world second `now`, as CloudWatch would evaluate it.

    `current_state` matters only for `TreatMissingData: ignore`. `epoch` is the Unix time of
    world second 0 and `speed` the world's (a world second lasts 1/speed wall seconds), used
    only for the timestamps in the reason.
    """
    if current_state not in STATES:
        raise ValueError(f"current_state must be one of {', '.join(STATES)}, got {current_state!r}")
    p = spec.period
    last_end = math.floor(now / p) * p
    starts = tuple(float(last_end - p * (spec.range_periods - i)) for i in range(spec.range_periods))
    # What has reached CloudWatch by `now`: the newest periods may be partial or missing.
    values = tuple(spec.value_at(store, s, now) for s in starts)

    n, m, treat = spec.evaluation_periods, spec.datapoints_to_alarm, spec.treat_missing
    real = [(s, v) for s, v in zip(starts, values) if v is not None]
    # Enough real datapoints: the most recent decide and TreatMissingData is not used.
    # Otherwise every real one counts and the rest are filled, as few as possible.
    evaluated, filled = (real[-n:], 0) if len(real) >= n else (real, n - len(real))
    hits = sum(1 for _, v in evaluated if spec.breaches(v))
    any_ok = hits < len(evaluated)
    breaching = hits + (filled if treat == "breaching" else 0)
    # Nothing real says OK and too little says ALARM: `missing` cannot tell, `ignore` keeps.
    undecided = bool(filled) and treat in ("missing", "ignore") and not any_ok and hits < m
    if undecided:
        state = "INSUFFICIENT_DATA" if treat == "missing" else current_state
    else:
        state = "ALARM" if breaching >= m else "OK"
    return Evaluation(
        state=state,
        reason=_reason(spec, state, evaluated, filled, undecided, epoch, speed),
        reason_data=_reason_data(spec, store, now, starts, values, evaluated, epoch, speed),
        datapoints=values,
        period_starts=starts,
        breaching=breaching,
        filled=filled,
    )
