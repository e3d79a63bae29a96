"""Faults at the edge: a WSGI middleware in front of moto that answers chosen requests the
way AWS sometimes does (a throttle, a 5xx, a read that does not yet show the last write),
and the small control API that sets them.

Control API, on the world's endpoint:

- `POST /_world/faults` with `{"rules": [RULE, ...]}` replaces the rules;
- `GET /_world/faults` gives the rules with, for each, how many calls it `matched` and how
  many faults it `injected`, and the `injected` total;
- `DELETE /_world/faults` removes every rule.

A RULE: `operation` (`DescribeTargetHealth`: X-Amz-Target's operation for the JSON
protocols, `Action=` for the Query protocol), `kind` (`throttle`, `status`, `stale` or
`delay`),
`caller` (`spillover`, the default: the Rust SDK's user agent; `seed`, `world` or `any`),
`count` (faults to inject, default 1), `after` (matching calls to let through first,
default 0), for `status`: `status` (default 503) and `code` (the error code, default
by status), and for `delay`: `secs` (1 to 60). Only one rule answers a call: the first one
that has faults left.

- `throttle`: the error AWS sends when an API's token bucket is empty, in the protocol
  of the call. Query (ELBv2, CloudWatch): HTTP 400 with
  `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message>`; JSON 1.1
  (ECS, Application Auto Scaling): HTTP 400 with `{"__type": "ThrottlingException"}`
  (<https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html>,
  <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>).
- `status`: that HTTP status with an error body of the call's protocol.
- `stale`: the answer this same request got before the caller's last write to the same
  service, as an eventually consistent read can give it. Only answers given since the rules
  were set are kept; a call with no such earlier answer passes and does not count as matched.
- `delay`: the call hangs `secs` seconds, then moto answers it (a slow or stuck endpoint;
  the caller may have given up by then).

The middleware sits inside the `CallCounter`, so a faulted call still counts as a call.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from .patches import CallCounter

PATH = "/_world/faults"
KINDS = ("throttle", "status", "stale", "delay")
MAX_DELAY_SECS = 60
CALLERS = ("spillover", "seed", "world", "any")
# The codes AWS gives with a 5xx; the SDKs retry a 500/502/503/504 whatever the code.
STATUS_CODES = {500: "InternalFailure", 502: "BadGateway", 503: "ServiceUnavailable",
                504: "GatewayTimeout", 403: "AccessDenied", 400: "ValidationError"}
READ_PREFIXES = ("Describe", "List", "Get")
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")

# (status line, headers, body) as moto or a fault answered it.
Answer = tuple[str, list[tuple[str, str]], bytes]


@dataclass
class Rule:
    operation: str
    kind: str
    caller: str = "spillover"
    count: int = 1
    after: int = 0
    status: int = 503
    code: str = ""
    secs: float = 0.0
    matched: int = 0
    injected: int = 0

    @classmethod
    def parse(cls, doc: Any) -> "Rule":
        """A rule from its JSON; ValueError names the field that is wrong."""
        if not isinstance(doc, dict):
            raise ValueError("each rule must be a JSON object")
        unknown = set(doc) - {"operation", "kind", "caller", "count", "after", "status", "code",
                              "secs"}
        if unknown:
            raise ValueError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        operation = doc.get("operation")
        if not isinstance(operation, str) or not operation:
            raise ValueError("rule.operation must be an API operation name, e.g. DescribeAlarms")
        kind = doc.get("kind")
        if kind not in KINDS:
            raise ValueError(f"rule.kind must be one of {', '.join(KINDS)}, not {kind!r}")
        caller = doc.get("caller", "spillover")
        if caller not in CALLERS:
            raise ValueError(f"rule.caller must be one of {', '.join(CALLERS)}, not {caller!r}")
        ints = {}
        for name, default, low in (("count", 1, 1), ("after", 0, 0), ("status", 503, 400)):
            value = doc.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"rule.{name} must be an integer >= {low}, not {value!r}")
            ints[name] = value
        if ints["status"] > 599:
            raise ValueError(f"rule.status must be an HTTP error status, not {ints['status']}")
        code = doc.get("code", "")
        if not isinstance(code, str):
            raise ValueError("rule.code must be a string")
        secs = doc.get("secs", 0)
        if kind == "delay" and (not isinstance(secs, (int, float)) or isinstance(secs, bool)
                                or not 1 <= secs <= MAX_DELAY_SECS):
            raise ValueError(f"rule.secs must be a number of seconds from 1 to {MAX_DELAY_SECS} "
                             f"for a delay, not {secs!r}")
        return cls(operation=operation, kind=kind, caller=caller, code=code, secs=float(secs),
                   **ints)


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, put back for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


def error_answer(json_protocol: bool, status: int, code: str, message: str) -> Answer:
    """An AWS error in the call's protocol: awsJson1_1 or awsQuery."""
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error",
              502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    line = f"{status} {reason.get(status, 'Error')}"
    request_id = "00000000-0000-0000-0000-000000000000"
    if json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"),
                   ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return line, headers + [("Content-Length", str(len(body)))], body


