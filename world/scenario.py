"""Scenarios: the documented JSON format (`world/scenarios/README.md`), checked on load.

A scenario is data, never code: demand over time, the clients, the Lambda function, the ECS
service, the listener's stickiness, the alarms (`PutMetricAlarm` parameters) and the controller's
settings. `load` and `parse` check every field, refuse unknown keys (a typo is an error, not a
silent default) and raise `ScenarioError` naming the file and the field path. Nothing here talks
to moto.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from world.alarms import AlarmError, parse_alarm

# The names a scenario's alarms may use as `${...}` in their strings; the loop fills them in.
PLACEHOLDERS = ("function", "lambda_tg", "ecs_tg", "load_balancer")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ScenarioError(ValueError):
    """A scenario that cannot run: `source` is the file, `path` the field (`ecs.task_start_secs[1]`)."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        super().__init__(f"{source}: {path or '(top level)'}: {message}")


@dataclass(frozen=True)
class Clients:
    """Who sends the demand: the share that keeps the ALB's target group cookie, and for how long."""

    sticky_share: float = 0.0
    session_secs: float = 300.0
    refresh_cookie: bool = True


@dataclass(frozen=True)
class LambdaSpec:
    function_name: str = "web-app"
    concurrency_limit: int = 1000
    burst_per_10s: int = 1000


@dataclass(frozen=True)
class AutoScalingSpec:
    """Target tracking on `ALBRequestCountPerTarget` (data only; the loop plays Application Auto Scaling).

    `target_requests_per_task` is the policy's TargetValue: requests per task per minute, since
    `ALBRequestCountPerTarget` is a one-minute Sum.
    """

    min_capacity: int
    max_capacity: int
    target_requests_per_task: float
    scale_out_cooldown_secs: float = 300.0
    scale_in_cooldown_secs: float = 300.0

    @property
    def target_rps_per_task(self) -> float:
        return self.target_requests_per_task / 60.0


@dataclass(frozen=True)
class EcsSpec:
    task_capacity_rps: float
    task_start_secs: tuple[float, float] = (30.0, 60.0)
    health_check_interval_secs: int = 5
    healthy_threshold: int = 2
    deregistration_delay_secs: int = 30
    idle_count: int = 0
    auto_scaling: AutoScalingSpec | None = None
    # The late world's ECS: a share of task starts that stop before RUNNING, tasks that run
    # but never pass a health check (ECS stops them after `unhealthy_threshold` failed checks).
    start_failure_share: float = 0.0
    never_healthy: bool = False
    unhealthy_threshold: int = 2

    @property
    def health_check_secs(self) -> int:
        """How long a started task takes to turn healthy in the instant world: interval x
        healthy threshold (the late world follows the documentation: one passing check)."""
        return self.health_check_interval_secs * self.healthy_threshold


@dataclass(frozen=True)
class ListenerSpec:
    stickiness_secs: int = 0  # target group stickiness DurationSeconds; 0: off
    # How long the data plane keeps the old split after a weight change (late world).
    propagation_secs: tuple[float, float] = (5.0, 30.0)


# AWS's own delays, as the late world plays them (`world/scenarios/README.md`, "The late world").
DEFAULT_INGESTION_DELAY_SECS: dict[str, tuple[float, float]] = {
    "AWS/Lambda": (60.0, 180.0),
    "AWS/ApplicationELB": (30.0, 90.0),
}


DEFAULT_REPORTERS: dict[str, int] = {"AWS/Lambda": 1, "AWS/ApplicationELB": 2}


