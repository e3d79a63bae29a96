"""Tests of world/seed_controller.py: the seed's handler with recording fakes (its exact calls),
and end to end as a Lambda function behind world/lambda_runtime.py against a moto server.

Every server and function is stopped by the test that started it; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest

from world import seed_controller as seed
from world.clock import Clock
from world.events import alarm_state_change, configuration_metrics
from world.lambda_runtime import LambdaFunction
from world.tests.waiting import until as wait_until

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ALARM = {
    "AlarmName": "web-app-concurrency-high",
    "Namespace": "AWS/Lambda", "MetricName": "ConcurrentExecutions",
    "Dimensions": [{"Name": "FunctionName", "Value": "web-app"}],
    "Statistic": "Maximum", "Period": 60,
}


def alarm_event(state: str, previous: str) -> dict[str, Any]:
    at = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
    return alarm_state_change(
        alarm_name=ALARM["AlarmName"],
        alarm_arn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM['AlarmName']}",
        description=None, metrics=configuration_metrics(ALARM),
        state=state, reason="world", reason_data=None, timestamp=at,
        previous_state=previous, previous_reason="world",
        previous_timestamp=at - timedelta(minutes=5),
    )


def forward(lambda_weight: int, ecs_weight: int) -> list[dict[str, Any]]:
    """The seed's DefaultActions, exactly: no TargetGroupArn, no stickiness config."""
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": "arn:tg/lambda", "Weight": lambda_weight},
        {"TargetGroupArn": "arn:tg/ecs", "Weight": ecs_weight},
    ]}}]


# -- the handler, with recording fakes --------------------------------------------


class Recorder:
    """Stands for both boto3 clients; `tasks` is what each list/describe pass sees."""

    def __init__(self, passes: list[list[str]]) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.passes = passes  # per list_tasks call: the containers' lastStatus of one task

    def update_service(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("update_service", kw))
        return {"service": {"desiredCount": kw["desiredCount"]}}

    def list_tasks(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("list_tasks", kw))
        statuses = self.passes.pop(0) if self.passes else ["RUNNING"]
        self._statuses = statuses
        return {"taskArns": ["arn:task/1"] if statuses else []}

    def describe_tasks(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("describe_tasks", kw))
        return {"tasks": [{"containers": [{"lastStatus": s} for s in self._statuses]}]}

    def modify_listener(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("modify_listener", kw))
        return {"Listeners": []}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[list[str]]], Recorder]:
    def install(passes: list[list[str]]) -> Recorder:
        recorder = Recorder(passes)
        for name, value in {
            "ECSclient": recorder, "ELBclient": recorder, "cluster": "web-app",
            "service": "web-app-svc", "listenerArn": "arn:listener",
            "targetGroupLambda": "arn:tg/lambda", "targetGroupECS": "arn:tg/ecs",
            "POLL_SLEEP_SECS": 0.0,
        }.items():
            monkeypatch.setattr(seed, name, value)
        return recorder
    return install


def test_alarm_scales_out_waits_for_any_running_container_then_moves_all_traffic(
    fake: Callable[[list[list[str]]], Recorder], capsys: pytest.CaptureFixture[str],
) -> None:
    rec = fake([[], ["PENDING"], ["PENDING", "RUNNING"]])
    seed.lambda_handler(alarm_event("ALARM", "OK"), None)
    assert [name for name, _ in rec.calls] == [
        "update_service", "list_tasks", "list_tasks", "describe_tasks", "list_tasks",
        "describe_tasks", "modify_listener",
    ]
    assert rec.calls[0][1] == {"cluster": "web-app", "service": "web-app-svc", "desiredCount": 1}
    # Every task of the cluster, as the seed lists them: no serviceName, no desiredStatus.
    assert rec.calls[1][1] == {"cluster": "web-app"}
    assert rec.calls[3][1] == {"cluster": "web-app", "tasks": ["arn:task/1"]}
    assert rec.calls[-1][1] == {"ListenerArn": "arn:listener", "DefaultActions": forward(0, 1)}
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "ALARM" and "container RUNNING" in printed


def test_ok_after_alarm_moves_traffic_back_then_scales_in(
    fake: Callable[[list[list[str]]], Recorder],
) -> None:
    rec = fake([])
    seed.lambda_handler(alarm_event("OK", "ALARM"), None)
    assert rec.calls == [
        ("modify_listener", {"ListenerArn": "arn:listener", "DefaultActions": forward(1, 0)}),
        ("update_service", {"cluster": "web-app", "service": "web-app-svc", "desiredCount": 0}),
    ]


