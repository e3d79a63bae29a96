"""Cold start of the demo app image in both of its modes (`make bench-app`).

Unpacks the OCI image with umoci and starts the binary of its root filesystem afresh for
every run, on 127.0.0.1 only:

- Lambda: from exec to the first `GET /2018-06-01/runtime/invocation/next` at a local
  Runtime API (the moment the function is ready for its first event; the API answers 503
  afterwards, which ends the runtime);
- server: from exec to the first 200 from `/health` (polled every millisecond).

This is the app's own share of a cold start: not the image pull, not Lambda's or ECS's
own set-up. Prints the median, min and max of BENCH_RUNS runs (default 20).

usage: python bench/app_startup.py [DIR:TAG]   (default target/image/app:latest)
"""

import http.client
import http.server
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


class Runtime(http.server.BaseHTTPRequestHandler):
    arrived = threading.Event()
    at = 0.0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/2018-06-01/runtime/invocation/next" and not Runtime.arrived.is_set():
            Runtime.at = time.perf_counter()
            Runtime.arrived.set()
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def lambda_start(binary: str) -> float:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}",
        "AWS_LAMBDA_FUNCTION_NAME": "spillover-demo-app",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/spillover-demo-app",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    }
    try:
        Runtime.arrived.clear()
        start = time.perf_counter()
        app = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not Runtime.arrived.wait(timeout=10):
            raise RuntimeError("the function never asked for an event")
        took = Runtime.at - start
        app.kill()
        app.wait(timeout=10)
        return took
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_start(binary: str) -> float:
    port = free_port()
    start = time.perf_counter()
    app = subprocess.Popen([binary], env={"HOST": "127.0.0.1", "PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = start + 10
        while time.perf_counter() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return time.perf_counter() - start
            except OSError:
                time.sleep(0.001)
            finally:
                connection.close()
        raise RuntimeError("the server never answered /health")
    finally:
        app.terminate()
        app.wait(timeout=10)


def report(mode: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    print(
        f"{mode}: median {statistics.median(ms):.1f} ms, min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms ({len(ms)} runs)"
    )


def main() -> int:
    image = sys.argv[1] if len(sys.argv) > 1 else "target/image/app:latest"
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        rootless = [] if os.geteuid() == 0 else ["--rootless"]
        subprocess.run(["umoci", "unpack", *rootless, "--image", image, str(bundle)], check=True, capture_output=True)
        binary = str(bundle / "rootfs/usr/local/bin/spillover-demo-app")
        print(f"image {image}, binary {os.path.getsize(binary)} bytes")
        report("lambda (exec -> first /next)", [lambda_start(binary) for _ in range(RUNS)])
        report("server (exec -> first 200 /health)", [server_start(binary) for _ in range(RUNS)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
