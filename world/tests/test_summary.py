"""The judgement of a run, from rows made by hand."""

from __future__ import annotations

from pathlib import Path

from world.scenario import load
from world.summary import (earliest_alarm_at, episode_phases, floor_5xx, idle_after_secs,
                           idle_target_secs, ready_at, sticky_tail_secs, summarize, wait_reactions)

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


# -- where the 5xx of an overload went, phase by phase --------------------------------------

ALARM = SCENARIO.controller.alarm_names[0]


def spill(alarm: int = 70, scale: int = 75, healthy: int = 95, write: int = 96,
          in_force: int = 100, full: int = 120, end: int = 300) -> list[dict]:
    """short-spike's overload (300 rps from 10 to 200, Lambda carries 100) with each step of
    a spill at the given second (beyond `end`: never): 200 rps of 5xx until the weight is in
    force, 50 until ECS takes its full share at `full`, none after."""
    rows = []
    for t in range(end):
        demand = 300.0 if 10 <= t < 200 else 40.0
        lost = 0.0 if demand <= 100 or t >= full else 200.0 if t < in_force else 50.0
        rows.append(row(t, demand=demand, ew=int(t >= in_force), healthy=int(t >= healthy),
                        desired=2 if t >= scale else 0, e502=lost,
                        written_weights=[1, int(t >= write)],
                        alarms={ALARM: "ALARM" if t >= alarm else "OK"}))
    return rows


def bounds(episode: dict) -> list[tuple[str, int, int, float]]:
    return [(p["phase"], p["start"], p["end"], p["errors_5xx"]) for p in episode["phases"]]


def test_each_phase_runs_from_one_step_of_the_spill_to_the_next() -> None:
    [episode] = episode_phases(spill(), SCENARIO)
    assert (episode["start"], episode["end"], episode["never"]) == (10, 200, None)
    assert bounds(episode) == [
        ("to_alarm", 10, 70, 60 * 200), ("to_scale_out", 70, 75, 5 * 200),
        ("to_healthy", 75, 95, 20 * 200), ("to_write", 95, 96, 200),
        ("to_in_force", 96, 100, 4 * 200),
        ("after", 100, 120, 20 * 50),  # ends at the last 5xx, not at the episode's end (200)
    ]
    assert [p["secs"] for p in episode["phases"]] == [60, 5, 20, 1, 4, 20]


def test_the_phases_5xx_add_up_to_the_episodes() -> None:
    rows = spill()
    [episode] = episode_phases(rows, SCENARIO)
    total = sum(r["e502"] for r in rows if 10 <= r["t"] < 200)
    assert episode["errors_5xx"] == total == 60 * 200 + 5 * 200 + 20 * 200 + 200 + 4 * 200 + 20 * 50
    assert sum(p["errors_5xx"] for p in episode["phases"]) == total
    # and every 5xx kind counts
    mixed = [dict(r, e502=r["e502"] / 2, e503=r["e502"] / 4, e5xx_other=r["e502"] / 4) for r in rows]
    assert [p["errors_5xx"] for p in episode_phases(mixed, SCENARIO)[0]["phases"]] == \
        [p["errors_5xx"] for p in episode["phases"]]


def test_a_step_that_never_comes_leaves_the_rest_of_the_episode_in_the_phase_waiting_for_it() -> None:
    # The alarm fires, nothing scales out (the `none` controller): 5xx to the end.
    [episode] = episode_phases(spill(scale=999, healthy=999, write=999, in_force=999, full=999),
                               SCENARIO)
    assert episode["never"] == "to_scale_out"
    assert bounds(episode) == [("to_alarm", 10, 70, 60 * 200), ("to_scale_out", 70, 200, 130 * 200)]
    assert sum(p["errors_5xx"] for p in episode["phases"]) == episode["errors_5xx"] == 190 * 200
    # No alarm at all: one phase, the whole overload.
    [silent] = episode_phases(spill(alarm=999, scale=999, healthy=999, write=999, in_force=999,
                                    full=999), SCENARIO)
    assert silent["never"] == "to_alarm"
    assert bounds(silent) == [("to_alarm", 10, 200, 190 * 200)]
    # A weight written but never in force within the overload.
    [stuck] = episode_phases(spill(in_force=999, full=999), SCENARIO)
    assert stuck["never"] == "to_in_force"
    assert [p["phase"] for p in stuck["phases"]][-1] == "to_in_force"
    assert stuck["phases"][-1]["end"] == 200


def test_a_step_that_already_held_makes_its_phase_0_s() -> None:
    # Pre-warmed: scaled out and healthy before the alarm.
    [episode] = episode_phases(spill(scale=20, healthy=50), SCENARIO)
    assert bounds(episode)[:4] == [("to_alarm", 10, 70, 60 * 200), ("to_scale_out", 70, 70, 0),
                                   ("to_healthy", 70, 70, 0), ("to_write", 70, 96, 26 * 200)]


def test_every_episode_has_its_phases_and_its_part_of_the_floor() -> None:
    rows = spill(end=600)
    for r in rows[300:]:  # a second overload from 400 to 450, still spilled: no 5xx
        r.update(demand=300.0 if 400 <= r["t"] < 450 else 40.0, e502=0.0)
    first, second = episode_phases(rows, SCENARIO)
    assert (second["start"], second["end"], second["never"]) == (400, 450, None)
    assert [p["secs"] for p in second["phases"]] == [0, 0, 0, 0, 0, 0]
    assert first["floor_5xx"] == 80 * 200  # ready at 10 + 60 + 10 + 10
    assert second["floor_5xx"] + first["floor_5xx"] == floor_5xx(rows, SCENARIO)
    assert summarize(rows, SCENARIO, controller="test")["phases"] == [first, second]


def test_the_floor_parts_are_what_the_floor_assumed_for_each_phase() -> None:
    [instant] = episode_phases(spill(), SCENARIO)
    # period × datapoints, no event delay, the fastest start + interval × threshold, no propagation
    assert instant["floor_parts"] == {"to_alarm": 60, "to_scale_out": 0, "to_healthy": 10 + 10,
                                      "to_write": 0, "to_in_force": 0}
    late = SCENARIO.with_timing("late")
    rows = spill(alarm=160, scale=170, healthy=190, write=191, in_force=200, full=999, end=400)
    [episode] = episode_phases(rows, late)
    # the run's ALARM (never before its earliest, 140 for an overload from 10), the shortest
    # delivery, the fastest start and one check, the shortest propagation
    assert episode["floor_parts"] == {"to_alarm": 150, "to_scale_out": 1, "to_healthy": 10 + 5,
                                      "to_write": 0, "to_in_force": 5}
    assert sum(episode["floor_parts"].values()) == ready_at(10, late, 160) - 10
    # The run's alarm before its earliest possible: the floor's is the earliest.
    early = episode_phases(spill(alarm=20, end=400), late)[0]
    assert early["floor_parts"]["to_alarm"] == earliest_alarm_at(10, late) - 10
    assert episode_phases(spill(alarm=999, end=400), late)[0]["floor_parts"]["to_alarm"] is None
