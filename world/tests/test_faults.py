"""The fault middleware (`world/faults.py`) in front of a stand-in for moto: which calls a
rule answers, with what, and the control API.

Run: .venv/bin/python -m pytest world/tests/test_faults.py -q
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from world.faults import PATH, Faults

RUST = "aws-sdk-rust/1.3.9 os/linux lang/rust/1.88.0"
ELB_AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request"
ECS_AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request"


class Moto:
    """Answers every call 200 with a counter, so a test sees which answer it got."""

    def __init__(self) -> None:
        self.served: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode()
        self.served.append(body)
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [f"<ok n='{len(self.served)}'/>".encode()]


def call(app: Faults, body: str = "", *, target: str = "", agent: str = RUST,
         auth: str = ELB_AUTH, path: str = "/", method: str = "POST") -> tuple[str, dict[str, str], bytes]:
    raw = body.encode()
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw), "HTTP_USER_AGENT": agent, "HTTP_AUTHORIZATION": auth,
    }
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    payload = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], payload


def set_rules(app: Faults, *rules: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    status, _, body = call(app, json.dumps({"rules": list(rules)}), path=PATH)
    return status, json.loads(body)


def report(app: Faults) -> dict[str, Any]:
    return json.loads(call(app, path=PATH, method="GET")[2])


DTH = "Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=tg"


def test_a_query_throttle_is_the_xml_error_for_count_calls_after_the_first_m() -> None:
    moto = Moto()
    app = Faults(moto)
    assert set_rules(app, {"operation": "DescribeTargetHealth", "kind": "throttle",
                           "count": 2, "after": 1})[0] == "200 OK"
    answers = [call(app, DTH) for _ in range(4)]
    assert [a[0] for a in answers] == ["200 OK", "400 Bad Request", "400 Bad Request", "200 OK"]
    assert b"<Code>Throttling</Code>" in answers[1][2]
    assert b"<Message>Rate exceeded</Message>" in answers[1][2]
    assert answers[1][2].startswith(b"<ErrorResponse><Error>")
    assert len(moto.served) == 2, "a faulted call never reaches moto"
    rule = report(app)["rules"][0]
    assert (rule["matched"], rule["injected"], report(app)["injected"]) == (4, 2, 2)


def test_a_json_throttle_is_a_throttling_exception() -> None:
    app = Faults(Moto())
    set_rules(app, {"operation": "DescribeServices", "kind": "throttle"})
    status, headers, body = call(app, "{}", target="AmazonEC2ContainerServiceV20141113.DescribeServices",
                                 auth=ECS_AUTH)
    assert status == "400 Bad Request"
    assert json.loads(body)["__type"] == "ThrottlingException"
    assert headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"


def test_a_status_fault_has_the_status_and_a_code_of_the_protocol() -> None:
    app = Faults(Moto())
    set_rules(app, {"operation": "DescribeTargetHealth", "kind": "status", "status": 503},
              {"operation": "DescribeTargetHealth", "kind": "status", "status": 403,
               "code": "AccessDenied"})
    first, second, third = (call(app, DTH) for _ in range(3))
    assert first[0] == "503 Service Unavailable"
    assert b"<Code>ServiceUnavailable</Code>" in first[2]
    assert second[0] == "403 Forbidden" and b"<Code>AccessDenied</Code>" in second[2]
    assert third[0] == "200 OK"


def test_a_delay_hangs_the_call_then_moto_answers_it(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("world.faults.time.sleep", slept.append)
    moto = Moto()
    app = Faults(moto)
    set_rules(app, {"operation": "DescribeTargetHealth", "kind": "delay", "secs": 12})
    assert call(app, DTH)[0] == "200 OK"
    assert call(app, DTH)[0] == "200 OK"
    assert slept == [12.0], "one delay (count 1), then calls pass at once"
    assert len(moto.served) == 2, "a delayed call still reaches moto"
    assert report(app)["injected"] == 1
    for bad in (0, 61, "5", True):
        status, answer = set_rules(app, {"operation": "X", "kind": "delay", "secs": bad})
        assert status.startswith("400") and "rule.secs" in answer["error"], (bad, answer)


def test_only_the_callers_calls_and_the_operation_match() -> None:
    app = Faults(Moto())
    set_rules(app, {"operation": "DescribeTargetHealth", "kind": "throttle", "count": 5})
    assert call(app, DTH, agent="Boto3/1.35 world")[0] == "200 OK"
    assert call(app, "Action=DescribeListeners&Version=2015-12-01")[0] == "200 OK"
    assert report(app)["rules"][0]["matched"] == 0
    set_rules(app, {"operation": "DescribeTargetHealth", "kind": "throttle", "caller": "any"})
    assert call(app, DTH, agent="Boto3/1.35 world")[0] == "400 Bad Request"


def test_a_stale_read_is_the_answer_from_before_the_callers_last_write_to_the_service() -> None:
    app = Faults(Moto())
    read = "Action=DescribeListeners&Version=2015-12-01&ListenerArns.member.1=l"
    set_rules(app, {"operation": "DescribeListeners", "kind": "stale"})
    before = call(app, read)[2]
    assert before == b"<ok n='1'/>"
    # A write to another service, or by someone else, makes nothing stale.
    call(app, "{}", target="AmazonEC2ContainerServiceV20141113.UpdateService", auth=ECS_AUTH)
    call(app, "Action=ModifyListener&Version=2015-12-01", agent="Boto3/1.35 world")
    assert call(app, read)[2] == b"<ok n='4'/>"
    assert report(app)["rules"][0]["matched"] == 0
    call(app, "Action=ModifyListener&Version=2015-12-01&ListenerArn=l")  # n=5
    assert call(app, read)[2] == b"<ok n='4'/>", "the read from before the write"
    assert call(app, read)[2] == b"<ok n='6'/>", "count 1: then the truth"
    assert report(app)["injected"] == 1


def test_the_control_api_refuses_a_bad_rule_naming_the_field_and_delete_clears() -> None:
    app = Faults(Moto())
    status, out = set_rules(app, {"operation": "DescribeAlarms", "kind": "slow"})
    assert status == "400 Bad Request" and "rule.kind" in out["error"]
    status, out = set_rules(app, {"operation": "DescribeAlarms", "kind": "throttle", "count": 0})
    assert status == "400 Bad Request" and "rule.count" in out["error"]
    status, out = set_rules(app, {"operation": "DescribeAlarms", "kind": "throttle", "cont": 2})
    assert status == "400 Bad Request" and "cont" in out["error"]
    set_rules(app, {"operation": "DescribeAlarms", "kind": "throttle"})
    call(app, path=PATH, method="DELETE")
    assert report(app) == {"rules": [], "injected": 0}


@pytest.mark.parametrize("body", ['[]', '{"rule": []}', 'not json'])
def test_the_control_api_wants_an_object_with_rules(body: str) -> None:
    status, _, out = call(Faults(Moto()), body, path=PATH)
    assert status == "400 Bad Request", out
