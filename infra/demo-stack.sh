#!/usr/bin/env bash
# `make demo-stack`: deploy the demo stack (infra/demo.yaml) with the app image built by
# `make image`, pushed to the stack's own ECR repository with skopeo (no Docker).
#
#   1. If the stack has no repository yet, a first deploy creates it (the app function is
#      a placeholder that answers 503 until step 3).
#   2. skopeo copies the OCI layout to the repository and writes the pushed digest.
#   3. A second deploy points the function and the task definition at that digest.
#
# Needs AWS credentials, the AWS CLI v2 and skopeo (Debian: apt-get install skopeo).
# STACK (default spillover-demo), IMAGE (default target/image/app:latest); more
# parameters as DEMO_PARAMS="Key=Value ...", e.g. DEMO_PARAMS="AppReservedConcurrency=10".
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${STACK:-spillover-demo}
image=${IMAGE:-target/image/app:latest}
read -r -a extra <<<"${DEMO_PARAMS:-}"

for tool in aws skopeo python3; do
  command -v "$tool" >/dev/null || { echo "demo-stack.sh: $tool not found" >&2; exit 2; }
done
[[ -f ${image%:*}/index.json ]] || { echo "demo-stack.sh: no image at $image (make image)" >&2; exit 2; }

# The task and the function run on the image's own architecture.
arch=$(skopeo inspect --config "oci:$image" | python3 -c 'import json, sys; print(json.load(sys.stdin)["architecture"])')
case $arch in
  amd64) cpu=X86_64 ;;
  arm64) cpu=ARM64 ;;
  *) echo "demo-stack.sh: image architecture $arch is neither amd64 nor arm64" >&2; exit 2 ;;
esac

deploy() {
  aws cloudformation deploy --stack-name "$stack" --template-file infra/demo.yaml \
    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
    --parameter-overrides "CpuArchitecture=$cpu" "$@" "${extra[@]}"
}

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text 2>/dev/null || true
}

repo=$(output AppRepositoryUri)
if [[ -z $repo || $repo == None ]]; then
  echo "== $stack: first deploy, to create the image repository (about 5 minutes)"
  deploy
  repo=$(output AppRepositoryUri)
fi
registry=${repo%%/*}                      # 123456789012.dkr.ecr.REGION.amazonaws.com
region=$(cut -d. -f4 <<<"$registry")

echo "== push $image to $repo"
aws ecr get-login-password --region "$region" | skopeo login --username AWS --password-stdin "$registry"
digest_file=$(mktemp)
trap 'rm -f "$digest_file"' EXIT
# Docker v2 schema 2: the manifest format every Lambda and ECS version accepts.
skopeo copy --format v2s2 --digestfile "$digest_file" "oci:$image" "docker://$repo:latest"
digest=$(cat "$digest_file")

echo "== $stack: deploy the function and the task definition at $digest"
deploy "AppImageDigest=$digest"

echo "== $stack is up"
echo "AppUrl: $(output AppUrl)"
echo "Next: the controller stack with this stack's outputs (infra/README.md, step 2)."
