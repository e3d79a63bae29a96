"""The world speaks CloudWatch's Smithy RPC v2 CBOR protocol (`world/cbor.py`).

Requests are built by hand with cbor2 as the specification says
(https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html), signed like an SDK's,
and sent to a world started in this process; the answers are decoded and checked against
botocore's CloudWatch model and against what boto3 (AWS JSON 1.0) reads from the same world.

Run: .venv/bin/python -m pytest world/tests/test_cbor.py -q
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Iterator

import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from world.cbor import NAMESPACE, SERVICE, cloudwatch_model
from world.names import ACCESS_KEY, ALARM_HIGH, ALARM_OTHER, ALARM_PERCENT, REGION, SECRET_KEY
from world.patches import CallCounter
from world.server import World, WorldOptions

RUST_SDK_AGENT = "aws-sdk-rust/1.3.9 os/linux lang/rust/1.88.0"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(WorldOptions(dir=tmp_path_factory.mktemp("cbor")))
    try:
        w.start()
        yield w
    finally:
        w.stop()


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def doc(self) -> Any:
        return cbor2.loads(self.body)


def call(world: World, operation: str, payload: Any = None, *, body: bytes | None = None,
         headers: dict[str, str] | None = None, service: str = SERVICE) -> Answer:
    """One RPC v2 CBOR request: POST /service/{service}/operation/{operation}, signed with
    SigV4 for `monitoring` as an SDK signs it."""
    url = f"{world.endpoint}/service/{service}/operation/{operation}"
    data = cbor2.dumps(payload if payload is not None else {}) if body is None else body
    hdrs = {
        "Smithy-Protocol": "rpc-v2-cbor",
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
        "User-Agent": RUST_SDK_AGENT,
        **(headers or {}),
    }
    request = AWSRequest(method="POST", url=url, data=data, headers=hdrs)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "monitoring", REGION).add_auth(request)
    prepared = urllib.request.Request(
        url, data=data, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=10) as resp:
            return Answer(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.headers, err.read())


def conforms(shape: Any, value: Any, where: str = "") -> None:
    """`value`, decoded from CBOR, has the model's types: timestamps tag 1 (datetime),
    doubles floats, integers integers, lists arrays, structures maps of known members with
    every required member present."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), where
        assert set(value) <= set(shape.members), (where, set(value) - set(shape.members))
        missing = set(shape.required_members) - set(value)
        assert not missing, (where, missing)
        for name, v in value.items():
            conforms(shape.members[name], v, f"{where}.{name}")
    elif kind == "list":
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            conforms(shape.member, v, f"{where}[{i}]")
    elif kind == "timestamp":
        assert isinstance(value, datetime), (where, value)
    elif kind in ("double", "float"):
        assert isinstance(value, float), (where, value)
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), (where, value)
    elif kind == "boolean":
        assert isinstance(value, bool), (where, value)
    else:
        assert isinstance(value, str), (where, value)


def tag1_double(t: datetime) -> bytes:
    """A timestamp as CBOR tag 1 over a 64-bit float: the encoding the Rust SDK reads."""
    return b"\xc1\xfb" + struct.pack(">d", t.timestamp())


