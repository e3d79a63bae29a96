"""Tests of world/lambda_runtime.py with a tiny Python function that speaks the runtime API
(and, when it is built, the spillover binary). High clock speeds keep the AWS minutes short.

Every function is started and stopped by the test that uses it; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from world.binary import spillover_binary
from world.clock import Clock
from world.lambda_runtime import Invocation, LambdaFunction
from world.tests.waiting import until as wait_until

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(spillover_binary())

# Behaves as the event asks: sleep, hang, exit, fail, or answer with what it was given.
FUNCTION = textwrap.dedent('''
    import json, os, sys, time, urllib.request
    base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    print("start pid", os.getpid(), flush=True)

    def post(path, payload):
        request = urllib.request.Request(base + path, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"},
                                         method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    while True:
        with urllib.request.urlopen(base + "/invocation/next") as response:
            event = json.loads(response.read())
            headers = {k.lower(): v for k, v in response.headers.items()}
        received_ms = time.time() * 1000
        request_id = headers["lambda-runtime-aws-request-id"]
        print("got", request_id, json.dumps(event), flush=True)
        time.sleep(event.get("sleep", 0))
        if event.get("hang"):
            time.sleep(3600)
        if "exit" in event:
            os._exit(event["exit"])
        if event.get("fail"):
            post("/invocation/" + request_id + "/error",
                 {"errorMessage": "asked to fail", "errorType": "Failed"})
            continue
        post("/invocation/" + request_id + "/response", {
            "event": event, "pid": os.getpid(), "headers": headers, "received_ms": received_ms,
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith(("AWS_", "_HANDLER", "MY_"))},
        })
''')


until = functools.partial(wait_until, every=0.01)


@contextlib.contextmanager
def running_function(
    tmp_path: Path, clock: Clock, timeout_secs: float = 30.0, argv: list[str] | None = None,
    env: dict[str, str] | None = None, **kwargs: Any,
) -> Iterator[LambdaFunction]:
    script = tmp_path / "function.py"
    script.write_text(FUNCTION)
    fn = LambdaFunction(
        name="tiny", argv=argv or [sys.executable, str(script)],
        env={"MY_SETTING": "kept", **(env or {})}, clock=clock, timeout_secs=timeout_secs,
        log_path=tmp_path / "function.log", **kwargs,
    )
    fn.start()
    try:
        yield fn
    finally:
        fn.stop()


def finished(fn: LambdaFunction, timeout: float = 8.0) -> list[Invocation]:
    until("the function to go idle", fn.idle, timeout)
    return fn.invocations()


def gaps(invs: list[Invocation]) -> list[float]:
    """World seconds between the end of each attempt and the start of the next."""
    return [b.started_at - a.ended_at for a, b in zip(invs, invs[1:])]  # type: ignore[operator]


def test_runs_one_invocation_at_a_time_in_fifo_order(tmp_path: Path) -> None:
    done: list[str] = []
    with running_function(tmp_path, Clock(speed=1.0), on_done=lambda i: done.append(i.request_id)) as fn:
        for n in range(3):
            fn.invoke_async({"n": n, "sleep": 0.15}, kind="alarm")
        until("the first to run", fn.running)
        invs = finished(fn)

    assert [i.event["n"] for i in invs] == [0, 1, 2]
    assert [i.outcome for i in invs] == ["ok"] * 3
    assert all(g >= 0 for g in gaps(invs)), "an invocation started before the previous ended"
    assert all(i.ended_at - i.started_at >= 0.15 for i in invs)  # type: ignore[operator]
    assert [i.cold_start for i in invs] == [True, False, False]
    assert len({i.response["pid"] for i in invs}) == 1  # one warm environment
    assert done == [i.request_id for i in invs]
    assert [i.kind for i in invs] == ["alarm"] * 3


def test_hands_over_the_event_with_lambdas_headers_and_environment(tmp_path: Path) -> None:
    clock = Clock(speed=10.0)
    with running_function(tmp_path, clock, timeout_secs=30.0) as fn:
        fn.invoke_async({"detail": {"x": 1}}, kind="tick")
        (inv,) = finished(fn)
        port = fn.port

    assert inv.outcome == "ok" and inv.event == {"detail": {"x": 1}}
    answer = inv.response
    assert answer["event"] == {"detail": {"x": 1}}
    headers = answer["headers"]
    assert headers["lambda-runtime-aws-request-id"] == inv.request_id
    assert headers["lambda-runtime-invoked-function-arn"] == fn.arn
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    # Wall-clock Unix ms of now + timeout / speed: 30 AWS seconds are 3 s here.
    deadline_ms = int(headers["lambda-runtime-deadline-ms"])
    assert abs(deadline_ms - (answer["received_ms"] + 3000)) < 250
    assert deadline_ms == int(clock.wall(inv.started_at + 30.0) * 1000)  # type: ignore[operator]
    env = answer["env"]
    assert env["AWS_LAMBDA_RUNTIME_API"] == f"127.0.0.1:{port}"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "tiny"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/tiny"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["_HANDLER"] and env["MY_SETTING"] == "kept"
    log = (tmp_path / "function.log").read_text()
    assert f"START RequestId: {inv.request_id}" in log and "start pid" in log
    assert f"REPORT RequestId: {inv.request_id}" in log


def test_a_timeout_kills_the_process_and_the_event_is_retried_after_one_then_two_minutes(
    tmp_path: Path,
) -> None:
    with running_function(tmp_path, Clock(speed=100.0), timeout_secs=5.0) as fn:
        fn.invoke_async({"hang": True}, kind="alarm")
        fn.invoke_async({"n": 1}, kind="tick")  # queued behind the first attempt
        invs = finished(fn)

    assert [(i.kind, i.attempt, i.outcome) for i in invs] == [
        ("alarm", 0, "timeout"), ("tick", 0, "ok"), ("alarm", 1, "timeout"), ("alarm", 2, "timeout"),
    ]
    hangs = [i for i in invs if i.kind == "alarm"]
    assert len({i.request_id for i in hangs}) == 1  # a retry keeps the request id
    for inv in hangs:
        assert 5.0 <= inv.ended_at - inv.started_at < 5.0 + 30.0  # type: ignore[operator]
        assert inv.response["errorType"] == "Sandbox.Timedout"
    # The killed environment is replaced: the tick and the last retry start cold.
    assert [i.cold_start for i in invs] == [True, True, False, True]
    first, second = gaps(hangs)
    # AWS minutes, plus a Python start-up that is real time (×100 here).
    assert 60.0 <= first < 60.0 + 60.0
    assert 120.0 <= second < 120.0 + 60.0
    assert [i.dropped for i in invs] == [False, False, False, True]
    log = (tmp_path / "function.log").read_text()
    assert log.count("Task timed out after 5.00 seconds") == 3
    assert log.count("start pid") == 3


def test_a_function_error_is_retried_twice_in_the_same_environment_then_dropped(
    tmp_path: Path,
) -> None:
    done: list[Invocation] = []
    with running_function(tmp_path, Clock(speed=100.0), on_done=done.append) as fn:
        fn.invoke_async({"fail": True}, kind="alarm")
        invs = finished(fn)

    assert [(i.attempt, i.outcome, i.dropped) for i in invs] == [
        (0, "error", False), (1, "error", False), (2, "error", True),
    ]
    assert all(i.response == {"errorMessage": "asked to fail", "errorType": "Failed"} for i in invs)
    assert [i.cold_start for i in invs] == [True, False, False]  # a handled error keeps it
    first, second = gaps(invs)
    assert 60.0 <= first < 60.0 + 30.0
    assert 120.0 <= second < 120.0 + 30.0
    assert all(i.queued_at == invs[0].queued_at for i in invs)
    assert [i.attempt for i in done] == [0, 1, 2]


def test_a_process_that_exits_mid_invocation_is_an_error_and_the_next_one_starts_cold(
    tmp_path: Path,
) -> None:
    with running_function(tmp_path, Clock(speed=100.0), retry_delays=()) as fn:
        fn.invoke_async({"exit": 3}, kind="alarm")
        fn.invoke_async({"n": 2}, kind="alarm")
        invs = finished(fn)

    crashed, after = invs
    assert crashed.outcome == "error" and crashed.dropped  # no retries configured
    assert crashed.response["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.response["errorMessage"]
    assert after.outcome == "ok" and after.cold_start


def test_stop_ends_the_long_poll_and_a_running_invocation_promptly(tmp_path: Path) -> None:
    with running_function(tmp_path, Clock(speed=1.0)) as fn:
        fn.invoke_async({"n": 0}, kind="tick")
        finished(fn)  # the process is now waiting in /next
        fn.invoke_async({"hang": True}, kind="alarm")
        until("the hang to be received", lambda: getattr(fn.running(), "started_at", None))
        pid = fn.invocations()[0].response["pid"]
        began = time.monotonic()
        fn.stop()
        took = time.monotonic() - began
    assert took < 2.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [i.outcome for i in fn.invocations()] == ["ok"]  # the interrupted one is not recorded
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.endswith("-tiny"))


def test_the_spillover_binary_speaks_this_runtime_api(tmp_path: Path) -> None:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is not built (cargo build --bin spillover)")
    env = {
        "SPILLOVER_CLUSTER": "web-app", "SPILLOVER_SERVICE": "web-app",
        "SPILLOVER_LISTENER_ARN":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2",
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1",
        "SPILLOVER_ECS_TARGET_GROUP_ARN":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2",
        "SPILLOVER_ALARM_NAMES": "web-app-concurrency-high",
        # Nothing listens there: the event below is refused before any AWS call.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }
    # A rejected event is answered (a retry cannot help); a configured alarm whose AWS
    # calls fail (nothing listens) is an error, which Lambda would retry.
    rejected = json.loads((ROOT / "events" / "alarm-unconfigured.json").read_text())
    failing = json.loads((ROOT / "events" / "alarm-metric.json").read_text())
    # The function's timeout (300 AWS s, 30 wall s at speed 10) leaves the run time to fail
    # on its own: with less than half of SPILLOVER_DEADLINE_MARGIN_MS left, every call
    # would be abandoned at once for the deadline instead.
    with running_function(tmp_path, Clock(speed=10.0), timeout_secs=300.0, argv=[str(BINARY)],
                          env=env, retry_delays=()) as fn:
        fn.invoke_async(rejected, kind="alarm")
        fn.invoke_async(failing, kind="alarm")
        invs = finished(fn, timeout=60)
    assert [i.outcome for i in invs] == ["ok", "error"]
    assert [i.cold_start for i in invs] == [True, False]  # the runtime kept polling /next
    assert invs[0].response["outcome"] == "rejected"
    assert invs[0].response["retryable"] is False
    assert "billing-estimate-high" in invs[0].response["error"]
    assert invs[1].response["errorType"]
    assert invs[1].response["errorMessage"].startswith("AWS call "), invs[1].response
