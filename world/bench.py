"""`make bench-loop`: every scenario of the library for every controller, one table.

Each run is its own process (moto's backends are process-wide), `--jobs` at a time. The
table goes to stdout and to `bench/results/loop.md`; the summaries to `loop.json`; each
run's picture beside them in `bench/results/loop/`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .controllers import CONTROLLERS, ROOT
from .scenario import load
from .summary import PHASES

COLUMNS = ("scenario", "controller", "requests", "5xx", "floor", "5xx/floor", "spills/returns",
           "weight changes", "unsafe s", "healthy→weights s", "reads/s waiting", "ECS task-s",
           "idle at s (due)", "sticky tail s", "stuck", "invocations", "AWS calls")


def label(summary: dict[str, Any]) -> str:
    settings = summary.get("controller_env") or {}
    extra = ", ".join(f"{k.removeprefix('SPILLOVER_')}={v}" for k, v in settings.items())
    return f"{summary['controller']} ({extra})" if extra else summary["controller"]


def worst(summary: dict[str, Any], key: str) -> str:
    """The largest value of `key` over the run's reactions, "-" if it had none."""
    values = [r[key] for r in summary.get("reactions", [])]
    return f"{max(values):g}" if values else "-"


def row(summary: dict[str, Any]) -> list[str]:
    ratio = summary.get("errors_over_floor")
    return [
        summary["scenario"], label(summary), f"{summary['requests']:,}",
        f"{summary['errors_5xx']:,}", f"{summary['floor_5xx']:,}",
        "-" if ratio is None else f"{ratio:.2f}",
        f"{summary['spills']}/{summary['returns']}", str(summary["weight_changes"]),
        str(summary["unsafe_seconds"]),
        worst(summary, "healthy_to_weights_secs"), worst(summary, "reads_per_sec_waiting"),
        f"{summary['ecs_task_seconds']:,}",
        idle(summary),
        "-" if summary.get("sticky_tail_secs") is None else str(summary["sticky_tail_secs"]),
        "**yes**" if summary["stuck"] else "no", str(summary["controller_invocations"]),
        str(summary["aws_calls"]),
    ]


def idle(summary: dict[str, Any]) -> str:
    """When the service was back at idle for good, and by when it was due (bold: late)."""
    due = summary.get("idle_due")
    if due is None:
        return "-"
    at = summary.get("idle_at")
    if at is None:
        return f"**never** ({due})"
    cell = f"{at} ({due})"
    return cell if summary.get("idle_in_time") else f"**{cell}**"


def table(summaries: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(s)) + " |" for s in summaries]
    return "\n".join(lines)


PHASES_HOW_TO_READ = (
    "How to read it: each cell is a phase of the first overload, `seconds (the floor's) / 5xx`. "
    "From the first second demand is over Lambda's capacity **to** the controller's alarm in "
    "ALARM (the run's ingestion draws; the floor waits for the same ALARM), to the scale-out "
    "(the event's delivery, the floor's shortest, and the controller's reaction to it), to a "
    "healthy target (a task start and one health check; the floor's fastest start), to the "
    "controller's weight write (the floor: none), to that weight in force (listener "
    "propagation; the floor's shortest), and **after** it until the overload has no 5xx left "
    "(steps that give ECS part of the traffic, their propagation, sticky clients; the floor "
    "has nothing there). A phase longer than the floor's cost its extra seconds of 5xx: a "
    "slower draw of the world, or the controller. `+`: the step that ends the phase never "
    "came, the rest of the overload is in it; `-`: never began. 5xx over floor: the episode's "
    "5xx less the floor's part of it; the phases' 5xx add up to the episode's."
)
PHASE_COLUMNS = ("to alarm", "to scale-out", "to healthy", "to write", "to in force", "after")
PHASES_TITLE = "Where the 5xx over the floor came from (spillover, first episode)"


def phase_cell(phase: dict[str, Any] | None, floor_secs: float | None, never: bool) -> str:
    """`seconds (the floor's) / 5xx` of one phase; `+` after the seconds when the step that
    ends it never came (the rest of the overload is in it), `-` when it never began."""
    if phase is None:
        return "-"
    floor = "" if floor_secs is None else f" ({floor_secs:g})"
    return f"{phase['secs']} s{'+' if never else ''}{floor} / {phase['errors_5xx']:,.0f}"


def phases_row(summary: dict[str, Any]) -> list[str]:
    episode = summary["phases"][0]
    by_name = {p["phase"]: p for p in episode["phases"]}
    parts = episode["floor_parts"]
    cells = [phase_cell(by_name.get(name), parts.get(name), name == episode["never"])
             for name in PHASES]
    return [summary["scenario"], f"{episode['errors_5xx'] - episode['floor_5xx']:,.0f}", *cells]