def assert_cbor_error(answer: Answer, status: int, shape: str, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["Smithy-Protocol"] == "rpc-v2-cbor"
    assert answer.headers["Content-Type"] == "application/cbor"
    assert answer.headers["x-amzn-query-error"] == f"{code};Sender"
    doc = answer.doc()
    assert doc["__type"] == f"{NAMESPACE}#{shape}"
    assert isinstance(doc["message"], str) and doc["message"]
    return doc


def test_describe_alarms_answers_in_cbor_with_the_models_types(world: World) -> None:
    answer = call(world, "DescribeAlarms", {
        "AlarmNames": [ALARM_HIGH, ALARM_PERCENT],
        "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
    })
    assert answer.status == 200, answer.body
    assert answer.headers["Smithy-Protocol"] == "rpc-v2-cbor"
    assert answer.headers["Content-Type"] == "application/cbor"
    assert answer.headers["x-amzn-RequestId"]
    doc = answer.doc()
    conforms(cloudwatch_model().operation_model("DescribeAlarms").output_shape, doc)

    alarms = {a["AlarmName"]: a for a in doc["MetricAlarms"]}
    assert set(alarms) == {ALARM_HIGH, ALARM_PERCENT}
    assert doc.get("CompositeAlarms", []) == []
    high = alarms[ALARM_HIGH]
    json_side = world.c["cloudwatch"].describe_alarms(AlarmNames=[ALARM_HIGH])["MetricAlarms"][0]
    assert high["StateValue"] == json_side["StateValue"] == "OK"
    assert high["Threshold"] == json_side["Threshold"]
    assert high["Dimensions"] == json_side["Dimensions"]  # a list of maps, no `member`
    for stamp in ("StateUpdatedTimestamp", "StateTransitionedTimestamp"):
        assert abs((high[stamp] - json_side[stamp]).total_seconds()) < 0.001, stamp
    assert tag1_double(high["StateUpdatedTimestamp"]) in answer.body

    # The metric math alarm's queries, as `spillover check` reads them.
    percent = alarms[ALARM_PERCENT]
    json_percent = world.c["cloudwatch"].describe_alarms(
        AlarmNames=[ALARM_PERCENT])["MetricAlarms"][0]
    assert percent["Metrics"] == json_percent["Metrics"]
    assert any("Expression" in m for m in percent["Metrics"])
    assert any("MetricStat" in m for m in percent["Metrics"])


def test_put_metric_data_then_get_metric_data_over_cbor(world: World) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    datum = {"MetricName": "RequestCount", "Value": 3.5, "Unit": "Count",
             "Timestamp": cbor2.CBORTag(1, float(now.timestamp())),
             "Dimensions": [{"Name": "TargetGroup", "Value": "tg/cbor"}]}
    put = call(world, "PutMetricData", {"Namespace": "Cbor/Test", "MetricData": [datum]})
    assert put.status == 200, put.body
    # No output in the model: no body and no Content-Type.
    assert put.body == b"" and "Content-Type" not in put.headers
    # The SDK gzips large PutMetricData bodies (requestCompression).
    later = dict(datum, Value=1.0, Timestamp=cbor2.CBORTag(1, float(now.timestamp() - 60)))
    zipped = gzip.compress(cbor2.dumps({"Namespace": "Cbor/Test", "MetricData": [later]}))
    put = call(world, "PutMetricData", body=zipped, headers={"Content-Encoding": "gzip"})
    assert put.status == 200, put.body

    got = call(world, "GetMetricData", {
        "MetricDataQueries": [{"Id": "requests", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": "Cbor/Test", "MetricName": "RequestCount",
                       "Dimensions": [{"Name": "TargetGroup", "Value": "tg/cbor"}]},
            "Period": 60, "Stat": "Sum"}}],
        "StartTime": cbor2.CBORTag(1, float(now.timestamp() - 600)),
        "EndTime": cbor2.CBORTag(1, float(now.timestamp() + 60)),
    })
    assert got.status == 200, got.body
    doc = got.doc()
    conforms(cloudwatch_model().operation_model("GetMetricData").output_shape, doc)
    (result,) = doc["MetricDataResults"]
    assert result["Id"] == "requests"
    assert sorted(result["Values"]) == [1.0, 3.5]
    assert all(isinstance(t, datetime) for t in result["Timestamps"])
    assert b"\xfb" + struct.pack(">d", 3.5) in got.body  # a double, not an integer


def test_set_alarm_state_over_cbor_changes_the_alarm(world: World) -> None:
    answer = call(world, "SetAlarmState", {
        "AlarmName": ALARM_OTHER, "StateValue": "ALARM", "StateReason": "set over CBOR"})
    assert answer.status == 200, answer.body
    alarm = world.c["cloudwatch"].describe_alarms(AlarmNames=[ALARM_OTHER])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "set over CBOR")


def test_moto_errors_come_back_in_the_cbor_error_shape(world: World) -> None:
    missing = call(world, "SetAlarmState", {
        "AlarmName": "no-such-alarm", "StateValue": "ALARM", "StateReason": "x"})
    assert_cbor_error(missing, 404, "ResourceNotFound", "ResourceNotFound")

    bad = call(world, "PutMetricAlarm", {
        "AlarmName": "bad", "MetricName": "m", "Namespace": "n", "ExtendedStatistic": "x50",
        "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold"})
    doc = assert_cbor_error(bad, 400, "InvalidParameterValueException", "InvalidParameterValue")
    assert "x50" in doc["message"]

    invalid = call(world, "GetMetricData", {
        "MetricDataQueries": [{"Id": "q"}],
        "StartTime": cbor2.CBORTag(1, 1.0e9), "EndTime": cbor2.CBORTag(1, 2.0e9)})
    assert_cbor_error(invalid, 400, "ValidationException", "ValidationError")