class Faults:
    """The WSGI middleware: answers a call from a matching rule, or passes it to moto and
    keeps the answers of reads, for `stale`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.rules: list[Rule] = []
        # (caller, service, operation, body) -> the last answer moto gave that read.
        self.last_read: dict[tuple[str, str, str, bytes], Answer] = {}
        # The same, as it stood at the caller's last write to the service.
        self.before_write: dict[tuple[str, str, str, bytes], Answer] = {}

    # -- the control API ---------------------------------------------------

    def set_rules(self, docs: Any) -> None:
        if not isinstance(docs, list):
            raise ValueError('the body must be {"rules": [...]}')
        rules = [Rule.parse(doc) for doc in docs]
        with self.lock:
            self.rules = rules
            self.last_read.clear()
            self.before_write.clear()

    def report(self) -> dict[str, Any]:
        with self.lock:
            rules = [asdict(rule) for rule in self.rules]
        return {"rules": rules, "injected": sum(r["injected"] for r in rules)}

    def control(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        status = "200 OK"
        try:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                doc = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if not isinstance(doc, dict) or set(doc) != {"rules"}:
                    raise ValueError('the body must be {"rules": [...]}')
                self.set_rules(doc["rules"])
            elif method == "DELETE":
                self.set_rules([])
            elif method != "GET":
                raise ValueError(f"{method} is not allowed; use GET, POST or DELETE")
            out = self.report()
        except (ValueError, json.JSONDecodeError) as exc:
            status, out = "400 Bad Request", {"error": str(exc)}
        body = json.dumps(out).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    # -- the edge ----------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == PATH:
            return self.control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        caller = CallCounter.caller(environ)
        body = read_body(environ)
        operation = CallCounter.action(environ)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else "?"
        key = (caller, service, operation, body)
        json_protocol = bool(environ.get("HTTP_X_AMZ_TARGET"))

        answer = self.injected(caller, operation, key, json_protocol)
        if isinstance(answer, float):
            time.sleep(answer)  # outside the lock: other calls go on meanwhile
            answer = None
        if answer is None:
            answer = self.call_moto(environ)
            with self.lock:
                # Reads are kept only for a stale rule that may want them: a long closed
                # loop makes many reads no rule asks for.
                if is_read(operation):
                    if answer[0].startswith("2") and self.wants_stale(caller, operation):
                        self.last_read[key] = answer
                elif answer[0].startswith("2"):
                    mine = {k: v for k, v in self.last_read.items() if k[:2] == key[:2]}
                    self.before_write.update(mine)
        line, headers, payload = answer
        start_response(line, headers)
        return [payload]

    def wants_stale(self, caller: str, operation: str) -> bool:
        return any(r.kind == "stale" and r.operation == operation
                   and r.caller in (caller, "any") for r in self.rules)

    def injected(self, caller: str, operation: str, key: tuple[str, str, str, bytes],
                 json_protocol: bool) -> Answer | float | None:
        """The fault a rule gives this call, if any (seconds to hang, for a delay); counts
        what matched and was injected."""
        with self.lock:
            for rule in self.rules:
                if rule.operation != operation or rule.caller not in (caller, "any"):
                    continue
                if rule.kind == "stale" and key not in self.before_write:
                    continue
                rule.matched += 1
                if rule.matched <= rule.after or rule.injected >= rule.count:
                    continue
                rule.injected += 1
                if rule.kind == "stale":
                    return self.before_write[key]
                if rule.kind == "delay":
                    return rule.secs
                if rule.kind == "throttle":
                    code = rule.code or ("ThrottlingException" if json_protocol else "Throttling")
                    return error_answer(json_protocol, 400, code, "Rate exceeded")
                code = rule.code or STATUS_CODES.get(rule.status, "InternalFailure")
                return error_answer(json_protocol, rule.status, code,
                                    f"injected by the world's fault rule for {operation}")
        return None

    def call_moto(self, environ: dict[str, Any]) -> Answer:
        seen: dict[str, Any] = {}
        written: list[bytes] = []

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, headers
            return written.append

        chunks = self.app(environ, keep)
        try:
            payload = b"".join(written) + b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return seen["status"], list(seen["headers"]), payload
