"""The judgement of a run, from rows made by hand."""

from __future__ import annotations

from pathlib import Path

from world.scenario import load
from world.summary import (floor_5xx, idle_after_secs, idle_target_secs, sticky_tail_secs,
                           summarize, wait_reactions)

# The instant world's judgement (the late world's floor: world/tests/test_late.py).
SCENARIO = load(Path(__file__).resolve().parent / "scenarios" / "short-spike.json").with_timing("instant")
# short-spike: Lambda carries 100 rps; earliest ECS = 60 (alarm) + 10 (start) + 10 (health) = 80 s


def row(t: int, demand: float = 40.0, lw: int = 1, ew: int = 0, healthy: int = 0,
        desired: int = 0, running: int = 0, **extra: float) -> dict:
    served = min(demand, 100.0)
    base = {"t": t, "demand": demand, "lambda_served": served, "ecs_served": 0.0,
            "e502": demand - served, "e503": 0.0, "e5xx_other": 0.0, "lambda_weight": lw,
            "ecs_weight": ew, "healthy": healthy, "desired": desired, "running": running,
            "pending": 0, "draining": 0, "alarms": {}}
    base.update(extra)
    return base


def test_the_floor_is_the_excess_until_a_task_could_serve() -> None:
    rows = [row(t, demand=300.0 if 10 <= t < 200 else 40.0) for t in range(300)]
    assert floor_5xx(rows, SCENARIO) == 80 * 200  # 80 s of 200 rps above capacity


def test_an_overload_shorter_than_the_earliest_task_is_all_floor() -> None:
    rows = [row(t, demand=150.0 if 10 <= t < 40 else 40.0) for t in range(100)]
    assert floor_5xx(rows, SCENARIO) == 30 * 50


def test_spills_returns_unsafe_seconds_and_stuck_are_counted() -> None:
    rows = [row(t) for t in range(10)]
    rows += [row(t, ew=1, lw=0, healthy=0, desired=2) for t in range(10, 12)]  # unsafe
    rows += [row(t, ew=1, lw=0, healthy=2, desired=2, running=2) for t in range(12, 20)]
    rows += [row(t, desired=2, running=2, healthy=2) for t in range(20, 30)]
    s = summarize(rows, SCENARIO, controller="test")
    assert (s["spills"], s["returns"], s["weight_changes"]) == (1, 1, 2)
    assert s["unsafe_seconds"] == 2
    assert s["stuck"] is True  # still scaled out at the end
    assert s["accounting_gap"] == 0


def test_idle_after_counts_from_the_end_of_the_last_overload() -> None:
    rows = [row(t, demand=300.0 if t < 50 else 40.0, desired=2 if t < 120 else 0,
                running=2 if t < 125 else 0) for t in range(200)]
    assert idle_after_secs(rows, SCENARIO) == 125 - 50
    still_out = [dict(r, desired=2) for r in rows]
    assert idle_after_secs(still_out, SCENARIO) is None


def test_the_sticky_tail_runs_from_the_last_return_to_the_last_request_on_ecs() -> None:
    rows = [row(t, ew=1 if 10 <= t < 20 or 40 <= t < 60 else 0,
                to_ecs=5.0 if 10 <= t < 75 else 0.0) for t in range(100)]
    assert sticky_tail_secs(rows) == 74 - 60
    never_returned = [dict(r, ecs_weight=1) for r in rows]
    assert sticky_tail_secs(never_returned) is None
    no_tail = [dict(r, to_ecs=5.0 if r["ecs_weight"] else 0.0) for r in rows]
    assert sticky_tail_secs(no_tail) == 0


def test_the_idle_target_is_the_hold_plus_the_stickiness_window_plus_two_ticks() -> None:
    hold = float(SCENARIO.controller.env.get("SPILLOVER_RETURN_HOLD_SECS", 300))
    assert idle_target_secs(SCENARIO) == round(
        hold + SCENARIO.listener.stickiness_secs + 2 * SCENARIO.controller.tick_secs)
    sawtooth = load(Path(__file__).resolve().parents[1] / "scenarios" / "sawtooth.json")
    assert idle_target_secs(sawtooth) == 300 + 300 + 120


def test_reaction_is_from_the_first_healthy_target_to_the_controllers_weight_write() -> None:
    api = [{"t": 100.0, "api": "UpdateService", "desired": 2},
           {"t": 103.0, "api": "RegisterTargets"},
           {"t": 103.1, "api": "RegisterTargets"},
           {"t": 103.2, "api": "ModifyListener"}]
    calls = [(100.0, "UpdateService")] + [(100.0 + i * 0.1, "DescribeTargetHealth")
                                          for i in range(1, 31)] + [(103.2, "ModifyListener"),
                                                                    (110.0, "ModifyListener")]
    found = wait_reactions(api, calls, speed=10.0)
    # 30 reads over 3.2 wall s = 32 AWS s; the later write (a step) is no reaction
    assert found == [{"healthy_to_weights_secs": 2.0, "reads_per_sec_waiting": 0.94}]


def test_a_scale_out_that_never_got_weight_is_no_reaction() -> None:
    api = [{"t": 100.0, "api": "UpdateService", "desired": 2}, {"t": 101.0, "api": "RegisterTargets"}]
    calls = [(100.0, "UpdateService"), (105.0, "UpdateService")]  # a scale-in, no weight write
    assert wait_reactions(api, calls, speed=10.0) == []


def test_weights_given_before_any_target_was_healthy_are_no_reaction() -> None:
    api = [{"t": 100.0, "api": "UpdateService", "desired": 1},
           {"t": 101.0, "api": "ModifyListener"},  # the seed: on RUNNING, before healthy
           {"t": 102.0, "api": "RegisterTargets"}]
    calls = [(100.0, "UpdateService"), (101.0, "ModifyListener")]
    assert wait_reactions(api, calls, speed=10.0) == []
