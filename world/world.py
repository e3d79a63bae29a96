#!/usr/bin/env python3
"""The local AWS world for spillover, on moto.

One process owns everything: `serve` starts moto in-process on 127.0.0.1, seeds
the topology (VPC, ALB + weighted listener and rule, Lambda and IP target groups,
ECS cluster/service, CloudWatch alarms), writes DIR/world.json when ready, and
then plays the parts moto does not have: the ECS service scheduler and the ALB
health checks. Everything it observes is recorded in DIR/timeline.jsonl, the
independent record the end-to-end tests assert on.

Subcommands: serve, alarm, snapshot, timeline, wait (see `world.py CMD --help`).

moto 5.2.5 is patched at runtime (see `apply_moto_patches`) where its ECS
answers would lie about what AWS does; every patch is explained there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account for any dummy credentials
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

CLUSTER = "web-app"
SERVICE = "web-app"
SERVICE_GROUP = f"service:{SERVICE}"
CONTAINER = "app"
APP_PORT = 8080
ALARM_HIGH = "web-app-concurrency-high"
ALARM_PERCENT = "web-app-concurrency-percent"
ALARM_THROTTLES = "web-app-throttles"
ALARM_OTHER = "billing-estimate-high"
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")

WORLD_JSON = "world.json"
TIMELINE = "timeline.jsonl"
API_LOG = "api.jsonl"

log = logging.getLogger("world")


class UsageError(Exception):
    """Bad input from the caller: exit status 2."""


class WorldError(Exception):
    """The world is not there or an AWS call failed: exit status 1."""


# --------------------------------------------------------------------------
# moto patches (applied in-process by `serve`, before the server starts)
# --------------------------------------------------------------------------

# Stop codes the scheduler wants for the stop_task call it is about to make,
# keyed by task id; stop_task calls from anyone else get "UserInitiated" as in AWS.
_PENDING_STOP_CODES: dict[str, str] = {}


def _now() -> datetime:
    return datetime.now(timezone.utc)


# The AWS writes moto receives, one JSON line each, in the order moto applies them: the
# exact order of writes, which polling the state cannot give (two writes between two
# looks would seem simultaneous). `serve` sets the path.
_API_LOG: Path | None = None
_API_LOG_LOCK = threading.Lock()
_API_SEQ = 0


def _record_api_write(api: str, detail: dict[str, Any]) -> None:
    global _API_SEQ
    if _API_LOG is None:
        return
    with _API_LOG_LOCK:
        _API_SEQ += 1
        line = {"seq": _API_SEQ, "t": round(time.time(), 3), "api": api, **detail}
        with _API_LOG.open("a") as fh:
            fh.write(json.dumps(line) + "\n")


def _recording(method: Any, api: str, detail: Any) -> Any:
    """Wraps a moto backend method so that each successful call is recorded."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        _record_api_write(api, detail(result))
        return result

    return wrapper


