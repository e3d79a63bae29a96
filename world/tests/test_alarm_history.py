"""DescribeAlarmHistory: one StateUpdate item per real change of an alarm's state (patch 10).

moto 5.2.5 does not serve the operation at all ("not implemented"), so each test here fails
without the patch. moto's clock (`utcnow` in its CloudWatch models, which stamps
StateUpdatedTimestamp) is replaced by one that moves a second per reading, so the items'
times differ without sleeping; a Timestamp read back (milliseconds) and passed as StartDate
or EndDate finds its item.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.cloudwatch import models as cw_models

from world.names import ACCOUNT, REGION
from world.patches import apply_moto_patches

T0 = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def cw(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A CloudWatch client on moto, its clock one second further at each reading."""
    apply_moto_patches()
    ticks = itertools.count()
    # Sub-millisecond parts, as a real clock has: CloudWatch keeps milliseconds.
    monkeypatch.setattr(cw_models, "utcnow",
                        lambda: T0 + timedelta(seconds=next(ticks), microseconds=789))
    with mock_aws():
        # No client-side checks: the range of MaxRecords is the server's to refuse.
        yield boto3.client("cloudwatch", region_name=REGION,
                           config=Config(parameter_validation=False))


def put_alarm(cw: Any, name: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name, Namespace="AWS/Lambda", MetricName="ConcurrentExecutions",
        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=90,
        ComparisonOperator="GreaterThanOrEqualToThreshold")


def put_composite_alarm(name: str, rule: str) -> None:
    """moto 5.2.5 has no PutCompositeAlarm; its backend makes an alarm with a rule one."""
    cw_models.cloudwatch_backends[ACCOUNT][REGION].put_metric_alarm(
        name=name, namespace="", metric_name="", comparison_operator="",
        evaluation_periods=0, period=0, threshold=0.0, statistic="", description="",
        dimensions=[], alarm_actions=[], rule=rule)


def set_state(cw: Any, name: str, state: str, reason: str, data: str | None = None) -> None:
    extra = {} if data is None else {"StateReasonData": data}
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason, **extra)


def drive(cw: Any, name: str = "busy") -> None:
    """OK -> ALARM -> (ALARM again, a new reason) -> INSUFFICIENT_DATA -> OK."""
    set_state(cw, name, "ALARM", "Threshold Crossed", '{"version":"1.0","threshold":90.0}')
    set_state(cw, name, "ALARM", "still breaching")  # same state: no item
    set_state(cw, name, "INSUFFICIENT_DATA", "no data")
    set_state(cw, name, "OK", "back to normal")


