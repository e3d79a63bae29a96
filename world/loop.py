"""The closed loop: a scenario's traffic drives the metrics, the metrics the alarms, the
alarms the controller, and the controller's writes the traffic.

Each world second: the scheduler plays ECS (tasks start, turn healthy, drain, stop); the
listener's weights and stickiness, the service and the targets are read from moto (what
the controller really wrote), and the split comes into force on the data plane once its
propagation delay is over; the data plane splits the demand and serves it; the metrics
AWS would publish are recorded, each reaching CloudWatch after its ingestion delay (and put
into moto as they arrive); once a minute, at a fixed offset, the alarms are evaluated as
CloudWatch does over what has arrived, and each state change is set in moto and sent to the
controller as EventBridge's event, late and at least once; the reconcile tick is delivered
at its rate. One timeline row is written per second. At the end, the summary and the picture.

The scenario's `timing` says which world: "late" (the default, as late as AWS documents it:
`world/scenarios/README.md`, "The late world") or "instant" (`--instant`).
"""

from __future__ import annotations

import copy

import json
import logging
import math
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import controllers, events
from .alarms import evaluate, evaluation_due, parse_alarm
from .autoscaling import AutoScaler
from .clock import Clock
from .dataplane import PlaneConfig, PlaneState, SecondIn, step
from .lambda_runtime import Invocation, LambdaFunction
from .late import EventBus, Propagation
from .metric_store import MetricStore
from .metrics import Publisher, samples
from .names import ACCOUNT, REGION, START_FAILURES
from .scenario import Scenario, expand
from .server import World, WorldOptions
from .summary import summarize, wait_reactions
from .topology import TopologyOptions

log = logging.getLogger("world")

TIMELINE_ROWS = "timeline.jsonl"
START_FAILURE_CODES = tuple(reason.split(":")[0] for reason in START_FAILURES)
SECONDS = "seconds.jsonl"
SUMMARY = "summary.json"
BOUNDS_CHECK = 3  # world seconds between two looks at the scalable target's bounds


def scaled_whole_secs(world_secs: float, speed: float) -> int:
    """A duration AWS keeps in whole seconds, as moto must hold it at `speed`."""
    return max(1, round(world_secs / speed)) if world_secs > 0 else 0


def scaled_alarm(params: dict[str, Any], speed: float) -> dict[str, Any]:
    """`PutMetricAlarm` parameters as moto must hold them at `speed`: each period (the
    alarm's, and each metric math query's) in the controller's time, like every other
    duration a controller reads. The world publishes one datapoint per world minute, one
    scaled period apart, so a controller that reads an alarm's own queries (spillover's
    demand reading) sees per-period values the alarm's threshold is about."""
    out = copy.deepcopy(params)
    if "Period" in out:
        out["Period"] = scaled_whole_secs(out["Period"], speed)
    for query in out.get("Metrics", []):
        if "Period" in query:
            query["Period"] = scaled_whole_secs(query["Period"], speed)
        if "MetricStat" in query:
            query["MetricStat"]["Period"] = scaled_whole_secs(query["MetricStat"]["Period"], speed)
    return out


