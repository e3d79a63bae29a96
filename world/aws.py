"""Small helpers over boto3 clients and the world's `world.json`: reading it, finding
weights in forward actions, paging ECS tasks."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .names import ACCESS_KEY, CLUSTER, REGION, SECRET_KEY, SERVICE, WORLD_JSON, WorldError


def clients(endpoint: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    cfg = Config(
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=15,
    )
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    return {
        name: session.client(name, endpoint_url=endpoint, config=cfg)
        for name in ("ec2", "elbv2", "ecs", "cloudwatch", *extra)
    }


def read_world(directory: Path) -> dict[str, Any]:
    path = directory / WORLD_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise WorldError(
            f"{path} does not exist: is `python -m world serve --dir {directory}` running?"
        ) from None
    except json.JSONDecodeError as exc:
        raise WorldError(f"{path} is not valid JSON: {exc}") from None


def endpoint_answers(endpoint: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except (urllib.error.URLError, OSError):
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forward_weights(actions: list[dict[str, Any]], lambda_tg: str, ecs_tg: str) -> tuple[Any, Any]:
    """(lambda weight, ecs weight) of the first forward action; None when absent."""
    for action in actions or []:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            weights = {g.get("TargetGroupArn"): g.get("Weight", 1) for g in groups}
            return weights.get(lambda_tg), weights.get(ecs_tg)
        single = action.get("TargetGroupArn")
        return (1 if single == lambda_tg else None, 1 if single == ecs_tg else None)
    return None, None


def strip_weights(actions: list[dict[str, Any]]) -> str:
    """The actions without weights, canonical JSON: what spillover must not change."""
    stripped = json.loads(json.dumps(actions or []))
    for action in stripped:
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            group.pop("Weight", None)
    return json.dumps(stripped, sort_keys=True)


def task_ip(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return detail.get("value")
    return None


def describe_tasks(ecs: Any, arns: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        chunk = arns[i : i + 100]
        out.extend(ecs.describe_tasks(cluster=CLUSTER, tasks=chunk)["tasks"])
    return out


def list_service_tasks(ecs: Any, desired_status: str) -> list[str]:
    arns: list[str] = []
    kwargs: dict[str, Any] = {
        "cluster": CLUSTER,
        "serviceName": SERVICE,
        "desiredStatus": desired_status,
    }
    while True:
        page = ecs.list_tasks(**kwargs)
        arns.extend(page.get("taskArns", []))
        token = page.get("nextToken")
        if not token:
            return arns
        kwargs["nextToken"] = token


def short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1][:8]

