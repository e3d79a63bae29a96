"""moto 5.2.5, patched at runtime where its answers would lie about what AWS does.

Every patch is explained in `apply_moto_patches`; `serve` and the closed loop apply them
in-process before moto starts. The AWS writes moto applies are recorded in order.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import metric_math
from .cbor import cbor_operation
from .names import ACCOUNT, REGION

# Stop codes the scheduler wants for the stop_task call it is about to make,
# keyed by task id; stop_task calls from anyone else get "UserInitiated" as in AWS.
PENDING_STOP_CODES: dict[str, str] = {}


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# The AWS writes moto receives, one JSON line each, in the order moto applies them: the
# exact order of writes, which polling the state cannot give (two writes between two
# looks would seem simultaneous). `serve` sets the path.
_API_LOG: Path | None = None
_API_LOG_LOCK = threading.Lock()
_API_SEQ = 0


def set_api_log(path: Path | None) -> None:
    """Where the AWS writes are recorded (None: nowhere)."""
    global _API_LOG
    _API_LOG = path


def _record_api_write(api: str, detail: dict[str, Any]) -> None:
    global _API_SEQ
    if _API_LOG is None:
        return
    with _API_LOG_LOCK:
        _API_SEQ += 1
        line = {"seq": _API_SEQ, "t": round(time.time(), 3), "api": api, **detail}
        with _API_LOG.open("a") as fh:
            fh.write(json.dumps(line) + "\n")


def _recording(method: Any, api: str, detail: Any) -> Any:
    """Wraps a moto backend method so that each successful call is recorded."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        _record_api_write(api, detail(result))
        return result

    return wrapper


