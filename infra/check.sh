#!/usr/bin/env bash
# Offline checks of the infrastructure: lint the templates, validate them with the SAM
# CLI, run the infra tests (moto in-process). Needs no AWS account, no Docker, no network.
# Run from the repository root:  infra/check.sh   (VENV=path overrides .venv)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
TEMPLATES=(infra/template.yaml infra/demo.yaml infra/wiring.yaml)

# Nothing below may talk to AWS or phone home.
export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

for tool in cfn-lint sam pytest; do
  if [[ ! -x "$VENV/bin/$tool" ]]; then
    echo "check.sh: $VENV/bin/$tool not found; install world/requirements.txt into $VENV" >&2
    exit 2
  fi
done

echo "== cfn-lint ${TEMPLATES[*]}"
"$VENV/bin/cfn-lint" "${TEMPLATES[@]}"

# sam validate --lint checks plain CloudFormation templates too (demo.yaml, wiring.yaml):
# without a Transform it lints them as they are.
for template in "${TEMPLATES[@]}"; do
  echo "== sam validate --lint $template"
  "$VENV/bin/sam" validate --lint --region us-east-1 -t "$template"
done

# The cargo lambda deploy test needs the release arm64 zip: `make test-deploy` runs it.
echo "== pytest tests/infra"
"$VENV/bin/pytest" -q tests/infra --ignore=tests/infra/test_cargo_lambda_deploy.py
