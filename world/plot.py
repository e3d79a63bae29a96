"""The picture of a closed-loop run, drawn from its results (`seconds.jsonl`,
`summary.json`) after the run: demand and the served split, errors, the weights and the
task counts, with the controller's alarm states shaded. It is what a person looks at first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PICTURE = "timeline.png"
SHADE = {"ALARM": ("#f4a6a6", "ALARM"), "INSUFFICIENT_DATA": ("#cfcfcf", "INSUFFICIENT_DATA")}


def alarm_spans(rows: list[dict[str, Any]], alarm: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    start, state = None, None
    for row in rows:
        now = row["alarms"].get(alarm, "OK")
        if now != state:
            if state in SHADE and start is not None:
                spans.append((start, row["t"], state))
            start, state = row["t"], now
    if state in SHADE and start is not None and rows:
        spans.append((start, rows[-1]["t"] + 1, state))
    return spans


def draw(run_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(x) for x in (run_dir / "seconds.jsonl").read_text().splitlines() if x]
    summary = json.loads((run_dir / "summary.json").read_text())
    if not rows:
        raise ValueError(f"{run_dir}: no rows to draw")
    alarm = next(iter(rows[0]["alarms"]), "")
    t = [r["t"] / 60 for r in rows]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 8), sharex=True,
                                        gridspec_kw={"height_ratios": [3, 1, 1.4]})
    ax1.stackplot(t, [r["lambda_served"] for r in rows], [r["ecs_served"] for r in rows],
                  labels=["served by Lambda", "served by ECS"], colors=["#f5a623", "#4a90d9"],
                  alpha=0.85)
    ax1.plot(t, [r["demand"] for r in rows], color="black", lw=1.2, label="demand")
    errors = [r["e502"] + r["e503"] + r["e5xx_other"] for r in rows]
    ax1.plot(t, errors, color="#d0021b", lw=1.2, label="5xx (502 + 503 + other)")
    ax1.set_ylabel("requests/s")
    ax1.legend(loc="upper right", fontsize=8)
    ax1.set_title(
        f"{summary['scenario']} · {summary['controller']}: {summary['errors_5xx']:,} 5xx "
        f"(floor {summary['floor_5xx']:,}), {summary['spills']} spills / "
        f"{summary['returns']} returns, {summary['unsafe_seconds']} unsafe s, "
        f"{summary['ecs_task_seconds']:,} ECS task-s{', STUCK' if summary['stuck'] else ''}",
        fontsize=10)
    share = [100 * r["ecs_weight"] / ((r["lambda_weight"] + r["ecs_weight"]) or 1) for r in rows]
    ax2.step(t, share, where="post", color="#4a90d9")
    ax2.set_ylabel("ECS weight %")
    ax2.set_ylim(-5, 105)
    ax3.step(t, [r["desired"] for r in rows], where="post", label="desired", color="black")
    ax3.step(t, [r["running"] for r in rows], where="post", label="running", color="#7ed321")
    ax3.step(t, [r["healthy"] for r in rows], where="post", label="healthy", color="#417505",
             ls="--")
    busy = [r["t"] / 60 for r in rows if r.get("controller_busy")]
    if busy:
        ax3.plot(busy, [-0.3] * len(busy), "|", color="#9013fe", ms=6, label="controller running")
    ax3.set_ylabel("ECS tasks")
    ax3.set_xlabel("minutes (AWS time)")
    ax3.legend(loc="upper right", fontsize=8)
    for ax in (ax1, ax2, ax3):
        for start, end, state in alarm_spans(rows, alarm):
            ax.axvspan(start / 60, end / 60, color=SHADE[state][0], alpha=0.35, lw=0)
    fig.text(0.01, 0.005, f"shaded: alarm {alarm} in ALARM (red) / INSUFFICIENT_DATA (grey)",
             fontsize=8)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    path = run_dir / PICTURE
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