def apply_moto_patches() -> None:
    """Small runtime patches to moto 5.2.5's ECS so it answers like AWS.

    1. Service.runningCount / pendingCount: moto's update_service copies
       desiredCount into runningCount at once (and the deployment keeps the
       counts of create_service forever), so a service "runs" 2 tasks the
       instant it is asked for 2. Here both counts are computed from the
       service's real tasks (group "service:NAME"), as AWS does, and the
       PRIMARY deployment's desired/running/pending counts and rolloutState
       follow them.
    2. Tasks of a service (group "service:...") start in lastStatus PENDING,
       not RUNNING: moto starts every task RUNNING "in order not to break
       existing tests"; AWS tasks are PROVISIONING/PENDING until their
       containers start. The world's scheduler moves them to RUNNING after
       --task-start-delay (there is no API for that; it is the ECS agent's
       job). createdAt/startedAt/stoppedAt/stopCode are filled in too.
    3. ListTasks: AWS filters on desiredStatus RUNNING when no desiredStatus
       is given (stopped tasks only show with desiredStatus=STOPPED) and
       honours serviceName; moto returns every task and ignores serviceName.
    4. StopTask sets stoppedAt and stopCode (UserInitiated unless the
       scheduler stops the task) and the containers' lastStatus.
    6. UpdateService, ModifyListener, ModifyRule, RegisterTargets and
       DeregisterTargets are recorded in DIR/api.jsonl as moto applies them:
       the exact order of writes, for the end-to-end tests.
    7. Alarms carry StateTransitionedTimestamp, the time the state *value* last changed
       (AWS: StateUpdatedTimestamp changes with the reason too). moto 5.2.5 has only
       StateUpdatedTimestamp; its serializer reads the attribute by the shape's name.
    5. A task's ENI gets a free private IP inside its subnet (moto picks any
       random 10.x.y.z, which AWS would refuse to register in an IP target
       group of this VPC). The world's tasks always land in the first subnet.
    8. GetMetricData matches a metric's dimensions whatever their order, as CloudWatch
       does ("CloudWatch treats each unique combination of dimensions as a separate
       metric", GetMetricStatistics API reference). moto means to (it compares both
       lists sorted), but its Dimension.__lt__ compares one's value with the other's
       name, so the sort, and whether a query finds the data, depend on the values.
    9. GetMetricData evaluates metric math `Expression` queries (not the `SELECT` Metrics
       Insights ones) with `world/metric_math.py`, as CloudWatch does ("Using metric
       math"): per timestamp, over the union of the timestamps of the series the
       expression references (MetricStat queries, ReturnData false ones included, and
       other expressions, in dependency order), a period without a value being dropped.
       moto returns, for an expression, the series whose Id is the whole expression text
       (nothing, for `(FILL(m1, 0) + FILL(m2, 0)) * 0.5 / 60`), and returns it even with
       ReturnData false. Results come in the order of the queries, those with ReturnData
       false left out; an expression the world does not model, an unknown Id or a cycle
       is a ValidationError.
    10. DescribeAlarmHistory, which moto 5.2.5 does not serve, answers with StateUpdate
       items: one per real change of an alarm's state value (metric or composite), kept on
       the alarm, HistoryData shaped like AWS's. The world records no ConfigurationUpdate
       or Action items, and an alarm's history goes with the alarm when it is deleted or
       put again (AWS keeps it).
    11. PutEvents is recorded in the write log with each entry's DetailType.
    """
    from moto.ecs import models as ecs_models

    Service = ecs_models.Service
    Task = ecs_models.Task
    Backend = ecs_models.EC2ContainerServiceBackend
    if getattr(Backend, "_spillover_world_patched", False):
        return

    def service_tasks(svc: Any) -> list[Any]:
        tasks = svc._backend.tasks.get(svc.cluster_name, {})
        group = f"service:{svc.name}"
        return [t for t in list(tasks.values()) if t.group == group]

    def running_count(svc: Any) -> int:
        return sum(1 for t in service_tasks(svc) if t.last_status == "RUNNING")

    def pending_count(svc: Any) -> int:
        return sum(
            1
            for t in service_tasks(svc)
            if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING")
        )

    def ignore_write(svc: Any, value: Any) -> None:  # moto's own writes
        pass

    def get_deployments(svc: Any) -> list[dict[str, Any]]:
        deployments = svc.__dict__.get("_world_deployments", [])
        if deployments:
            primary = deployments[0]
            running, pending = svc.running_count, svc.pending_count
            primary["desiredCount"] = svc.desired_count
            primary["runningCount"] = running
            primary["pendingCount"] = pending
            done = running == svc.desired_count and pending == 0
            primary["rolloutState"] = "COMPLETED" if done else "IN_PROGRESS"
            primary["rolloutStateReason"] = (
                f"ECS deployment {primary['id']} completed."
                if done
                else f"ECS deployment {primary['id']} in progress."
            )
        return deployments

    def set_deployments(svc: Any, value: list[dict[str, Any]]) -> None:
        svc.__dict__["_world_deployments"] = value

    Service.running_count = property(running_count, ignore_write)
    Service.pending_count = property(pending_count, ignore_write)
    Service.deployments = property(get_deployments, set_deployments)

    original_task_init = Task.__init__

    def task_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_task_init(self, *args, **kwargs)
        self.created_at = now_utc()
        if str(self.group).startswith("service:"):
            self.last_status = "PENDING"

    Task.__init__ = task_init

    original_list_tasks = Backend.list_tasks

    def list_tasks(
        self: Any,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,
    ) -> list[Any]:
        tasks = original_list_tasks(
            self,
            cluster_str,
            container_instance,
            family,
            started_by,
            None,
            desiredStatus or "RUNNING",
        )
        if service_name:
            group = "service:" + service_name.split("/")[-1]
            tasks = [t for t in tasks if t.group == group]
        return tasks

    Backend.list_tasks = list_tasks

    original_stop_task = Backend.stop_task

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        task = original_stop_task(self, cluster_str, task_str, reason)
        code = PENDING_STOP_CODES.pop(task.id, "UserInitiated")
        if getattr(task, "stopped_at", None) is None:
            task.stopped_at = now_utc()
            task.stop_code = code
            for container in task.containers:
                container.last_status = "STOPPED"
        return task

    Backend.stop_task = stop_task

    used_ips: set[str] = set()

    def subnet_ip() -> str:
        for _ in range(1000):
            ip = f"10.0.1.{ecs_models.mock_random.randint(4, 254)}"
            if ip not in used_ips:
                used_ips.add(ip)
                return ip
        raise RuntimeError("no free IP left in 10.0.1.0/24")

    ecs_models.random_private_ip = subnet_ip
    # 6. Record the writes the end-to-end tests order-check (see _API_LOG).
    from moto.elbv2 import models as elb_models

    Elb = elb_models.ELBv2Backend
    Backend.update_service = _recording(
        Backend.update_service, "UpdateService", lambda svc: {"desired": svc.desired_count})
    Elb.modify_listener = _recording(Elb.modify_listener, "ModifyListener", lambda _: {})
    Elb.modify_rule = _recording(Elb.modify_rule, "ModifyRule", lambda _: {})
    Elb.register_targets = _recording(Elb.register_targets, "RegisterTargets", lambda _: {})
    Elb.deregister_targets = _recording(Elb.deregister_targets, "DeregisterTargets", lambda _: {})

    # 7. StateTransitionedTimestamp on metric and composite alarms.
    from moto.cloudwatch import models as cw_models

    Alarm = cw_models.Alarm
    original_alarm_init = Alarm.__init__

    def alarm_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_alarm_init(self, *args, **kwargs)
        self.state_transitioned_timestamp = self.state_updated_timestamp

    original_update_state = Alarm.update_state

    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        changed = state_value != self.state_value
        original_update_state(self, reason, reason_data, state_value)
        if changed:
            self.state_transitioned_timestamp = self.state_updated_timestamp

    Alarm.__init__ = alarm_init
    Alarm.update_state = update_state

    # 8. Dimensions ordered by (name, value), so that moto's sorted comparison holds.
    cw_models.Dimension.__lt__ = lambda self, other: (  # type: ignore[method-assign]
        (self.name or "", self.value or "") < (other.name or "", other.value or ""))

    # 9. Metric math in GetMetricData.
    from moto.cloudwatch.exceptions import ValidationError as CloudWatchValidationError

    CloudWatch = cw_models.CloudWatchBackend
    original_get_metric_data = CloudWatch.get_metric_data

    def get_metric_data(
        self: Any,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        index: dict[str, int] = {}
        for i, q in enumerate(queries):
            if q["Id"] in index:
                raise CloudWatchValidationError(
                    "The values for parameter id in MetricDataQueries are not unique.")
            index[q["Id"]] = i
        trees: dict[int, Any] = {}  # query index -> parsed metric math expression
        for i, q in enumerate(queries):
            if "Expression" not in q or q["Expression"].startswith("SELECT"):
                continue
            where = f"MetricDataQueries.member.{i + 1}.Expression"
            try:
                trees[i] = metric_math.parse_expression(q["Expression"])
            except ValueError as e:
                raise CloudWatchValidationError(f"{where}: {q['Expression']!r}: {e}") from None
            for ref in sorted(metric_math.refs(trees[i])):
                if ref not in index:
                    raise CloudWatchValidationError(
                        f"{where}: {q['Expression']!r} uses {ref}, which no query has as Id")
        # moto answers its MetricStat queries first, then its SELECT ones, each in order.
        stats = [i for i, q in enumerate(queries) if "MetricStat" in q]
        fetched_at = stats + [i for i in range(len(queries)) if i not in trees and i not in stats]
        fetched = original_get_metric_data(
            self, [{**queries[i], "ReturnData": True} for i in fetched_at],
            start_time, end_time, scan_by)
        assert len(fetched) == len(fetched_at), (fetched_at, fetched)
        results = dict(zip(fetched_at, fetched))
        series: dict[int, dict[Any, Any]] = {
            i: dict(zip(r["timestamps"], r["values"])) for i, r in results.items()}
        visiting: list[int] = []

        def evaluate(i: int) -> dict[Any, Any]:
            if i in series:
                return series[i]
            if i in visiting:
                cycle = [queries[j]["Id"] for j in visiting[visiting.index(i):] + [i]]
                raise CloudWatchValidationError(
                    f"expressions refer to each other in a cycle: {' -> '.join(cycle)}")
            visiting.append(i)
            used = {ref: evaluate(index[ref]) for ref in metric_math.refs(trees[i])}
            visiting.pop()
            values: dict[Any, Any] = {}
            for stamp in sorted(set().union(*used.values())):
                value, _ = metric_math.apply(trees[i], lambda ref: used[ref].get(stamp))
                if value is not None:
                    values[stamp] = value
            series[i] = values
            return values

        for i in trees:
            evaluate(i)
        answer = []
        for i, q in enumerate(queries):
            if not q.get("ReturnData", True):
                continue
            if i not in trees:
                answer.append(results[i])
                continue
            stamps = sorted(series[i], reverse=scan_by == "TimestampDescending")
            answer.append({
                "id": q["Id"],
                "label": q.get("Label") or q["Id"],
                "values": [series[i][t] for t in stamps],
                "timestamps": stamps,
                "status_code": "Complete",
            })
        return answer

    CloudWatch.get_metric_data = get_metric_data

    # 10. DescribeAlarmHistory (StateUpdate items).
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_AlarmHistoryItem.html
    # moto's own `Alarm.history` holds tuples of the *old* state and feeds no API, so the
    # items go to their own list, `Alarm.state_history_items`, as (record order, item).
    # Deleting an alarm (or putting it again: moto builds a new Alarm) loses its history;
    # AWS keeps it ("CloudWatch retains the history of an alarm even if you delete the
    # alarm"), but nothing in the world reads a deleted alarm's history.
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    history_order = itertools.count()  # the tie-break between equal timestamps

    def parsed_reason_data(raw: str | None) -> Any:
        """Reason data as HistoryData nests it: the parsed JSON, None if empty or not JSON
        (moto starts every alarm with "{}")."""
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            return None
        return None if data in (None, {}, [], "") else data

    def history_state(value: str, reason: str, raw_data: str | None) -> dict[str, Any]:
        state: dict[str, Any] = {"stateValue": value, "stateReason": reason}
        data = parsed_reason_data(raw_data)
        if data is not None:  # AWS's examples carry it in oldState as well as newState
            state["stateReasonData"] = data
        return state

    transitioning_update_state = Alarm.update_state  # patch 7's wrapper

    def update_state_with_history(
        self: Any, reason: str, reason_data: str, state_value: str
    ) -> None:
        old = (self.state_value, self.state_reason, self.state_reason_data)
        transitioning_update_state(self, reason, reason_data, state_value)
        if state_value == old[0]:  # a new reason only: no StateUpdate item, as in AWS
            return
        new = (self.state_value, self.state_reason, self.state_reason_data)
        data = {"version": "1.0", "oldState": history_state(*old),
                "newState": history_state(*new)}
        item = {
            # The clock moto set state_updated_timestamp with (its utcnow, naive UTC).
            "Timestamp": self.state_updated_timestamp,
            "HistoryItemType": "StateUpdate",
            "AlarmName": self.name,
            "AlarmType": "MetricAlarm" if self.rule is None else "CompositeAlarm",
            "HistorySummary": f"Alarm updated from {old[0]} to {new[0]}",
            "HistoryData": json.dumps(data, separators=(",", ":")),
        }
        self.__dict__.setdefault("state_history_items", []).append((next(history_order), item))

    Alarm.update_state = update_state_with_history

    def to_ms(stamp: datetime) -> datetime:
        """Naive UTC at millisecond precision: CloudWatch's, and what moto serializes, so a
        Timestamp read back and passed as StartDate or EndDate finds its item."""
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
        return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)

    def enum_error(field: str, value: Any, allowed: tuple[str, ...]) -> str:
        return (f"Value '{value}' at '{field}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    alarm_types = ("CompositeAlarm", "MetricAlarm", "LogAlarm")
    item_types = ("ConfigurationUpdate", "StateUpdate", "Action",
                  "AlarmContributorStateUpdate", "AlarmContributorAction")
    scan_orders = ("TimestampDescending", "TimestampAscending")

    def describe_alarm_history(self: Any) -> ActionResult:
        name = self._get_param("AlarmName")
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]  # AWS: omitted, metric only
        item_type = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        max_records = self._get_param("MaxRecords")
        max_records = 50 if max_records is None else int(max_records)
        scan_by = self._get_param("ScanBy") or "TimestampDescending"
        token = self._get_param("NextToken")
        errors: list[str] = []  # the shape of moto's and AWS's "N validation errors detected: ..."
        if max_records < 1:
            errors.append(f"Value '{max_records}' at 'maxRecords' failed to satisfy "
                          "constraint: Member must have value greater than or equal to 1")
        if max_records > 100:
            errors.append(f"Value '{max_records}' at 'maxRecords' failed to satisfy "
                          "constraint: Member must have value less than or equal to 100")
        if item_type is not None and item_type not in item_types:
            errors.append(enum_error("historyItemType", item_type, item_types))
        if scan_by not in scan_orders:
            errors.append(enum_error("scanBy", scan_by, scan_orders))
        errors += [enum_error("alarmTypes", t, alarm_types) for t in types
                   if t not in alarm_types]
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}"
            raise CloudWatchValidationError(f"{count} detected: {'; '.join(errors)}")

        def wanted(item: dict[str, Any]) -> bool:  # StartDate and EndDate are inclusive
            stamp = to_ms(item["Timestamp"])
            return (item["AlarmType"] in types
                    and (start is None or stamp >= to_ms(start))
                    and (end is None or stamp <= to_ms(end)))

        alarms = self.cloudwatch_backend.alarms
        if name is None:
            chosen = list(alarms.values())
        else:
            chosen = [alarms[name]] if name in alarms else []
        entries: list[tuple[int, dict[str, Any]]] = []
        if item_type in (None, "StateUpdate"):  # the only kind the world records
            entries = [(order, item) for alarm in chosen
                       for order, item in alarm.__dict__.get("state_history_items", [])
                       if wanted(item)]
        # Newest first by default; equal timestamps in record order, reversed with it.
        entries.sort(key=lambda e: (e[1]["Timestamp"], e[0]),
                     reverse=scan_by == "TimestampDescending")
        offset = 0
        if token is not None:
            # The token is the offset of the next page. AWS documents the error
            # InvalidNextToken; moto's CloudWatch has no such exception.
            if not (token.isascii() and token.isdigit() and 0 < int(token) <= len(entries)):
                raise CloudWatchValidationError(f"The NextToken '{token}' is invalid.")
            offset = int(token)
        page = entries[offset:offset + max_records]
        result: dict[str, Any] = {"AlarmHistoryItems": [dict(item) for _, item in page]}
        if offset + max_records < len(entries):
            result["NextToken"] = str(offset + max_records)
        return ActionResult(result)

    CloudWatchResponse.describe_alarm_history = describe_alarm_history

    # 11. PutEvents is recorded with each entry's DetailType, so that a closed-loop run can
    # count the notifications its controller published (moto keeps no event that no rule
    # matches).
    from moto.events.models import EventsBackend

    original_put_events = EventsBackend.put_events

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = original_put_events(self, events)
        _record_api_write("PutEvents", {"detail_types": [e.get("DetailType") for e in events]})
        return result

    EventsBackend.put_events = put_events

    Backend._spillover_world_patched = True


