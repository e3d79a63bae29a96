"""The late world: ingestion delays and partial periods, Lambda's back-dated samples, the
alarms' evaluation cadence, EventBridge's late and duplicate deliveries, the listener's
propagation, the floor in a late world. Pure, except the moto read-back of partial periods."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import boto3
from moto import mock_aws

from world.alarms import evaluate, evaluation_due, parse_alarm
from world.clock import Clock
from world.late import EventBus, Propagation
from world.metric_store import MetricStore
from world.metrics import Publisher, samples
from world.dataplane import SecondOut
from world.patches import apply_moto_patches
from world.scenario import CloudWatchSpec, load
from world.summary import earliest_alarm_at, floor_5xx, idle_due, ready_at

SCENARIO = load(Path(__file__).resolve().parent / "scenarios" / "short-spike.json")
ELB = "AWS/ApplicationELB"
LB = "app/web-app/0123456789abcdef"
TG = {"TargetGroup": "targetgroup/web-app-ecs/0123456789abcdef", "LoadBalancer": LB}


# -- ingestion: a period's datapoint grows as its samples arrive ------------------------------

def test_a_newest_period_is_partial_until_its_samples_have_arrived() -> None:
    store = MetricStore()
    for t in range(60):
        store.add(ELB, "RequestCount", TG, float(t), 2.0, arrives=t + 30.0)
    partial = store.stat(ELB, "RequestCount", TG, "Sum", 60, 0.0, seen_at=65.0)
    final = store.stat(ELB, "RequestCount", TG, "Sum", 60, 0.0, seen_at=90.0)
    assert partial == 2.0 * 36  # the samples of seconds 0..35 have arrived by second 65
    assert final == 120.0
    assert store.stat(ELB, "RequestCount", TG, "Sum", 60, 0.0, seen_at=29.0) is None, \
        "nothing has arrived yet: no datapoint at all, though requests flowed"
    assert store.stat(ELB, "RequestCount", TG, "Sum", 60, 0.0) == 120.0, "the whole truth"


def test_lambdas_late_samples_count_in_the_minute_the_invocation_started() -> None:
    """Lambda stamps a metric with the invocation's start and sends it when it ends: a
    sample of second 50 that arrives at second 110 still counts in minute 0."""
    store = MetricStore()
    fn = {"FunctionName": "web-app"}
    store.add("AWS/Lambda", "ConcurrentExecutions", fn, 50.0, 95.0, arrives=110.0)
    store.add("AWS/Lambda", "ConcurrentExecutions", fn, 70.0, 20.0, arrives=75.0)
    assert store.stat("AWS/Lambda", "ConcurrentExecutions", fn, "Maximum", 60, 0.0, 100.0) is None
    assert store.stat("AWS/Lambda", "ConcurrentExecutions", fn, "Maximum", 60, 0.0, 110.0) == 95.0
    assert store.stat("AWS/Lambda", "ConcurrentExecutions", fn, "Maximum", 60, 60.0, 110.0) == 20.0


def test_a_minute_goes_out_in_one_batch_per_reporter_at_its_end() -> None:
    """ALB: two reporters, each with its share of the counts, each batch sent at the end of
    the minute and arriving after its own delay. Lambda: the invocations of the minute's last
    second end in the next minute and go out with its batch, still stamped in theirs."""
    timing = CloudWatchSpec(ingestion_delay_secs={"AWS/Lambda": (60.0, 180.0), ELB: (30.0, 90.0)})
    store = MetricStore()
    # Requests of 1 s: the invocations started in second 59 end in minute 1.
    publisher = Publisher(store, cloudwatch=None, clock=Clock(speed=1.0), timing=timing, seed=7,
                          request_secs=1.0)
    out = SecondOut(t=0, demand=100.0, to_lambda=100.0, to_ecs=0.0, lambda_served=100.0,
                    lambda_throttled=0.0, lambda_concurrency=50.0, lambda_concurrency_wanted=50.0,
                    ecs_served=0.0, ecs_no_target=0.0, ecs_overloaded=0.0)
    names = {"function": "web-app", "load_balancer": LB, "lambda_tg": "tg/l", "ecs_tg": "tg/e"}
    for t in (0, 30, 59):
        publisher.add(t, samples(out, names, 0, errors_only_nonzero=True))
    flights = [(arrives, ns, name, value, t) for arrives, _, (ns, name, _, value), t in publisher.in_flight]
    requests = [(a, v, t) for a, ns, name, v, t in flights
                if name == "RequestCount" and ns == ELB and t == 0]
    assert len(requests) == 4 and all(v == 50.0 for _, v, _ in requests), \
        "each of the two reporters sends half, for the target group and the load balancer"
    alb = {a for a, ns, _, _, t in flights if ns == ELB}
    assert len(alb) == 2 and all(90.0 <= a <= 150.0 for a in alb), "two batches, minute 0's end + 30-90 s"
    lam = {t: a for a, ns, _, _, t in flights if ns == "AWS/Lambda"}
    assert lam[0] == lam[30] and 120.0 <= lam[0] <= 240.0
    assert 180.0 <= lam[59] <= 300.0 and lam[59] != lam[0], "second 59 ends in minute 1"
    sent = [(ns, name) for _, ns, name, _, _ in flights]
    assert (ELB, "HTTPCode_ELB_5XX_Count") not in sent, "an error count exists only when not 0"
    # What the alarms read: nothing of minute 0 until its first batch is there.
    first = min(alb)
    dims = {"TargetGroup": "tg/l", "LoadBalancer": LB}
    assert store.stat(ELB, "RequestCount", dims, "Sum", 60, 0.0, first - 1) is None
    assert store.stat(ELB, "RequestCount", dims, "Sum", 60, 0.0, first) == 150.0, "half of 3 x 100"
    assert store.stat(ELB, "RequestCount", dims, "Sum", 60, 0.0, max(alb)) == 300.0


def test_the_draws_do_not_depend_on_what_else_was_sent() -> None:
    timing = CloudWatchSpec()
    a = Publisher(MetricStore(), None, Clock(speed=1.0), timing, seed=3)
    b = Publisher(MetricStore(), None, Clock(speed=1.0), timing, seed=3)
    b.add(0, [(ELB, "RequestCount", TG, 1.0)])  # a second publisher that has sent more
    assert a.arrival(ELB, 1, 75) == b.arrival(ELB, 1, 75)
    assert a.arrival(ELB, 0, 75) != a.arrival(ELB, 1, 75)
    assert Publisher(MetricStore(), None, Clock(), timing, seed=4).arrival(ELB, 1, 75) != a.arrival(ELB, 1, 75)


def test_moto_shows_a_partial_newest_period_that_grows_as_its_batches_arrive() -> None:
    """Published every 10 world seconds, what has arrived: `GetMetricData` reads the same
    partial newest period an alarm sees, then the whole one."""
    apply_moto_patches()
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        clock = Clock(speed=60.0, start_wall=time.time() - 5.0)
        timing = CloudWatchSpec(ingestion_delay_secs={ELB: (5.0, 55.0)}, publish_every_secs=10,
                                reporters={ELB: 2})
        publisher = Publisher(MetricStore(), cw, clock, timing, seed=1)
        first, second = sorted(publisher.arrival(ELB, k, 0) for k in (0, 1))
        assert second - first > 10, "seed 1 draws two batches more than one publish apart"
        query = {"Id": "requests", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": ELB, "MetricName": "RequestCount",
                       "Dimensions": [{"Name": k, "Value": v} for k, v in TG.items()]},
            "Period": 1, "Stat": "Sum"}}  # one world minute at speed 60

        def read() -> list[float]:
            got = cw.get_metric_data(
                MetricDataQueries=[query],
                StartTime=datetime.fromtimestamp(clock.start_wall - 60, timezone.utc),
                EndTime=datetime.now(timezone.utc), ScanBy="TimestampAscending")
            return got["MetricDataResults"][0]["Values"]

        t = 0
        while t <= first + 10:
            publisher.add(t, [(ELB, "RequestCount", TG, 2.0)] if t < 60 else [])
            t += 1
        assert read() == [60.0], "one reporter's half of minute 0's 120 requests"
        while t <= second + 10:
            publisher.add(t, [])
            t += 1
        assert read() == [120.0], "both halves"


# -- alarms: once a minute at an offset, over what has arrived --------------------------------

def test_alarms_are_evaluated_once_a_minute_at_the_offset() -> None:
    due = [t for t in range(0, 200) if evaluation_due(t, 20)]
    assert due == [80, 140]
    assert [t for t in range(0, 130) if evaluation_due(t, 0)] == [60, 120]


def requests_alarm(evaluation_periods: int, treat_missing: str):
    """RequestCount's Sum of the ECS target group at or over 100, with 2 extra periods."""
    return parse_alarm({
        "AlarmName": "demand", "Namespace": ELB, "MetricName": "RequestCount",
        "Dimensions": [{"Name": k, "Value": v} for k, v in TG.items()], "Statistic": "Sum",
        "Period": 60, "EvaluationPeriods": evaluation_periods, "Threshold": 100,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": treat_missing,
    }, extra_range_periods=2)


