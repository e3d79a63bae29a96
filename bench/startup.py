"""Measures how long the spillover bootstrap takes from exec to asking for its first event.

A fake Lambda Runtime API on 127.0.0.1 records when `GET .../invocation/next` arrives and
answers it with 503 after the measurement, which makes the runtime exit. Each run starts
a fresh process: this is the cold start minus the Lambda service's own part.
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


class Runtime(http.server.BaseHTTPRequestHandler):
    arrived = threading.Event()
    at = 0.0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.endswith("/runtime/invocation/next"):
            Runtime.at = time.perf_counter()
            Runtime.arrived.set()
        self.send_response(503)
        self.end_headers()

    def do_POST(self):  # noqa: N802
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> int:
    binary = sys.argv[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}",
        "AWS_LAMBDA_FUNCTION_NAME": "spillover",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "RUST_LOG": "error",
        "SPILLOVER_CLUSTER": "web-app",
        "SPILLOVER_SERVICE": "web-app",
        "SPILLOVER_LISTENER_ARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2",
        "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1",
        "SPILLOVER_ECS_TARGET_GROUP_ARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2",
        "SPILLOVER_ALARM_NAMES": "web-app-concurrency-high",
    }
    samples = []
    for _ in range(RUNS):
        Runtime.arrived.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not Runtime.arrived.wait(10):
            proc.kill()
            print("the bootstrap never asked for an event", file=sys.stderr)
            return 1
        samples.append((Runtime.at - start) * 1000)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    server.shutdown()
    samples.sort()
    p90 = samples[int(len(samples) * 0.9) - 1]
    print(f"bootstrap start-up (exec to first /next), {RUNS} runs: "
          f"median {statistics.median(samples):.1f} ms, p90 {p90:.1f} ms, min {samples[0]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
