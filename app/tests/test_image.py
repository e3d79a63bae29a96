"""The built image, run as Lambda and as Fargate would run it, without Docker.

`umoci` unpacks the OCI layout that `make image` wrote; the entrypoint of the image's own
config is started from the unpacked root filesystem (inside a `chroot` as the image's
user when the test runs as root, so only the image's files are there to use):

- as a Lambda function, against a Lambda Runtime API this test serves on 127.0.0.1 with
  the recorded ALB event `app/events/alb-get-root.json`: the answer is an ALB response
  that says `lambda`;
- as a server: `/` says `server`, `/health` is 200, and a SIGTERM that arrives while
  `/sleep?ms=1500` is in flight lets that request finish, refuses new connections, and
  the process exits 0.

APP_IMAGE=DIR:TAG chooses the image (default target/image/app:latest).
"""

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("APP_IMAGE", str(REPO / "target/image/app:latest"))
EVENT = REPO / "app/events/alb-get-root.json"
FUNCTION = "spillover-demo-app"
LOG_STREAM = "2026/11/01/[$LATEST]8f5e0c2a1b3d4e5f"
REQUEST_ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"


# ---- the unpacked image ------------------------------------------------------------------------


class Bundle:
    """An unpacked image: its root filesystem and the process its config describes."""

    def __init__(self, path: Path):
        config = json.loads((path / "config.json").read_text())
        self.rootfs = path / config["root"]["path"]
        self.args = config["process"]["args"]
        self.uid = config["process"]["user"]["uid"]
        self.gid = config["process"]["user"]["gid"]
        self.env = dict(item.split("=", 1) for item in config["process"].get("env", []))

    def start(self, env: dict[str, str]) -> subprocess.Popen:
        """Starts the entrypoint with the image's environment plus `env`."""
        full_env = {**self.env, **env}
        if os.geteuid() == 0:
            # chroot(8) execs the entrypoint in place: the pid is the app's own.
            command = ["chroot", f"--userspec={self.uid}:{self.gid}", str(self.rootfs), *self.args]
        else:
            # Without root, run the static binary from the unpacked tree directly.
            command = [str(self.rootfs / self.args[0].lstrip("/")), *self.args[1:]]
        return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Bundle:
    if shutil.which("umoci") is None:
        pytest.fail("umoci not found: apt-get install umoci (make test-image needs it)")
    layout = IMAGE.rsplit(":", 1)[0]
    if not Path(layout, "index.json").exists():
        pytest.fail(f"no OCI layout at {layout}: run `make image` first")
    path = tmp_path_factory.mktemp("bundle") / "app"
    rootless = [] if os.geteuid() == 0 else ["--rootless"]
    subprocess.run(["umoci", "unpack", *rootless, "--image", IMAGE, str(path)], check=True, capture_output=True)
    return Bundle(path)


def stop(process: subprocess.Popen) -> str:
    """Kills the process if it is still running; returns what it printed."""
    if process.poll() is None:
        process.kill()
    output, _ = process.communicate(timeout=10)
    return output


def test_image_holds_the_binary_certificates_and_a_non_root_user_only(bundle):
    files = {str(p.relative_to(bundle.rootfs)) for p in bundle.rootfs.rglob("*") if not p.is_dir()}
    assert files == {
        "etc/passwd",
        "etc/group",
        "etc/ssl/certs/ca-certificates.crt",
        "usr/local/bin/spillover-demo-app",
    }
    assert bundle.args == ["/usr/local/bin/spillover-demo-app"]
    assert (bundle.uid, bundle.gid) == (65532, 65532)
    assert "nonroot:x:65532:65532:" in (bundle.rootfs / "etc/passwd").read_text()
    assert "BEGIN CERTIFICATE" in (bundle.rootfs / "etc/ssl/certs/ca-certificates.crt").read_text()


# ---- Lambda: a local Runtime API ---------------------------------------------------------------


