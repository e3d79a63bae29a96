"""The command line: `python -m world serve|alarm|snapshot|timeline|wait|loop|bench`.

Exit status: 0 done, 2 bad input, 1 the world is not there or an AWS call failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from .aws import (
    clients, describe_tasks, endpoint_answers, forward_weights, list_service_tasks, pid_alive,
    read_world, task_ip,
)
from .names import (
    ALARM_HIGH, ALARM_STATES, CLUSTER, SERVICE, WORLD_JSON, UsageError, WorldError,
)
from .server import cmd_serve
from .timeline import print_timeline, read_timeline


def alarm_from_event(path: Path) -> tuple[str, str, str, str | None] | None:
    """(name, state, reason, reason data) from a recorded EventBridge event; None for a tick."""
    try:
        event = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"event file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"event file {path} is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise UsageError(f"event file {path}: expected a JSON object")
    kind = event.get("detail-type")
    if kind == "Scheduled Event":
        return None
    if kind != "CloudWatch Alarm State Change" or event.get("source") != "aws.cloudwatch":
        raise UsageError(
            f"event file {path}: not a CloudWatch alarm state change or a scheduled event "
            f"(source={event.get('source')!r}, detail-type={kind!r})"
        )
    detail = event.get("detail") or {}
    name = detail.get("alarmName")
    state = (detail.get("state") or {}).get("value")
    if not isinstance(name, str) or not name:
        raise UsageError(f"event file {path}: detail.alarmName is missing")
    if state not in ALARM_STATES:
        raise UsageError(
            f"event file {path}: detail.state.value is {state!r}, expected one of {ALARM_STATES}"
        )
    reason = (detail.get("state") or {}).get("reason") or f"replayed from {path.name}"
    data = (detail.get("state") or {}).get("reasonData")
    if data is not None:
        try:
            json.loads(data)
        except (TypeError, ValueError):
            data = None
    return name, state, reason, data


def cmd_alarm(args: argparse.Namespace) -> int:
    if args.event:
        parsed = alarm_from_event(Path(args.event))
        if parsed is None:
            print(f"{args.event}: scheduled tick, no alarm state to set")
            return 0
        name, state, reason, data = parsed
    else:
        name, state = args.name or ALARM_HIGH, args.state
        reason, data = "set by world alarm", None
    world = read_world(Path(args.dir))
    cw = clients(world["endpoint"])["cloudwatch"]
    kwargs: dict[str, Any] = {"AlarmName": name, "StateValue": state, "StateReason": reason}
    if data is not None:
        kwargs["StateReasonData"] = data
    try:
        cw.set_alarm_state(**kwargs)
    except cw.exceptions.ResourceNotFound:
        raise WorldError(f"alarm {name!r} does not exist in the world") from None
    print(f"alarm {name} -> {state}")
    return 0


def snapshot(directory: Path) -> dict[str, Any]:
    world = read_world(directory)
    arns = world["arns"]
    c = clients(world["endpoint"])
    ecs, elb, cw = c["ecs"], c["elbv2"], c["cloudwatch"]
    svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    arn_list = list_service_tasks(ecs, "RUNNING") + list_service_tasks(ecs, "STOPPED")
    tasks = describe_tasks(ecs, arn_list)
    health = elb.describe_target_health(TargetGroupArn=arns["ecs_tg"])["TargetHealthDescriptions"]
    default = elb.describe_listeners(ListenerArns=[arns["listener"]])["Listeners"][0]["DefaultActions"]
    rule = elb.describe_rules(RuleArns=[arns["rule"]])["Rules"][0]
    alarms = cw.describe_alarms(AlarmNames=arns.get("alarms", [ALARM_HIGH]))
    lw, ew = forward_weights(default, arns["lambda_tg"], arns["ecs_tg"])
    rlw, rew = forward_weights(rule["Actions"], arns["lambda_tg"], arns["ecs_tg"])
    return {
        "desired": svc["desiredCount"],
        "running": sum(1 for t in tasks if t["lastStatus"] == "RUNNING"),
        "pending": sum(1 for t in tasks if t["lastStatus"] in ("PROVISIONING", "PENDING")),
        "healthy": sum(1 for d in health if d["TargetHealth"]["State"] == "healthy"),
        "service": {k: svc.get(k) for k in ("desiredCount", "runningCount", "pendingCount",
                                            "status")},
        "lambda_weight": lw,
        "ecs_weight": ew,
        "rule_lambda_weight": rlw,
        "rule_ecs_weight": rew,
        "listener_default_actions": default,
        "rule_actions": rule["Actions"],
        "rule_conditions": rule["Conditions"],
        "targets": [{"id": d["Target"]["Id"], "port": d["Target"].get("Port"),
                     "state": d["TargetHealth"]["State"]} for d in health],
        "alarms": {a["AlarmName"]: a["StateValue"]
                   for a in alarms["MetricAlarms"] + alarms.get("CompositeAlarms", [])},
        "tasks": [{
            "taskArn": t["taskArn"],
            "lastStatus": t["lastStatus"],
            "desiredStatus": t.get("desiredStatus"),
            "stoppedReason": t.get("stoppedReason"),
            "stopCode": t.get("stopCode"),
            "group": t.get("group"),
            "startedBy": t.get("startedBy"),
            "ip": task_ip(t),
        } for t in tasks],
    }


def cmd_snapshot(args: argparse.Namespace) -> int:
    print(json.dumps(snapshot(Path(args.dir)), indent=2, default=str))
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    print_timeline(read_timeline(Path(args.dir)))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    deadline = time.monotonic() + args.timeout
    path = directory / WORLD_JSON
    while True:
        if path.exists():
            try:
                world = json.loads(path.read_text())
            except json.JSONDecodeError:
                world = None
            if world:
                if endpoint_answers(world["endpoint"]):
                    print(world["endpoint"])
                    return 0
                if not pid_alive(int(world.get("pid", 0)) or -1):
                    raise WorldError(f"the world process (pid {world.get('pid')}) of {path} "
                                     "is not running")
        if time.monotonic() >= deadline:
            what = "endpoint does not answer" if path.exists() else f"{path} not written"
            raise WorldError(f"world not ready after {args.timeout:g}s: {what} "
                             "(is `python -m world serve` running? see its log)")
        time.sleep(0.1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m world", description="The local AWS world for spillover (moto + a fake ECS scheduler)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run moto, seed the topology, play the ECS scheduler")
    p.add_argument("--dir", required=True, help="state directory (world.json, timeline.jsonl)")
    p.add_argument("--task-start-delay", type=float, default=1.0, metavar="SECS",
                   help="seconds a started task stays PENDING before RUNNING (default 1.0)")
    p.add_argument("--health-delay", type=float, default=1.0, metavar="SECS",
                   help="seconds from RUNNING to a healthy target (default 1.0)")
    p.add_argument("--fail-start", metavar="REASON",
                   help="tasks never start: each is stopped with this stoppedReason")
    p.add_argument("--sticky-secs", type=int, default=3600, metavar="SECS",
                   help="target-group stickiness of the weighted forward actions, 0 for none "
                        "(default 3600)")
    p.add_argument("--deregistration-delay", type=int, metavar="SECS",
                   help="the ECS target group's deregistration delay (default: moto's, 300)")
    p.add_argument("--scalable", metavar="MIN,MAX",
                   help="make the service an Application Auto Scaling scalable target with these "
                        "bounds; the world moves the desired count into them as AAS does")
    p.add_argument("--lifetime", type=float, default=600.0, metavar="SECS",
                   help="exit by itself after this many seconds (default 600)")
    p.add_argument("--tick", type=float, default=0.1, metavar="SECS",
                   help="scheduler loop interval (default 0.1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("alarm", help="set an alarm's state (as CloudWatch would)")
    p.add_argument("--dir", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--state", choices=ALARM_STATES)
    g.add_argument("--event", metavar="EVENT.json",
                   help="recorded EventBridge event: sets detail.alarmName to detail.state.value")
    p.add_argument("--name", help=f"alarm name with --state (default {ALARM_HIGH})")
    p.set_defaults(func=cmd_alarm)

    p = sub.add_parser("snapshot", help="print the current state as JSON")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("timeline", help="print the timeline as a table")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("wait", help="block until the world is ready")
    p.add_argument("--dir", required=True)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECS")
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("loop", help="run one scenario in the closed loop with one controller")
    p.add_argument("--scenario", required=True, metavar="FILE", help="scenario JSON (world/scenarios/)")
    p.add_argument("--controller", default="spillover", choices=("spillover", "seed", "none"),
                   help="who reacts to the alarms (default spillover: $SPILLOVER_BIN, else the debug "
                        "binary in cargo's target directory)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="where summary.json, seconds.jsonl and timeline.png go (emptied first)")
    p.add_argument("--speed", type=float, metavar="N",
                   help="run N times faster than AWS time (default: about 3 wall minutes per "
                        "30 scenario minutes)")
    p.add_argument("--no-picture", action="store_true", help="skip timeline.png")
    p.add_argument("--instant", action="store_true",
                   help="the instant world: metrics, alarms, events and listener changes with no "
                        "delay (the scenario's `timing: instant`); the late world is the default")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                   help="a controller setting over the scenario's (e.g. SPILLOVER_STEPS=100); "
                        "repeatable")
    p.set_defaults(func=cmd_loop)

    p = sub.add_parser("bench", help="every scenario for every controller: one table")
    p.add_argument("--scenarios", nargs="*", metavar="FILE",
                   help="scenario files (default: all of world/scenarios/)")
    p.add_argument("--controllers", default="spillover,seed,none", metavar="LIST")
    p.add_argument("--results", default="bench/results", metavar="DIR",
                   help="where loop.md, loop.json and the pictures go (default bench/results)")
    p.add_argument("--work", default=".bench-loop", metavar="DIR",
                   help="each run's own directory (default .bench-loop)")
    p.add_argument("--speed", type=float, metavar="N", help="as for loop")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="runs at a time (default 2)")
    p.add_argument("--instant", action="store_true",
                   help="every scenario in the instant world: loop-instant.md, loop-instant.json")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                   help="as for loop")
    p.set_defaults(func=cmd_bench)
    return parser


def settings(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--set {pair!r}: expected NAME=VALUE")
        found[name] = value
    return found


def cmd_loop(args: argparse.Namespace) -> int:
    from .loop import default_speed, run_loop
    from .scenario import ScenarioError, load

    try:
        scenario = load(Path(args.scenario))
    except (ScenarioError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if args.instant:
        scenario = scenario.with_timing("instant")
    if args.speed is not None and not args.speed > 0:
        raise UsageError("--speed must be above 0")
    speed = args.speed or default_speed(scenario)
    out = Path(args.out)
    print(f"loop: {scenario.name} × {args.controller} in the {scenario.timing} world, "
          f"{scenario.duration_secs / 60:g} AWS minutes "
          f"at {speed:g}× → about {scenario.duration_secs / speed / 60:.1f} wall minutes; "
          f"results in {out}", file=sys.stderr, flush=True)
    summary = run_loop(scenario, args.controller, out, speed, picture=not args.no_picture,
                       controller_env=settings(args.settings))
    print(json.dumps(summary, indent=2))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench, controllers_arg, library
    from .scenario import ScenarioError

    try:
        controllers = controllers_arg(args.controllers)
        scenarios = [Path(p) for p in args.scenarios] if args.scenarios else library()
        if not scenarios:
            raise UsageError("no scenarios found")
        if args.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        bench(scenarios, controllers, Path(args.results), Path(args.work), args.speed, args.jobs,
              settings(args.settings), instant=args.instant)
    except (ScenarioError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "alarm" and args.event and args.name:
        parser.error("alarm: --name goes with --state; with --event the name comes from the event")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s world %(levelname)s %(message)s")
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"world {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except WorldError as exc:
        print(f"world {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # botocore errors and the like
        print(f"world {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
