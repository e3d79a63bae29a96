"""The world's life: moto started in-process on 127.0.0.1 and patched, the topology
seeded, DIR/world.json written when ready, then the scheduler's loop until a signal, the
lifetime or the parent's exit stops it."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .aws import clients
from .cbor import CborFront
from .clock import Clock
from .faults import Faults
from .names import (
    ACCESS_KEY, ALARM_HIGH, API_LOG, CLUSTER, REGION, SECRET_KEY, SERVICE, START_FAILURES, TIMELINE,
    WORLD_JSON, UsageError, WorldError,
)
from .patches import CallCounter, apply_moto_patches, set_api_log
from .scheduler import Scheduler
from .timeline import TimelineRecorder
from .topology import TopologyOptions, seed

log = logging.getLogger("world")


@dataclass
class WorldOptions:
    dir: Path
    # world seconds a task stays PENDING: a fixed value or a (low, high) range drawn per task
    task_start_delay: float | tuple[float, float] = 1.0
    health_delay: float = 1.0
    drain_delay: float = 0.0
    fail_start: str | None = None
    # the late world's ECS: the share of task starts that fail (each drawn per task), and
    # tasks that run but never pass a health check, stopped after `unhealthy_delay` secs
    start_failure_share: float = 0.0
    never_healthy: bool = False
    unhealthy_delay: float = 0.0
    lifetime: float = 600.0  # wall seconds
    tick: float = 0.1  # wall seconds between two scheduler passes
    clock: Clock = field(default_factory=Clock)
    random_seed: int = 1
    topology: TopologyOptions = field(default_factory=TopologyOptions)
    watch_alarm: str | None = None  # the alarm the timeline shows (default: the first)
    observe_rule_and_alarm: bool = True  # the closed loop needs neither each second
    # (MinCapacity, MaxCapacity): the service is a scalable target whose bounds the world keeps
    scalable: tuple[int, int] | None = None


class World(TimelineRecorder, Scheduler):
    def __init__(self, opts: WorldOptions) -> None:
        self.opts = opts
        self.dir = Path(opts.dir)
        self.clock = opts.clock
        rng = random.Random(opts.random_seed)
        delay = opts.task_start_delay
        self.start_delay: Callable[[], float] = (
            (lambda: rng.uniform(*delay)) if isinstance(delay, tuple) else (lambda: delay)
        )
        self.health_delay = opts.health_delay
        self.drain_delay = opts.drain_delay
        self.fail_start = opts.fail_start
        starts = random.Random(f"{opts.random_seed}/starts")
        share = opts.start_failure_share
        self.start_failure: Callable[[], str | None] = (
            lambda: starts.choice(START_FAILURES) if starts.random() < share else None)
        self.never_healthy = opts.never_healthy
        self.unhealthy_delay = opts.unhealthy_delay
        # Taken before seeding: a parent that dies while the world starts is noticed too.
        self.parent = os.getppid()
        self.stop_reason: str | None = None
        self.server: Any = None
        self.calls: CallCounter | None = None
        self.faults: Faults | None = None
        self.endpoint = ""
        self.c: dict[str, Any] = {}
        self.arns: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        self.network: dict[str, Any] = {}
        self.deployment = ""
        self.watch_alarm = opts.watch_alarm or ALARM_HIGH
        self.observe_rule_and_alarm = opts.observe_rule_and_alarm
        self.tasks: dict[str, dict[str, Any]] = {}
        self.last: dict[str, Any] | None = None
        self.lines_written = 0
        self.last_default_shape = ""
        self.last_rule_shape = ""
        self.timeline = self.dir / TIMELINE
        set_api_log(self.dir / API_LOG)
        self.error_seen: str | None = None
        self.aas: Any = None  # Application Auto Scaling, with --scalable

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
        wsgi = self.server._server  # werkzeug's server: its handler calls `server.app`
        # moto serves CloudWatch over Query and JSON only; the current SDKs speak CBOR. The
        # faults sit behind the CBOR front (it turns their JSON answers into CBOR) and inside
        # the counter, so a call answered with a fault still counts.
        self.faults = Faults(wsgi.app)
        self.calls = CallCounter(CborFront(self.faults))
        wsgi.app = self.calls
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        log.info("moto listening on %s", self.endpoint)

        # moto's backends live in the process: a world started after another one in the
        # same process (the closed loop's tests) starts from nothing.
        reset = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass

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
        topology = seed(self.c, self.opts.topology)
        self.arns, self.network = topology.arns, topology.network
        self.deployment, self.names = topology.deployment, topology.names
        if self.opts.watch_alarm is None:
            self.watch_alarm = topology.alarms[0]
        if self.opts.scalable is not None:
            low, high = self.opts.scalable
            self.aas = self.session_client("application-autoscaling")
            self.aas.register_scalable_target(
                ServiceNamespace="ecs", ResourceId=f"service/{CLUSTER}/{SERVICE}",
                ScalableDimension="ecs:service:DesiredCount", MinCapacity=low, MaxCapacity=high)
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

    def session_client(self, service: str) -> Any:
        """A boto3 client on this world for a service the world itself does not use."""
        return clients(self.endpoint, (service,))[service]

    def env(self) -> dict[str, str]:
        """What a process needs to reach this world as spillover."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "SPILLOVER_CLUSTER": CLUSTER,
            "SPILLOVER_SERVICE": SERVICE,
            "SPILLOVER_LISTENER_ARN": self.arns["listener"],
            "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": self.arns["lambda_tg"],
            "SPILLOVER_ECS_TARGET_GROUP_ARN": self.arns["ecs_tg"],
            "SPILLOVER_ALARM_NAMES": self.watch_alarm,
        }

    def write_world_json(self) -> None:
        o = self.opts
        doc = {
            "endpoint": self.endpoint,
            "region": REGION,
            "pid": os.getpid(),
            "env": self.env(),
            "arns": self.arns,
            "options": {
                "task_start_delay": o.task_start_delay,
                "health_delay": o.health_delay,
                "fail_start": o.fail_start,
                "sticky_secs": o.topology.sticky_secs,
                "lifetime": o.lifetime,
                "tick": o.tick,
            },
        }
        tmp = self.dir / f".{WORLD_JSON}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.dir / WORLD_JSON)

    def step_safely(self) -> dict[str, Any] | None:
        """One scheduler pass; an error is logged once and the world stays up."""
        try:
            obs = self.step()
            self.error_seen = None
            return obs
        except Exception as exc:  # keep the world up; say what broke, once
            message = f"{type(exc).__name__}: {exc}"
            if message != self.error_seen:
                log.error("scheduler step failed: %s", message)
                self.error_seen = message
            return None

    def run(self) -> None:
        deadline = time.monotonic() + self.opts.lifetime
        while self.stop_reason is None:
            if time.monotonic() >= deadline:
                self.stop_reason = f"lifetime of {self.opts.lifetime:g}s elapsed"
                break
            if os.getppid() != self.parent:
                self.stop_reason = "parent process exited"
                break
            obs = self.step_safely()
            if obs is not None and self.opts.scalable is not None:
                self.keep_scalable_bounds(obs["desired"])
            time.sleep(self.opts.tick)
        log.info("stopping: %s", self.stop_reason)


    def keep_scalable_bounds(self, desired: int) -> None:
        """Application Auto Scaling moves the desired count into new bounds at once ("If
        it's below the minimum capacity ... adjusts the capacity of the scalable target to
        place it within these bounds", API_RegisterScalableTarget); moto does not."""
        targets = self.aas.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[f"service/{CLUSTER}/{SERVICE}"],
            ScalableDimension="ecs:service:DesiredCount")["ScalableTargets"]
        if not targets:
            return
        low, high = targets[0]["MinCapacity"], targets[0]["MaxCapacity"]
        if not low <= desired <= high:
            self.c["ecs"].update_service(cluster=CLUSTER, service=SERVICE,
                                         desiredCount=max(low, min(high, desired)))