def transitions(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(old, new) state of each item, read from its HistoryData."""
    pairs = []
    for item in items:
        data = json.loads(item["HistoryData"])
        pairs.append((data["oldState"]["stateValue"], data["newState"]["stateValue"]))
    return pairs


def error_code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def test_each_state_change_is_one_item_newest_first(cw: Any) -> None:
    put_alarm(cw, "busy")
    drive(cw)
    items = cw.describe_alarm_history(AlarmName="busy")["AlarmHistoryItems"]
    assert transitions(items) == [
        ("INSUFFICIENT_DATA", "OK"), ("ALARM", "INSUFFICIENT_DATA"), ("OK", "ALARM")]
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from ALARM to INSUFFICIENT_DATA",
        "Alarm updated from OK to ALARM"]
    assert {(i["AlarmName"], i["AlarmType"], i["HistoryItemType"]) for i in items} == {
        ("busy", "MetricAlarm", "StateUpdate")}
    stamps = [i["Timestamp"] for i in items]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3
    # HistoryData as AWS shapes it: the reason data nested as JSON, where there was some;
    # the old state is the one before the change (the same-state call's reason included).
    first = json.loads(items[2]["HistoryData"])
    assert first == {
        "version": "1.0",
        "oldState": {"stateValue": "OK", "stateReason": "Unchecked: Initial alarm creation"},
        "newState": {"stateValue": "ALARM", "stateReason": "Threshold Crossed",
                     "stateReasonData": {"version": "1.0", "threshold": 90.0}}}
    assert json.loads(items[1]["HistoryData"])["oldState"] == {
        "stateValue": "ALARM", "stateReason": "still breaching"}
    # The newest item is the alarm's last transition (patch 7 still keeps its time).
    (alarm,) = cw.describe_alarms(AlarmNames=["busy"])["MetricAlarms"]
    assert items[0]["Timestamp"] == alarm["StateUpdatedTimestamp"]
    assert items[0]["Timestamp"] == alarm["StateTransitionedTimestamp"]


def test_scan_by_ascending_lists_oldest_first(cw: Any) -> None:
    put_alarm(cw, "busy")
    drive(cw)
    items = cw.describe_alarm_history(
        AlarmName="busy", ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert transitions(items) == [
        ("OK", "ALARM"), ("ALARM", "INSUFFICIENT_DATA"), ("INSUFFICIENT_DATA", "OK")]


def test_start_and_end_dates_are_inclusive_bounds(cw: Any) -> None:
    put_alarm(cw, "busy")
    drive(cw)
    newest, middle, oldest = cw.describe_alarm_history(AlarmName="busy")["AlarmHistoryItems"]

    def between(**bounds: Any) -> list[tuple[str, str]]:
        got = cw.describe_alarm_history(AlarmName="busy", **bounds)["AlarmHistoryItems"]
        return transitions(got)

    assert between(StartDate=middle["Timestamp"]) == transitions([newest, middle])
    assert between(EndDate=middle["Timestamp"]) == transitions([middle, oldest])
    assert between(StartDate=middle["Timestamp"], EndDate=middle["Timestamp"]) == (
        transitions([middle]))
    assert between(StartDate=newest["Timestamp"] + timedelta(milliseconds=1)) == []
    assert between(EndDate=oldest["Timestamp"] - timedelta(milliseconds=1)) == []


def test_pages_of_max_records_return_every_item_once(cw: Any) -> None:
    put_alarm(cw, "busy")
    for _ in range(3):
        drive(cw)  # 9 items
    everything = cw.describe_alarm_history(AlarmName="busy")["AlarmHistoryItems"]
    assert len(everything) == 9
    pages: list[list[dict[str, Any]]] = []
    token: dict[str, str] = {}
    while True:
        got = cw.describe_alarm_history(AlarmName="busy", MaxRecords=2, **token)
        pages.append(got["AlarmHistoryItems"])
        if "NextToken" not in got:
            break
        token = {"NextToken": got["NextToken"]}
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [i for p in pages for i in p] == everything
    # A page that ends exactly at the last item carries no NextToken.
    assert "NextToken" not in cw.describe_alarm_history(AlarmName="busy", MaxRecords=9)
    with pytest.raises(ClientError) as e:
        cw.describe_alarm_history(AlarmName="busy", NextToken="not-a-token")
    assert error_code(e) == "ValidationError"


def test_alarm_name_picks_one_alarms_history(cw: Any) -> None:
    put_alarm(cw, "busy")
    put_alarm(cw, "idle")
    drive(cw, "busy")
    set_state(cw, "idle", "ALARM", "quiet")
    idle = cw.describe_alarm_history(AlarmName="idle")["AlarmHistoryItems"]
    assert [(i["AlarmName"], i["HistorySummary"]) for i in idle] == [
        ("idle", "Alarm updated from OK to ALARM")]
    assert {i["AlarmName"] for i in cw.describe_alarm_history(
        AlarmName="busy")["AlarmHistoryItems"]} == {"busy"}
    # No name: every (metric) alarm's items, newest first: idle's change came last.
    both = cw.describe_alarm_history()["AlarmHistoryItems"]
    assert [i["AlarmName"] for i in both] == ["idle", "busy", "busy", "busy"]
    assert cw.describe_alarm_history(AlarmName="gone")["AlarmHistoryItems"] == []


def test_only_state_updates_are_recorded(cw: Any) -> None:
    put_alarm(cw, "busy")
    drive(cw)
    for kind in ("ConfigurationUpdate", "Action"):
        assert cw.describe_alarm_history(
            AlarmName="busy", HistoryItemType=kind)["AlarmHistoryItems"] == []
    assert len(cw.describe_alarm_history(
        AlarmName="busy", HistoryItemType="StateUpdate")["AlarmHistoryItems"]) == 3


def test_composite_alarm_items_only_when_asked_for(cw: Any) -> None:
    put_alarm(cw, "busy")
    put_composite_alarm("any-busy", 'ALARM("busy")')
    set_state(cw, "busy", "ALARM", "Threshold Crossed")
    set_state(cw, "any-busy", "ALARM", "busy is in ALARM")
    # AWS: "If you omit this parameter, only metric alarms are returned."
    assert [i["AlarmName"] for i in cw.describe_alarm_history()["AlarmHistoryItems"]] == [
        "busy"]
    assert cw.describe_alarm_history(AlarmName="any-busy")["AlarmHistoryItems"] == []
    composite = cw.describe_alarm_history(AlarmTypes=["CompositeAlarm"])["AlarmHistoryItems"]
    assert [(i["AlarmName"], i["AlarmType"], i["HistorySummary"]) for i in composite] == [
        ("any-busy", "CompositeAlarm", "Alarm updated from OK to ALARM")]
    both = cw.describe_alarm_history(
        AlarmTypes=["MetricAlarm", "CompositeAlarm"])["AlarmHistoryItems"]
    assert [(i["AlarmName"], i["AlarmType"]) for i in both] == [
        ("any-busy", "CompositeAlarm"), ("busy", "MetricAlarm")]


@pytest.mark.parametrize("max_records", [0, 101])
def test_max_records_outside_1_to_100_is_refused(cw: Any, max_records: int) -> None:
    put_alarm(cw, "busy")
    drive(cw)
    with pytest.raises(ClientError) as e:
        cw.describe_alarm_history(AlarmName="busy", MaxRecords=max_records)
    assert error_code(e) == "ValidationError"
    assert f"Value '{max_records}' at 'maxRecords'" in e.value.response["Error"]["Message"]
    assert len(cw.describe_alarm_history(
        AlarmName="busy", MaxRecords=100)["AlarmHistoryItems"]) == 3


def test_equal_timestamps_list_the_later_recorded_first(
    cw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes within one clock reading (two alarms set in the same millisecond): newest
    first means the one recorded last comes first, and ascending order is record order."""
    monkeypatch.setattr(cw_models, "utcnow", lambda: T0)
    put_alarm(cw, "busy")
    put_alarm(cw, "idle")
    set_state(cw, "busy", "ALARM", "first")
    set_state(cw, "idle", "ALARM", "second")
    set_state(cw, "busy", "OK", "third")
    newest_first = cw.describe_alarm_history()["AlarmHistoryItems"]
    assert len({i["Timestamp"] for i in newest_first}) == 1
    assert [json.loads(i["HistoryData"])["newState"]["stateReason"]
            for i in newest_first] == ["third", "second", "first"]
    oldest_first = cw.describe_alarm_history(ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert oldest_first == newest_first[::-1]
