"""The ECS service scheduler and the ALB health checks, which moto does not have.

When the desired count rises the scheduler starts tasks (PENDING), moves each to RUNNING
after its start delay and registers its IP in the ECS target group after the health delay
(standing for the passing checks a new target needs: one in the late world, "After you
register the target, it must pass one health check to be considered healthy", ECS developer
guide, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/load-balancer-healthcheck.html;
`interval × healthy threshold` in the instant world). A share of starts can fail
(`start_failure_share`): the task stops before RUNNING with the reason ECS gives, and, the
desired count being unchanged, the scheduler starts a replacement, as a service does. With
`never_healthy` a task runs but never passes a check: ECS stops it once the target group has
seen `UnhealthyThresholdCount` failed checks ("Task failed ELB health checks") and starts a
replacement. When the count falls it
deregisters the surplus targets, lets them drain for the deregistration delay (the task
is then DEACTIVATING with desiredStatus STOPPED, as ECS shows it) and stops the tasks.

Every delay is in world seconds (`clock.now()`), so the closed loop's `--speed` applies.
"""

from __future__ import annotations

from typing import Any, Callable

from .aws import describe_tasks, short, task_ip
from .clock import Clock
from .names import APP_PORT, CLUSTER, SERVICE_GROUP, WorldError
from .patches import PENDING_STOP_CODES, ecs_backend, now_utc


