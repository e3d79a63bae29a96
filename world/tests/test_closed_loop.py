"""One short scenario through the whole closed loop, for each controller: moto, the ECS
scheduler, the data plane, CloudWatch's evaluation, EventBridge's delivery and the
controller run through the Lambda runtime API, in the late world (the default). It asserts
the accounting, not performance: every request is either served or answered with a 5xx,
and without a controller the 5xx are at least the floor no controller could avoid; and that
the world's verdict on a run does not depend on its speed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from world.controllers import spillover_binary
from world.loop import run_loop
from world.scenario import load

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "short-spike.json"
SPEED = 20.0


def run(controller: str, out: Path) -> dict:
    return run_loop(load(SCENARIO), controller, out, SPEED, picture=controller == "spillover")


def check_accounting(out: Path, summary: dict) -> None:
    rows = [json.loads(x) for x in (out / "seconds.jsonl").read_text().splitlines()]
    assert len(rows) == summary["seconds"] == 420
    for r in rows:
        served = r["lambda_served"] + r["ecs_served"]
        errors = r["e502"] + r["e503"] + r["e5xx_other"]
        assert served + errors == pytest.approx(r["demand"], abs=0.01), r
    assert summary["accounting_gap"] < 1
    assert summary["requests"] == pytest.approx(sum(r["demand"] for r in rows), abs=1)


def test_without_a_controller_the_app_loses_at_least_the_floor(tmp_path: Path) -> None:
    summary = run("none", tmp_path)
    check_accounting(tmp_path, summary)
    assert summary["floor_5xx"] > 0
    assert summary["errors_5xx"] >= summary["floor_5xx"]
    assert summary["spills"] == 0 and summary["controller_invocations"] == 0
    assert summary["ecs_task_seconds"] == 0


needs_binary = pytest.mark.skipif(not os.access(spillover_binary(), os.X_OK),
                                  reason="the spillover binary is not built (cargo build --bin spillover)")


@pytest.fixture(scope="module")
def spillover_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("spillover")
    return out, run("spillover", out)


@needs_binary
def test_spillover_runs_in_the_loop_and_every_request_is_accounted_for(
        spillover_run: tuple[Path, dict]) -> None:
    tmp_path, summary = spillover_run
    assert summary["timing"] == "late"
    check_accounting(tmp_path, summary)
    # The loop was closed: the alarm fired from the traffic, reached the controller through
    # EventBridge and the runtime API, and its writes moved traffic.
    assert summary["events_delivered"] > 0
    assert summary["controller_invocations"] > 0
    assert summary["aws_calls"] > 0
    assert summary["spills"] >= 1
    assert (tmp_path / "timeline.png").stat().st_size > 10_000


def test_the_seed_peer_runs_in_the_same_loop(tmp_path: Path) -> None:
    summary = run("seed", tmp_path)
    check_accounting(tmp_path, summary)
    assert summary["controller_invocations"] > 0
    assert summary["aws_calls"] > 0


@needs_binary
def test_one_scenario_gives_the_same_verdict_at_two_speeds(
        spillover_run: tuple[Path, dict], tmp_path: Path) -> None:
    """The world's draws (ingestion, events, propagation, task starts) are made per world
    second, so a run at half the speed meets the same world; only the controller's own
    wall-clock time differs."""
    _, fast = spillover_run
    slow = run_loop(load(SCENARIO), "spillover", tmp_path, SPEED / 2, picture=False)
    for key in ("overload_episodes", "spills", "returns", "stuck", "unsafe_seconds", "floor_5xx"):
        assert slow[key] == fast[key], (key, slow[key], fast[key])
    assert slow["errors_5xx"] == pytest.approx(fast["errors_5xx"], rel=0.15)
