"""CloudWatch's alarm evaluation: statistics, M of N, missing data, metric math."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from world.alarms import (
    AlarmError,
    MetricStore,
    evaluate,
    parse_alarm,
    parse_expression,
)
from world.scenario import expand, load

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
FN = {"FunctionName": "web-app"}


def concurrency_alarm(**changes) -> dict:
    """The demo stack's alarm: ConcurrentExecutions, Maximum, 60 s, 1 of 1, >= 90."""
    alarm = {
        "AlarmName": "busy",
        "Namespace": "AWS/Lambda",
        "MetricName": "ConcurrentExecutions",
        "Dimensions": [{"Name": "FunctionName", "Value": "web-app"}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 90,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    alarm.update(changes)
    return alarm


def store_with(points: str, period: int = 60) -> MetricStore:
    """One datapoint per period from a pattern, oldest first: X breaches (5 > 1), 0 does not, - is missing."""
    store = MetricStore()
    for i, mark in enumerate(points.split()):
        if mark != "-":
            store.add("AWS/Lambda", "ConcurrentExecutions", FN, i * period + 1, 5.0 if mark == "X" else 0.0)
    return store


def pattern_alarm(m: int, n: int, treat: str, extra: int) -> object:
    return parse_alarm(
        concurrency_alarm(
            EvaluationPeriods=n,
            DatapointsToAlarm=m,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData=treat,
        ),
        extra_range_periods=extra,
    )


# ---------------------------------------------------------------------------------------------
# The store


@pytest.mark.parametrize(
    "stat, value",
    [("Sum", 60.0), ("Average", 20.0), ("Maximum", 30.0), ("Minimum", 10.0), ("SampleCount", 3.0)],
)
def test_statistics_over_a_period(stat, value):
    store = MetricStore()
    for t, v in ((0, 10.0), (30, 30.0), (59.9, 20.0), (60, 1000.0)):
        store.add("N", "M", {"A": "1"}, t, v)
    assert store.stat("N", "M", {"A": "1"}, stat, 60, 0) == value


def test_a_period_without_samples_has_no_datapoint_and_dimensions_match_exactly():
    store = MetricStore()
    store.add("N", "M", {"A": "1", "B": "2"}, 10, 5.0)
    assert store.stat("N", "M", {"A": "1", "B": "2"}, "Sum", 60, 60) is None
    assert store.stat("N", "M", {"A": "1"}, "Sum", 60, 0) is None  # a subset is another metric
    assert store.stat("N", "M", {"B": "2", "A": "1"}, "Sum", 60, 0) == 5.0  # order does not matter


def test_samples_added_out_of_order_are_still_found():
    store = MetricStore()
    for t in (50, 10, 70, 30):
        store.add("N", "M", {}, t, float(t))
    assert store.samples("N", "M", {}, 0, 60) == [10.0, 30.0, 50.0]


# ---------------------------------------------------------------------------------------------
# CloudWatch's own examples ("How alarm state is evaluated when data is missing"):
# the 5 most recent datapoints are retrieved (2 more than EvaluationPeriods), oldest first.

CURRENT = "OK"  # what "retain current state" retains in these rows
DOC_TABLE_3_OF_3 = [
    ("0 - X - X", ("OK", "OK", "OK", "OK")),
    ("0 - - - -", ("OK", "OK", "OK", "OK")),
    ("- - - - -", ("INSUFFICIENT_DATA", CURRENT, "ALARM", "OK")),
    ("0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("- - - - X", ("INSUFFICIENT_DATA", CURRENT, "ALARM", "OK")),
]
DOC_TABLE_2_OF_3 = [
    ("0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 - X - -", ("OK", "OK", "ALARM", "OK")),
    ("- - - - 0", ("OK", "OK", "ALARM", "OK")),
    ("- - - - X", ("INSUFFICIENT_DATA", CURRENT, "ALARM", "OK")),
]
TREATS = ("missing", "ignore", "breaching", "notBreaching")


@pytest.mark.parametrize(
    "m, points, expected",
    [(3, p, e) for p, e in DOC_TABLE_3_OF_3] + [(2, p, e) for p, e in DOC_TABLE_2_OF_3],
)
@pytest.mark.parametrize("treat", TREATS)
def test_cloudwatch_documented_missing_data_examples(m, points, expected, treat):
    spec = pattern_alarm(m, 3, treat, extra=2)
    result = evaluate(spec, store_with(points), now=5 * 60, current_state=CURRENT)
    assert result.state == expected[TREATS.index(treat)]
    assert result.datapoints == tuple(None if p == "-" else (5.0 if p == "X" else 0.0) for p in points.split())


def test_ignore_really_retains_whichever_state_the_alarm_is_in():
    spec = pattern_alarm(3, 3, "ignore", extra=2)
    for state in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        assert evaluate(spec, store_with("- - - - X"), 300, state).state == state


def test_a_lone_breaching_datapoint_is_insufficient_data_wherever_it_sits():
    # One revision of the doc's table says ALARM for "X - - - -" with `missing` but
    # INSUFFICIENT_DATA for "- - - - X"; the world follows the latter for both.
    spec = pattern_alarm(3, 3, "missing", extra=2)
    assert evaluate(spec, store_with("X - - - -"), 300, "OK").state == "INSUFFICIENT_DATA"


# Every TreatMissingData x current state, for the library's 1-of-1 alarm with no datapoint.
@pytest.mark.parametrize(
    "treat, current, expected",
    [
        ("missing", "OK", "INSUFFICIENT_DATA"),
        ("missing", "ALARM", "INSUFFICIENT_DATA"),
        ("missing", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA"),
        ("notBreaching", "OK", "OK"),
        ("notBreaching", "ALARM", "OK"),
        ("notBreaching", "INSUFFICIENT_DATA", "OK"),
        ("breaching", "OK", "ALARM"),
        ("breaching", "ALARM", "ALARM"),
        ("breaching", "INSUFFICIENT_DATA", "ALARM"),
        ("ignore", "OK", "OK"),
        ("ignore", "ALARM", "ALARM"),
        ("ignore", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA"),
    ],
)
def test_no_datapoint_with_each_treatment_from_each_state(treat, current, expected):
    spec = parse_alarm(concurrency_alarm(TreatMissingData=treat))
    store = MetricStore()
    store.add("AWS/Lambda", "ConcurrentExecutions", FN, 30, 95.0)  # the period before: not evaluated
    result = evaluate(spec, store, now=125, current_state=current)
    assert result.datapoints == (None,)
    assert result.state == expected


@pytest.mark.parametrize("treat", TREATS)
@pytest.mark.parametrize("current", ("OK", "ALARM", "INSUFFICIENT_DATA"))
@pytest.mark.parametrize("value, expected", [(95.0, "ALARM"), (90.0, "ALARM"), (89.0, "OK")])
def test_a_real_datapoint_decides_whatever_the_treatment_and_state(treat, current, value, expected):
    spec = parse_alarm(concurrency_alarm(TreatMissingData=treat))
    store = MetricStore()
    store.add("AWS/Lambda", "ConcurrentExecutions", FN, 70, value)
    assert evaluate(spec, store, now=120, current_state=current).state == expected


@pytest.mark.parametrize(
    "points, m, n, expected",
    [
        ("X X X", 3, 3, "ALARM"),
        ("X X 0", 3, 3, "OK"),
        ("X 0 X", 2, 3, "ALARM"),  # breaching datapoints need not be consecutive
        ("0 0 X", 2, 3, "OK"),
        ("X 0 0 0 X", 2, 5, "ALARM"),
        ("X 0 0 0 X", 3, 5, "OK"),
        ("0 0 0 0 X", 1, 5, "ALARM"),
        ("X X X X 0", 5, 5, "OK"),
    ],
)
def test_m_out_of_n(points, m, n, expected):
    spec = pattern_alarm(m, n, "missing", extra=0)
    count = len(points.split())
    assert evaluate(spec, store_with(points), now=count * 60, current_state="OK").state == expected


def test_only_periods_that_have_ended_are_evaluated():
    spec = parse_alarm(concurrency_alarm())
    store = MetricStore()
    store.add("AWS/Lambda", "ConcurrentExecutions", FN, 119, 95.0)
    assert evaluate(spec, store, now=119.5, current_state="OK").period_starts == (0.0,)
    assert evaluate(spec, store, now=119.5, current_state="OK").state == "INSUFFICIENT_DATA"
    at_end = evaluate(spec, store, now=120, current_state="OK")
    assert at_end.period_starts == (60.0,)
    assert at_end.state == "ALARM"


def test_the_reason_reads_like_cloudwatchs():
    spec = parse_alarm(concurrency_alarm())
    store = MetricStore()
    store.add("AWS/Lambda", "ConcurrentExecutions", FN, 61, 950.0)
    store.add("AWS/Lambda", "ConcurrentExecutions", FN, 62, 10.0)
    result = evaluate(spec, store, now=120, current_state="OK", epoch=1_700_000_000)
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [950.0 (14/11/23 22:14:20)] was greater than or "
        "equal to the threshold (90.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    data = json.loads(result.reason_data)
    assert data["statistic"] == "Maximum"
    assert data["period"] == 60
    assert data["recentDatapoints"] == [950.0]
    assert data["threshold"] == 90.0
    assert data["evaluatedDatapoints"] == [
        {"timestamp": "2023-11-14T22:14:20.000+0000", "sampleCount": 2.0, "value": 950.0}
    ]
    assert data["queryDate"] == "2023-11-14T22:15:20.000+0000"


@pytest.mark.parametrize(
    "treat, current, words",
    [
        ("notBreaching", "ALARM", "no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]"),
        ("breaching", "OK", "treated as [Breaching]"),
        ("missing", "OK", "Insufficient Data: 1 datapoint was unknown."),
        ("ignore", "ALARM", "the alarm stays ALARM"),
    ],
)
def test_the_reason_says_how_missing_data_counted(treat, current, words):
    spec = parse_alarm(concurrency_alarm(TreatMissingData=treat))
    assert words in evaluate(spec, MetricStore(), now=120, current_state=current).reason


def test_an_ok_reason_lists_the_datapoints_under_the_threshold():
    spec = pattern_alarm(2, 3, "missing", extra=0)
    reason = evaluate(spec, store_with("0 X 0"), now=180, current_state="ALARM").reason
    assert reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [0.0 (")
    assert "were not greater than the threshold (1.0)" in reason
    assert reason.endswith("(minimum 2 datapoints for ALARM -> OK transition).")


def test_an_unknown_current_state_is_refused():
    with pytest.raises(ValueError, match="current_state"):
        evaluate(parse_alarm(concurrency_alarm()), MetricStore(), 60, "PENDING")


# ---------------------------------------------------------------------------------------------
# Metric math


def math_alarm(expression: str, *extra: dict) -> dict:
    def metric(id_: str, name: str) -> dict:
        return {
            "Id": id_,
            "MetricStat": {"Metric": {"Namespace": "N", "MetricName": name}, "Period": 60, "Stat": "Sum"},
            "ReturnData": False,
        }

    return {
        "AlarmName": "math",
        "EvaluationPeriods": 1,
        "Threshold": 100,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Metrics": [metric("m1", "A"), metric("m2", "B"), *extra, {"Id": "e1", "Expression": expression, "ReturnData": True}],
    }


@pytest.mark.parametrize(
    "expression, a, b, value",
    [
        ("m1 + m2", 3.0, 4.0, 7.0),
        ("m1 + m2", 5.0, None, 5.0),  # "missing values in a time series are treated as 0"
        ("m1 + m2", None, None, None),  # neither has a datapoint: no timestamp, no datapoint
        ("FILL(m1, 0) + FILL(m2, 0)", None, None, 0.0),
        ("FILL(m1, 7) * 2", None, 1.0, 14.0),
        ("m1 * 2", None, 1.0, None),  # a series times a number has a datapoint only where the series does
        ("m1 / m2", 6.0, 3.0, 2.0),
        ("m1 / m2", 6.0, 0.0, None),  # division by zero drops the datapoint
        ("m1 / m2", 6.0, None, None),  # m2 counts as 0: division by zero again
        ("m2 / m1", 6.0, None, 0.0),
        ("-m1 + 10", 3.0, None, 7.0),
        ("-(m1 - m2) * 2", 3.0, 5.0, 4.0),
        ("2 + 3 * m1", 2.0, None, 8.0),  # precedence
        ("(2 + 3) * m1", 2.0, None, 10.0),
        ("(m1 + m2) * 0.5 / 60", 6000.0, 6000.0, 100.0),
        ("m1 - -m2", 1.0, 2.0, 3.0),
        ("1.5e2 - m1", 50.0, None, 100.0),
    ],
)
def test_metric_math_with_missing_data(expression, a, b, value):
    spec = parse_alarm(math_alarm(expression))
    store = MetricStore()
    if a is not None:
        store.add("N", "A", {}, 10, a)
    if b is not None:
        store.add("N", "B", {}, 10, b)
    assert spec.value_at(store, 0) == (pytest.approx(value) if value is not None else None)


def test_an_expression_may_use_another_expression():
    spec = parse_alarm(math_alarm("e0 * 2", {"Id": "e0", "Expression": "m1 + m2", "ReturnData": False}))
    store = MetricStore()
    store.add("N", "A", {}, 10, 30.0)
    store.add("N", "B", {}, 10, 20.0)
    assert spec.value_at(store, 0) == 100.0
    assert evaluate(spec, store, 60, "OK").state == "ALARM"


def test_a_metric_math_alarm_goes_to_alarm_on_its_expression():
    store = MetricStore()
    store.add("N", "A", {}, 10, 60.0)
    store.add("N", "B", {}, 20, 30.0)
    assert evaluate(parse_alarm(math_alarm("m1 + m2")), store, 60, "OK").state == "OK"
    store.add("N", "B", {}, 30, 20.0)
    result = evaluate(parse_alarm(math_alarm("m1 + m2")), store, 60, "OK")
    assert result.state == "ALARM"
    assert "statistic" not in json.loads(result.reason_data)


def test_the_library_demand_alarm_sees_demand_on_either_target_group():
    s = load(LIBRARY / "spike.json")
    names = {"function": "web-app", "lambda_tg": "targetgroup/l/1", "ecs_tg": "targetgroup/e/2", "load_balancer": "app/lb/3"}
    spec = parse_alarm(expand(s.alarm("web-app-demand-high"), names))
    store = MetricStore()
    ecs_dims = {"TargetGroup": "targetgroup/e/2", "LoadBalancer": "app/lb/3"}
    lambda_dims = {"TargetGroup": "targetgroup/l/1", "LoadBalancer": "app/lb/3"}
    for t in range(60, 120):  # 500 rps, all on ECS, none on Lambda: 500 x 60 x 0.5 / 60 = 250
        store.add("AWS/ApplicationELB", "RequestCount", ecs_dims, t, 500.0)
    result = evaluate(spec, store, 120, "OK")
    assert result.datapoints == (None, 250.0), "1 of the last 2 minutes"
    assert result.state == "ALARM"
    for t in range(120, 180):  # 50 rps on Lambda, none on ECS
        store.add("AWS/ApplicationELB", "RequestCount", lambda_dims, t, 50.0)
    # 1 of 2: the minute before still breaches.
    assert evaluate(spec, store, 180, "ALARM").state == "ALARM"
    assert evaluate(spec, store, 180, "ALARM").datapoints == (250.0, 25.0)
    # Its minute out of the range: OK, one minute later than 1 of 1.
    result = evaluate(spec, store, 240, "ALARM")
    assert result.datapoints == (25.0, None) and result.state == "OK"
    # No request at all: no datapoint (no FILL), so INSUFFICIENT_DATA, which never spills.
    assert evaluate(spec, store, 300, "OK").state == "INSUFFICIENT_DATA"


@pytest.mark.parametrize(
    "text, words",
    [
        ("m1 +", "unexpected"),
        ("m1 $ m2", "unexpected"),
        ("METRICS()", "not modelled"),
        ("SUM(m1)", "not modelled"),
        ("FILL(m1, m2)", "must be a number"),
        ("FILL(m1)", "expected ','"),
        ("(m1 + m2", "expected ')'"),
        ("m1 m2", "after the expression"),
    ],
)
def test_expressions_outside_the_modelled_subset_are_refused(text, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_expression(text)


def query(id_: str, **fields) -> dict:
    return {"Id": id_, **fields}


STAT = {"Metric": {"Namespace": "N", "MetricName": "A"}, "Period": 60, "Stat": "Sum"}


@pytest.mark.parametrize(
    "metrics, path, words",
    [
        ([query("m1", MetricStat=STAT, ReturnData=False), query("e1", Expression="m1 + m9", ReturnData=True)],
         "Metrics[1].Expression", "uses m9"),
        ([query("m1", MetricStat=STAT), query("e1", Expression="m1 * 2")], "Metrics", "defaults to true"),
        ([query("m1", MetricStat=STAT, ReturnData=False), query("e1", Expression="e2", ReturnData=True),
          query("e2", Expression="e1", ReturnData=False)], "Metrics", "cycle"),
        ([query("e1", Expression="1 + 2")], "Metrics", "no entry gives a Period"),
        ([query("m1", MetricStat=STAT, ReturnData=False), query("e1", Expression="1 + 2", ReturnData=True, Period=60)],
         "Metrics", "must be a time series"),
        ([query("M1", MetricStat=STAT)], "Metrics[0].Id", "lowercase"),
        ([query("m1", MetricStat=STAT, ReturnData=False), query("m1", Expression="m1", ReturnData=True)],
         "Metrics[1].Id", "used twice"),
        ([query("m1", MetricStat=dict(STAT, Period=60), ReturnData=False),
          query("m2", MetricStat=dict(STAT, Period=300), ReturnData=False),
          query("e1", Expression="m1 + m2", ReturnData=True)], "Metrics", "same period"),
        ([query("m1", MetricStat=dict(STAT, Stat="p99"))], "Metrics[0].MetricStat.Stat", "must be one of"),
        ([query("m1", MetricStat=STAT, Expression="m1")], "Metrics[0]", "exactly one of Expression and MetricStat"),
        ([query("m1", MetricStat=STAT, Lable="x")], "Metrics[0].Lable", "unknown key"),
    ],
)
def test_bad_metric_math_alarms_name_the_field(metrics, path, words):
    alarm = {"AlarmName": "x", "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold",
             "Metrics": metrics}
    with pytest.raises(AlarmError) as err:
        parse_alarm(alarm)
    assert err.value.path == path
    assert words in err.value.message


def test_a_single_metric_alarm_needs_its_metric_fields():
    alarm = concurrency_alarm()
    del alarm["Statistic"]
    with pytest.raises(AlarmError) as err:
        parse_alarm(alarm)
    assert err.value.path == "Statistic"


def test_the_evaluation_window_may_not_exceed_a_day():
    with pytest.raises(AlarmError, match="one day"):
        parse_alarm(concurrency_alarm(Period=3600, EvaluationPeriods=25))


def test_every_library_alarm_parses():
    names = {"function": "f", "lambda_tg": "tg/l", "ecs_tg": "tg/e", "load_balancer": "app/lb"}
    for path in sorted(LIBRARY.glob("*.json")):
        for alarm in load(path).alarms:
            spec = parse_alarm(expand(alarm, names))
            assert spec.period == 60
