"""What the world observes, written to DIR/timeline.jsonl: one line per action of the
world's own and per change made by anyone else (weights, actions, alarm, desired count).
The end-to-end tests and the demo read it; `python -m world timeline` prints it."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .aws import describe_tasks, forward_weights, list_service_tasks, strip_weights
from .names import CLUSTER, SERVICE, TIMELINE, WorldError

log = logging.getLogger("world")


class TimelineRecorder:
    """The observing half of the world (mixed into `server.World`)."""

    c: dict[str, Any]
    arns: dict[str, Any]
    timeline: Path
    watch_alarm: str
    observe_rule_and_alarm: bool
    last: dict[str, Any] | None
    lines_written: int
    last_default_shape: str
    last_rule_shape: str

    def observe(self) -> dict[str, Any]:
        """The world as the APIs show it. The listener is read first and the
        service and targets after it, so a change of weights that came after a
        change of counts can never look as if it came before it."""
        ecs, elb, cw = self.c["ecs"], self.c["elbv2"], self.c["cloudwatch"]
        observed_at = time.time()
        default = elb.describe_listeners(ListenerArns=[self.arns["listener"]])[
            "Listeners"][0]["DefaultActions"]
        # The closed loop reads neither: it uses the default action, and it sets the alarms.
        rule = (elb.describe_rules(RuleArns=[self.arns["rule"]])["Rules"][0]["Actions"]
                if self.observe_rule_and_alarm else [])
        alarm = (cw.describe_alarms(AlarmNames=[self.watch_alarm])["MetricAlarms"][0]["StateValue"]
                 if self.observe_rule_and_alarm else None)
        svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        live = describe_tasks(ecs, list_service_tasks(ecs, "RUNNING"))
        health = elb.describe_target_health(TargetGroupArn=self.arns["ecs_tg"])
        healthy = sum(
            1 for d in health["TargetHealthDescriptions"]
            if d.get("TargetHealth", {}).get("State") == "healthy"
        )
        lw, ew = forward_weights(default, self.arns["lambda_tg"], self.arns["ecs_tg"])
        rlw, rew = forward_weights(rule, self.arns["lambda_tg"], self.arns["ecs_tg"])
        return {
            "desired": svc["desiredCount"],
            "running": sum(1 for t in live if t["lastStatus"] == "RUNNING"),
            "pending": sum(1 for t in live if t["lastStatus"] != "RUNNING"),
            "healthy": healthy,
            "lambda_weight": lw,
            "ecs_weight": ew,
            "rule_lambda_weight": rlw,
            "rule_ecs_weight": rew,
            "alarm": alarm,
            "_t": observed_at,
            "_svc": svc,
            "_live": live,
            "_default": default,
            "_rule": rule,
        }

    def write_line(self, event: str, kind: str, obs: dict[str, Any], **extra: Any) -> None:
        # t is when the observation began: lines written from one observation
        # share it, and their order among themselves means nothing.
        line = {"t": round(obs["_t"], 3), "event": event, "kind": kind}
        line.update({k: v for k, v in obs.items() if not k.startswith("_")})
        line.update(extra)
        with self.timeline.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        self.lines_written += 1
        log.info(
            "%-48s desired=%s running=%s healthy=%s weights=%s/%s alarm=%s",
            event, line["desired"], line["running"], line["healthy"],
            line["lambda_weight"], line["ecs_weight"], line["alarm"],
        )
        self.last = {k: v for k, v in obs.items() if not k.startswith("_")}
        self.last_default_shape = strip_weights(obs["_default"])
        self.last_rule_shape = strip_weights(obs["_rule"])

    def record(self, event: str, kind: str, **extra: Any) -> dict[str, Any]:
        """Observe after an action of the world and write its line (changes by others first)."""
        obs = self.observe()
        self.record_changes(obs, counts=False)
        self.write_line(event, kind, obs, **extra)
        return obs

    def record_changes(self, obs: dict[str, Any], counts: bool) -> None:
        """One line per kind of change made by someone else since the last line.

        Task and target counts are the world's own doing and recorded with its
        actions; with counts=True a change nobody recorded is written too.
        """
        last = self.last
        if last is None:
            return
        default_shape, rule_shape = self.last_default_shape, self.last_rule_shape
        if (obs["lambda_weight"], obs["ecs_weight"]) != (last["lambda_weight"], last["ecs_weight"]):
            self.write_line(
                f"weights changed lambda/ecs {last['lambda_weight']}/{last['ecs_weight']}"
                f" -> {obs['lambda_weight']}/{obs['ecs_weight']}",
                "weights_changed", obs, actions=obs["_default"],
            )
        if strip_weights(obs["_default"]) != default_shape:
            self.write_line("listener default action changed (not only weights)",
                            "default_action_changed", obs, actions=obs["_default"])
        if (obs["rule_lambda_weight"], obs["rule_ecs_weight"]) != (
            last["rule_lambda_weight"], last["rule_ecs_weight"]
        ):
            self.write_line(
                f"rule weights changed lambda/ecs {last['rule_lambda_weight']}/"
                f"{last['rule_ecs_weight']} -> {obs['rule_lambda_weight']}/{obs['rule_ecs_weight']}",
                "rule_weights_changed", obs, actions=obs["_rule"],
            )
        if strip_weights(obs["_rule"]) != rule_shape:
            self.write_line("rule action changed (not only weights)",
                            "rule_action_changed", obs, actions=obs["_rule"])
        if obs["alarm"] != last["alarm"]:
            self.write_line(f"alarm state changed {last['alarm']} -> {obs['alarm']}",
                            "alarm_changed", obs)
        if obs["desired"] != last["desired"]:
            self.write_line(f"desired changed {last['desired']} -> {obs['desired']}",
                            "desired_changed", obs)
        if counts and (obs["running"], obs["pending"], obs["healthy"]) != (
            last["running"], last["pending"], last["healthy"]
        ):
            self.write_line(
                f"counts changed running {last['running']} -> {obs['running']}, "
                f"healthy {last['healthy']} -> {obs['healthy']}",
                "counts_changed", obs,
            )

    # -- the ECS scheduler and the health checks ----------------------------


def read_timeline(directory: Path) -> list[dict[str, Any]]:
    path = directory / TIMELINE
    if not path.exists():
        raise WorldError(f"{path} does not exist: no world has run in {directory}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def print_timeline(lines: list[dict[str, Any]]) -> None:
    if not lines:
        print("(empty timeline)")
        return
    t0 = lines[0]["t"]
    print(f"{'t(s)':>8}  {'event':<58} {'des/run':>7} {'hlt':>3} {'lam/ecs':>7}  alarm")
    for ln in lines:
        event = ln["event"] if len(ln["event"]) <= 58 else ln["event"][:55] + "..."
        print(
            f"{ln['t'] - t0:8.2f}  {event:<58} {ln['desired']:>3}/{ln['running']:<3} "
            f"{ln['healthy']:>3} {str(ln['lambda_weight']):>3}/{str(ln['ecs_weight']):<3}  "
            f"{ln['alarm']}"
        )
