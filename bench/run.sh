#!/usr/bin/env bash
# `make bench`: the release binary's size, its Lambda start-up time and the CLI's latency.
# Builds the host release binary once (cached afterwards); reports the arm64 zip if built.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

# Paths as cargo reports them (CARGO_TARGET_DIR and build.target-dir move them).
bin=$(python3 -m world.binary --build -- --release)
echo "== size"
echo "host release binary: $(stat -c %s "$bin") bytes"
zip="$(python3 -m world.binary --target-dir)/lambda/spillover/bootstrap.zip"
if [ -f "$zip" ]; then
  echo "arm64 bootstrap.zip: $(stat -c %s "$zip") bytes ($zip, from make build)"
else
  echo "arm64 bootstrap.zip: not built (make build)"
fi

echo "== start-up"
"$PY" bench/startup.py "$bin"

echo "== plan latency (parse config and event, decide, print), 50 runs"
export SPILLOVER_CLUSTER=web-app SPILLOVER_SERVICE=web-app \
  SPILLOVER_LISTENER_ARN=arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2 \
  SPILLOVER_LAMBDA_TARGET_GROUP_ARN=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/1 \
  SPILLOVER_ECS_TARGET_GROUP_ARN=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecs/2 \
  SPILLOVER_ALARM_NAMES=web-app-concurrency-high
"$PY" - "$bin" <<'PYEOF'
import statistics, subprocess, sys, time
samples = []
for _ in range(50):
    start = time.perf_counter()
    subprocess.run([sys.argv[1], "plan", "events/alarm-metric.json"], check=True, capture_output=True)
    samples.append((time.perf_counter() - start) * 1000)
print(f"spillover plan: median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms")
PYEOF