class CallCounter:
    """Counts the AWS requests moto serves, by who sent them (the user agent): the Rust
    SDK is spillover, `spillover-world-seed` the seed's peer, the rest the world itself.
    A WSGI middleware in front of moto's application; it also keeps each controller
    request's time and action, so a run can tell how fast a controller reacted and how
    often it read while it waited."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.calls: list[tuple[float, str, str]] = []  # (unix time, caller, action)

    @staticmethod
    def caller(environ: dict[str, Any]) -> str:
        agent = (environ.get("HTTP_USER_AGENT", "") + " "
                 + environ.get("HTTP_X_AMZ_USER_AGENT", ""))
        if "spillover-world-seed" in agent:
            return "seed"
        if "aws-sdk-rust" in agent:
            return "spillover"
        return "world"

    @staticmethod
    def action(environ: dict[str, Any]) -> str:
        """The operation: the path's last segment for Smithy RPC v2 CBOR (CloudWatch),
        X-Amz-Target for JSON protocols, `Action=` in the form body for the Query protocol
        (the body is read and put back for moto)."""
        cbor = cbor_operation(environ)
        if cbor is not None:
            return cbor[1]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return target.rsplit(".", 1)[-1]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        for part in (environ.get("QUERY_STRING", "") + "&" + body.decode("utf-8", "replace")
                     ).split("&"):
            if part.startswith("Action="):
                return part[7:]
        return "?"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith(("/moto-api", "/_world")):
            who = self.caller(environ)
            action = self.action(environ) if who != "world" else ""
            with self.lock:
                self.counts[who] = self.counts.get(who, 0) + 1
                if who != "world":
                    self.calls.append((time.time(), who, action))
        return self.app(environ, start_response)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def timed(self, who: str) -> list[tuple[float, str]]:
        with self.lock:
            return [(t, action) for t, caller, action in self.calls if caller == who]


def ecs_backend() -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[ACCOUNT][REGION]