@dataclass(frozen=True)
class CloudWatchSpec:
    """How late CloudWatch is: each namespace's samples go out once a minute, in one batch
    per reporter (`reporters`), each reaching CloudWatch after a delay drawn per namespace
    (`ingestion_delay_secs`, from the end of the minute); the world publishes what has arrived
    every `publish_every_secs`; alarms are evaluated once a minute, `evaluation_offset_secs`
    into it, over EvaluationPeriods + `extra_range_periods` periods."""

    ingestion_delay_secs: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(DEFAULT_INGESTION_DELAY_SECS))
    publish_every_secs: int = 10
    evaluation_offset_secs: int = 20
    extra_range_periods: int = 2
    reporters: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_REPORTERS))

    def delay_range(self, namespace: str) -> tuple[float, float]:
        """A namespace the scenario does not list reaches CloudWatch at once."""
        return self.ingestion_delay_secs.get(namespace, (0.0, 0.0))

    def reporters_of(self, namespace: str) -> int:
        """How many batches a namespace's minute comes in (1 where it has no delay)."""
        return self.reporters.get(namespace, 1) if self.delay_range(namespace)[1] > 0 else 1

    @property
    def elb_delay_max(self) -> float:
        return self.delay_range("AWS/ApplicationELB")[1]


@dataclass(frozen=True)
class EventsSpec:
    """EventBridge delivers at least once: each alarm state-change event after a drawn
    delay, and a share of them twice."""

    delivery_delay_secs: tuple[float, float] = (1.0, 10.0)
    duplicate_share: float = 0.1


INSTANT_CLOUDWATCH = CloudWatchSpec(ingestion_delay_secs={}, publish_every_secs=60,
                                    evaluation_offset_secs=0, extra_range_periods=0)
INSTANT_EVENTS = EventsSpec(delivery_delay_secs=(0.0, 0.0), duplicate_share=0.0)
TIMINGS = ("late", "instant")


@dataclass(frozen=True)
class ControllerSpec:
    alarm_names: tuple[str, ...]
    warm_alarm_names: tuple[str, ...] = ()
    tick_secs: float = 300.0
    timeout_secs: float = 300.0
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_secs: float
    demand: tuple[tuple[float, float], ...]
    request_secs: float
    clients: Clients
    lambda_: LambdaSpec
    ecs: EcsSpec
    listener: ListenerSpec
    alarms: tuple[dict, ...]
    controller: ControllerSpec
    random_seed: int = 1
    source: str = "<memory>"
    # "late": CloudWatch, EventBridge, the ALB and ECS as late as AWS documents them (the
    # default); "instant": every metric visible at once, alarms at the minute, a weight
    # change in force the next second, a new target healthy after `healthy_threshold` checks.
    timing: str = "late"
    cloudwatch: CloudWatchSpec = field(default_factory=CloudWatchSpec)
    events: EventsSpec = field(default_factory=EventsSpec)

    @property
    def late(self) -> bool:
        return self.timing == "late"

    def with_timing(self, timing: str) -> Scenario:
        """The same scenario in the late or the instant world."""
        if timing not in TIMINGS:
            raise ValueError(f"timing must be one of {', '.join(TIMINGS)}, got {timing!r}")
        return replace(self, timing=timing)

    @property
    def cloudwatch_timing(self) -> CloudWatchSpec:
        """The CloudWatch timing in force: the scenario's, or none in the instant world."""
        return self.cloudwatch if self.late else INSTANT_CLOUDWATCH

    @property
    def events_timing(self) -> EventsSpec:
        return self.events if self.late else INSTANT_EVENTS

    @property
    def propagation_secs(self) -> tuple[float, float]:
        return self.listener.propagation_secs if self.late else (0.0, 0.0)

    @property
    def new_target_health_secs(self) -> float:
        """From RUNNING to a healthy target. Late: one passing check ("After you register
        the target, it must pass one health check to be considered healthy", ECS developer
        guide, load-balancer-healthcheck); instant: interval x healthy threshold."""
        ecs = self.ecs
        return float(ecs.health_check_interval_secs * (1 if self.late else ecs.healthy_threshold))

    @property
    def lambda_capacity_rps(self) -> float:
        """What Lambda serves at its concurrency limit (Little's law)."""
        return self.lambda_.concurrency_limit / self.request_secs

    @property
    def peak_demand_rps(self) -> float:
        return max(rps for _, rps in self.demand)

    def demand_at(self, t: float) -> float:
        return demand_at(self.demand, t)

    def alarm(self, name: str) -> dict:
        """The alarm called `name`, as written (placeholders not expanded)."""
        for alarm in self.alarms:
            if alarm["AlarmName"] == name:
                return alarm
        raise KeyError(name)