def stickiness_of(actions: list[dict[str, Any]]) -> int:
    """Group stickiness duration of the first forward action (moto's seconds), 0 if off."""
    for action in actions or []:
        if action.get("Type") != "forward":
            continue
        cfg = (action.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig") or {}
        return int(cfg.get("DurationSeconds") or 0) if cfg.get("Enabled") else 0
    return 0


class Loop:
    def __init__(self, scenario: Scenario, controller: str, out: Path, speed: float,
                 controller_env: dict[str, str] | None = None) -> None:
        if controller not in controllers.CONTROLLERS:
            raise ValueError(f"unknown controller {controller!r}: expected one of "
                             f"{', '.join(controllers.CONTROLLERS)}")
        self.s = scenario
        self.controller = controller
        self.out = out
        self.speed = speed
        self.clock = Clock(speed=speed)
        self.stop = threading.Event()
        self.plane_cfg = PlaneConfig.from_scenario(scenario)
        self.plane = PlaneState()
        self.store = MetricStore()
        self.alarm_specs: dict[str, Any] = {}
        self.alarm_params: dict[str, dict[str, Any]] = {}
        self.alarm_state: dict[str, str] = {}
        self.alarm_since: dict[str, datetime] = {}
        self.alarm_reason: dict[str, str] = {}
        self.function: LambdaFunction | None = None
        self.setup: controllers.ControllerSetup | None = None
        self.finished: list[Invocation] = []
        self.finished_lock = threading.Lock()
        self.delivered: list[dict[str, Any]] = []
        self.lag_max = 0.0
        # settings that override the scenario's `controller.env` (e.g. to compare policies)
        self.controller_env = dict(controller_env or {})
        self.scaler: AutoScaler | None = None
        # An account's metrics have a history: in the late world, the minutes before second 0
        # are played at the first rate, all on Lambda, so that the first evaluations read
        # data that has arrived rather than none (`history`).
        cw = scenario.cloudwatch_timing
        longest = max((high for _, high in cw.ingestion_delay_secs.values()), default=0.0)
        self.history_secs = int(math.ceil((60 + longest) / 60) * 60) if longest > 0 else 0
        events_timing = scenario.events_timing
        self.bus = EventBus(events_timing.delivery_delay_secs, events_timing.duplicate_share,
                            seed=scenario.random_seed)
        # (lambda weight, ECS weight, stickiness in AWS seconds) in force on the data plane
        self.split: Propagation[tuple[int, int, int]] = Propagation(
            scenario.propagation_secs, seed=scenario.random_seed)

    # -- setting up ----------------------------------------------------------

    def world_options(self) -> WorldOptions:
        s, speed = self.s, self.speed

        def alarms(names: dict[str, str]) -> list[dict[str, Any]]:
            expanded = [expand(a, names) for a in s.alarms]
            self.alarm_params = {a["AlarmName"]: a for a in expanded}
            # The world evaluates them in AWS time; moto holds them in the controller's.
            return [scaled_alarm(a, speed) for a in expanded]

        ecs = s.ecs
        return WorldOptions(
            dir=self.out,
            task_start_delay=(float(ecs.task_start_secs[0]), float(ecs.task_start_secs[1])),
            health_delay=s.new_target_health_secs,
            drain_delay=float(ecs.deregistration_delay_secs),
            start_failure_share=ecs.start_failure_share if s.late else 0.0,
            never_healthy=ecs.never_healthy,
            unhealthy_delay=float(ecs.health_check_interval_secs * ecs.unhealthy_threshold),
            lifetime=s.duration_secs / speed + 600,
            clock=self.clock,
            random_seed=s.random_seed,
            topology=TopologyOptions(
                # What a controller reads from AWS is in its (scaled) time.
                sticky_secs=scaled_whole_secs(s.listener.stickiness_secs, speed),
                health_check_interval_secs=ecs.health_check_interval_secs,
                healthy_threshold=ecs.healthy_threshold,
                deregistration_delay_secs=scaled_whole_secs(ecs.deregistration_delay_secs, speed),
                function_name=s.lambda_.function_name,
                alarms=alarms,
            ),
            watch_alarm=s.controller.alarm_names[0],
            observe_rule_and_alarm=False,
        )

    def on_done(self, invocation: Invocation) -> None:
        with self.finished_lock:
            self.finished.append(invocation)
        log.info("controller %s %s attempt %d: %s", self.controller, invocation.kind,
                 invocation.attempt, invocation.outcome)

    def start_controller(self, world: World) -> None:
        c = self.s.controller
        self.setup = controllers.setup(
            self.controller, world_env=world.env(), scenario_env={**c.env, **self.controller_env},
            speed=self.speed,
            alarm_names=list(c.alarm_names), warm_alarm_names=list(c.warm_alarm_names))
        if self.setup is None:
            return
        self.function = LambdaFunction(
            name=self.controller, argv=self.setup.argv, env=self.setup.env, clock=self.clock,
            timeout_secs=c.timeout_secs, log_path=self.out / "controller.log",
            on_done=self.on_done)
        self.function.start()

    # -- events --------------------------------------------------------------

    def deliver(self, event: dict[str, Any], kind: str, t: int, duplicate: bool = False) -> None:
        setup = self.setup
        if setup is None:
            return
        if kind == "tick" and not setup.ticks:
            return
        if kind == "alarm" and (setup.pattern is None or not events.matches(setup.pattern, event)):
            return
        self.delivered.append({"t": t, "kind": kind,
                               "alarm": event.get("detail", {}).get("alarmName"),
                               "state": event.get("detail", {}).get("state", {}).get("value"),
                               "duplicate": duplicate})
        assert self.function is not None
        self.function.invoke_async(event, kind)

    def evaluate_alarms(self, world: World, t: int) -> None:
        now = datetime.fromtimestamp(self.clock.wall(t), timezone.utc)
        for name, spec in self.alarm_specs.items():
            current = self.alarm_state[name]
            result = evaluate(spec, self.store, float(t), current, epoch=self.clock.start_wall,
                              speed=self.speed)
            if result.state == current:
                continue
            kwargs = {"AlarmName": name, "StateValue": result.state,
                      "StateReason": result.reason}
            if result.reason_data:
                kwargs["StateReasonData"] = result.reason_data
            world.c["cloudwatch"].set_alarm_state(**kwargs)
            params = self.alarm_params[name]
            event = events.alarm_state_change(
                alarm_name=name,
                alarm_arn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
                description=params.get("AlarmDescription"),
                metrics=events.configuration_metrics(params),
                state=result.state, reason=result.reason, reason_data=result.reason_data,
                timestamp=now, previous_state=current,
                previous_reason=self.alarm_reason.get(name, ""),
                previous_timestamp=self.alarm_since[name])
            self.alarm_state[name] = result.state
            self.alarm_since[name] = now
            self.alarm_reason[name] = result.reason
            log.info("t=%ds alarm %s %s -> %s", t, name, current, result.state)
            self.bus.put(t, event, "alarm")

    # -- the loop ------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        s = self.s
        self.out.mkdir(parents=True, exist_ok=True)
        world = World(self.world_options())
        rows_path = self.out / SECONDS
        rows_path.unlink(missing_ok=True)
        rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/spillover-reconcile"
        started = time.monotonic()
        try:
            world.start()
            extra = s.cloudwatch_timing.extra_range_periods
            for name, params in self.alarm_params.items():
                self.alarm_specs[name] = parse_alarm(params, extra_range_periods=extra)
                self.alarm_state[name] = "OK"  # as seeded
                self.alarm_since[name] = datetime.now(timezone.utc)
            if s.ecs.auto_scaling is not None:
                aas = world.session_client("application-autoscaling")
                self.scaler = AutoScaler(s.ecs.auto_scaling, aas, world.c["ecs"])
                self.scaler.register()
            self.start_controller(world)
            publisher = Publisher(self.store, world.c["cloudwatch"], self.clock,
                                  s.cloudwatch_timing, seed=s.random_seed,
                                  request_secs=s.request_secs)
            # The world's clock starts now: world second 0 is the first row.
            self.clock.start_mono = time.monotonic()
            self.clock.start_wall = time.time()
            self.history(world, publisher)
            with rows_path.open("w") as rows:
                for t in range(int(s.duration_secs)):
                    if not self.clock.sleep_until(t, self.stop):
                        break
                    self.lag_max = max(self.lag_max, self.clock.now() - t)
                    rows.write(json.dumps(self.second(world, publisher, t, rule_arn)) + "\n")
            publisher.flush()
        finally:
            if self.function is not None:
                self.function.stop()
            world.stop_reason = world.stop_reason or "scenario over"
            world.stop()
        return self.finish(time.monotonic() - started, world)

    def history(self, world: World, publisher: Publisher) -> None:
        """The metrics of the `history_secs` before second 0, at once: the first rate, all on
        Lambda; their batches reach CloudWatch as any others do."""
        for t in range(-self.history_secs, 0):
            self.plane, out = step(self.plane, self.plane_cfg, SecondIn(
                t=t, demand_rps=demand(self.s, t), lambda_weight=1, ecs_weight=0,
                stickiness_secs=0, ecs_healthy=0))
            publisher.add(t, samples(out, world.names, 0, errors_only_nonzero=True))

    def second(self, world: World, publisher: Publisher, t: int, rule_arn: str) -> dict[str, Any]:
        s = self.s
        obs = world.step_safely() or world.observe()
        written = (obs["lambda_weight"] or 0, obs["ecs_weight"] or 0,
                   round(stickiness_of(obs["_default"]) * self.speed))
        lw, ew, sticky = self.split.step(t, written)
        draining = sum(1 for i in world.tasks.values()
                       if "draining_until" in i and not i.get("stopped_by_world"))
        self.plane, out = step(self.plane, self.plane_cfg, SecondIn(
            t=t, demand_rps=demand(s, t), lambda_weight=lw, ecs_weight=ew,
            stickiness_secs=int(sticky), ecs_healthy=obs["healthy"]))
        publisher.add(t, samples(out, world.names, obs["healthy"], errors_only_nonzero=s.late))
        if self.scaler is not None:
            self.scaler.observe(out.to_ecs, obs["healthy"])
            if t > 0 and t % 60 == 0:
                self.scaler.minute(float(t), obs["desired"])
            elif t % BOUNDS_CHECK == 0:
                self.scaler.bounds(obs["desired"])
        # Once a minute, at the scenario's offset into it ("Evaluating an alarm", CloudWatch
        # user guide, alarm-evaluation: standard-resolution alarms are evaluated every minute).
        if evaluation_due(t, s.cloudwatch_timing.evaluation_offset_secs):
            self.evaluate_alarms(world, t)
        for d in self.bus.due(t):
            self.deliver(d.event, d.kind, t, duplicate=d.duplicate)
        tick = s.controller.tick_secs
        if tick > 0 and t > 0 and t % int(tick) == 0:
            when = datetime.fromtimestamp(self.clock.wall(t), timezone.utc)
            self.deliver(events.scheduled_event(time=when, rule_arn=rule_arn), "tick", t)
        busy = self.function is not None and not self.function.idle()
        return {
            "t": t,
            "demand": round(out.demand, 3),
            "lambda_served": round(out.lambda_served, 3),
            "ecs_served": round(out.ecs_served, 3),
            "e502": round(out.lambda_throttled, 3),
            "e503": round(out.ecs_no_target, 3),
            "e5xx_other": round(out.ecs_overloaded, 3),
            "to_lambda": round(out.to_lambda, 3),
            "to_ecs": round(out.to_ecs, 3),
            "lambda_concurrency": round(out.lambda_concurrency, 3),
            "lambda_weight": lw,
            "ecs_weight": ew,
            "written_weights": [written[0], written[1]],
            "stickiness_secs": sticky,
            "desired": obs["desired"],
            "running": obs["running"],
            "pending": obs["pending"],
            "draining": draining,
            "healthy": obs["healthy"],
            "alarms": dict(self.alarm_state),
            "controller_busy": busy,
        }

    def finish(self, wall_secs: float, world: World) -> dict[str, Any]:
        rows = [json.loads(x) for x in (self.out / SECONDS).read_text().splitlines() if x]
        calls = world.calls.snapshot() if world.calls else {}
        summary = summarize(
            rows, self.s, controller=self.controller, invocations=self.finished,
            delivered=self.delivered,
            aws_calls=calls.get(self.controller, 0) if self.controller != "none" else 0)
        api_log = self.out / "api.jsonl"
        api = [json.loads(x) for x in api_log.read_text().splitlines() if x] \
            if api_log.exists() else []
        timed = world.calls.timed(self.controller) if world.calls else []
        with (self.out / "calls.jsonl").open("w") as fh:
            for t, action in timed:
                fh.write(json.dumps({"t": round(t, 4), "action": action}) + "\n")
        summary["reactions"] = wait_reactions(api, timed, self.speed)
        timeline = self.out / TIMELINE_ROWS
        world_lines = [json.loads(x) for x in timeline.read_text().splitlines() if x] \
            if timeline.exists() else []
        summary.update(failures_and_notifications(world_lines, api))
        summary["speed"] = self.speed
        summary["wall_secs"] = round(wall_secs, 1)
        summary["lag_max_secs"] = round(self.lag_max, 2)
        (self.out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        (self.out / "invocations.json").write_text(json.dumps(
            [i.__dict__ for i in self.finished], indent=2, default=str) + "\n")
        return summary


def failures_and_notifications(world_lines: list[dict[str, Any]], api: list[dict[str, Any]]
                                ) -> dict[str, Any]:
    """How many tasks failed to start or to pass a health check (the world's timeline), and
    the notifications the controller published, by detail type (its PutEvents)."""
    stopped = [line.get("reason", "") for line in world_lines if line.get("kind") == "task_stopped"]
    notifications: dict[str, int] = {}
    for entry in api:
        if entry.get("api") == "PutEvents":
            for detail_type in entry.get("detail_types", []):
                notifications[detail_type] = notifications.get(detail_type, 0) + 1
    return {
        "task_start_failures": sum(1 for r in stopped if r.startswith(START_FAILURE_CODES)),
        "task_health_failures": sum(1 for r in stopped if r.startswith("Task failed ELB health checks")),
        "notifications": notifications,
    }


def demand(s: Scenario, t: float) -> float:
    from .scenario import demand_at

    return demand_at(s.demand, t)


def run_loop(scenario: Scenario, controller: str, out: Path, speed: float,
             picture: bool = True, controller_env: dict[str, str] | None = None
             ) -> dict[str, Any]:
    if out.exists():
        shutil.rmtree(out)
    summary = Loop(scenario, controller, out, speed, controller_env).run()
    if controller_env:
        summary["controller_env"] = controller_env
    if picture:
        from .plot import draw

        draw(out)
    return summary


def default_speed(scenario: Scenario) -> float:
    """About three wall minutes for a 30-minute scenario."""
    return max(1.0, math.floor(scenario.duration_secs / 180))