def phases_table(summaries: list[dict[str, Any]]) -> str:
    """The spillover runs' first overload episode, phase by phase (`summary.episode_phases`);
    empty when no spillover run had an overload."""
    runs = [s for s in summaries if s["controller"] == "spillover" and s.get("phases")]
    if not runs:
        return ""
    columns = ("scenario", "5xx over floor", *PHASE_COLUMNS)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(phases_row(s)) + " |" for s in runs]
    return "\n".join(lines)


def run_one(scenario: Path, controller: str, out: Path, speed: float | None,
            overrides: dict[str, str], instant: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "world", "loop", "--scenario", str(scenario),
           "--controller", controller, "--out", str(out)] + (["--instant"] if instant else [])
    for name, value in overrides.items():
        cmd += ["--set", f"{name}={value}"]
    if speed:
        cmd += ["--speed", str(speed)]
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    with (out.parent / f"{out.name}.log").open("w") as logf:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=logf, env=env,
                              timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{scenario.name} × {controller} failed ({proc.returncode}): "
                           f"see {out.parent / (out.name + '.log')}")
    summary = json.loads((out / "summary.json").read_text())
    print(f"  {scenario.stem:<28} {controller:<10} {summary['errors_5xx']:>9,} 5xx  "
          f"{summary['spills']}/{summary['returns']} spills/returns  "
          f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return summary


def schedule(scenarios: list[Path], controllers: list[str]) -> list[tuple[Path, str]]:
    """The order the runs start in: one controller's runs after another's, so that the runs
    sharing the machine are of the same controller. A `none` run goes three times faster and
    keeps a core busy; beside it, a controller's calls to the emulator take longer in world
    time (its reaction in the table), so each controller meets the same neighbours."""
    return [(p, c) for c in controllers for p in scenarios]


def none_speed(speed: float | None, scenario: Path, controller: str) -> float | None:
    """Without a controller nothing in the world depends on wall time (the scheduler has no
    tasks to run), so `none` runs three times faster and gives the same result."""
    if controller != "none":
        return speed
    from .loop import default_speed

    return 3 * (speed or default_speed(load(scenario)))


def bench(scenarios: list[Path], controllers: list[str], results: Path, work: Path,
          speed: float | None, jobs: int, overrides: dict[str, str] | None = None,
          instant: bool = False) -> list[dict[str, Any]]:
    """Every run, its table and pictures: `loop.md`, `loop.json` and `loop/` for the late
    world, `loop-instant.*` with `instant`."""
    name = "loop-instant" if instant else "loop"
    work = work / ("instant" if instant else "late")
    for path in scenarios:
        load(path)  # every scenario is valid before the first run
    runs = [(p, c) for p in scenarios for c in controllers]
    print(f"bench-loop: {len(runs)} runs ({len(scenarios)} scenarios × "
          f"{len(controllers)} controllers) in the {'instant' if instant else 'late'} world, "
          f"{jobs} at a time", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {(p, c): pool.submit(run_one, p, c, work / f"{p.stem}-{c}",
                                       none_speed(speed, p, c), overrides or {}, instant)
                   for p, c in schedule(scenarios, controllers)}
        summaries = [futures[run].result() for run in runs]
    pictures = results / name
    if pictures.exists():
        shutil.rmtree(pictures)
    pictures.mkdir(parents=True)
    for (path, controller), summary in zip(runs, summaries):
        png = work / f"{path.stem}-{controller}" / "timeline.png"
        if png.exists():
            shutil.copy(png, pictures / f"{path.stem}-{controller}.png")
        summary["picture"] = f"{name}/{path.stem}-{controller}.png"
    text = table(summaries)
    phases = phases_table(summaries)
    if phases:
        text += f"\n\n## {PHASES_TITLE}\n\n{PHASES_HOW_TO_READ}\n\n{phases}"
    results.mkdir(parents=True, exist_ok=True)
    world = "instant" if instant else "late"
    (results / f"{name}.md").write_text(
        f"# Closed-loop benchmark, the {world} world\n\n`make bench-loop`: every scenario in "
        "`world/scenarios/` for each controller, in one run. 5xx/floor is the 5xx count over "
        "`floor_5xx`, the errors no controller can avoid without pre-warming in this world. "
        "Below the table, for the spillover runs, where the 5xx over the floor of the first "
        "overload came from, phase by phase (`phases` in `loop.json`). "
        f"Pictures in `{name}/`.\n\n" + text + "\n")
    (results / f"{name}.json").write_text(json.dumps(summaries, indent=2) + "\n")
    print(text)
    return summaries


def library() -> list[Path]:
    return sorted((ROOT / "world" / "scenarios").glob("*.json"))


def controllers_arg(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    for name in names:
        if name not in CONTROLLERS:
            raise ValueError(f"unknown controller {name!r}: expected some of {', '.join(CONTROLLERS)}")
    return names