def demand_at(points: Sequence[tuple[float, float]], t: float) -> float:
    """Requests/s at `t`: linear between points, flat before the first and after the last."""
    if not points:
        raise ValueError("a demand curve needs at least one point")
    if t <= points[0][0]:
        return float(points[0][1])
    for (t0, r0), (t1, r1) in zip(points, points[1:]):
        if t <= t1:
            return float(r0 + (r1 - r0) * (t - t0) / (t1 - t0))
    return float(points[-1][1])


def expand(alarm: Mapping[str, Any], names: Mapping[str, str]) -> dict:
    """A copy of `alarm` with every `${key}` in its strings replaced by `names[key]`."""

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str):

            def sub(m: re.Match) -> str:
                key = m.group(1)
                if key not in names:
                    known = ", ".join(f"${{{k}}}" for k in sorted(names)) or "none"
                    raise ValueError(f"{path}: unknown placeholder ${{{key}}} (known: {known})")
                return str(names[key])

            return _PLACEHOLDER.sub(sub, value)
        if isinstance(value, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return copy.deepcopy(value)

    return walk(alarm, "")


def load(path: str | Path) -> Scenario:
    """Reads and checks one scenario file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(source, "", f"cannot read: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(source, "", f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    return parse(doc, source)


# ---------------------------------------------------------------------------------------------
# Checking


_REQUIRED = object()


class _Object:
    """One JSON object being read: takes fields by name, then refuses whatever is left."""

    def __init__(self, source: str, path: str, doc: Any) -> None:
        self.source, self.path = source, path
        if not isinstance(doc, dict):
            self.fail("", f"must be an object, got {_show(doc)}")
        self.doc = doc
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> None:
        raise ScenarioError(self.source, self.at(key) if key else self.path, message)

    def get(self, key: str, default: Any = _REQUIRED) -> Any:
        self.seen.add(key)
        if key not in self.doc:
            if default is _REQUIRED:
                self.fail(key, "is required")
            return default
        return self.doc[key]

    def number(self, key: str, default: Any = _REQUIRED, *, low: float | None = None, high: float | None = None,
               above: float | None = None, why: str = "") -> float:
        value = self.get(key, default)
        return _check_number(self, key, value, low=low, high=high, above=above, why=why)

    def integer(self, key: str, default: Any = _REQUIRED, *, low: int | None = None, high: int | None = None,
                why: str = "") -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {_show(value)}")
        return int(_check_number(self, key, value, low=low, high=high, why=why))

    def string(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.get(key, default)
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {_show(value)}")
        return value

    def boolean(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {_show(value)}")
        return value

    def child(self, key: str, required: bool = False) -> _Object:
        value = self.get(key, _REQUIRED if required else {})
        return _Object(self.source, self.at(key), value)

    def done(self) -> None:
        unknown = sorted(set(self.doc) - self.seen)
        if unknown:
            self.fail(unknown[0], f"unknown key; expected one of {', '.join(sorted(self.seen))}")


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_number(obj: _Object, key: str, value: Any, *, low=None, high=None, above=None, why="") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        obj.fail(key, f"must be a number, got {_show(value)}")
    suffix = f" ({why})" if why else ""
    if low is not None and value < low:
        obj.fail(key, f"must be at least {low}{suffix}, got {value}")
    if above is not None and value <= above:
        obj.fail(key, f"must be above {above}{suffix}, got {value}")
    if high is not None and value > high:
        obj.fail(key, f"must be at most {high}{suffix}, got {value}")
    return float(value)


def _names(obj: _Object, key: str, default: Any = _REQUIRED) -> tuple[str, ...]:
    value = obj.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        obj.fail(key, f"must be a list of names, got {_show(value)}")
    if len(set(value)) != len(value):
        obj.fail(key, "names a value twice")
    return tuple(value)


def _demand(obj: _Object) -> tuple[tuple[float, float], ...]:
    demand = obj.child("demand", required=True)
    points = demand.get("rps")
    path = demand.at("rps")
    if not isinstance(points, list) or not points:
        demand.fail("rps", f"must be a non-empty list of [seconds, requests/s] pairs, got {_show(points)}")
    out: list[tuple[float, float]] = []
    for i, point in enumerate(points):
        where = f"{path}[{i}]"
        if not isinstance(point, list) or len(point) != 2:
            raise ScenarioError(obj.source, where, f"must be a [seconds, requests/s] pair, got {_show(point)}")
        for j, what in enumerate(("seconds", "requests/s")):
            v = point[j]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ScenarioError(obj.source, f"{where}[{j}]", f"{what} must be a number >= 0, got {_show(v)}")
        if out and point[0] <= out[-1][0]:
            raise ScenarioError(
                obj.source, f"{where}[0]", f"times must be strictly increasing, got {point[0]} after {out[-1][0]}"
            )
        out.append((float(point[0]), float(point[1])))
    demand.done()
    return tuple(out)


def _range(obj: _Object, key: str, default: Any, *, what: str = "seconds") -> tuple[float, float]:
    """A [low, high] pair of numbers >= 0, low <= high."""
    value = obj.get(key, default)
    path = obj.at(key)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0
               for v in value)
    ):
        raise ScenarioError(obj.source, path, f"must be [low, high] {what}, both >= 0, got {_show(value)}")
    if value[1] < value[0]:
        raise ScenarioError(obj.source, f"{path}[1]", f"high ({value[1]}) must be at least low ({value[0]})")
    return (float(value[0]), float(value[1]))


def _per_namespace(cw: _Object, key: str, default: dict, what: str, read: Any) -> dict:
    """An object of namespace: value, each value read by `read(obj, namespace)`; `default`
    when the key is absent."""
    doc = cw.get(key, None)
    if doc is None:
        return dict(default)
    if not isinstance(doc, dict):
        cw.fail(key, f"must be an object of namespace: {what}, got {_show(doc)}")
    per = _Object(cw.source, cw.at(key), doc)
    values = {ns: read(per, ns) for ns in doc}
    per.done()
    return values


def _cloudwatch(obj: _Object) -> CloudWatchSpec:
    cw = obj.child("cloudwatch")
    ingestion = _per_namespace(cw, "ingestion_delay_secs", DEFAULT_INGESTION_DELAY_SECS,
                               "[low, high]", lambda per, ns: _range(per, ns, None))
    reporters = _per_namespace(cw, "reporters", DEFAULT_REPORTERS, "count",
                               lambda per, ns: per.integer(ns, low=1, high=10))
    spec = CloudWatchSpec(
        ingestion_delay_secs=ingestion,
        publish_every_secs=cw.integer("publish_every_secs", 10, low=1, high=10,
                                      why="partial periods must be visible: publish at least every 10 s"),
        evaluation_offset_secs=cw.integer("evaluation_offset_secs", 20, low=0, high=59,
                                          why="seconds into each minute"),
        extra_range_periods=cw.integer("extra_range_periods", 2, low=0, high=10),
        reporters=reporters,
    )
    cw.done()
    return spec


def _events(obj: _Object) -> EventsSpec:
    ev = obj.child("events")
    spec = EventsSpec(
        delivery_delay_secs=_range(ev, "delivery_delay_secs", [1.0, 10.0]),
        duplicate_share=ev.number("duplicate_share", 0.1, low=0, high=1),
    )
    ev.done()
    return spec


def _auto_scaling(obj: _Object) -> AutoScalingSpec | None:
    if obj.get("auto_scaling", None) is None:
        return None
    a = obj.child("auto_scaling")
    min_capacity = a.integer("min_capacity", low=0)
    max_capacity = a.integer("max_capacity", low=1)
    if max_capacity < min_capacity:
        a.fail("max_capacity", f"must be at least min_capacity ({min_capacity}), got {max_capacity}")
    spec = AutoScalingSpec(
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        target_requests_per_task=a.number("target_requests_per_task", above=0,
                                          why="requests per task per minute, the ALBRequestCountPerTarget target"),
        scale_out_cooldown_secs=a.number("scale_out_cooldown_secs", 300.0, low=0),
        scale_in_cooldown_secs=a.number("scale_in_cooldown_secs", 300.0, low=0),
    )
    a.done()
    return spec


def _ecs(obj: _Object) -> EcsSpec:
    e = obj.child("ecs", required=True)
    start = e.get("task_start_secs", [30.0, 60.0])
    path = e.at("task_start_secs")
    if (
        not isinstance(start, list)
        or len(start) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 for v in start)
    ):
        raise ScenarioError(obj.source, path, f"must be [fastest, slowest] seconds, both >= 0, got {_show(start)}")
    if start[1] < start[0]:
        raise ScenarioError(obj.source, f"{path}[1]", f"slowest ({start[1]}) must be at least fastest ({start[0]})")
    spec = EcsSpec(
        task_capacity_rps=e.number("task_capacity_rps", above=0),
        task_start_secs=(float(start[0]), float(start[1])),
        # AWS's ranges for an ALB target group: HealthCheckIntervalSeconds 5-300,
        # HealthyThresholdCount 2-10, deregistration_delay.timeout_seconds 0-3600.
        health_check_interval_secs=e.integer("health_check_interval_secs", 5, low=5, high=300,
                                             why="HealthCheckIntervalSeconds is 5-300"),
        healthy_threshold=e.integer("healthy_threshold", 2, low=2, high=10, why="HealthyThresholdCount is 2-10"),
        deregistration_delay_secs=e.integer("deregistration_delay_secs", 30, low=0, high=3600,
                                            why="deregistration_delay.timeout_seconds is 0-3600"),
        idle_count=e.integer("idle_count", 0, low=0),
        auto_scaling=_auto_scaling(e),
        start_failure_share=e.number("start_failure_share", 0.0, low=0, high=0.9,
                                     why="a share of task starts; some must succeed"),
        never_healthy=e.boolean("never_healthy", False),
        unhealthy_threshold=e.integer("unhealthy_threshold", 2, low=2, high=10,
                                      why="UnhealthyThresholdCount is 2-10"),
    )
    e.done()
    return spec


def _alarms(obj: _Object) -> tuple[dict, ...]:
    alarms = obj.get("alarms")
    path = obj.at("alarms")
    if not isinstance(alarms, list) or not alarms:
        obj.fail("alarms", f"must be a non-empty list of PutMetricAlarm parameter objects, got {_show(alarms)}")
    names: set[str] = set()
    for i, alarm in enumerate(alarms):
        where = f"{path}[{i}]"
        try:
            spec = parse_alarm(alarm)
        except AlarmError as e:
            raise ScenarioError(obj.source, f"{where}.{e.path}" if e.path else where, e.message) from None
        if spec.name in names:
            raise ScenarioError(obj.source, f"{where}.AlarmName", f"alarm {spec.name} is defined twice")
        if _PLACEHOLDER.search(spec.name):
            raise ScenarioError(obj.source, f"{where}.AlarmName", "may not use placeholders (the controller names it)")
        names.add(spec.name)
        _check_placeholders(obj.source, alarm, where)
    return tuple(copy.deepcopy(alarms))


def _check_placeholders(source: str, value: Any, path: str) -> None:
    if isinstance(value, str):
        for key in _PLACEHOLDER.findall(value):
            if key not in PLACEHOLDERS:
                known = ", ".join(f"${{{k}}}" for k in PLACEHOLDERS)
                raise ScenarioError(source, path, f"unknown placeholder ${{{key}}} (known: {known})")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_placeholders(source, v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_placeholders(source, v, f"{path}[{i}]")


def _controller(obj: _Object, alarm_names: set[str]) -> ControllerSpec:
    c = obj.child("controller", required=True)
    names = _names(c, "alarm_names")
    if not names:
        c.fail("alarm_names", "must name at least one alarm")
    warm = _names(c, "warm_alarm_names", [])
    for key, listed in (("alarm_names", names), ("warm_alarm_names", warm)):
        for i, name in enumerate(listed):
            if name not in alarm_names:
                raise ScenarioError(
                    obj.source, f"{c.at(key)}[{i}]",
                    f"{name} is not an alarm of this scenario (alarms: {', '.join(sorted(alarm_names))})",
                )
    env = c.get("env", {})
    if not isinstance(env, dict):
        c.fail("env", f"must be an object of environment variables, got {_show(env)}")
    for k, v in env.items():
        if not _ENV_NAME.match(k):
            raise ScenarioError(obj.source, f"{c.at('env')}.{k}", "is not an environment variable name")
        if not isinstance(v, str):
            raise ScenarioError(obj.source, f"{c.at('env')}.{k}", f"must be a string (environment values are), got {_show(v)}")
    spec = ControllerSpec(
        alarm_names=names,
        warm_alarm_names=warm,
        tick_secs=c.number("tick_secs", 300.0, above=0),
        timeout_secs=c.number("timeout_secs", 300.0, above=0, high=900, why="a Lambda function times out within 900 s"),
        env=dict(env),
    )
    c.done()
    return spec


def parse(doc: dict, source: str = "<memory>") -> Scenario:
    """Checks a scenario document; `source` names it in errors (a file path)."""
    top = _Object(source, "", doc)
    name = top.string("name")
    if not name:
        top.fail("name", "must not be empty")
    description = top.string("description", "")
    duration = top.number("duration_secs", above=0)
    demand = _demand(top)
    request_secs = top.number("request_secs", above=0, why="mean request duration in seconds")

    c = top.child("clients")
    clients = Clients(
        sticky_share=c.number("sticky_share", 0.0, low=0, high=1),
        session_secs=c.number("session_secs", 300.0, low=1),
        refresh_cookie=c.boolean("refresh_cookie", True),
    )
    c.done()

    lam = top.child("lambda")
    lambda_ = LambdaSpec(
        function_name=lam.string("function_name", "web-app"),
        concurrency_limit=lam.integer("concurrency_limit", 1000, low=1),
        burst_per_10s=lam.integer("burst_per_10s", 1000, low=1),
    )
    if not lambda_.function_name:
        lam.fail("function_name", "must not be empty")
    lam.done()

    ecs = _ecs(top)

    lis = top.child("listener")
    listener = ListenerSpec(
        stickiness_secs=lis.integer("stickiness_secs", 0, low=0, high=604_800,
                                    why="0 turns stickiness off; AWS allows 1-604800 s"),
        propagation_secs=_range(lis, "propagation_secs", [5.0, 30.0]),
    )
    lis.done()

    alarms = _alarms(top)
    controller = _controller(top, {a["AlarmName"] for a in alarms})
    seed = top.integer("random_seed", 1)
    timing = top.string("timing", "late")
    if timing not in TIMINGS:
        top.fail("timing", f"must be one of {', '.join(TIMINGS)}, got {_show(timing)}")
    cloudwatch = _cloudwatch(top)
    events = _events(top)
    top.done()
    return Scenario(
        name=name,
        description=description,
        duration_secs=duration,
        demand=demand,
        request_secs=request_secs,
        clients=clients,
        lambda_=lambda_,
        ecs=ecs,
        listener=listener,
        alarms=alarms,
        controller=controller,
        random_seed=seed,
        source=source,
        timing=timing,
        cloudwatch=cloudwatch,
        events=events,
    )