def apply_moto_patches() -> None:
    """Small runtime patches to moto 5.2.5's ECS so it answers like AWS.

    1. Service.runningCount / pendingCount: moto's update_service copies
       desiredCount into runningCount at once (and the deployment keeps the
       counts of create_service forever), so a service "runs" 2 tasks the
       instant it is asked for 2. Here both counts are computed from the
       service's real tasks (group "service:NAME"), as AWS does, and the
       PRIMARY deployment's desired/running/pending counts and rolloutState
       follow them.
    2. Tasks of a service (group "service:...") start in lastStatus PENDING,
       not RUNNING: moto starts every task RUNNING "in order not to break
       existing tests"; AWS tasks are PROVISIONING/PENDING until their
       containers start. The world's scheduler moves them to RUNNING after
       --task-start-delay (there is no API for that; it is the ECS agent's
       job). createdAt/startedAt/stoppedAt/stopCode are filled in too.
    3. ListTasks: AWS filters on desiredStatus RUNNING when no desiredStatus
       is given (stopped tasks only show with desiredStatus=STOPPED) and
       honours serviceName; moto returns every task and ignores serviceName.
    4. StopTask sets stoppedAt and stopCode (UserInitiated unless the
       scheduler stops the task) and the containers' lastStatus.
    6. UpdateService, ModifyListener, ModifyRule, RegisterTargets and
       DeregisterTargets are recorded in DIR/api.jsonl as moto applies them:
       the exact order of writes, for the end-to-end tests.
    5. A task's ENI gets a free private IP inside its subnet (moto picks any
       random 10.x.y.z, which AWS would refuse to register in an IP target
       group of this VPC). The world's tasks always land in the first subnet.
    """
    from moto.ecs import models as ecs_models

    Service = ecs_models.Service
    Task = ecs_models.Task
    Backend = ecs_models.EC2ContainerServiceBackend
    if getattr(Backend, "_spillover_world_patched", False):
        return

    def service_tasks(svc: Any) -> list[Any]:
        tasks = svc._backend.tasks.get(svc.cluster_name, {})
        group = f"service:{svc.name}"
        return [t for t in list(tasks.values()) if t.group == group]

    def running_count(svc: Any) -> int:
        return sum(1 for t in service_tasks(svc) if t.last_status == "RUNNING")

    def pending_count(svc: Any) -> int:
        return sum(
            1
            for t in service_tasks(svc)
            if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING")
        )

    def ignore_write(svc: Any, value: Any) -> None:  # moto's own writes
        pass

    def get_deployments(svc: Any) -> list[dict[str, Any]]:
        deployments = svc.__dict__.get("_world_deployments", [])
        if deployments:
            primary = deployments[0]
            running, pending = svc.running_count, svc.pending_count
            primary["desiredCount"] = svc.desired_count
            primary["runningCount"] = running
            primary["pendingCount"] = pending
            done = running == svc.desired_count and pending == 0
            primary["rolloutState"] = "COMPLETED" if done else "IN_PROGRESS"
            primary["rolloutStateReason"] = (
                f"ECS deployment {primary['id']} completed."
                if done
                else f"ECS deployment {primary['id']} in progress."
            )
        return deployments

    def set_deployments(svc: Any, value: list[dict[str, Any]]) -> None:
        svc.__dict__["_world_deployments"] = value

    Service.running_count = property(running_count, ignore_write)
    Service.pending_count = property(pending_count, ignore_write)
    Service.deployments = property(get_deployments, set_deployments)

    original_task_init = Task.__init__

    def task_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_task_init(self, *args, **kwargs)
        self.created_at = _now()
        if str(self.group).startswith("service:"):
            self.last_status = "PENDING"

    Task.__init__ = task_init

    original_list_tasks = Backend.list_tasks

    def list_tasks(
        self: Any,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,
    ) -> list[Any]:
        tasks = original_list_tasks(
            self,
            cluster_str,
            container_instance,
            family,
            started_by,
            None,
            desiredStatus or "RUNNING",
        )
        if service_name:
            group = "service:" + service_name.split("/")[-1]
            tasks = [t for t in tasks if t.group == group]
        return tasks

    Backend.list_tasks = list_tasks

    original_stop_task = Backend.stop_task

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        task = original_stop_task(self, cluster_str, task_str, reason)
        code = _PENDING_STOP_CODES.pop(task.id, "UserInitiated")
        if getattr(task, "stopped_at", None) is None:
            task.stopped_at = _now()
            task.stop_code = code
            for container in task.containers:
                container.last_status = "STOPPED"
        return task

    Backend.stop_task = stop_task

    used_ips: set[str] = set()

    def subnet_ip() -> str:
        for _ in range(1000):
            ip = f"10.0.1.{ecs_models.mock_random.randint(4, 254)}"
            if ip not in used_ips:
                used_ips.add(ip)
                return ip
        raise RuntimeError("no free IP left in 10.0.1.0/24")

    ecs_models.random_private_ip = subnet_ip
    # 6. Record the writes the end-to-end tests order-check (see _API_LOG).
    from moto.elbv2 import models as elb_models

    Elb = elb_models.ELBv2Backend
    Backend.update_service = _recording(
        Backend.update_service, "UpdateService", lambda svc: {"desired": svc.desired_count})
    Elb.modify_listener = _recording(Elb.modify_listener, "ModifyListener", lambda _: {})
    Elb.modify_rule = _recording(Elb.modify_rule, "ModifyRule", lambda _: {})
    Elb.register_targets = _recording(Elb.register_targets, "RegisterTargets", lambda _: {})
    Elb.deregister_targets = _recording(Elb.deregister_targets, "DeregisterTargets", lambda _: {})

    Backend._spillover_world_patched = True


def ecs_backend() -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[ACCOUNT][REGION]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def clients(endpoint: str) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    cfg = Config(
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=15,
    )
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    return {
        name: session.client(name, endpoint_url=endpoint, config=cfg)
        for name in ("ec2", "elbv2", "ecs", "cloudwatch")
    }


def read_world(directory: Path) -> dict[str, Any]:
    path = directory / WORLD_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise WorldError(
            f"{path} does not exist: is `world.py serve --dir {directory}` running?"
        ) from None
    except json.JSONDecodeError as exc:
        raise WorldError(f"{path} is not valid JSON: {exc}") from None