@pytest.mark.parametrize("state, previous", [
    ("OK", "OK"), ("INSUFFICIENT_DATA", "ALARM"), ("INSUFFICIENT_DATA", "OK"),
])
def test_other_transitions_do_nothing(
    fake: Callable[[list[list[str]]], Recorder], state: str, previous: str,
) -> None:
    rec = fake([])
    seed.lambda_handler(alarm_event(state, previous), None)
    assert rec.calls == []


def test_ok_after_insufficient_data_returns_too(
    fake: Callable[[list[list[str]]], Recorder],
) -> None:
    rec = fake([])
    seed.lambda_handler(alarm_event("OK", "INSUFFICIENT_DATA"), None)
    assert [name for name, _ in rec.calls] == ["modify_listener", "update_service"]


def test_a_tick_is_not_an_event_the_seed_can_read(
    fake: Callable[[list[list[str]]], Recorder],
) -> None:
    fake([])
    with pytest.raises(KeyError):
        seed.lambda_handler({"detail-type": "Scheduled Event", "detail": {}}, None)


def test_configure_reads_the_environment_and_tags_the_user_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ECSclient", "ELBclient", "cluster", "service", "listenerArn",
                 "targetGroupLambda", "targetGroupECS", "POLL_SLEEP_SECS"):
        monkeypatch.setattr(seed, name, getattr(seed, name))  # restored after the test
    env = {"SEED_CLUSTER": "c", "SEED_SERVICE": "s", "SEED_LISTENER_ARN": "l",
           "SEED_LAMBDA_TARGET_GROUP_ARN": "tl", "SEED_ECS_TARGET_GROUP_ARN": "te",
           "SEED_POLL_SLEEP_SECS": "0.05", "AWS_REGION": REGION}
    seed.configure(env)
    assert (seed.cluster, seed.service, seed.listenerArn) == ("c", "s", "l")
    assert (seed.targetGroupLambda, seed.targetGroupECS, seed.POLL_SLEEP_SECS) == ("tl", "te", 0.05)
    for client in (seed.ECSclient, seed.ELBclient):
        assert client.meta.config.user_agent_extra == "spillover-world-seed"
        assert client.meta.region_name == REGION
    with pytest.raises(seed.ConfigError, match="SEED_CLUSTER, SEED_SERVICE"):
        seed.configure({"SEED_LISTENER_ARN": "l"})
    with pytest.raises(seed.ConfigError, match="SEED_POLL_SLEEP_SECS"):
        seed.configure({**env, "SEED_POLL_SLEEP_SECS": "soon"})


# -- end to end: a Lambda function against moto ------------------------------------


