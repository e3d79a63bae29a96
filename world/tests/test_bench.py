"""`world bench`: which runs share the machine, and the table's order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from world import bench as bench_module
from world.bench import bench, library, schedule


def summary(scenario: Path, controller: str) -> dict[str, Any]:
    return {
        "scenario": scenario.stem, "controller": controller, "requests": 10, "errors_5xx": 0,
        "floor_5xx": 0, "errors_over_floor": None, "spills": 0, "returns": 0,
        "weight_changes": 0, "unsafe_seconds": 0, "reactions": [], "ecs_task_seconds": 0,
        "idle_after_secs": None, "idle_target_secs": None, "idle_at": None, "idle_due": None,
        "idle_in_time": None, "sticky_tail_secs": None,
        "stuck": False, "controller_invocations": 0, "aws_calls": 0,
    }


def test_each_controllers_runs_start_together_before_the_next_controllers() -> None:
    scenarios = [Path("a.json"), Path("b.json"), Path("c.json")]
    order = schedule(scenarios, ["spillover", "seed", "none"])
    assert [c for _, c in order] == ["spillover"] * 3 + ["seed"] * 3 + ["none"] * 3
    assert sorted(order) == sorted((p, c) for p in scenarios for c in ("spillover", "seed", "none"))


def test_runs_start_controller_by_controller_and_the_table_keeps_scenario_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenarios = library()[:3]
    started: list[tuple[str, str]] = []

    worlds: list[bool] = []

    def fake_run(scenario: Path, controller: str, out: Path, speed: Any,
                 overrides: Any, instant: bool) -> dict[str, Any]:
        started.append((scenario.stem, controller))
        worlds.append(instant)
        return summary(scenario, controller)

    monkeypatch.setattr(bench_module, "run_one", fake_run)
    # One at a time, so that the start order is the submission order.
    bench(scenarios, ["spillover", "seed"], tmp_path / "results", tmp_path / "work", None, 1)
    assert started == [(p.stem, c) for c in ("spillover", "seed") for p in scenarios]
    rows = json.loads((tmp_path / "results" / "loop.json").read_text())
    assert [(r["scenario"], r["controller"]) for r in rows] == [
        (p.stem, c) for p in scenarios for c in ("spillover", "seed")]
    assert worlds == [False] * 6, "the late world is the default"
    assert "the late world" in (tmp_path / "results" / "loop.md").read_text()


def test_the_instant_bench_writes_its_own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def fake_run(scenario: Path, controller: str, out: Path, speed: Any,
                 overrides: Any, instant: bool) -> dict[str, Any]:
        seen.append(instant)
        return summary(scenario, controller)

    monkeypatch.setattr(bench_module, "run_one", fake_run)
    bench(library()[:1], ["none"], tmp_path / "results", tmp_path / "work", None, 1, instant=True)
    assert seen == [True]
    assert "the instant world" in (tmp_path / "results" / "loop-instant.md").read_text()
    assert not (tmp_path / "results" / "loop.md").exists(), "the late table is left as it was"


def test_the_phases_table_shows_the_spillover_runs_first_episode_phase_by_phase() -> None:
    def phase(name: str, secs: int, errors: float) -> dict[str, Any]:
        return {"phase": name, "start": 0, "end": secs, "secs": secs, "errors_5xx": errors}

    parts = {"to_alarm": 139.0, "to_scale_out": 1.0, "to_healthy": 35.0, "to_write": 0.0,
             "to_in_force": 5.0}
    spilled = dict(summary(Path("spike.json"), "spillover"), phases=[{
        "errors_5xx": 63388.6, "floor_5xx": 54000.0, "never": None, "floor_parts": parts,
        "phases": [phase("to_alarm", 139, 41700), phase("to_scale_out", 9, 2700),
                   phase("to_healthy", 41, 12300), phase("to_write", 1, 300),
                   phase("to_in_force", 8, 2400), phase("after", 38, 3988.6)]}])
    unspilled = dict(summary(Path("ramp.json"), "spillover"), phases=[{
        "errors_5xx": 4000.0, "floor_5xx": 3000.0, "never": "to_scale_out", "floor_parts": parts,
        "phases": [phase("to_alarm", 10, 2000), phase("to_scale_out", 10, 2000)]}])
    others = [dict(summary(Path("spike.json"), "seed"), phases=spilled["phases"]),
              dict(summary(Path("never-overloaded.json"), "spillover"), phases=[]),
              summary(Path("old.json"), "spillover")]  # a summary from before `phases`
    lines = bench_module.phases_table([spilled, *others, unspilled]).splitlines()
    assert lines[0] == ("| scenario | 5xx over floor | to alarm | to scale-out | to healthy | "
                        "to write | to in force | after |")
    assert lines[2:] == [
        "| spike | 9,389 | 139 s (139) / 41,700 | 9 s (1) / 2,700 | 41 s (35) / 12,300 | "
        "1 s (0) / 300 | 8 s (5) / 2,400 | 38 s / 3,989 |",
        "| ramp | 1,000 | 10 s (139) / 2,000 | 10 s+ (1) / 2,000 | - | - | - | - |",
    ]
    assert bench_module.phases_table(others[1:]) == ""


def test_the_phases_table_goes_below_the_main_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    episode = {"errors_5xx": 10.0, "floor_5xx": 4.0, "never": "to_alarm", "floor_parts": {},
               "phases": [{"phase": "to_alarm", "start": 0, "end": 5, "secs": 5, "errors_5xx": 10.0}]}

    def fake_run(scenario: Path, controller: str, out: Path, speed: Any,
                 overrides: Any, instant: bool) -> dict[str, Any]:
        return dict(summary(scenario, controller), phases=[episode])

    monkeypatch.setattr(bench_module, "run_one", fake_run)
    scenarios = library()[:1]
    bench(scenarios, ["spillover", "none"], tmp_path / "results", tmp_path / "work", None, 1)
    text = (tmp_path / "results" / "loop.md").read_text()
    title = "## Where the 5xx over the floor came from (spillover, first episode)"
    assert text.index("| scenario | controller |") < text.index(title)
    assert text.rstrip().endswith(f"| {scenarios[0].stem} | 6 | 5 s+ / 10 | - | - | - | - | - |")