class ThrottleOnce:
    """In front of moto: the next request is answered as CloudWatch's JSON protocol answers a
    throttled call, the rest go through."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed = True

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.armed:
            return self.app(environ, start_response)
        self.armed = False
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        start_response("400 Bad Request", [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "Throttling;Sender"),
            ("x-amzn-RequestId", "throttled-1")])
        return [body.encode()]


def test_throttling_comes_back_with_the_code_the_sdks_retry(world: World) -> None:
    assert world.calls is not None
    front = world.calls.app
    moto = front.app
    front.app = ThrottleOnce(moto)
    try:
        first = call(world, "DescribeAlarms", {"AlarmNames": [ALARM_HIGH]})
        second = call(world, "DescribeAlarms", {"AlarmNames": [ALARM_HIGH]})
    finally:
        front.app = moto
    doc = assert_cbor_error(first, 400, "ThrottlingException", "Throttling")
    assert doc["message"] == "Rate exceeded"
    assert first.headers["x-amzn-RequestId"] == "throttled-1"
    assert second.status == 200


def test_requests_the_protocol_forbids_or_cannot_be_read_are_refused(world: World) -> None:
    garbage = call(world, "DescribeAlarms", body=b"\xff\xfe not cbor")
    assert_cbor_error(garbage, 400, "SerializationException", "SerializationException")

    wrong_type = call(world, "DescribeAlarms", {"AlarmNames": "not-a-list"})
    doc = assert_cbor_error(wrong_type, 400, "SerializationException", "SerializationException")
    assert "AlarmNames" in doc["message"]

    targeted = call(world, "DescribeAlarms", {},
                    headers={"X-Amz-Target": f"{SERVICE}.DescribeAlarms"})
    assert_cbor_error(targeted, 400, "SerializationException", "SerializationException")

    unknown = call(world, "DescribeEverything", {})
    assert_cbor_error(unknown, 404, "UnknownOperationException", "UnknownOperation")

    other = call(world, "ListThings", {}, service="SomeOtherService")
    assert_cbor_error(other, 404, "UnknownOperationException", "UnknownOperation")

    # The absolute shape id with `.` for `#` routes like the bare name.
    absolute = call(world, "DescribeAlarms", {"AlarmNames": [ALARM_HIGH]},
                    service=f"{NAMESPACE}.{SERVICE}")
    assert absolute.status == 200, absolute.body


def test_an_operation_moto_lacks_is_an_internal_error_that_says_so(world: World) -> None:
    answer = call(world, "ListMetricStreams", {})
    assert answer.status == 500
    assert answer.headers["x-amzn-query-error"] == "InternalServiceError;Receiver"
    doc = answer.doc()
    assert doc["__type"] == f"{NAMESPACE}#InternalServiceFault"
    assert "ListMetricStreams" in doc["message"] and "moto" in doc["message"]


def test_the_call_counter_names_cbor_operations(world: World) -> None:
    assert world.calls is not None
    before = len(world.calls.timed("spillover"))
    started = time.time()
    assert call(world, "DescribeAlarms", {"AlarmNames": [ALARM_HIGH]}).status == 200
    timed = world.calls.timed("spillover")[before:]
    assert [action for _, action in timed] == ["DescribeAlarms"]
    assert timed[0][0] >= started

    environ = {
        "PATH_INFO": f"/service/{SERVICE}/operation/GetMetricData",
        "HTTP_SMITHY_PROTOCOL": "rpc-v2-cbor",
        "CONTENT_LENGTH": "1", "wsgi.input": io.BytesIO(b"\xa0"),
    }
    assert CallCounter.action(environ) == "GetMetricData"


def test_boto3_still_speaks_json_to_the_world(world: World) -> None:
    cw = world.c["cloudwatch"]
    seen: list[Any] = []

    def record(request: Any, **_: Any) -> None:
        seen.append(request.headers)

    event = "before-send.cloudwatch.DescribeAlarms"
    cw.meta.events.register(event, record)
    try:
        alarms = cw.describe_alarms(AlarmNames=[ALARM_HIGH])["MetricAlarms"]
    finally:
        cw.meta.events.unregister(event, record)
    assert [a["AlarmName"] for a in alarms] == [ALARM_HIGH]
    assert "Smithy-Protocol" not in seen[0] and "X-Amz-Target" in seen[0]
