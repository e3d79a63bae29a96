"""A closed-loop run judged from its timeline: what users lost, what a controller could
not have avoided, and how the controller behaved. Pure: rows in, a dict out."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from .scenario import Scenario


def main_alarm(scenario: Scenario) -> dict[str, Any]:
    name = scenario.controller.alarm_names[0]
    return next(a for a in scenario.alarms if a["AlarmName"] == name)


def alarm_period(alarm: dict[str, Any]) -> float:
    period = alarm.get("Period")
    if period is None:
        periods = [m["MetricStat"]["Period"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        period = min(periods) if periods else 60
    return float(period)


def alarm_namespaces(alarm: dict[str, Any]) -> set[str]:
    if "Namespace" in alarm:
        return {alarm["Namespace"]}
    return {m["MetricStat"]["Metric"]["Namespace"] for m in alarm.get("Metrics", []) if "MetricStat" in m}


def main_alarm_evaluation_secs(scenario: Scenario) -> float:
    """How long the controller's first alarm needs to go to ALARM once demand is over the
    threshold, in the instant world: its period × datapoints to alarm (CloudWatch evaluates
    complete periods)."""
    alarm = main_alarm(scenario)
    m = alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods", 1)
    return alarm_period(alarm) * float(m)


def earliest_alarm_at(t0: float, scenario: Scenario) -> float:
    """The earliest world second the controller's first alarm can be in ALARM for an
    overload that starts at `t0`, in the late world. Its `DatapointsToAlarm`-th breaching
    period is the one `m - 1` periods after the one holding `t0`; the alarm can see it only
    once that period has ended, and once a breaching sample of it has reached CloudWatch:
    sent with its minute's batch at the minute's end, after the shortest ingestion delay of
    the alarm's namespaces; and it looks only at its evaluations, once a minute at
    `evaluation_offset_secs` into it."""
    alarm = main_alarm(scenario)
    p = alarm_period(alarm)
    m = float(alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods", 1))
    timing = scenario.cloudwatch_timing
    shortest = min((timing.delay_range(ns)[0] for ns in alarm_namespaces(alarm)), default=0.0)
    first = (t0 // p) * p
    sample = max(t0, first + (m - 1) * p)
    sent = (sample // 60 + 1) * 60 if shortest > 0 else sample
    seen = max(first + m * p, sent + shortest)
    offset = timing.evaluation_offset_secs
    k = max(1, -(-(seen - offset) // 60))  # the first evaluation at or after `seen`
    return k * 60 + offset


def ready_at(t0: float, scenario: Scenario, alarmed_at: float | None = None) -> float:
    """The earliest world second a Fargate task can take traffic for an overload that starts
    at `t0`. Instant world: the alarm's period × datapoints to alarm, the fastest task start
    and `interval × healthy threshold`. Late world: the alarm's ALARM (when it went to ALARM
    in the run, `alarmed_at`, and never before `earliest_alarm_at`: the draws of the run's
    ingestion delays are the world's, not the controller's), the shortest event delivery, the
    fastest task start, one passing health check, and the shortest listener propagation."""
    ecs = scenario.ecs
    start = float(ecs.task_start_secs[0])
    if not scenario.late:
        return t0 + main_alarm_evaluation_secs(scenario) + start + scenario.new_target_health_secs
    return (floor_alarm_at(t0, scenario, alarmed_at) + scenario.events_timing.delivery_delay_secs[0]
            + start + scenario.new_target_health_secs + scenario.propagation_secs[0])


def floor_alarm_at(t0: float, scenario: Scenario, alarmed_at: float | None = None) -> float:
    """When the floor has the controller's first alarm go to ALARM for an overload that
    starts at `t0`: in the late world the run's ALARM (`alarmed_at`), never before
    `earliest_alarm_at`; in the instant world its period × datapoints to alarm after `t0`."""
    if not scenario.late:
        return t0 + main_alarm_evaluation_secs(scenario)
    return max(earliest_alarm_at(t0, scenario), alarmed_at if alarmed_at is not None else 0.0)


def first_alarm_at(rows: list[dict[str, Any]], scenario: Scenario, t0: float) -> float:
    """The first world second at or after `t0` the controller's first alarm is in ALARM in
    the run; infinity if it never is."""
    name = scenario.controller.alarm_names[0]
    return next((float(r["t"]) for r in rows
                 if r["t"] >= t0 and r.get("alarms", {}).get(name) == "ALARM"), math.inf)


def lambda_capacity_rps(scenario: Scenario) -> float:
    return scenario.lambda_.concurrency_limit / scenario.request_secs


def floor_5xx(rows: list[dict[str, Any]], scenario: Scenario) -> float:
    """The 5xx no controller can avoid without pre-warming: the demand above Lambda's
    capacity from the start of each overload until a Fargate task could take traffic."""
    return sum(floor_by_episode(rows, scenario))


def floor_by_episode(rows: list[dict[str, Any]], scenario: Scenario) -> list[float]:
    """`floor_5xx`, one figure per overload episode (the episodes of `episode_spans`)."""
    cap = lambda_capacity_rps(scenario)
    window_end = -1.0
    found: list[float] = []
    for i, j in episode_spans(rows, scenario):
        t0 = rows[i]["t"]
        alarmed = first_alarm_at(rows, scenario, t0) if scenario.late else None
        window_end = max(window_end, ready_at(t0, scenario, alarmed))
        found.append(sum(r["demand"] - cap for r in rows[i:j] if r["t"] < window_end))
    return found


def episode_spans(rows: list[dict[str, Any]], scenario: Scenario) -> list[tuple[int, int]]:
    """Each overload episode as row indices `[i, j)`: from the first second demand is above
    Lambda's capacity to the first second it is not again (or the end of the rows)."""
    cap = lambda_capacity_rps(scenario)
    spans: list[tuple[int, int]] = []
    start = None
    for i, row in enumerate(rows):
        over = row["demand"] > cap + 1e-9
        if over and start is None:
            start = i
        elif not over and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(rows)))
    return spans