class Scheduler:
    """The acting half of the world (mixed into `server.World`)."""

    c: dict[str, Any]
    arns: dict[str, Any]
    clock: Clock
    network: dict[str, Any]
    deployment: str
    fail_start: str | None
    start_failure: Callable[[], str | None]  # a drawn start failure's reason, or None
    never_healthy: bool
    unhealthy_delay: float
    # world seconds a new task stays PENDING (drawn per task), from RUNNING to healthy,
    # and of draining before a deregistered task is stopped
    start_delay: Callable[[], float]
    health_delay: float
    drain_delay: float
    # by task ARN: when it went PENDING / RUNNING, its IP, whether its target is registered,
    # when its draining ends
    tasks: dict[str, dict[str, Any]]
    lines_written: int

    def observe(self) -> dict[str, Any]: ...  # from TimelineRecorder
    def record(self, event: str, kind: str, **extra: Any) -> dict[str, Any]: ...
    def record_changes(self, obs: dict[str, Any], counts: bool) -> None: ...

    def step(self) -> dict[str, Any]:
        """One pass of the scheduler; returns the observation it started from."""
        ecs = self.c["ecs"]
        obs = self.observe()
        self.record_changes(obs, counts=False)
        written = self.lines_written
        now = self.clock.now()
        desired = obs["desired"]
        deployment = (obs["_svc"].get("deployments") or [{}])[0].get("id", self.deployment)
        live = {t["taskArn"]: t for t in obs["_live"]}

        # Draining tasks whose deregistration delay is over are stopped.
        for arn, info in list(self.tasks.items()):
            if "draining_until" in info and not info.get("stopped_by_world") \
                    and now >= info["draining_until"]:
                self.stop_task(arn, info["stop_reason"], "ServiceSchedulerInitiated")

        # Tasks that stopped (by anyone) lose their target, as ECS deregisters them.
        for arn, info in list(self.tasks.items()):
            if arn in live or ("draining_until" in info and not info.get("stopped_by_world")):
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
            self.tasks.setdefault(arn, {"pending_at": now, "ip": task_ip(task),
                                        "start_delay": self.start_delay(),
                                        "start_failure": self.start_failure()})

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
            self.tasks[arn] = {"pending_at": self.clock.now(), "ip": task_ip(task),
                               "start_delay": self.start_delay(),
                               "start_failure": self.start_failure()}
            self.record(f"task started {short(arn)} (PENDING)", "task_started",
                        task=arn, ip=task_ip(task))

        # Scale in: surplus targets are deregistered first; their tasks drain, then stop.
        surplus = -missing
        if surplus > 0:
            def order(arn: str) -> tuple[int, float]:
                info = self.tasks[arn]
                # PENDING first, then not yet healthy, then the newest healthy
                rank = 0 if "running_at" not in info else (1 if not info.get("registered") else 2)
                return (rank, -info["pending_at"])

            victims = sorted((a for a in live if a in self.tasks), key=order)[:surplus]
            reason = f"Scaling activity initiated by (deployment {deployment})"
            registered = [arn for arn in victims if self.tasks[arn].get("registered")]
            for arn in registered:
                self.deregister(arn, self.tasks[arn])
            for arn in victims:
                if arn in registered and self.drain_delay > 0:
                    self.start_draining(arn, self.tasks[arn], reason)
                else:
                    self.stop_task(arn, reason, "ServiceSchedulerInitiated")

        # PENDING -> RUNNING (or stopped with --fail-start) after the task's start delay.
        backend = ecs_backend()
        for arn, info in list(self.tasks.items()):
            if info.get("stopped_by_world") or "running_at" in info or "draining_until" in info:
                continue
            if self.clock.now() - info["pending_at"] < info["start_delay"]:
                continue
            failure = self.fail_start or info.get("start_failure")
            if failure:
                self.stop_task(arn, failure, "TaskFailedToStart")
                continue
            model = backend.tasks[CLUSTER][arn]
            if model.desired_status != "RUNNING":
                continue  # stopped by someone else meanwhile; seen next tick
            model.started_at = now_utc()
            for container in model.containers:
                container.last_status = "RUNNING"
            model.last_status = "RUNNING"  # no API for this: the ECS agent's job
            info["running_at"] = self.clock.now()
            self.record(f"task running {short(arn)} {info['ip']}", "task_running",
                        task=arn, ip=info["ip"])

        # RUNNING -> healthy target after the health delay (or stopped, never healthy).
        for arn, info in list(self.tasks.items()):
            if info.get("stopped_by_world") or info.get("registered") or "running_at" not in info \
                    or "draining_until" in info:
                continue
            if self.never_healthy:
                if self.clock.now() - info["running_at"] >= self.unhealthy_delay:
                    self.stop_task(arn, f"Task failed ELB health checks in (target-group "
                                        f"{self.arns['ecs_tg']})", "ServiceSchedulerInitiated")
                continue
            if self.clock.now() - info["running_at"] < self.health_delay:
                continue
            self.c["elbv2"].register_targets(TargetGroupArn=self.arns["ecs_tg"],
                                             Targets=[{"Id": info["ip"], "Port": APP_PORT}])
            info["registered"] = True
            info["healthy_at"] = self.clock.now()
            self.record(f"target registered {info['ip']} ({short(arn)})",
                        "target_registered", task=arn, ip=info["ip"])
        return obs

    def start_draining(self, arn: str, info: dict[str, Any], reason: str) -> None:
        """The task is told to stop and drains: ECS shows desiredStatus STOPPED and
        lastStatus DEACTIVATING until the deregistration delay is over."""
        model = ecs_backend().tasks[CLUSTER][arn]
        model.desired_status = "STOPPED"
        model.last_status = "DEACTIVATING"
        model.stopping_at = now_utc()
        info["draining_until"] = self.clock.now() + self.drain_delay
        info["stop_reason"] = reason
        self.record(f"task draining {short(arn)} for {self.drain_delay:g}s", "task_draining",
                    task=arn)

    def deregister(self, arn: str, info: dict[str, Any]) -> None:
        self.c["elbv2"].deregister_targets(
            TargetGroupArn=self.arns["ecs_tg"], Targets=[{"Id": info["ip"], "Port": APP_PORT}]
        )
        info["registered"] = False
        self.record(f"target deregistered {info['ip']} ({short(arn)})",
                    "target_deregistered", task=arn, ip=info["ip"])

    def stop_task(self, arn: str, reason: str, code: str) -> None:
        PENDING_STOP_CODES[arn.rsplit("/", 1)[-1]] = code
        self.c["ecs"].stop_task(cluster=CLUSTER, task=arn, reason=reason)
        self.tasks[arn]["stopped_by_world"] = True
        self.record(f"task stopped {short(arn)}: {reason}", "task_stopped",
                    task=arn, reason=reason)
