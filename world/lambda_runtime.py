"""Runs a controller the way Lambda runs a function: behind the Lambda runtime API, one
invocation at a time, with the function timeout enforced and failed asynchronous
invocations retried.

AWS behaviour this depends on:

- The runtime API ("Using the Lambda runtime API for custom runtimes",
  https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): the runtime finds the API
  in `AWS_LAMBDA_RUNTIME_API`; `GET /2018-06-01/runtime/invocation/next` answers with the
  event as the body and the headers `Lambda-Runtime-Aws-Request-Id`,
  `Lambda-Runtime-Deadline-Ms` (Unix milliseconds), `Lambda-Runtime-Invoked-Function-Arn` and
  `Lambda-Runtime-Trace-Id`; the runtime answers with `POST .../invocation/{id}/response` or
  `POST .../invocation/{id}/error`, and reports a failed start with `POST .../init/error`.
  Those POSTs get 202 Accepted; an unknown request id gets 400.
- Asynchronous invocation ("How Lambda handles errors and retries with asynchronous
  invocation", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
  a function error, timeouts included, is retried two more times, one minute after the first
  attempt and two minutes after the second; then the event is discarded. Retries keep the
  request id ("How do I prevent duplicate Lambda function invocations?",
  https://repost.aws/knowledge-center/lambda-function-duplicate-invocations: retried
  invocations "have the same request ID").
- Reserved concurrency 1 (`infra/template.yaml`): one execution environment, one invocation
  at a time; the others wait in the function's queue.
- An execution environment that timed out or whose runtime exited is thrown away; the next
  invocation starts a new one (a cold start). A handled function error (`/error`) keeps it.

World time: every duration here (timeout, retry delays) is in world seconds and waited through
`Clock`, so the deadline the function sees is `Clock.wall(start + timeout)`, i.e. now plus
`timeout / speed` wall seconds. The function's own start-up is real wall time, not scaled: at
speed N a cold start of 0.5 s costs 0.5 × N world seconds before the event is handed over.
The wait for that hand-over is therefore bounded in wall time (`INIT_LIMIT_WALL_SECS`,
Lambda's 10 s init limit), not by the function timeout.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import select
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from .clock import Clock

log = logging.getLogger("world.lambda_runtime")

API_PREFIX = "/2018-06-01/runtime"
DEFAULT_ACCOUNT = "123456789012"
# Lambda's limit on the Init phase; real seconds, since a process starts in real time.
INIT_LIMIT_WALL_SECS = 10.0
# How often a waiting thread looks at the process and the client's socket (wall seconds).
POLL_WALL_SECS = 0.02


@dataclass
class Invocation:
    """One attempt at delivering one event; `attempt` 0 is the first, 1 and 2 the retries."""

    request_id: str
    kind: str
    event: dict[str, Any]
    attempt: int
    queued_at: float  # world s: when the event was first queued (retries keep it)
    started_at: float | None = None  # world s: when the runtime received it (`/next`)
    ended_at: float | None = None  # world s
    outcome: str | None = None  # "ok" | "error" | "timeout"
    response: Any = None  # the parsed JSON of the response or of the error
    cold_start: bool = False  # the first invocation of a new execution environment
    dropped: bool = False  # a failed attempt with no retry left: the event is discarded


@dataclass
class _Queued:
    request_id: str
    kind: str
    event: dict[str, Any]
    attempt: int
    queued_at: float
    ready_at: float  # world s: when it may run (the retry delay)
    seq: int


class LambdaFunction:
    """One function with reserved concurrency 1, run as a process behind a local runtime API.

    Thread-safe: `invoke_async`, `idle`, `invocations`, `running` may be called from any
    thread. `on_done` runs on the function's own supervisor thread, outside its lock, after the
    attempt is recorded (so `invocations()` already holds it); it may call `invoke_async` but
    must not call `stop`, and should be quick: the next invocation waits for it.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        clock: Clock,
        timeout_secs: float,
        log_path: Path,
        on_done: Callable[[Invocation], None] | None = None,
        retry_delays: tuple[float, ...] = (60.0, 120.0),
    ) -> None:
        if not timeout_secs > 0:
            raise ValueError(f"timeout_secs must be above 0, got {timeout_secs}")
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.clock = clock
        self.timeout_secs = timeout_secs
        self.log_path = Path(log_path)
        self.on_done = on_done
        self.retry_delays = tuple(retry_delays)
        self.region = self.env.get("AWS_REGION", "us-east-1")
        self.arn = f"arn:aws:lambda:{self.region}:{DEFAULT_ACCOUNT}:function:{name}"
        self.port = 0

        self._cond = threading.Condition()
        self._stopping = False
        self._queue: list[_Queued] = []
        self._seq = itertools.count()
        self._done: list[Invocation] = []
        self._current: Invocation | None = None
        self._handed_over = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_served = 0  # invocations given to the current process
        self._init_error: Any = None  # what the current process posted to /init/error
        self._log_fd = -1
        self._server: _RuntimeApiServer | None = None
        self._threads: list[threading.Thread] = []

    # -- the public interface ----------------------------------------------

    def start(self) -> None:
        """Starts the runtime API on 127.0.0.1 (a free port) and the function's first process."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._server = _RuntimeApiServer(("127.0.0.1", 0), _RuntimeApiHandler)
        self._server.function = self
        self.port = self._server.server_address[1]
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"lambda-api-{self.name}", daemon=True,
        )
        supervise = threading.Thread(
            target=self._supervise, name=f"lambda-{self.name}", daemon=True
        )
        self._threads = [serve, supervise]
        serve.start()
        with self._cond:
            self._spawn_locked()
        supervise.start()

    def invoke_async(self, event: dict[str, Any], kind: str) -> None:
        """Queues the event (InvocationType=Event); it runs when every earlier one has."""
        now = self.clock.now()
        with self._cond:
            self._queue.append(_Queued(
                request_id=str(uuid.uuid4()), kind=kind, event=event, attempt=0,
                queued_at=now, ready_at=now, seq=next(self._seq),
            ))
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing queued, running or waiting to be retried."""
        with self._cond:
            return not self._queue and self._current is None

    def invocations(self) -> list[Invocation]:
        """Every finished attempt, in the order they finished."""
        with self._cond:
            return list(self._done)

    def running(self) -> Invocation | None:
        """A copy of the attempt under way (dispatched, maybe not yet received), or None."""
        with self._cond:
            return replace(self._current) if self._current is not None else None

    def stop(self) -> None:
        """Drops what is queued, kills the process group and stops the API; bounded."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads[1:]:
            thread.join(timeout=5)
        with self._cond:
            self._kill_locked()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._threads:
            self._threads[0].join(timeout=5)
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1

    # -- the supervisor: one invocation at a time ----------------------------

    def _supervise(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                item = self._next_ready_locked()
                if item is None:
                    self._cond.wait(self._wait_wall_secs_locked())
                    continue
                self._queue.remove(item)
            try:
                self._run(item)
            except Exception:  # the world must not lose its controller silently
                log.exception("function %s: supervisor failed on %s", self.name, item.request_id)
                with self._cond:
                    self._current = None
                    self._kill_locked()

    def _next_ready_locked(self) -> _Queued | None:
        now = self.clock.now()
        ready = [q for q in self._queue if q.ready_at <= now]
        return min(ready, key=lambda q: (q.ready_at, q.seq)) if ready else None

    def _wait_wall_secs_locked(self) -> float:
        if not self._queue:
            return 0.5
        soonest = min(q.ready_at for q in self._queue)
        return max(0.0, min(0.5, self.clock.to_wall_secs(soonest - self.clock.now())))

    def _run(self, item: _Queued) -> None:
        with self._cond:
            if self._stopping:
                return
            if self._proc is None or self._proc.poll() is not None:
                self._kill_locked()
                self._spawn_locked()
            proc = self._proc
            assert proc is not None
            inv = Invocation(
                request_id=item.request_id, kind=item.kind, event=item.event,
                attempt=item.attempt, queued_at=item.queued_at,
                cold_start=self._proc_served == 0,
            )
            self._proc_served += 1
            self._current = inv
            self._handed_over = False
            dispatched_wall = time.monotonic()
            self._cond.notify_all()

            discard_process = False
            while inv.outcome is None:
                if self._stopping:
                    self._current = None
                    return
                if self._init_error is not None:
                    self._end_locked(inv, "error", self._init_error)
                    discard_process = True
                    break
                code = proc.poll()
                if code is not None:
                    # What Lambda reports when the runtime dies mid-invocation.
                    status = f"signal: {-code}" if code < 0 else f"exit status {code}"
                    self._end_locked(inv, "error", {
                        "errorType": "Runtime.ExitError",
                        "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited "
                                        f"with error: {status}",
                    })
                    discard_process = True
                    break
                if self._handed_over:
                    assert inv.started_at is not None
                    left_wall = self.clock.to_wall_secs(
                        inv.started_at + self.timeout_secs - self.clock.now())
                else:
                    left_wall = dispatched_wall + INIT_LIMIT_WALL_SECS - time.monotonic()
                if left_wall <= 0:
                    self._end_locked(inv, "timeout", {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out "
                                        f"after {self.timeout_secs:.2f} seconds",
                    })
                    discard_process = True
                    break
                self._cond.wait(min(left_wall, POLL_WALL_SECS))

            if inv.outcome == "timeout":
                self._log(f"{_iso_now()} {inv.request_id} Task timed out after "
                          f"{self.timeout_secs:.2f} seconds")
            if discard_process:
                self._kill_locked()
            self._log(self._report_line(inv))

            # Record the attempt and queue its retry in one step, so `idle()` never shows a
            # gap between a failed attempt and its retry.
            if inv.outcome != "ok":
                if inv.attempt < len(self.retry_delays):
                    assert inv.ended_at is not None
                    self._queue.append(_Queued(
                        request_id=inv.request_id, kind=inv.kind, event=inv.event,
                        attempt=inv.attempt + 1, queued_at=inv.queued_at,
                        ready_at=inv.ended_at + self.retry_delays[inv.attempt],
                        seq=next(self._seq),
                    ))
                else:
                    inv.dropped = True
            self._done.append(inv)
            self._current = None
            self._cond.notify_all()

        if self.on_done is not None:
            try:
                self.on_done(inv)
            except Exception:
                log.exception("function %s: on_done failed for %s", self.name, inv.request_id)

    def _end_locked(self, inv: Invocation, outcome: str, response: Any) -> None:
        inv.outcome = outcome
        inv.response = response
        inv.ended_at = self.clock.now()

    # -- the process ------------------------------------------------------

    def _spawn_locked(self) -> None:
        if self._stopping:
            return
        stream = (datetime.now(timezone.utc).strftime("%Y/%m/%d")
                  + f"/[$LATEST]{secrets.token_hex(16)}")
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "TZ": ":UTC"}
        env.update(self.env)
        env.setdefault("_HANDLER", "bootstrap")
        env.setdefault("AWS_DEFAULT_REGION", self.region)
        env.update({
            "AWS_REGION": self.region,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.port}",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        })
        self._init_error = None
        self._proc_served = 0
        self._proc = subprocess.Popen(
            self.argv, env=env, stdin=subprocess.DEVNULL, stdout=self._log_fd,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
        self._log(f"INIT_START Runtime Version: world.lambda_runtime pid {self._proc.pid} "
                  f"log stream {stream}")

    def _kill_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own group: start_new_session
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("function %s: process %s did not die", self.name, proc.pid)

    # -- what the runtime API handlers call ---------------------------------

    def _next_invocation(self, connection: socket.socket) -> tuple[Invocation, int, str] | None:
        """Blocks until an event is dispatched; None when stopping or the client went away."""
        with self._cond:
            while not self._stopping:
                inv = self._current
                if inv is not None and not self._handed_over and inv.outcome is None:
                    if _peer_closed(connection):
                        return None  # a killed process's request must not take the event
                    self._handed_over = True
                    inv.started_at = self.clock.now()
                    deadline_ms = int(self.clock.wall(inv.started_at + self.timeout_secs) * 1000)
                    trace = (f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
                             f"Parent={secrets.token_hex(8)};Sampled=0")
                    self._log(f"START RequestId: {inv.request_id} Version: $LATEST")
                    self._cond.notify_all()
                    return replace(inv), deadline_ms, trace
                self._cond.wait(0.1)
                if _peer_closed(connection):
                    return None
        return None

    def _finish(self, request_id: str, outcome: str, body: Any) -> bool:
        with self._cond:
            inv = self._current
            if (inv is None or inv.request_id != request_id or not self._handed_over
                    or inv.outcome is not None):
                return False
            self._end_locked(inv, outcome, body)
            self._cond.notify_all()
            return True

    def _failed_init(self, body: Any) -> None:
        with self._cond:
            self._init_error = body
            self._cond.notify_all()

    # -- logs ------------------------------------------------------------

    def _report_line(self, inv: Invocation) -> str:
        ran = (inv.ended_at or 0.0) - (inv.started_at if inv.started_at is not None
                                       else inv.ended_at or 0.0)
        return (f"END RequestId: {inv.request_id}\nREPORT RequestId: {inv.request_id}\t"
                f"Duration: {ran * 1000:.2f} ms (world)\tAttempt: {inv.attempt}\t"
                f"Outcome: {inv.outcome}\tCold start: {inv.cold_start}")

    def _log(self, line: str) -> None:
        # One write per line: the process appends to the same file.
        if self._log_fd >= 0:
            os.write(self._log_fd, (line + "\n").encode())


class _RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a long-poll must not hold up stop()
    function: LambdaFunction


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Rust runtime client expects
    server: _RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404, {"errorMessage": f"no route {self.path}", "errorType": "NotFound"})
            return
        got = self.server.function._next_invocation(self.connection)
        if got is None:
            # What Lambda says when the environment is going away; the runtime should exit.
            self._reply(500, {"errorMessage": "the function is stopping",
                              "errorType": "Runtime.Stopping"})
            self.close_connection = True
            return
        inv, deadline_ms, trace = got
        body = json.dumps(inv.event).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", inv.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", self.server.function.arn)
        self.send_header("Lambda-Runtime-Trace-Id", trace)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the function's deadline will tell

    def do_POST(self) -> None:  # noqa: N802
        body = self._parsed_body()
        fn = self.server.function
        if self.path == f"{API_PREFIX}/init/error":
            fn._failed_init(body)
            self._reply(202, {"status": "OK"})
            return
        parts = self.path.split("/")
        # /2018-06-01/runtime/invocation/{id}/response|error
        if len(parts) == 6 and parts[3] == "invocation" and parts[5] in ("response", "error"):
            outcome = "ok" if parts[5] == "response" else "error"
            if fn._finish(parts[4], outcome, body):
                self._reply(202, {"status": "OK"})
            else:
                self._reply(400, {"errorMessage": f"request id {parts[4]} is not running",
                                  "errorType": "InvalidRequestID"})
            return
        self._reply(404, {"errorMessage": f"no route {self.path}", "errorType": "NotFound"})

    def _parsed_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the client closed its end (a killed process's sockets read as EOF)."""
    try:
        poller = select.poll()  # not select(): a world may hold more than 1024 descriptors
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
