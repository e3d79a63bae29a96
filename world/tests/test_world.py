"""Tests of the local AWS world (`python -m world`), playing with boto3 what spillover will do.

Run: .venv/bin/python -m pytest world/tests/test_world.py -q
Each test starts and stops its own world; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from world.tests.waiting import until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WORLD = ["-m", "world"]
EVENTS = ROOT / "events"
PY = sys.executable
FAST = ["--task-start-delay", "0.4", "--health-delay", "0.4", "--tick", "0.05"]
PULL_ERROR = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, *WORLD, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )




class World:
    def __init__(self, directory: Path, proc: subprocess.Popen[bytes]) -> None:
        self.dir = directory
        self.proc = proc
        self.info = json.loads((directory / "world.json").read_text())
        self.arns = self.info["arns"]
        kw = dict(
            endpoint_url=self.info["endpoint"], region_name=self.info["region"],
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        self.ecs = boto3.client("ecs", **kw)
        self.elb = boto3.client("elbv2", **kw)
        self.cw = boto3.client("cloudwatch", **kw)

    def timeline(self) -> list[dict[str, Any]]:
        path = self.dir / "timeline.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    def kinds(self) -> list[str]:
        return [x["kind"] for x in self.timeline()]

    def tasks(self, desired_status: str = "RUNNING") -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(
            cluster="web-app", serviceName="web-app", desiredStatus=desired_status
        )["taskArns"]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster="web-app", tasks=arns)["tasks"]

    def healthy(self) -> int:
        health = self.elb.describe_target_health(TargetGroupArn=self.arns["ecs_tg"])
        return sum(
            1 for d in health["TargetHealthDescriptions"]
            if d["TargetHealth"]["State"] == "healthy"
        )

    def service(self) -> dict[str, Any]:
        return self.ecs.describe_services(cluster="web-app", services=["web-app"])["services"][0]

    def set_desired(self, n: int) -> None:
        self.ecs.update_service(cluster="web-app", service="web-app", desiredCount=n)


def start_world(directory: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(directory / "world.log", "wb")
    proc = subprocess.Popen(
        [PY, *WORLD, "serve", "--dir", str(directory), *args],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    log.close()
    return proc


def stop_world(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def world(tmp_path: Path, *args: str) -> Iterator[World]:
    proc = start_world(tmp_path, "--lifetime", "60", *args)
    try:
        waited = run_cli("wait", "--dir", str(tmp_path), "--timeout", "30", timeout=40)
        assert waited.returncode == 0, (waited.stderr, (tmp_path / "world.log").read_text())
        yield World(tmp_path, proc)
    finally:
        stop_world(proc)


def test_seeded_topology(tmp_path: Path) -> None:
    with world(tmp_path, *FAST) as w:
        env = w.info["env"]
        assert set(env) == {
            "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "SPILLOVER_CLUSTER", "SPILLOVER_SERVICE", "SPILLOVER_LISTENER_ARN",
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN", "SPILLOVER_ECS_TARGET_GROUP_ARN",
            "SPILLOVER_ALARM_NAMES",
        }
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert env["SPILLOVER_ALARM_NAMES"] == "web-app-concurrency-high"
        assert w.info["pid"] == w.proc.pid

        expected_forward = {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": w.arns["lambda_tg"], "Weight": 1},
                    {"TargetGroupArn": w.arns["ecs_tg"], "Weight": 0},
                ],
                "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 3600},
            },
        }
        listener = w.elb.describe_listeners(ListenerArns=[w.arns["listener"]])["Listeners"][0]
        assert listener["Port"] == 80 and listener["Protocol"] == "HTTP"
        assert listener["DefaultActions"] == [expected_forward]
        rule = w.elb.describe_rules(RuleArns=[w.arns["rule"]])["Rules"][0]
        assert rule["Priority"] == "10"
        assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/api/*"]
        assert rule["Actions"] == [expected_forward]

        tgs = {t["TargetGroupArn"]: t for t in w.elb.describe_target_groups()["TargetGroups"]}
        assert tgs[w.arns["lambda_tg"]]["TargetType"] == "lambda"
        ip_tg = tgs[w.arns["ecs_tg"]]
        assert (ip_tg["TargetType"], ip_tg["Port"], ip_tg["HealthCheckPath"]) == ("ip", 8080, "/")

        svc = w.service()
        assert (svc["desiredCount"], svc["runningCount"], svc["pendingCount"]) == (0, 0, 0)
        assert svc["launchType"] == "FARGATE"
        assert svc["loadBalancers"][0]["targetGroupArn"] == w.arns["ecs_tg"]

        alarms = w.cw.describe_alarms(
            AlarmNames=["web-app-concurrency-high", "web-app-concurrency-percent"]
        )["MetricAlarms"]
        assert {a["AlarmName"]: a["StateValue"] for a in alarms} == {
            "web-app-concurrency-high": "OK", "web-app-concurrency-percent": "OK",
        }

        snap = run_cli("snapshot", "--dir", str(tmp_path))
        assert snap.returncode == 0, snap.stderr
        doc = json.loads(snap.stdout)
        assert doc["listener_default_actions"] == [expected_forward]
        assert doc["rule_actions"] == [expected_forward]
        assert (doc["desired"], doc["running"], doc["healthy"]) == (0, 0, 0)
        assert doc["alarms"]["web-app-concurrency-high"] == "OK"

        first = w.timeline()[0]
        assert first["kind"] == "world_started"
        assert (first["lambda_weight"], first["ecs_weight"], first["alarm"]) == (1, 0, "OK")


def test_scale_out_then_in(tmp_path: Path) -> None:
    with world(tmp_path, *FAST) as w:
        w.set_desired(2)
        # moto alone would report runningCount 2 at once; the world reports real tasks
        svc = w.service()
        assert svc["runningCount"] == 0

        until("2 RUNNING tasks", lambda: sum(t["lastStatus"] == "RUNNING" for t in w.tasks()) == 2)
        until("2 healthy targets", lambda: w.healthy() == 2)
        # the world writes its line just after it registers a target: wait for both
        until("2 registrations recorded", lambda: w.kinds().count("target_registered") == 2)
        tasks = w.tasks()
        assert len(tasks) == 2
        for t in tasks:
            assert t["group"] == "service:web-app"
            assert t["startedBy"].startswith("ecs-svc/")
            assert t["desiredStatus"] == "RUNNING"
            assert "startedAt" in t
        svc = w.service()
        assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
        assert svc["deployments"][0]["rolloutState"] == "COMPLETED"
        ips = sorted(
            d["Target"]["Id"]
            for d in w.elb.describe_target_health(TargetGroupArn=w.arns["ecs_tg"])[
                "TargetHealthDescriptions"]
        )
        assert all(ip.startswith("10.0.1.") for ip in ips)

        lines = w.timeline()
        kinds = [x["kind"] for x in lines]
        assert kinds.index("desired_changed") < kinds.index("task_started")
        for task in tasks:
            mine = [x["kind"] for x in lines if x.get("task") == task["taskArn"]]
            assert mine == ["task_started", "task_running", "target_registered"], mine
        reg = [x for x in lines if x["kind"] == "target_registered"]
        assert [x["healthy"] for x in reg] == [1, 2]
        assert all(x["running"] == 2 for x in reg)

        mark = len(lines)
        w.set_desired(0)
        until("no task left", lambda: w.tasks() == [])
        assert w.healthy() == 0
        until("scale-in recorded", lambda: w.kinds()[mark:].count("task_stopped") == 2)
        after = w.timeline()[mark:]
        kinds = [x["kind"] for x in after]
        assert kinds[0] == "desired_changed" and after[0]["desired"] == 0
        last_dereg = max(i for i, k in enumerate(kinds) if k == "target_deregistered")
        first_stop = kinds.index("task_stopped")
        assert kinds.count("target_deregistered") == 2 and last_dereg < first_stop

        stopped = w.tasks("STOPPED")
        assert len(stopped) == 2
        for t in stopped:
            assert t["lastStatus"] == "STOPPED"
            assert t["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/")
            assert t["stopCode"] == "ServiceSchedulerInitiated"
        # AWS's ListTasks default is desiredStatus RUNNING (moto's is "everything")
        assert w.ecs.list_tasks(cluster="web-app")["taskArns"] == []
        svc = w.service()
        assert (svc["runningCount"], svc["pendingCount"]) == (0, 0)


def test_fail_start(tmp_path: Path) -> None:
    with world(tmp_path, *FAST, "--fail-start", PULL_ERROR) as w:
        w.set_desired(1)
        stopped = until("a task stopped by the failure", lambda: w.tasks("STOPPED"))
        t = stopped[0]
        assert t["lastStatus"] == "STOPPED"
        assert t["stoppedReason"] == PULL_ERROR
        assert t["stopCode"] == "TaskFailedToStart"
        assert t["group"] == "service:web-app"
        w.set_desired(0)
        until("no task left", lambda: w.tasks() == [])
        time.sleep(0.3)
        kinds = w.kinds()
        assert "task_running" not in kinds and "target_registered" not in kinds
        assert w.healthy() == 0
        stops = until("the stop recorded",
                      lambda: [x for x in w.timeline() if x["kind"] == "task_stopped"])
        assert stops[0]["reason"] == PULL_ERROR


def test_alarm_cli_and_changes_by_others(tmp_path: Path) -> None:
    with world(tmp_path, *FAST) as w:
        d = str(tmp_path)

        def state(name: str = "web-app-concurrency-high") -> str:
            return w.cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]

        r = run_cli("alarm", "--dir", d, "--event", str(EVENTS / "alarm-metric.json"))
        assert r.returncode == 0, r.stderr
        assert state() == "ALARM"
        r = run_cli("alarm", "--dir", d, "--event", str(EVENTS / "scheduled-tick.json"))
        assert r.returncode == 0 and "scheduled" in r.stdout
        assert state() == "ALARM"
        until("alarm change recorded", lambda: "alarm_changed" in w.kinds())
        assert run_cli("alarm", "--dir", d, "--event", str(EVENTS / "ok-metric.json")).returncode == 0
        assert state() == "OK"
        r = run_cli("alarm", "--dir", d, "--state", "INSUFFICIENT_DATA",
                    "--name", "web-app-concurrency-percent")
        assert r.returncode == 0, r.stderr
        assert state("web-app-concurrency-percent") == "INSUFFICIENT_DATA"
        r = run_cli("alarm", "--dir", d, "--state", "ALARM")
        assert r.returncode == 0 and state() == "ALARM"

        for bad in ("malformed-truncated.json", "malformed-unknown-state.json",
                    "malformed-missing-state.json", "malformed-other-source.json"):
            r = run_cli("alarm", "--dir", d, "--event", str(EVENTS / bad))
            assert r.returncode == 2, (bad, r.stderr)
            assert "error" in r.stderr
        assert run_cli("alarm", "--dir", d).returncode == 2
        assert run_cli("alarm", "--dir", d, "--state", "RED").returncode == 2
        r = run_cli("alarm", "--dir", d, "--event", str(EVENTS / "alarm-composite.json"))
        assert r.returncode == 1 and "does not exist" in r.stderr

        until("alarm back to ALARM recorded",
              lambda: [x["alarm"] for x in w.timeline() if x["kind"] == "alarm_changed"][-1:]
              == ["ALARM"])
        alarms = [x["alarm"] for x in w.timeline() if x["kind"] == "alarm_changed"]
        assert alarms[0] == "ALARM" and "OK" in alarms

        # weights written by someone else are recorded; so is a lost stickiness
        lam, ecs = w.arns["lambda_tg"], w.arns["ecs_tg"]
        sticky = {"Enabled": True, "DurationSeconds": 3600}
        w.elb.modify_listener(ListenerArn=w.arns["listener"], DefaultActions=[{
            "Type": "forward", "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": lam, "Weight": 0},
                                 {"TargetGroupArn": ecs, "Weight": 1}],
                "TargetGroupStickinessConfig": sticky}}])
        line = until("weights change recorded",
                     lambda: [x for x in w.timeline() if x["kind"] == "weights_changed"])
        assert (line[0]["lambda_weight"], line[0]["ecs_weight"]) == (0, 1)
        assert "default_action_changed" not in w.kinds()
        w.elb.modify_listener(ListenerArn=w.arns["listener"], DefaultActions=[{
            "Type": "forward", "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": lam, "Weight": 1},
                                 {"TargetGroupArn": ecs, "Weight": 0}]}}])
        until("stickiness loss recorded", lambda: "default_action_changed" in w.kinds())
        lines = [x for x in w.timeline()
                 if x["kind"] in ("weights_changed", "default_action_changed")]
        assert [x["kind"] for x in lines] == [
            "weights_changed", "weights_changed", "default_action_changed"]
        assert lines[1]["t"] == lines[2]["t"]  # one observation
        assert lines[2]["actions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {
            "Enabled": False}
        w.elb.modify_rule(RuleArn=w.arns["rule"], Actions=[{
            "Type": "forward", "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": lam, "Weight": 1},
                                 {"TargetGroupArn": ecs, "Weight": 3}],
                "TargetGroupStickinessConfig": sticky}}])
        line = until("rule weights recorded",
                     lambda: [x for x in w.timeline() if x["kind"] == "rule_weights_changed"])
        assert (line[0]["rule_lambda_weight"], line[0]["rule_ecs_weight"]) == (1, 3)

        table = run_cli("timeline", "--dir", d)
        assert table.returncode == 0 and "weights changed" in table.stdout


def test_sigterm_stops_the_world(tmp_path: Path) -> None:
    with world(tmp_path, *FAST) as w:
        endpoint = w.info["endpoint"]
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(timeout=10) == 0
        assert w.timeline()[-1]["kind"] == "world_stopped"
        with pytest.raises(Exception):
            import urllib.request
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)


def test_lifetime_and_wait_timeout(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("wait", "--dir", str(empty), "--timeout", "0.3")
    assert r.returncode == 1 and "not ready" in r.stderr

    proc = start_world(tmp_path, *FAST, "--lifetime", "1.5")
    try:
        assert run_cli("wait", "--dir", str(tmp_path), "--timeout", "30").returncode == 0
        assert proc.wait(timeout=15) == 0
        last = json.loads((tmp_path / "timeline.jsonl").read_text().splitlines()[-1])
        assert last["kind"] == "world_stopped" and "lifetime" in last["event"]
    finally:
        stop_world(proc)


def test_exits_when_parent_dies(tmp_path: Path) -> None:
    # a shell parent that we kill: the world must notice and stop moto
    parent = subprocess.Popen(
        ["bash", "-c", f'cd "{ROOT}"; "{PY}" -m world serve --dir "{tmp_path}" --tick 0.05 '
                       f'--lifetime 60 2>"{tmp_path}/world.log" & wait'],
    )
    pid = None
    try:
        assert run_cli("wait", "--dir", str(tmp_path), "--timeout", "30").returncode == 0
        pid = json.loads((tmp_path / "world.json").read_text())["pid"]
        parent.kill()
        parent.wait(timeout=5)

        def gone() -> bool:
            try:  # a zombie (reparented to a non-reaping parent) counts as gone
                return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
            except FileNotFoundError:
                return True

        until("the orphaned world to exit", gone, timeout=10)
        last = json.loads((tmp_path / "timeline.jsonl").read_text().splitlines()[-1])
        assert "parent" in last["event"]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=5)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