def test_an_alarm_sees_the_breach_only_once_enough_of_it_has_arrived() -> None:
    """1 of 1 over a Sum of RequestCount >= 100: the period holds 120, but 15 s after it
    ends only the samples of its first 46 s have arrived (92): the alarm stays OK then,
    and goes to ALARM at the next evaluation."""
    alarm = requests_alarm(1, "notBreaching")
    store = MetricStore()
    for t in range(60):
        store.add(ELB, "RequestCount", TG, float(t), 2.0, arrives=t + 30.0)
    early = evaluate(alarm, store, 75.0, "OK")
    assert early.state == "OK" and early.datapoints[-1] == 92.0
    assert evaluate(alarm, store, 135.0, "OK").state == "ALARM", \
        "the late data count at the next evaluation: the range reaches back"


def test_the_evaluation_range_lets_late_data_of_an_older_period_count() -> None:
    """2 of 2 with the newest period not arrived at all: with 2 extra periods in the range
    the two most recent real datapoints decide, the older one included."""
    alarm = requests_alarm(2, "missing")
    store = MetricStore()
    for t in range(0, 180):
        store.add(ELB, "RequestCount", TG, float(t), 2.0, arrives=t + (10.0 if t < 120 else 90.0))
    assert evaluate(alarm, store, 185.0, "OK").state == "ALARM"