def endpoint_answers(endpoint: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except (urllib.error.URLError, OSError):
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forward_weights(actions: list[dict[str, Any]], lambda_tg: str, ecs_tg: str) -> tuple[Any, Any]:
    """(lambda weight, ecs weight) of the first forward action; None when absent."""
    for action in actions or []:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            weights = {g.get("TargetGroupArn"): g.get("Weight", 1) for g in groups}
            return weights.get(lambda_tg), weights.get(ecs_tg)
        single = action.get("TargetGroupArn")
        return (1 if single == lambda_tg else None, 1 if single == ecs_tg else None)
    return None, None


def strip_weights(actions: list[dict[str, Any]]) -> str:
    """The actions without weights, canonical JSON: what spillover must not change."""
    stripped = json.loads(json.dumps(actions or []))
    for action in stripped:
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            group.pop("Weight", None)
    return json.dumps(stripped, sort_keys=True)


def task_ip(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return detail.get("value")
    return None


def describe_tasks(ecs: Any, arns: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        chunk = arns[i : i + 100]
        out.extend(ecs.describe_tasks(cluster=CLUSTER, tasks=chunk)["tasks"])
    return out


def list_service_tasks(ecs: Any, desired_status: str) -> list[str]:
    arns: list[str] = []
    kwargs: dict[str, Any] = {
        "cluster": CLUSTER,
        "serviceName": SERVICE,
        "desiredStatus": desired_status,
    }
    while True:
        page = ecs.list_tasks(**kwargs)
        arns.extend(page.get("taskArns", []))
        token = page.get("nextToken")
        if not token:
            return arns
        kwargs["nextToken"] = token


def short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1][:8]


# --------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------


class World:
    def __init__(self, args: argparse.Namespace) -> None:
        self.dir = Path(args.dir)
        self.task_start_delay = args.task_start_delay
        self.health_delay = args.health_delay
        self.fail_start = args.fail_start
        # Taken before seeding: a parent that dies while the world starts is noticed too.
        self.parent = os.getppid()
        self.sticky_secs = args.sticky_secs
        self.lifetime = args.lifetime
        self.tick = args.tick
        self.stop_reason: str | None = None
        self.server: Any = None
        self.endpoint = ""
        self.c: dict[str, Any] = {}
        self.arns: dict[str, Any] = {}
        self.network: dict[str, Any] = {}
        # scheduler bookkeeping, by task ARN: when it went PENDING / RUNNING, its IP,
        # whether its target is registered
        self.tasks: dict[str, dict[str, Any]] = {}
        self.last: dict[str, Any] | None = None
        self.lines_written = 0
        self.last_default_shape = ""
        self.last_rule_shape = ""
        self.timeline = self.dir / TIMELINE
        global _API_LOG
        _API_LOG = self.dir / API_LOG
        self.error_seen: str | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        apply_moto_patches()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in (WORLD_JSON, TIMELINE):
            (self.dir / stale).unlink(missing_ok=True)

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        log.info("moto listening on %s", self.endpoint)

        # Without this, each DescribeTasks advances a task towards STOPPED.
        req = urllib.request.Request(
            self.endpoint + "/moto-api/state-manager/set-transition",
            data=json.dumps(
                {
                    "model_name": "ecs::task",
                    "transition": {"progression": "manual", "times": 10**12},
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 201 and resp.status != 200:
                raise WorldError(f"set-transition answered HTTP {resp.status}")

        self.c = clients(self.endpoint)
        self.seed()
        self.write_world_json()
        self.record("world started", "world_started")

    def stop(self) -> None:
        if self.server is not None:
            try:
                self.record(f"world stopped ({self.stop_reason or 'exit'})", "world_stopped")
            except Exception as exc:  # moto may be half gone
                log.warning("could not record the stop: %s", exc)
            self.server.stop()
            self.server = None
            log.info("moto stopped")

    # -- seeding -----------------------------------------------------------

    def seed(self) -> None:
        ec2, elb, ecs, cw = (self.c[k] for k in ("ec2", "elbv2", "ecs", "cloudwatch"))

        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i + 1}.0/24", AvailabilityZone=f"{REGION}{az}"
            )["Subnet"]["SubnetId"]
            for i, az in enumerate("ab")
        ]
        sg = ec2.create_security_group(
            GroupName="web-app", Description="web-app ALB and tasks", VpcId=vpc
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {"IpProtocol": "tcp", "FromPort": APP_PORT, "ToPort": APP_PORT,
                 "UserIdGroupPairs": [{"GroupId": sg}]},
            ],
        )

        alb = elb.create_load_balancer(
            Name="web-app", Subnets=subnets, SecurityGroups=[sg],
            Scheme="internet-facing", Type="application",
        )["LoadBalancers"][0]["LoadBalancerArn"]
        lambda_tg = elb.create_target_group(Name="web-app-lambda", TargetType="lambda")[
            "TargetGroups"][0]["TargetGroupArn"]
        function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:web-app"
        elb.register_targets(TargetGroupArn=lambda_tg, Targets=[{"Id": function_arn}])
        ecs_tg = elb.create_target_group(
            Name="web-app-ecs", TargetType="ip", Protocol="HTTP", Port=APP_PORT,
            VpcId=vpc, HealthCheckPath="/", HealthCheckIntervalSeconds=10,
            HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]

        def weighted_forward() -> list[dict[str, Any]]:
            return [{
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": lambda_tg, "Weight": 1},
                        {"TargetGroupArn": ecs_tg, "Weight": 0},
                    ],
                    "TargetGroupStickinessConfig": (
                        {"Enabled": True, "DurationSeconds": self.sticky_secs}
                        if self.sticky_secs > 0 else {"Enabled": False}
                    ),
                },
            }]

        listener = elb.create_listener(
            LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=weighted_forward()
        )["Listeners"][0]["ListenerArn"]
        rule = elb.create_rule(
            ListenerArn=listener, Priority=10,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
            Actions=weighted_forward(),
        )["Rules"][0]["RuleArn"]

        ecs.create_cluster(clusterName=CLUSTER)
        task_def = ecs.register_task_definition(
            family="web-app", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512",
            containerDefinitions=[{
                "name": CONTAINER,
                "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web-app:latest",
                "memory": 512, "essential": True,
                "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
            }],
        )["taskDefinition"]["taskDefinitionArn"]
        self.network = {
            "awsvpcConfiguration": {
                "subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED",
            }
        }
        service = ecs.create_service(
            cluster=CLUSTER, serviceName=SERVICE, taskDefinition=task_def, desiredCount=0,
            launchType="FARGATE", networkConfiguration=self.network,
            loadBalancers=[{"targetGroupArn": ecs_tg, "containerName": CONTAINER,
                            "containerPort": APP_PORT}],
        )["service"]

        lambda_metric = {
            "Namespace": "AWS/Lambda",
            "Dimensions": [{"Name": "FunctionName", "Value": "web-app"}],
        }
        cw.put_metric_alarm(
            AlarmName=ALARM_HIGH, AlarmDescription="Lambda ConcurrentExecutions near the account limit",
            MetricName="ConcurrentExecutions", Statistic="Maximum", Period=60,
            EvaluationPeriods=1, Threshold=900.0, ComparisonOperator="GreaterThanThreshold",
            **lambda_metric,
        )
        cw.put_metric_alarm(
            AlarmName=ALARM_PERCENT, AlarmDescription="Concurrency as a share of the reserved limit",
            EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
            Metrics=[
                {"Id": "e1", "Expression": "100 * m1 / 1000", "Label": "ConcurrencyPercent",
                 "ReturnData": True},
                {"Id": "m1", "ReturnData": False, "MetricStat": {
                    "Metric": {"MetricName": "ConcurrentExecutions", **lambda_metric},
                    "Period": 60, "Stat": "Maximum"}},
            ],
        )
        cw.put_metric_alarm(
            AlarmName=ALARM_THROTTLES, MetricName="Throttles", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
            **lambda_metric,
        )
        cw.put_metric_alarm(
            AlarmName=ALARM_OTHER, Namespace="AWS/Billing", MetricName="EstimatedCharges",
            Dimensions=[{"Name": "Currency", "Value": "USD"}], Statistic="Maximum",
            Period=21600, EvaluationPeriods=1, Threshold=100.0,
            ComparisonOperator="GreaterThanThreshold",
        )
        self.alarms = [ALARM_HIGH, ALARM_PERCENT, ALARM_THROTTLES, ALARM_OTHER]
        for name in self.alarms:
            cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="world seeded")

        self.arns = {
            "listener": listener, "rule": rule, "lambda_tg": lambda_tg, "ecs_tg": ecs_tg,
            "service": service["serviceArn"], "cluster": service["clusterArn"], "alb": alb,
            "task_definition": task_def, "lambda_function": function_arn,
            "vpc": vpc, "subnets": subnets, "security_group": sg,
            "alarms": self.alarms,
        }
        self.deployment = service["deployments"][0]["id"]

    def write_world_json(self) -> None:
        doc = {
            "endpoint": self.endpoint,
            "region": REGION,
            "pid": os.getpid(),
            "env": {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "SPILLOVER_CLUSTER": CLUSTER,
                "SPILLOVER_SERVICE": SERVICE,
                "SPILLOVER_LISTENER_ARN": self.arns["listener"],
                "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": self.arns["lambda_tg"],
                "SPILLOVER_ECS_TARGET_GROUP_ARN": self.arns["ecs_tg"],
                "SPILLOVER_ALARM_NAMES": ALARM_HIGH,
            },
            "arns": self.arns,
            "options": {
                "task_start_delay": self.task_start_delay,
                "health_delay": self.health_delay,
                "fail_start": self.fail_start,
                "sticky_secs": self.sticky_secs,
                "lifetime": self.lifetime,
                "tick": self.tick,
            },
        }
        tmp = self.dir / f".{WORLD_JSON}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.dir / WORLD_JSON)

    # -- observation and the timeline ---------------------------------------

    def observe(self) -> dict[str, Any]:
        """The world as the APIs show it. The listener is read first and the
        service and targets after it, so a change of weights that came after a
        change of counts can never look as if it came before it."""
        ecs, elb, cw = self.c["ecs"], self.c["elbv2"], self.c["cloudwatch"]
        observed_at = time.time()
        default = elb.describe_listeners(ListenerArns=[self.arns["listener"]])[
            "Listeners"][0]["DefaultActions"]
        rule = elb.describe_rules(RuleArns=[self.arns["rule"]])["Rules"][0]["Actions"]
        alarm = cw.describe_alarms(AlarmNames=[ALARM_HIGH])["MetricAlarms"][0]["StateValue"]
        svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        live = describe_tasks(ecs, list_service_tasks(ecs, "RUNNING"))
        health = elb.describe_target_health(TargetGroupArn=self.arns["ecs_tg"])
        healthy = sum(
            1 for d in health["TargetHealthDescriptions"]
            if d.get("TargetHealth", {}).get("State") == "healthy"
        )
        lw, ew = forward_weights(default, self.arns["lambda_tg"], self.arns["ecs_tg"])
        rlw, rew = forward_weights(rule, self.arns["lambda_tg"], self.arns["ecs_tg"])
        return {
            "desired": svc["desiredCount"],
            "running": sum(1 for t in live if t["lastStatus"] == "RUNNING"),
            "pending": sum(1 for t in live if t["lastStatus"] != "RUNNING"),
            "healthy": healthy,
            "lambda_weight": lw,
            "ecs_weight": ew,
            "rule_lambda_weight": rlw,
            "rule_ecs_weight": rew,
            "alarm": alarm,
            "_t": observed_at,
            "_svc": svc,
            "_live": live,
            "_default": default,
            "_rule": rule,
        }

    def write_line(self, event: str, kind: str, obs: dict[str, Any], **extra: Any) -> None:
        # t is when the observation began: lines written from one observation
        # share it, and their order among themselves means nothing.
        line = {"t": round(obs["_t"], 3), "event": event, "kind": kind}
        line.update({k: v for k, v in obs.items() if not k.startswith("_")})
        line.update(extra)
        with self.timeline.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        self.lines_written += 1
        log.info(
            "%-48s desired=%s running=%s healthy=%s weights=%s/%s alarm=%s",
            event, line["desired"], line["running"], line["healthy"],
            line["lambda_weight"], line["ecs_weight"], line["alarm"],
        )
        self.last = {k: v for k, v in obs.items() if not k.startswith("_")}
        self.last_default_shape = strip_weights(obs["_default"])
        self.last_rule_shape = strip_weights(obs["_rule"])

    def record(self, event: str, kind: str, **extra: Any) -> dict[str, Any]:
        """Observe after an action of the world and write its line (changes by others first)."""
        obs = self.observe()
        self.record_changes(obs, counts=False)
        self.write_line(event, kind, obs, **extra)
        return obs

    def record_changes(self, obs: dict[str, Any], counts: bool) -> None:
        """One line per kind of change made by someone else since the last line.

        Task and target counts are the world's own doing and recorded with its
        actions; with counts=True a change nobody recorded is written too.
        """
        last = self.last
        if last is None:
            return
        default_shape, rule_shape = self.last_default_shape, self.last_rule_shape
        if (obs["lambda_weight"], obs["ecs_weight"]) != (last["lambda_weight"], last["ecs_weight"]):
            self.write_line(
                f"weights changed lambda/ecs {last['lambda_weight']}/{last['ecs_weight']}"
                f" -> {obs['lambda_weight']}/{obs['ecs_weight']}",
                "weights_changed", obs, actions=obs["_default"],
            )
        if strip_weights(obs["_default"]) != default_shape:
            self.write_line("listener default action changed (not only weights)",
                            "default_action_changed", obs, actions=obs["_default"])
        if (obs["rule_lambda_weight"], obs["rule_ecs_weight"]) != (
            last["rule_lambda_weight"], last["rule_ecs_weight"]
        ):
            self.write_line(
                f"rule weights changed lambda/ecs {last['rule_lambda_weight']}/"
                f"{last['rule_ecs_weight']} -> {obs['rule_lambda_weight']}/{obs['rule_ecs_weight']}",
                "rule_weights_changed", obs, actions=obs["_rule"],
            )
        if strip_weights(obs["_rule"]) != rule_shape:
            self.write_line("rule action changed (not only weights)",
                            "rule_action_changed", obs, actions=obs["_rule"])
        if obs["alarm"] != last["alarm"]:
            self.write_line(f"alarm state changed {last['alarm']} -> {obs['alarm']}",
                            "alarm_changed", obs)
        if obs["desired"] != last["desired"]:
            self.write_line(f"desired changed {last['desired']} -> {obs['desired']}",
                            "desired_changed", obs)
        if counts and (obs["running"], obs["pending"], obs["healthy"]) != (
            last["running"], last["pending"], last["healthy"]
        ):
            self.write_line(
                f"counts changed running {last['running']} -> {obs['running']}, "
                f"healthy {last['healthy']} -> {obs['healthy']}",
                "counts_changed", obs,
            )

    # -- the ECS scheduler and the health checks ----------------------------

    def step(self) -> None:
        ecs, elb = self.c["ecs"], self.c["elbv2"]
        obs = self.observe()
        self.record_changes(obs, counts=False)
        written = self.lines_written
        now = time.monotonic()
        desired = obs["desired"]
        deployment = (obs["_svc"].get("deployments") or [{}])[0].get("id", self.deployment)
        live = {t["taskArn"]: t for t in obs["_live"]}

        # Tasks that stopped (by anyone) lose their target, as ECS deregisters them.
        for arn, info in list(self.tasks.items()):
            if arn in live:
                continue
            task = describe_tasks(ecs, [arn])
            reason = task[0].get("stoppedReason", "") if task else ""
            if not info.get("stopped_seen"):
                info["stopped_seen"] = True
                if not info.get("stopped_by_world"):
                    self.record(f"task stopped {short(arn)}: {reason}", "task_stopped",
                                task=arn, reason=reason)
            if info.get("registered"):
                self.deregister(arn, info)
            del self.tasks[arn]
        if self.lines_written == written:
            self.record_changes(obs, counts=True)  # e.g. a target deregistered by hand

        for arn, task in live.items():
            self.tasks.setdefault(arn, {"pending_at": now, "ip": task_ip(task)})

        # Scale out: start the missing tasks at once; they are PENDING.
        missing = desired - len(live)
        for _ in range(max(0, missing)):
            started = ecs.run_task(
                cluster=CLUSTER, taskDefinition=obs["_svc"]["taskDefinition"], count=1,
                launchType="FARGATE", networkConfiguration=self.network,
                group=SERVICE_GROUP, startedBy=deployment,
            )
            if started.get("failures"):
                raise WorldError(f"run_task failed: {started['failures']}")
            task = started["tasks"][0]
            arn = task["taskArn"]
            self.tasks[arn] = {"pending_at": time.monotonic(), "ip": task_ip(task)}
            self.record(f"task started {short(arn)} (PENDING)", "task_started",
                        task=arn, ip=task_ip(task))

        # Scale in: surplus targets are deregistered first, then the tasks stopped.
        surplus = -missing
        if surplus > 0:
            def order(arn: str) -> tuple[int, float]:
                info = self.tasks[arn]
                # PENDING first, then not yet healthy, then the newest healthy
                rank = 0 if "running_at" not in info else (1 if not info.get("registered") else 2)
                return (rank, -info["pending_at"])

            victims = sorted((a for a in live if a in self.tasks), key=order)[:surplus]
            for arn in victims:
                if self.tasks[arn].get("registered"):
                    self.deregister(arn, self.tasks[arn])
            for arn in victims:
                self.stop_task(arn, f"Scaling activity initiated by (deployment {deployment})",
                               "ServiceSchedulerInitiated")

        # PENDING -> RUNNING (or stopped with --fail-start) after --task-start-delay.
        backend = ecs_backend()
        for arn, info in list(self.tasks.items()):
            if info.get("stopped_by_world") or "running_at" in info:
                continue
            if time.monotonic() - info["pending_at"] < self.task_start_delay:
                continue
            if self.fail_start:
                self.stop_task(arn, self.fail_start, "TaskFailedToStart")
                continue
            model = backend.tasks[CLUSTER][arn]
            if model.desired_status != "RUNNING":
                continue  # stopped by someone else meanwhile; seen next tick
            model.started_at = _now()
            for container in model.containers:
                container.last_status = "RUNNING"
            model.last_status = "RUNNING"  # no API for this: the ECS agent's job
            info["running_at"] = time.monotonic()
            self.record(f"task running {short(arn)} {info['ip']}", "task_running",
                        task=arn, ip=info["ip"])

        # RUNNING -> healthy target after --health-delay.
        for arn, info in list(self.tasks.items()):
            if info.get("stopped_by_world") or info.get("registered") or "running_at" not in info:
                continue
            if time.monotonic() - info["running_at"] < self.health_delay:
                continue
            elb.register_targets(TargetGroupArn=self.arns["ecs_tg"],
                                 Targets=[{"Id": info["ip"], "Port": APP_PORT}])
            info["registered"] = True
            self.record(f"target registered {info['ip']} ({short(arn)})",
                        "target_registered", task=arn, ip=info["ip"])

    def deregister(self, arn: str, info: dict[str, Any]) -> None:
        self.c["elbv2"].deregister_targets(
            TargetGroupArn=self.arns["ecs_tg"], Targets=[{"Id": info["ip"], "Port": APP_PORT}]
        )
        info["registered"] = False
        self.record(f"target deregistered {info['ip']} ({short(arn)})",
                    "target_deregistered", task=arn, ip=info["ip"])

    def stop_task(self, arn: str, reason: str, code: str) -> None:
        _PENDING_STOP_CODES[arn.rsplit("/", 1)[-1]] = code
        self.c["ecs"].stop_task(cluster=CLUSTER, task=arn, reason=reason)
        self.tasks[arn]["stopped_by_world"] = True
        self.record(f"task stopped {short(arn)}: {reason}", "task_stopped",
                    task=arn, reason=reason)

    def run(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while self.stop_reason is None:
            if time.monotonic() >= deadline:
                self.stop_reason = f"lifetime of {self.lifetime:g}s elapsed"
                break
            if os.getppid() != self.parent:
                self.stop_reason = "parent process exited"
                break
            try:
                self.step()
                self.error_seen = None
            except Exception as exc:  # keep the world up; say what broke, once
                message = f"{type(exc).__name__}: {exc}"
                if message != self.error_seen:
                    log.error("scheduler step failed: %s", message)
                    self.error_seen = message
            time.sleep(self.tick)
        log.info("stopping: %s", self.stop_reason)


def cmd_serve(args: argparse.Namespace) -> int:
    for name in ("task_start_delay", "health_delay", "sticky_secs", "lifetime", "tick"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative")
    if args.tick == 0 or args.tick > 5:
        raise UsageError("--tick must be in (0, 5] seconds")
    world = World(args)

    def on_signal(signum: int, _frame: Any) -> None:
        world.stop_reason = f"signal {signal.Signals(signum).name}"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        world.start()
        if world.stop_reason is None:
            world.run()
    finally:
        world.stop()
    return 0


# --------------------------------------------------------------------------
# alarm / snapshot / timeline / wait
# --------------------------------------------------------------------------


def alarm_from_event(path: Path) -> tuple[str, str, str, str | None] | None:
    """(name, state, reason, reason data) from a recorded EventBridge event; None for a tick."""
    try:
        event = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"event file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"event file {path} is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise UsageError(f"event file {path}: expected a JSON object")
    kind = event.get("detail-type")
    if kind == "Scheduled Event":
        return None
    if kind != "CloudWatch Alarm State Change" or event.get("source") != "aws.cloudwatch":
        raise UsageError(
            f"event file {path}: not a CloudWatch alarm state change or a scheduled event "
            f"(source={event.get('source')!r}, detail-type={kind!r})"
        )
    detail = event.get("detail") or {}
    name = detail.get("alarmName")
    state = (detail.get("state") or {}).get("value")
    if not isinstance(name, str) or not name:
        raise UsageError(f"event file {path}: detail.alarmName is missing")
    if state not in ALARM_STATES:
        raise UsageError(
            f"event file {path}: detail.state.value is {state!r}, expected one of {ALARM_STATES}"
        )
    reason = (detail.get("state") or {}).get("reason") or f"replayed from {path.name}"
    data = (detail.get("state") or {}).get("reasonData")
    if data is not None:
        try:
            json.loads(data)
        except (TypeError, ValueError):
            data = None
    return name, state, reason, data


def cmd_alarm(args: argparse.Namespace) -> int:
    if args.event:
        parsed = alarm_from_event(Path(args.event))
        if parsed is None:
            print(f"{args.event}: scheduled tick, no alarm state to set")
            return 0
        name, state, reason, data = parsed
    else:
        name, state = args.name or ALARM_HIGH, args.state
        reason, data = "set by world.py alarm", None
    world = read_world(Path(args.dir))
    cw = clients(world["endpoint"])["cloudwatch"]
    kwargs: dict[str, Any] = {"AlarmName": name, "StateValue": state, "StateReason": reason}
    if data is not None:
        kwargs["StateReasonData"] = data
    try:
        cw.set_alarm_state(**kwargs)
    except cw.exceptions.ResourceNotFound:
        raise WorldError(f"alarm {name!r} does not exist in the world") from None
    print(f"alarm {name} -> {state}")
    return 0


def snapshot(directory: Path) -> dict[str, Any]:
    world = read_world(directory)
    arns = world["arns"]
    c = clients(world["endpoint"])
    ecs, elb, cw = c["ecs"], c["elbv2"], c["cloudwatch"]
    svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    arn_list = list_service_tasks(ecs, "RUNNING") + list_service_tasks(ecs, "STOPPED")
    tasks = describe_tasks(ecs, arn_list)
    health = elb.describe_target_health(TargetGroupArn=arns["ecs_tg"])["TargetHealthDescriptions"]
    default = elb.describe_listeners(ListenerArns=[arns["listener"]])["Listeners"][0]["DefaultActions"]
    rule = elb.describe_rules(RuleArns=[arns["rule"]])["Rules"][0]
    alarms = cw.describe_alarms(AlarmNames=arns.get("alarms", [ALARM_HIGH]))
    lw, ew = forward_weights(default, arns["lambda_tg"], arns["ecs_tg"])
    rlw, rew = forward_weights(rule["Actions"], arns["lambda_tg"], arns["ecs_tg"])
    return {
        "desired": svc["desiredCount"],
        "running": sum(1 for t in tasks if t["lastStatus"] == "RUNNING"),
        "pending": sum(1 for t in tasks if t["lastStatus"] in ("PROVISIONING", "PENDING")),
        "healthy": sum(1 for d in health if d["TargetHealth"]["State"] == "healthy"),
        "service": {k: svc.get(k) for k in ("desiredCount", "runningCount", "pendingCount",
                                            "status")},
        "lambda_weight": lw,
        "ecs_weight": ew,
        "rule_lambda_weight": rlw,
        "rule_ecs_weight": rew,
        "listener_default_actions": default,
        "rule_actions": rule["Actions"],
        "rule_conditions": rule["Conditions"],
        "targets": [{"id": d["Target"]["Id"], "port": d["Target"].get("Port"),
                     "state": d["TargetHealth"]["State"]} for d in health],
        "alarms": {a["AlarmName"]: a["StateValue"]
                   for a in alarms["MetricAlarms"] + alarms.get("CompositeAlarms", [])},
        "tasks": [{
            "taskArn": t["taskArn"],
            "lastStatus": t["lastStatus"],
            "desiredStatus": t.get("desiredStatus"),
            "stoppedReason": t.get("stoppedReason"),
            "stopCode": t.get("stopCode"),
            "group": t.get("group"),
            "startedBy": t.get("startedBy"),
            "ip": task_ip(t),
        } for t in tasks],
    }


def cmd_snapshot(args: argparse.Namespace) -> int:
    print(json.dumps(snapshot(Path(args.dir)), indent=2, default=str))
    return 0


def read_timeline(directory: Path) -> list[dict[str, Any]]:
    path = directory / TIMELINE
    if not path.exists():
        raise WorldError(f"{path} does not exist: no world has run in {directory}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cmd_timeline(args: argparse.Namespace) -> int:
    lines = read_timeline(Path(args.dir))
    if not lines:
        print("(empty timeline)")
        return 0
    t0 = lines[0]["t"]
    print(f"{'t(s)':>8}  {'event':<58} {'des/run':>7} {'hlt':>3} {'lam/ecs':>7}  alarm")
    for ln in lines:
        event = ln["event"] if len(ln["event"]) <= 58 else ln["event"][:55] + "..."
        print(
            f"{ln['t'] - t0:8.2f}  {event:<58} {ln['desired']:>3}/{ln['running']:<3} "
            f"{ln['healthy']:>3} {str(ln['lambda_weight']):>3}/{str(ln['ecs_weight']):<3}  "
            f"{ln['alarm']}"
        )
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    deadline = time.monotonic() + args.timeout
    path = directory / WORLD_JSON
    while True:
        if path.exists():
            try:
                world = json.loads(path.read_text())
            except json.JSONDecodeError:
                world = None
            if world:
                if endpoint_answers(world["endpoint"]):
                    print(world["endpoint"])
                    return 0
                if not pid_alive(int(world.get("pid", 0)) or -1):
                    raise WorldError(f"the world process (pid {world.get('pid')}) of {path} "
                                     "is not running")
        if time.monotonic() >= deadline:
            what = "endpoint does not answer" if path.exists() else f"{path} not written"
            raise WorldError(f"world not ready after {args.timeout:g}s: {what} "
                             "(is `world.py serve` running? see its log)")
        time.sleep(0.1)


# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="world.py", description="The local AWS world for spillover (moto + a fake ECS scheduler)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run moto, seed the topology, play the ECS scheduler")
    p.add_argument("--dir", required=True, help="state directory (world.json, timeline.jsonl)")
    p.add_argument("--task-start-delay", type=float, default=1.0, metavar="SECS",
                   help="seconds a started task stays PENDING before RUNNING (default 1.0)")
    p.add_argument("--health-delay", type=float, default=1.0, metavar="SECS",
                   help="seconds from RUNNING to a healthy target (default 1.0)")
    p.add_argument("--fail-start", metavar="REASON",
                   help="tasks never start: each is stopped with this stoppedReason")
    p.add_argument("--sticky-secs", type=int, default=3600, metavar="SECS",
                   help="target-group stickiness of the weighted forward actions, 0 for none "
                        "(default 3600)")
    p.add_argument("--lifetime", type=float, default=600.0, metavar="SECS",
                   help="exit by itself after this many seconds (default 600)")
    p.add_argument("--tick", type=float, default=0.1, metavar="SECS",
                   help="scheduler loop interval (default 0.1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("alarm", help="set an alarm's state (as CloudWatch would)")
    p.add_argument("--dir", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--state", choices=ALARM_STATES)
    g.add_argument("--event", metavar="EVENT.json",
                   help="recorded EventBridge event: sets detail.alarmName to detail.state.value")
    p.add_argument("--name", help=f"alarm name with --state (default {ALARM_HIGH})")
    p.set_defaults(func=cmd_alarm)

    p = sub.add_parser("snapshot", help="print the current state as JSON")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("timeline", help="print the timeline as a table")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("wait", help="block until the world is ready")
    p.add_argument("--dir", required=True)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECS")
    p.set_defaults(func=cmd_wait)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "alarm" and args.event and args.name:
        parser.error("alarm: --name goes with --state; with --event the name comes from the event")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s world %(levelname)s %(message)s")
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"world.py {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except WorldError as exc:
        print(f"world.py {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # botocore errors and the like
        print(f"world.py {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