PHASES = ("to_alarm", "to_scale_out", "to_healthy", "to_write", "to_in_force", "after")


def errors_of(row: dict[str, Any]) -> float:
    return row["e502"] + row["e503"] + row["e5xx_other"]


def milestone_tests(scenario: Scenario) -> list[Callable[[dict[str, Any]], bool]]:
    """What ends each phase but the last, in order: the controller's first alarm in ALARM;
    the service scaled out (desired above its idle count: the controller raised it, or it
    was still out); a healthy target; a weight for ECS written; a weight for ECS in force."""
    name = scenario.controller.alarm_names[0]
    idle = scenario.ecs.idle_count
    return [
        lambda r: r.get("alarms", {}).get(name) == "ALARM",
        lambda r: r["desired"] > idle,
        lambda r: r["healthy"] >= 1,
        lambda r: r["written_weights"][1] > 0,
        lambda r: r["ecs_weight"] > 0,
    ]


def floor_parts(t0: float, scenario: Scenario, alarmed_at: float | None) -> dict[str, float | None]:
    """What the floor assumed for each phase that ends in a step, in seconds: the alarm as
    `floor_alarm_at` has it (None: never), the shortest event delivery, the fastest task
    start and the new target's health check, no time to write, the shortest propagation.
    They add up to `ready_at(t0) - t0`."""
    alarm = floor_alarm_at(t0, scenario, alarmed_at)
    return {
        "to_alarm": None if math.isinf(alarm) else alarm - t0,
        "to_scale_out": float(scenario.events_timing.delivery_delay_secs[0]),
        "to_healthy": float(scenario.ecs.task_start_secs[0]) + scenario.new_target_health_secs,
        "to_write": 0.0,
        "to_in_force": float(scenario.propagation_secs[0]),
    }


def episode_phases(rows: list[dict[str, Any]], scenario: Scenario) -> list[dict[str, Any]]:
    """For each overload episode, its 5xx in consecutive phases (`PHASES`): from the start
    of the overload to the controller's first alarm in ALARM, to the scale-out, to a healthy
    target, to the weight write, to that weight in force, and after it until the rest of the
    episode has no 5xx. Each step is the first second at or after the one before at which it
    holds (0 s if it already did). A step that does not come within the episode ends the
    phases there: the phase waiting for it runs to the end of the episode, its name is
    `never`, and the phases after it are absent. Beside them, the episode's 5xx and floor and
    what the floor assumed for each phase (`floor_parts`)."""
    tests = milestone_tests(scenario)
    floors = floor_by_episode(rows, scenario)
    found = []
    for (i, j), floor in zip(episode_spans(rows, scenario), floors):
        end_t = rows[j - 1]["t"] + 1
        bounds = [i]
        for test in tests:
            k = next((x for x in range(bounds[-1], j) if test(rows[x])), None)
            if k is None:
                break
            bounds.append(k)
        never = PHASES[len(bounds) - 1] if len(bounds) <= len(tests) else None
        if never is None:
            last = max((x for x in range(bounds[-1], j) if errors_of(rows[x]) > 0), default=bounds[-1] - 1)
            bounds.append(last + 1)
        else:
            bounds.append(j)
        seconds = [rows[k]["t"] if k < j else end_t for k in bounds]
        phases = [{"phase": PHASES[n], "start": seconds[n], "end": seconds[n + 1],
                   "secs": seconds[n + 1] - seconds[n],
                   "errors_5xx": round(sum(errors_of(r) for r in rows[a:b]), 3)}
                  for n, (a, b) in enumerate(zip(bounds, bounds[1:]))]
        t0 = rows[i]["t"]
        alarmed = first_alarm_at(rows, scenario, t0) if scenario.late else None
        found.append({
            "start": t0, "end": end_t,
            "errors_5xx": round(sum(errors_of(r) for r in rows[i:j]), 3),
            "floor_5xx": round(floor, 3),
            "never": never,
            "phases": phases,
            "floor_parts": floor_parts(t0, scenario, alarmed),
        })
    return found