# -- EventBridge: late and at least once -------------------------------------------------------

def test_events_arrive_after_their_drawn_delay_in_order() -> None:
    bus = EventBus((2.0, 8.0), duplicate_share=0.0, seed=1)
    bus.put(100, {"id": "a"}, "alarm")
    bus.put(101, {"id": "b"}, "alarm")
    assert bus.due(101) == []
    got = [d.event["id"] for t in range(100, 120) for d in bus.due(t)]
    assert sorted(got) == ["a", "b"] and len(got) == 2


def test_a_duplicated_event_is_delivered_twice_the_second_time_later() -> None:
    bus = EventBus((1.0, 5.0), duplicate_share=1.0, seed=1)
    bus.put(0, {"id": "a"}, "alarm")
    seen = [(t, d.duplicate) for t in range(0, 20) for d in bus.due(t)]
    assert [dup for _, dup in seen] == [False, True]
    assert seen[0][0] <= seen[1][0]


def test_the_instant_bus_delivers_in_the_same_second_once() -> None:
    bus = EventBus((0.0, 0.0), duplicate_share=0.0)
    bus.put(60, {"id": "a"}, "alarm")
    assert [d.event["id"] for d in bus.due(60)] == ["a"] and bus.due(61) == []


# -- the listener: the old split stays in force for a while ------------------------------------

def test_a_weight_change_comes_into_force_after_its_propagation_delay() -> None:
    split: Propagation[tuple[int, int]] = Propagation((10.0, 10.0))
    assert split.step(0, (1, 0)) == (1, 0)
    assert split.step(5, (0, 1)) == (1, 0), "DescribeListeners shows it, the data plane not yet"
    assert split.step(14, (0, 1)) == (1, 0) and split.propagating
    assert split.step(15, (0, 1)) == (0, 1) and not split.propagating


def test_changes_come_into_force_in_the_order_they_were_written() -> None:
    split: Propagation[tuple[int, int]] = Propagation((5.0, 30.0), seed=3)
    split.step(0, (1, 0))
    seen = [split.step(t, (1, 1) if t < 2 else (0, 1)) for t in range(1, 80)]
    assert seen.index((0, 1)) >= (seen.index((1, 1)) if (1, 1) in seen else 0)
    assert seen[-1] == (0, 1)
    changes = [b for a, b in zip(seen, seen[1:]) if a != b]
    assert changes[-1] == (0, 1) and (1, 0) not in changes


def test_the_instant_listener_changes_the_split_the_same_second() -> None:
    split: Propagation[tuple[int, int]] = Propagation((0.0, 0.0))
    split.step(0, (1, 0))
    assert split.step(1, (0, 1)) == (0, 1)


