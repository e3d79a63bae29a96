"""A closed-loop run judged from its timeline: what users lost, what a controller could
not have avoided, and how the controller behaved. Pure: rows in, a dict out."""

from __future__ import annotations

from typing import Any, Iterable

from .scenario import Scenario


def main_alarm_evaluation_secs(scenario: Scenario) -> float:
    """How long the controller's first alarm needs to go to ALARM once demand is over the
    threshold: its period × datapoints to alarm (CloudWatch evaluates complete periods)."""
    name = scenario.controller.alarm_names[0]
    alarm = next(a for a in scenario.alarms if a["AlarmName"] == name)
    period = alarm.get("Period")
    if period is None:
        periods = [m["MetricStat"]["Period"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        period = min(periods) if periods else 60
    m = alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods", 1)
    return float(period) * float(m)


def lambda_capacity_rps(scenario: Scenario) -> float:
    return scenario.lambda_.concurrency_limit / scenario.request_secs


def earliest_ecs_secs(scenario: Scenario) -> float:
    """From the start of an overload to the earliest moment a Fargate task could take
    traffic: alarm evaluation + the fastest task start + one passing health check run."""
    ecs = scenario.ecs
    return (main_alarm_evaluation_secs(scenario) + float(ecs.task_start_secs[0])
            + ecs.health_check_interval_secs * ecs.healthy_threshold)


def floor_5xx(rows: list[dict[str, Any]], scenario: Scenario) -> float:
    """The 5xx no controller can avoid without pre-warming: the demand above Lambda's
    capacity from the start of each overload until a Fargate task could take traffic."""
    cap = lambda_capacity_rps(scenario)
    ready = earliest_ecs_secs(scenario)
    window_end = -1.0
    total = 0.0
    over_before = False
    for row in rows:
        over = row["demand"] > cap + 1e-9
        if over and not over_before:
            window_end = max(window_end, row["t"] + ready)
        if over and row["t"] < window_end:
            total += row["demand"] - cap
        over_before = over
    return total


def overload_episodes(rows: list[dict[str, Any]], scenario: Scenario) -> int:
    cap = lambda_capacity_rps(scenario)
    episodes, over_before = 0, False
    for row in rows:
        over = row["demand"] > cap + 1e-9
        episodes += over and not over_before
        over_before = over
    return episodes


def reactions(rows: list[dict[str, Any]]) -> list[int]:
    """For each spill, seconds from ECS having healthy targets (without a break) until
    the weights gave it traffic."""
    found = []
    for i, row in enumerate(rows):
        if i == 0 or not (row["ecs_weight"] > 0 and rows[i - 1]["ecs_weight"] == 0):
            continue
        j = i
        while j > 0 and rows[j - 1]["healthy"] > 0:
            j -= 1
        found.append(row["t"] - rows[j]["t"])
    return found


def idle_after_secs(rows: list[dict[str, Any]], scenario: Scenario) -> int | None:
    """Seconds from the end of the last overload until traffic is all on Lambda and the
    service is at its idle count with no task left running or draining, for good. None if
    that never happens within the run (or there was no overload)."""
    cap = lambda_capacity_rps(scenario)
    over = [r["t"] for r in rows if r["demand"] > cap + 1e-9]
    if not over:
        return None
    idle_since = None
    for row in rows:
        idle = (row["ecs_weight"] == 0 and row["desired"] <= scenario.ecs.idle_count
                and row["running"] + row["pending"] + row["draining"] <= scenario.ecs.idle_count)
        if not idle:
            idle_since = None
        elif idle_since is None:
            idle_since = row["t"]
    if idle_since is None:
        return None
    return max(0, idle_since - (over[-1] + 1))


def sticky_tail_secs(rows: list[dict[str, Any]]) -> int | None:
    """Seconds from the last return (ECS weight back to 0) to the last request ECS got:
    sticky clients keep their target group, whatever the weights, until their session
    ends. None if traffic never went back to Lambda."""
    returned = None
    for prev, row in zip(rows, rows[1:]):
        if prev["ecs_weight"] > 0 and row["ecs_weight"] == 0:
            returned = row["t"]
    if returned is None:
        return None
    last = max((r["t"] for r in rows if r["t"] >= returned and r.get("to_ecs", 0.0) > 1e-9),
               default=returned)
    return last - returned


def idle_target_secs(scenario: Scenario) -> int:
    """The ECS cost target for "idle after": the return hold, plus the stickiness window, plus two
    ticks (spillover's return hold: the scenario's setting, else the default)."""
    hold = float(scenario.controller.env.get("SPILLOVER_RETURN_HOLD_SECS", 300))
    return round(hold + scenario.listener.stickiness_secs + 2 * scenario.controller.tick_secs)


def wait_reactions(api: list[dict[str, Any]], calls: list[tuple[float, str]],
                   speed: float) -> list[dict[str, float]]:
    """For each scale-out by the controller whose first weight write came once a target was
    healthy: AWS seconds from the first target turning healthy to that write, and the
    controller's reads per AWS second from its scale-out to that write. `api` is the
    world's write log and `calls` the controller's requests, both in wall time."""
    scale_outs = [t for t, action in calls if action in ("UpdateService", "RegisterScalableTarget")]
    writes = [t for t, action in calls if action in ("ModifyListener", "ModifyRule")]
    registered = [e["t"] for e in api if e["api"] == "RegisterTargets"]
    found: list[dict[str, float]] = []
    for i, began in enumerate(scale_outs):
        until = scale_outs[i + 1] if i + 1 < len(scale_outs) else float("inf")
        ready = next((t for t in registered if began < t < until), None)
        write = next((t for t in writes if began < t < until), None)
        if ready is None or write is None or write < ready:
            continue  # no weight given, or given before any target was healthy (unsafe)
        reads = sum(1 for t, action in calls if began < t < write
                    and action.startswith(("Describe", "List", "Get")))
        span = (write - began) * speed
        found.append({
            "healthy_to_weights_secs": round((write - ready) * speed, 2),
            "reads_per_sec_waiting": round(reads / span, 2) if span > 0 else 0.0,
        })
    return found


def summarize(rows: list[dict[str, Any]], scenario: Scenario, *, controller: str,
              invocations: Iterable[Any] = (), delivered: Iterable[dict[str, Any]] = (),
              aws_calls: int = 0) -> dict[str, Any]:
    invocations = list(invocations)
    requests = sum(r["demand"] for r in rows)
    served = sum(r["lambda_served"] + r["ecs_served"] for r in rows)
    e502 = sum(r["e502"] for r in rows)
    e503 = sum(r["e503"] for r in rows)
    other = sum(r["e5xx_other"] for r in rows)
    errors = e502 + e503 + other
    floor = floor_5xx(rows, scenario)
    spills = returns = changes = 0
    for prev, row in zip(rows, rows[1:]):
        if (row["lambda_weight"], row["ecs_weight"]) != (prev["lambda_weight"], prev["ecs_weight"]):
            changes += 1
        spills += prev["ecs_weight"] == 0 and row["ecs_weight"] > 0
        returns += prev["ecs_weight"] > 0 and row["ecs_weight"] == 0
    last = rows[-1] if rows else {}
    idle = scenario.ecs.idle_count
    stuck = bool(rows) and (last["ecs_weight"] > 0 or last["desired"] > idle)
    reaction = reactions(rows)
    return {
        "scenario": scenario.name,
        "controller": controller,
        "seconds": len(rows),
        "requests": round(requests),
        "served": round(served),
        "errors_5xx": round(errors),
        "errors_502": round(e502),
        "errors_503": round(e503),
        "errors_5xx_other": round(other),
        "accounting_gap": round(abs(requests - served - errors), 6),
        "floor_5xx": round(floor),
        "errors_over_floor": round(errors / floor, 3) if floor > 0 else None,
        "overload_episodes": overload_episodes(rows, scenario),
        "spills": spills,
        "returns": returns,
        "weight_changes": changes,
        "unsafe_seconds": sum(1 for r in rows if r["ecs_weight"] > 0 and r["healthy"] == 0),
        "ecs_task_seconds": sum(r["running"] + r["pending"] + r["draining"] for r in rows),
        "stuck": stuck,
        "idle_after_secs": idle_after_secs(rows, scenario),
        "idle_target_secs": idle_target_secs(scenario),
        "sticky_tail_secs": sticky_tail_secs(rows),
        "final": {k: last.get(k) for k in ("lambda_weight", "ecs_weight", "desired", "healthy")},
        "reaction_secs": reaction,
        "controller_invocations": len(invocations),
        "controller_errors": sum(1 for i in invocations if i.outcome == "error"),
        "controller_timeouts": sum(1 for i in invocations if i.outcome == "timeout"),
        "events_delivered": len(list(delivered)),
        "aws_calls": aws_calls,
        "lambda_capacity_rps": round(lambda_capacity_rps(scenario), 3),
        "earliest_ecs_secs": earliest_ecs_secs(scenario),
    }