until = functools.partial(wait_until, timeout=10.0, every=0.02)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def build_topology(endpoint: str) -> dict[str, Any]:
    """A minimal ALB (weighted forward, sticky) + ECS service + one task whose container is
    not RUNNING yet; names are unique, since moto's backends outlive the server."""
    kw = {"endpoint_url": endpoint, "region_name": REGION,
          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    ec2, elb, ecs = (boto3.client(n, **kw) for n in ("ec2", "elbv2", "ecs"))
    suffix = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                 AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"seed-{suffix}", Description="seed",
                                   VpcId=vpc)["GroupId"]
    alb = elb.create_load_balancer(Name=f"seed-{suffix}", Subnets=subnets, SecurityGroups=[sg],
                                   Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    lambda_tg = elb.create_target_group(Name=f"seed-lambda-{suffix}", TargetType="lambda")[
        "TargetGroups"][0]["TargetGroupArn"]
    ecs_tg = elb.create_target_group(Name=f"seed-ecs-{suffix}", TargetType="ip", Protocol="HTTP",
                                     Port=8080, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    listener = elb.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=[{
        "Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": lambda_tg, "Weight": 1},
                             {"TargetGroupArn": ecs_tg, "Weight": 0}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300},
        },
    }])["Listeners"][0]["ListenerArn"]
    cluster = f"seed-{suffix}"
    ecs.create_cluster(clusterName=cluster)
    task_def = ecs.register_task_definition(
        family=f"seed-{suffix}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "app:latest", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}}
    ecs.create_service(cluster=cluster, serviceName="web-app", taskDefinition=task_def,
                       desiredCount=0, launchType="FARGATE", networkConfiguration=network)
    # moto starts run_task tasks RUNNING, but their containers stay PENDING (below).
    task = ecs.run_task(cluster=cluster, taskDefinition=task_def, launchType="FARGATE",
                        networkConfiguration=network)["tasks"][0]["taskArn"]
    return {"elb": elb, "ecs": ecs, "cluster": cluster, "listener": listener,
            "lambda_tg": lambda_tg, "ecs_tg": ecs_tg, "task": task}


def start_container(cluster: str, task_arn: str) -> None:
    """Plays the ECS agent (moto has none): the task's containers report RUNNING."""
    from moto.ecs.models import ecs_backends

    task = ecs_backends[ACCOUNT][REGION].tasks[cluster][task_arn]
    for container in task.containers:
        container.last_status = "RUNNING"


def weights(topo: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
    (action,) = topo["elb"].describe_listeners(
        ListenerArns=[topo["listener"]])["Listeners"][0]["DefaultActions"]
    config = action["ForwardConfig"]
    by_tg = {g["TargetGroupArn"]: g["Weight"] for g in config["TargetGroups"]}
    return ({"lambda": by_tg[topo["lambda_tg"]], "ecs": by_tg[topo["ecs_tg"]]},
            config.get("TargetGroupStickinessConfig", {}))


def desired(topo: dict[str, Any]) -> int:
    return topo["ecs"].describe_services(cluster=topo["cluster"], services=["web-app"])[
        "services"][0]["desiredCount"]


def test_the_seed_spills_and_returns_as_a_lambda_function_against_moto(tmp_path: Path) -> None:
    speed = 20.0
    clock = Clock(speed=speed)
    with moto_server() as endpoint:
        topo = build_topology(endpoint)
        env = {
            "PYTHONPATH": str(ROOT),
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "SEED_CLUSTER": topo["cluster"], "SEED_SERVICE": "web-app",
            "SEED_LISTENER_ARN": topo["listener"],
            "SEED_LAMBDA_TARGET_GROUP_ARN": topo["lambda_tg"],
            "SEED_ECS_TARGET_GROUP_ARN": topo["ecs_tg"],
            "SEED_POLL_SLEEP_SECS": str(1.0 / speed),  # 1 AWS second
        }
        fn = LambdaFunction(
            name="seed", argv=[sys.executable, "-m", "world.seed_controller"], env=env,
            clock=clock, timeout_secs=300.0, log_path=tmp_path / "seed.log",
        )
        fn.start()
        try:
            fn.invoke_async(alarm_event("ALARM", "OK"), kind="alarm")
            until("the seed to scale out", lambda: desired(topo) == 1)
            time.sleep(0.3)  # ~6 AWS seconds of the seed polling a PENDING container
            assert fn.running() is not None, "the seed must still be waiting"
            assert weights(topo)[0] == {"lambda": 1, "ecs": 0}

            start_container(topo["cluster"], topo["task"])
            until("the spill to finish", fn.idle)
            spilled, stickiness = weights(topo)
            assert spilled == {"lambda": 0, "ecs": 1}
            # The seed rewrites the whole action: the listener's stickiness is gone.
            assert not stickiness.get("Enabled")
            assert desired(topo) == 1

            fn.invoke_async(alarm_event("OK", "ALARM"), kind="alarm")
            until("the return to finish", fn.idle)
            assert weights(topo)[0] == {"lambda": 1, "ecs": 0}
            assert desired(topo) == 0
            invs = fn.invocations()
        finally:
            fn.stop()

    assert [(i.outcome, i.attempt) for i in invs] == [("ok", 0), ("ok", 0)]
    assert [i.cold_start for i in invs] == [True, False]
    assert invs[0].ended_at - invs[0].started_at > 5.0  # type: ignore[operator]
    log = (tmp_path / "seed.log").read_text()
    assert "\nALARM\n" in log and "container RUNNING" in log and "\nOK\n" in log


def test_a_seed_without_configuration_fails_its_init(tmp_path: Path) -> None:
    fn = LambdaFunction(
        name="seed", argv=[sys.executable, "-m", "world.seed_controller"],
        env={"PYTHONPATH": str(ROOT)}, clock=Clock(speed=10.0), timeout_secs=60.0,
        log_path=tmp_path / "seed.log", retry_delays=(),
    )
    fn.start()
    try:
        fn.invoke_async(alarm_event("ALARM", "OK"), kind="alarm")
        until("the attempt to fail", fn.idle)
        (inv,) = fn.invocations()
    finally:
        fn.stop()
    assert inv.outcome == "error" and inv.dropped
    assert inv.response["errorType"] == "ConfigError"
    assert "SEED_CLUSTER" in inv.response["errorMessage"]