# -- the floor and the ECS cost target in a late world -----------------------------------------

def test_the_earliest_alarm_waits_for_the_period_its_data_and_the_evaluation() -> None:
    """short-spike's alarm: Lambda ConcurrentExecutions, 60 s, 1 of 1; Lambda's samples take
    60-180 s; evaluations at 20 s past each minute. An overload from second 40: its period
    [0, 60) ends at 60, its first sample arrives at 100 at the earliest, and the first
    evaluation after that is at 140."""
    assert earliest_alarm_at(40.0, SCENARIO) == 140
    # then the fastest event (1 s), task start (10 s), one health check (5 s) and the
    # shortest propagation (5 s)
    assert ready_at(40.0, SCENARIO) == 140 + 1 + 10 + 5 + 5
    instant = SCENARIO.with_timing("instant")
    assert ready_at(40.0, instant) == 40 + 60 + 10 + 10, "period + start + interval x threshold"


def test_the_late_floor_counts_the_excess_until_the_alarm_of_the_run_and_a_ready_task() -> None:
    def rows_alarmed_from(alarmed: int) -> list[dict]:
        return [{"t": t, "demand": 300.0 if 40 <= t < 400 else 40.0,
                 "alarms": {"web-app-concurrency-high": "ALARM" if t >= alarmed else "OK"}}
                for t in range(500)]

    # Lambda carries 100 rps. The alarm at its earliest (140): ready at 161, 121 s of 200 rps
    # above capacity.
    assert floor_5xx(rows_alarmed_from(140), SCENARIO) == 121 * 200
    # Its ingestion draws made it fire at 260 in this run: ready at 281.
    assert floor_5xx(rows_alarmed_from(260), SCENARIO) == 241 * 200
    # An alarm in ALARM before the overload cannot make a task ready before the earliest.
    assert floor_5xx(rows_alarmed_from(0), SCENARIO) == 121 * 200
    # Never in ALARM: nothing could have reacted, the whole excess is the floor.
    assert floor_5xx(rows_alarmed_from(10_000), SCENARIO) == 360 * 200
    assert floor_5xx(rows_alarmed_from(260), SCENARIO.with_timing("instant")) == 80 * 200


def test_the_idle_due_time_adds_the_hold_the_window_the_ingestion_and_the_drain() -> None:
    def row(t: int, ew: int, alarm: str, to_ecs: float) -> dict:
        return {"t": t, "demand": 100.0, "lambda_weight": 1 - ew, "ecs_weight": ew,
                "alarms": {"web-app-concurrency-high": alarm}, "to_ecs": to_ecs}

    rows = [row(t, 1 if 100 <= t < 700 else 0, "ALARM" if 50 <= t < 400 else "OK",
                5.0 if 100 <= t < 760 else 0.0) for t in range(1500)]
    due = idle_due(rows, SCENARIO)
    assert due is not None
    # left ALARM at 400: hold 300 + W max(60, 60) + L 90 + D 10 + 2 ticks of 60 = 920;
    # last ECS request 759: 760 + 60 + 90 + 10 + 120 = 1040; one step back: no extra.
    assert due == {"due": 1040, "left_alarm": 400, "last_ecs_request": 759, "step_backs": 1}
    assert idle_due([row(t, 0, "OK", 0.0) for t in range(10)], SCENARIO) is None


# -- what a run reports of failed starts and notifications ------------------------------------

def test_a_run_counts_failed_starts_failed_checks_and_notifications() -> None:
    from world.loop import failures_and_notifications
    from world.names import START_FAILURES

    lines = [{"kind": "task_stopped", "reason": START_FAILURES[0]},
             {"kind": "task_stopped", "reason": START_FAILURES[1]},
             {"kind": "task_stopped", "reason": "Task failed ELB health checks in (target-group x)"},
             {"kind": "task_stopped", "reason": "Scaling activity initiated by (deployment d)"},
             {"kind": "task_started"}]
    api = [{"api": "PutEvents", "detail_types": ["Spillover Run Failed"]},
           {"api": "PutEvents", "detail_types": ["Spillover Traffic Spilled"]},
           {"api": "PutEvents", "detail_types": ["Spillover Run Failed"]},
           {"api": "ModifyListener"}]
    assert failures_and_notifications(lines, api) == {
        "task_start_failures": 2, "task_health_failures": 1,
        "notifications": {"Spillover Run Failed": 2, "Spillover Traffic Spilled": 1}}