def overload_episodes(rows: list[dict[str, Any]], scenario: Scenario) -> int:
    return len(episode_spans(rows, scenario))


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


def ecs_share(row: dict[str, Any]) -> float:
    """The share of new traffic the weights in force send to ECS."""
    return row["ecs_weight"] / max(1, row["lambda_weight"] + row["ecs_weight"])


def idle_due(rows: list[dict[str, Any]], scenario: Scenario) -> dict[str, Any] | None:
    """When the service should be back at idle, by the ECS cost target: within
    `hold + W + L + D + 2 ticks` of the spill alarms last leaving ALARM, or within
    `W + L + D + 2 ticks` of the last request ECS got, whichever is later, plus one step
    settle time for each step back beyond the first. W is the stickiness window or one
    metric period, whichever is longer; L the longest ingestion delay of the ELB metrics
    (the drain is read from them); D the deregistration delay. None: no spill."""
    if not any(r["ecs_weight"] > 0 for r in rows):
        return None
    env = scenario.controller.env
    hold = float(env.get("SPILLOVER_RETURN_HOLD_SECS", 300))
    settle = float(env.get("SPILLOVER_STEP_SETTLE_SECS", 120))
    window = max(float(scenario.listener.stickiness_secs), 60.0)
    late = scenario.cloudwatch_timing.elb_delay_max
    drain = float(scenario.ecs.deregistration_delay_secs)
    ticks = 2 * scenario.controller.tick_secs
    names = scenario.controller.alarm_names
    in_alarm = [r["t"] for r in rows if any(r["alarms"].get(n) == "ALARM" for n in names)]
    left = (in_alarm[-1] + 1) if in_alarm else rows[0]["t"]
    last_ecs = max((r["t"] for r in rows if r.get("to_ecs", 0.0) > 1e-9), default=rows[0]["t"])
    step_backs = sum(1 for prev, row in zip(rows, rows[1:]) if ecs_share(row) < ecs_share(prev) - 1e-9)
    base = window + late + drain + ticks
    due = max(left + hold + base, last_ecs + 1 + base) + settle * max(0, step_backs - 1)
    return {"due": round(due), "left_alarm": left, "last_ecs_request": last_ecs,
            "step_backs": step_backs}


def idle_at(rows: list[dict[str, Any]], scenario: Scenario) -> int | None:
    """The world second the service is back at idle for good (all on Lambda, at its idle
    count, nothing running or draining), None if never within the run."""
    since = None
    idle = scenario.ecs.idle_count
    for row in rows:
        now_idle = (row["ecs_weight"] == 0 and row["desired"] <= idle
                    and row["running"] + row["pending"] + row["draining"] <= idle)
        if not now_idle:
            since = None
        elif since is None:
            since = row["t"]
    return since


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
    delivered = list(delivered)
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
    due = idle_due(rows, scenario)
    back = idle_at(rows, scenario) if due is not None else None
    first_over = next((r["t"] for r in rows if r["demand"] > lambda_capacity_rps(scenario) + 1e-9), None)
    earliest = None
    if first_over is not None:
        alarmed = first_alarm_at(rows, scenario, first_over) if scenario.late else None
        earliest = ready_at(first_over, scenario, alarmed) - first_over
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
        "idle_at": back,
        "idle_due": None if due is None else due["due"],
        "idle_in_time": None if due is None else (back is not None and back <= due["due"]),
        "idle_due_from": due,
        "sticky_tail_secs": sticky_tail_secs(rows),
        "final": {k: last.get(k) for k in ("lambda_weight", "ecs_weight", "desired", "healthy")},
        "reaction_secs": reaction,
        "controller_invocations": len(invocations),
        "controller_errors": sum(1 for i in invocations if i.outcome == "error"),
        "controller_timeouts": sum(1 for i in invocations if i.outcome == "timeout"),
        "events_delivered": len(delivered),
        "aws_calls": aws_calls,
        "lambda_capacity_rps": round(lambda_capacity_rps(scenario), 3),
        "earliest_ecs_secs": None if earliest is None or math.isinf(earliest) else earliest,
        "timing": scenario.timing,
        "duplicate_events": sum(1 for d in delivered if d.get("duplicate")),
        "phases": episode_phases(rows, scenario),
    }
