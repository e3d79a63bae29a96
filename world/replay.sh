#!/usr/bin/env bash
# `make replay EVENT=…`: replays events through `spillover replay`.
#
# With a local world running (`make world`, which writes .world/world.json) and no
# AWS_ENDPOINT_URL set, it targets that world and first sets the alarm in moto to the
# state each event reports, as CloudWatch would have. Otherwise it runs against whatever
# AWS the environment points at, with the SPILLOVER_* settings of the environment; real
# AWS (no AWS_ENDPOINT_URL) only with --aws (a dry run) and --yes (writes), which
# `spillover replay` itself enforces.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
BIN="${SPILLOVER_BIN:-$(PYTHONPATH="$ROOT" python3 -m world.binary)}"
WORLD_DIR="${WORLD_DIR:-$ROOT/.world}"

if [ -z "${AWS_ENDPOINT_URL:-}" ] && [ -f "$WORLD_DIR/world.json" ]; then
  echo "replay: against the local world in $WORLD_DIR" >&2
  eval "$("$PY" - "$WORLD_DIR/world.json" <<'PYEOF'
import json, shlex, sys
for k, v in json.load(open(sys.argv[1]))["env"].items():
    print(f"export {k}={shlex.quote(v)}")
PYEOF
)"
  export SPILLOVER_POLL_INTERVAL_MS="${SPILLOVER_POLL_INTERVAL_MS:-500}"
  for event in "$@"; do
    case "$event" in --*) continue ;; esac
    PYTHONPATH="$ROOT" "$PY" -m world alarm --dir "$WORLD_DIR" --event "$event"
  done
elif [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  echo "replay: no local world ($WORLD_DIR/world.json) and no AWS_ENDPOINT_URL: the target is real AWS (make world starts a local one)" >&2
fi
exec "$BIN" replay "$@"