class RuntimeApi(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API's three calls, for one invocation with the recorded event."""

    daemon_threads = True

    def __init__(self, event: bytes):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.event = event
        self.handed_out = False
        self.response: bytes | None = None
        self.error: bytes | None = None
        self.answered = threading.Event()
        self.closing = threading.Event()


class RuntimeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self.reply(404, b"{}")
        if self.server.handed_out:
            # The runtime polls again after answering: hold it until the test is done.
            self.server.closing.wait(timeout=30)
            return self.reply(503, b'{"errorMessage":"test over"}')
        self.server.handed_out = True
        deadline_ms = int(time.time() * 1000) + 30_000
        self.reply(
            200,
            self.server.event,
            {
                "Lambda-Runtime-Aws-Request-Id": REQUEST_ID,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}",
                "Lambda-Runtime-Trace-Id": "Root=1-5c34e93e-4dea0086f9763ac0667b115a;Parent=0;Sampled=0",
            },
        )

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == f"/2018-06-01/runtime/invocation/{REQUEST_ID}/response":
            self.server.response = body
        else:  # .../error or /init/error
            self.server.error = body
        self.reply(202, b'{"status":"OK"}')
        self.server.answered.set()

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def lambda_env(runtime_api: str) -> dict[str, str]:
    """What the Lambda service sets for a function, as far as the runtime client reads it."""
    return {
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION}",
        "AWS_LAMBDA_LOG_STREAM_NAME": LOG_STREAM,
        "AWS_REGION": "us-east-1",
    }


def test_as_lambda_the_alb_event_gets_an_alb_response_that_says_lambda(bundle):
    api = RuntimeApi(EVENT.read_bytes())
    threading.Thread(target=api.serve_forever, daemon=True).start()
    app = bundle.start(lambda_env(f"127.0.0.1:{api.server_port}"))
    try:
        assert api.answered.wait(timeout=20), "no answer from the function: " + stop(app)
    finally:
        api.closing.set()
        output = stop(app)
        api.shutdown()
        api.server_close()
    assert api.error is None, f"the function reported an error: {api.error!r}\n{output}"
    response = json.loads(api.response)

    # The ALB's Lambda target contract: these fields only, a status code with its
    # description, string headers, a text body.
    assert set(response) <= {"statusCode", "statusDescription", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
    assert response["statusCode"] == 200
    assert response["statusDescription"] == "200 OK"
    assert response["isBase64Encoded"] is False
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert all(isinstance(v, str) for v in headers.values())
    assert headers["content-type"] == "application/json"
    body = json.loads(response["body"])
    assert body == {"served_by": "lambda", "name": FUNCTION, "instance": LOG_STREAM}


# ---- server: HTTP on PORT, graceful stop -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, timeout: float = 5) -> tuple[int, dict | str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        raw = response.read().decode()
        try:
            return response.status, json.loads(raw)
        except json.JSONDecodeError:
            return response.status, raw
    finally:
        connection.close()


def wait_until_serving(port: int, app: subprocess.Popen, limit_s: float = 10) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            if get(port, "/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        assert app.poll() is None, "the server exited: " + stop(app)
        assert time.monotonic() < deadline, "the server did not answer /health in time: " + stop(app)
        time.sleep(0.05)


def test_as_server_it_says_server_and_drains_on_sigterm(bundle):
    port = free_port()
    # A task listens on every interface; here the app listens on loopback only.
    app = bundle.start({"HOST": "127.0.0.1", "PORT": str(port), "HOSTNAME": "test-task"})
    try:
        wait_until_serving(port, app)
        assert get(port, "/health") == (200, "ok")
        status, body = get(port, "/")
        assert status == 200 and body["served_by"] == "server", body

        in_flight: dict = {}

        def slow_request():
            started = time.monotonic()
            in_flight["result"] = get(port, "/sleep?ms=1500", timeout=10)
            in_flight["took"] = time.monotonic() - started

        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(0.5)  # the request is now inside the handler's sleep
        app.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        client.join(timeout=10)
        assert not client.is_alive(), "the in-flight request never finished"

        status, body = in_flight["result"]
        assert status == 200 and body["slept_ms"] == 1500 and body["served_by"] == "server", body
        assert in_flight["took"] >= 1.4
        assert app.wait(timeout=10) == 0
    finally:
        output = stop(app)
    assert "SIGTERM" in output
