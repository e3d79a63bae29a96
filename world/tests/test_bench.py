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
