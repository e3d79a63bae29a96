#!/usr/bin/env bash
# End-to-end demo of spillover against the local AWS world (moto + fake ECS scheduler).
#
#   make demo            (or: cargo build --bin spillover && PY=.venv/bin/python world/demo.sh)
#
# Starts the world, replays the recorded ALARM event (spill to ECS) and the OK
# event (back to Lambda) through `spillover replay`, prints the world's
# timeline and checks the end state: lambda weight 1, ecs weight 0, desired 0,
# and that ECS never had weight while it had no healthy target.
# SPILLOVER_BIN (default: the debug binary in cargo's target directory, as `cargo metadata`
# reports it) and PY are taken relative to the current directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPILLOVER_BIN="${SPILLOVER_BIN:-$(PYTHONPATH="$ROOT" python3 -m world.binary)}"
PY="${PY:-.venv/bin/python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
EVENTS="$ROOT/events"
REPLAY_TIMEOUT="${REPLAY_TIMEOUT:-180}"

die() { echo "demo: $*" >&2; exit 2; }
[ -x "$SPILLOVER_BIN" ] || die "$SPILLOVER_BIN is not an executable (build it first, or set SPILLOVER_BIN)"
[ -x "$PY" ] || die "$PY is not an executable (create the venv first, or set PY)"

dir="$(mktemp -d "${TMPDIR:-/tmp}/spillover-demo.XXXXXX")"
world_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$world_pid" ] && kill -0 "$world_pid" 2>/dev/null; then
    kill -TERM "$world_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$world_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$world_pid" 2>/dev/null || true
    wait "$world_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$dir/world.log" ]; then
    echo "--- last lines of the world's log ---" >&2
    tail -n 20 "$dir/world.log" >&2 || true
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== starting the local AWS world in $dir"
STICKY_SECS=5
HOLD_SECS=3
"$PY" -m world serve --dir "$dir" --task-start-delay 2 --health-delay 3 --sticky-secs "$STICKY_SECS" \
  --deregistration-delay 1 --lifetime 600 \
  >"$dir/world.log" 2>&1 &
world_pid=$!
"$PY" -m world wait --dir "$dir" --timeout 60 >/dev/null

# The environment spillover needs, from world.json.
eval "$("$PY" - "$dir/world.json" <<'EOF'
import json, shlex, sys
for k, v in json.load(open(sys.argv[1]))["env"].items():
    print(f"export {k}={shlex.quote(v)}")
EOF
)"
export SPILLOVER_POLL_INTERVAL_MS=500 SPILLOVER_POLL_MAX_INTERVAL_MS=1000
# The default policy (steps 50,100), with its holds shortened so the demo takes seconds: a
# 3 s return hold, no minimum spill or settle time, 1 s metric periods, and no settle time
# for CloudWatch's periods (the plain world's moto has every datapoint at once).
export SPILLOVER_RETURN_HOLD_SECS="$HOLD_SECS" SPILLOVER_MIN_SPILL_SECS=0 \
  SPILLOVER_STEP_SETTLE_SECS=0 SPILLOVER_METRIC_PERIOD_SECS=1 \
  SPILLOVER_METRIC_SETTLE_SECS=0 SPILLOVER_ELB_METRIC_SETTLE_SECS=0

replay() {
  local event="$1" rc=0
  echo "== spillover replay events/$event"
  timeout "$REPLAY_TIMEOUT" "$SPILLOVER_BIN" replay "$EVENTS/$event" >"$dir/summary.json" || rc=$?
  # The JSON summary in one line a person can read.
  "$PY" - "$dir/summary.json" <<'EOF' || true
import json, sys
s = json.load(open(sys.argv[1]))
def step(a):
    to = a.get("to")
    change = f" {a['from']}->{to}" if isinstance(to, int) else ""
    if isinstance(to, dict):
        change = f" lambda/ecs {a['from']['lambda']}/{a['from']['ecs']}->{to['lambda']}/{to['ecs']}"
    checks = f", {a['checks']} checks" if a.get("checks") else ""
    return f"{a['step']}{change} ({a['duration_ms']} ms{checks}, {a['result']})"
steps = ", ".join(step(a) for a in s["actions"]) or "nothing to do"
error = f"; error: {s['error']}" if s.get("error") else ""
wait = (s.get("plan") or {}).get("scale_in_after_secs")
if wait:
    steps += f"; scale-in deferred {wait}s for sticky sessions"
print(f"   summary: {s['outcome']}: {steps}; {s['durations_ms']['total']} ms, "
      f"{s['aws_calls']['reads']} reads, {s['aws_calls']['writes']} writes{error}")
EOF
  if [ "$rc" -ne 0 ]; then
    "$PY" -m world timeline --dir "$dir" || true
    echo "FAIL: spillover replay events/$event exited with status $rc"
    exit 1
  fi
}

echo "== alarm goes to ALARM: scale out, wait for a healthy target, first step (50%)"
"$PY" -m world alarm --dir "$dir" --event "$EVENTS/alarm-metric.json"
replay alarm-metric.json
echo "== the alarm still fires: the reconcile tick takes the next step (100%)"
replay scheduled-tick.json

echo "== alarm goes back to OK: nothing moves within the ${HOLD_SECS}s return hold"
"$PY" -m world alarm --dir "$dir" --event "$EVENTS/ok-metric.json"
replay ok-metric.json

echo "== the hold is over: each tick takes one step back"
sleep "$((HOLD_SECS + 1))"
replay scheduled-tick.json
sleep 2.5  # the next step back reads the alarm over two whole 1 s periods at the new split first
replay scheduled-tick.json

echo "== sticky sessions (${STICKY_SECS}s) may still reach ECS: the tick scales in once they expire"
sleep "$((STICKY_SECS + 2))"
replay scheduled-tick.json

sleep 0.5  # let the world record the last changes
echo "== timeline of the world"
"$PY" -m world timeline --dir "$dir"

"$PY" -m world snapshot --dir "$dir" >"$dir/snapshot.json"
if "$PY" - "$dir/snapshot.json" "$dir/timeline.jsonl" "$STICKY_SECS" <<'EOF'
import json, sys
snap = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
problems = []
final = (snap["lambda_weight"], snap["ecs_weight"], snap["desired"])
if final != (1, 0, 0):
    problems.append(f"final lambda/ecs weights and desired are {final}, expected (1, 0, 0)")
if not any((l["ecs_weight"] or 0) > 0 for l in lines):
    problems.append("traffic never spilled: the ECS weight stayed 0 during the ALARM")
unsafe = [l for l in lines if (l["ecs_weight"] or 0) > 0 and l["healthy"] < 1]
if unsafe:
    problems.append(f"ECS had weight with no healthy target at: {unsafe[0]['event']!r}")
early = [l for l in lines if l["kind"] == "desired_changed" and l["desired"] == 0
         and (l["ecs_weight"] or 0) > 0]
if early:
    problems.append("the service was scaled in while the ECS weight was still > 0")
sticky = snap["listener_default_actions"][0].get("ForwardConfig", {}).get(
    "TargetGroupStickinessConfig")
if sticky != {"Enabled": True, "DurationSeconds": int(sys.argv[3])}:
    problems.append(f"the listener's stickiness was not kept: {sticky}")
for p in problems:
    print(f"  - {p}")
sys.exit(1 if problems else 0)
EOF
then
  echo "PASS: spilled to ECS only with healthy targets, and back: lambda weight 1, ecs weight 0, desired 0"
else
  echo "FAIL: the end state or the timeline is not what it should be (see above)"
  exit 1
fi