def install_stop_signals(world: Any) -> None:
    def on_signal(signum: int, _frame: Any) -> None:
        world.stop_reason = f"signal {signal.Signals(signum).name}"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def cmd_serve(args: Any) -> int:
    for name in ("task_start_delay", "health_delay", "sticky_secs", "lifetime", "tick",
                 "deregistration_delay"):
        if (getattr(args, name) or 0) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative")
    if args.tick == 0 or args.tick > 5:
        raise UsageError("--tick must be in (0, 5] seconds")
    scalable = None
    if args.scalable is not None:
        try:
            low, high = (int(v) for v in args.scalable.split(","))
        except ValueError:
            raise UsageError(f"--scalable takes MIN,MAX, got {args.scalable!r}") from None
        if not 0 <= low <= high:
            raise UsageError(f"--scalable needs 0 <= MIN <= MAX, got {args.scalable!r}")
        scalable = (low, high)
    world = World(WorldOptions(
        dir=Path(args.dir), task_start_delay=args.task_start_delay,
        health_delay=args.health_delay, fail_start=args.fail_start,
        lifetime=args.lifetime, tick=args.tick,
        topology=TopologyOptions(sticky_secs=args.sticky_secs,
                                 deregistration_delay_secs=args.deregistration_delay),
        watch_alarm=ALARM_HIGH, scalable=scalable,
    ))
    install_stop_signals(world)
    try:
        world.start()
        if world.stop_reason is None:
            world.run()
    finally:
        world.stop()
    return 0
