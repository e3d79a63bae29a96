"""The controllers the closed loop can drive, each run as a Lambda function would be.

- `spillover`: the real binary, through the Lambda runtime API;
- `seed`: the proof of concept spillover replaces (`world/seed_controller.py`), the same way;
- `none`: no controller at all: what the app suffers without one.

Each is given the world's endpoint and resources, and its timing settings divided by the
world's speed, so that it sees AWS time run N times faster, exactly as the world does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import events
from .binary import spillover_binary

CONTROLLERS = ("spillover", "seed", "none")
ROOT = Path(__file__).resolve().parent.parent

# spillover's timing settings and their defaults, in AWS time. The world passes each one
# explicitly, divided by the speed, so a default the scenario does not set is scaled too.
# `world/tests/test_controllers.py` checks this table against `src/config.rs`: a new timing
# variable there must be added here.
SPILLOVER_TIMING_DEFAULTS: dict[str, float] = {
    "SPILLOVER_RETURN_HOLD_SECS": 300,
    "SPILLOVER_MIN_SPILL_SECS": 120,
    "SPILLOVER_STEP_SETTLE_SECS": 120,
    "SPILLOVER_METRIC_PERIOD_SECS": 60,
    "SPILLOVER_METRIC_SETTLE_SECS": 180,
    "SPILLOVER_ELB_METRIC_SETTLE_SECS": 180,
    "SPILLOVER_SCALE_IN_MAX_WAIT_SECS": 1800,
    "SPILLOVER_POLL_INTERVAL_MS": 500,
    "SPILLOVER_POLL_MAX_INTERVAL_MS": 500,
    "SPILLOVER_WAIT_BUDGET_SECS": 240,
    "SPILLOVER_DEADLINE_MARGIN_MS": 10000,
}

TIMING_NAME = re.compile(r"^SPILLOVER_[A-Z0-9_]+_(SECS|MS)$")


@dataclass(frozen=True)
class ControllerSetup:
    """How to start a controller and which events reach it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    pattern: dict[str, Any] | None  # EventBridge pattern of its alarm rule
    ticks: bool  # whether the scheduled reconcile tick reaches it


def scale_timing(value: str, speed: float, name: str) -> str:
    """A duration setting in AWS time as the controller must see it at `speed`."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None
    scaled = number / speed
    if name.endswith("_MS"):
        return f"{max(scaled, 1.0):.1f}".rstrip("0").rstrip(".")
    return f"{scaled:.3f}".rstrip("0").rstrip(".") or "0"


def spillover_env(base: dict[str, str], scenario_env: dict[str, str], speed: float,
                  alarm_names: list[str], warm_alarm_names: list[str]) -> dict[str, str]:
    env = dict(base)
    env["SPILLOVER_ALARM_NAMES"] = ",".join(alarm_names)
    if warm_alarm_names:
        env["SPILLOVER_WARM_ALARM_NAMES"] = ",".join(warm_alarm_names)
    timings = {k: str(v) for k, v in SPILLOVER_TIMING_DEFAULTS.items()}
    for key, value in scenario_env.items():
        if TIMING_NAME.match(key):
            timings[key] = value
        else:
            env[key] = value
    for key, value in timings.items():
        env[key] = scale_timing(value, speed, key)
    env.setdefault("RUST_LOG", "info")
    # Notifications go to the default bus, so a run can count them (the write log keeps
    # each PutEvents entry's DetailType).
    env.setdefault("SPILLOVER_EVENT_BUS", "default")
    return env


def setup(name: str, *, world_env: dict[str, str], scenario_env: dict[str, str], speed: float,
          alarm_names: list[str], warm_alarm_names: list[str]) -> ControllerSetup | None:
    if name == "none":
        return None
    if name == "spillover":
        binary = spillover_binary()
        if not os.access(binary, os.X_OK):
            raise FileNotFoundError(
                f"{binary} is not an executable: build it (cargo build --bin spillover) or set "
                "SPILLOVER_BIN")
        env = spillover_env(world_env, scenario_env, speed, alarm_names, warm_alarm_names)
        return ControllerSetup(name, [binary], env,
                               events.spillover_pattern(alarm_names + warm_alarm_names),
                               ticks=True)
    if name == "seed":
        env = {k: v for k, v in world_env.items() if k.startswith("AWS_")}
        env.update({
            "SEED_CLUSTER": world_env["SPILLOVER_CLUSTER"],
            "SEED_SERVICE": world_env["SPILLOVER_SERVICE"],
            "SEED_LISTENER_ARN": world_env["SPILLOVER_LISTENER_ARN"],
            "SEED_LAMBDA_TARGET_GROUP_ARN": world_env["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"],
            "SEED_ECS_TARGET_GROUP_ARN": world_env["SPILLOVER_ECS_TARGET_GROUP_ARN"],
            # The seed's wait loop has no sleep; the peer sleeps one AWS second per pass.
            "SEED_POLL_SLEEP_SECS": f"{1.0 / speed:.4f}",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        })
        import sys

        return ControllerSetup(name, [sys.executable, "-m", "world.seed_controller"], env,
                               events.SEED_PATTERN, ticks=False)
    raise ValueError(f"unknown controller {name!r}: expected one of {', '.join(CONTROLLERS)}")
