# spillover — run `make` for the list of targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# cargo-lambda finds zig through the first python3 on PATH: the venv's comes first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Where cargo puts its output (CARGO_TARGET_DIR, build.target-dir...) is asked of cargo
# (world/binary.py): BUILD_SPILLOVER builds the debug binary and prints the path cargo
# reports, TARGET_DIR prints the target directory. Plain python3 will do (stdlib only).
BUILD_SPILLOVER = python3 -m world.binary --build
TARGET_DIR = python3 -m world.binary --target-dir

.PHONY: help venv fmt lint test test-rust test-world infra-check test-deploy build package deploy deploy-cargo-lambda demo-stack demo world replay bench loop bench-loop clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: world/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r world/requirements.txt
	touch $@

venv: $(VENV)/.installed ## Create the Python venv (moto, cargo-lambda, zig, cfn-lint, sam) from pinned versions

fmt: ## Format the Rust code
	cargo fmt --all

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p spillover-demo-app --all-targets -- -D warnings

test: venv lint test-rust test-world infra-check test-deploy ## The whole test suite: lint, unit, SDK-mock, end-to-end (moto), infra and deploy tests

test-rust: venv ## Rust unit, SDK-mock and end-to-end tests (the end-to-end tests start their own moto worlds)
	# The plain binary (without dev-dependency features), which `cargo lambda watch` runs in its test.
	cargo build --bin spillover
	if cargo nextest --version >/dev/null 2>&1; then cargo nextest run --no-fail-fast; else cargo test --no-fail-fast; fi

test-world: venv ## The local world's own tests: scheduler, data plane, alarms, runtime API, seed peer, one closed loop
	cargo build --quiet --bin spillover
	$(PY) -m pytest -q world

infra-check: venv ## cfn-lint and sam validate the templates; event-pattern, IAM and wiring tests
	VENV=$(VENV) bash infra/check.sh

# The release arm64 zip is what cargo lambda deploy uploads: built once by `build` (CI's
# last step needs it anyway), then deployed into moto with the wiring stack.
test-deploy: venv build ## cargo lambda deploy of the arm64 zip into moto, with Cargo.toml's metadata and the wiring stack
	$(PY) -m pytest -q tests/infra/test_cargo_lambda_deploy.py

build: venv ## The arm64 Lambda bootstrap zip (<cargo's target dir>/lambda/spillover/bootstrap.zip)
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	# arm64 comes from [package.metadata.lambda.build] in Cargo.toml, as for cargo lambda deploy.
	cargo lambda build --release --output-format zip --bin spillover
	@ls -l "$$($(TARGET_DIR))/lambda/spillover/bootstrap.zip"

package: build ## Same as build: the arm64 zip, e.g. for aws lambda update-function-code

deploy: venv ## sam build + sam deploy (guided the first time); needs AWS credentials
	cd infra && sam build --template template.yaml
	cd infra && if grep -q '^parameter_overrides' samconfig.toml 2>/dev/null; then sam deploy; else sam deploy --guided; fi

ENV_FILE ?= spillover.env

deploy-cargo-lambda: build ## cargo lambda deploy spillover, configured by Cargo.toml: ROLE_ARN=<wiring stack's RoleArn> [ENV_FILE=spillover.env]; needs AWS credentials
	@test -n "$(ROLE_ARN)" || { echo "usage: make deploy-cargo-lambda ROLE_ARN=<RoleArn output of infra/wiring.yaml> [ENV_FILE=spillover.env] (infra/README.md, Deploy with cargo lambda)" >&2; exit 2; }
	@test -f "$(ENV_FILE)" || { echo "deploy-cargo-lambda: $(ENV_FILE) not found: put your SPILLOVER_* settings there, one KEY=VALUE a line (infra/README.md, Deploy with cargo lambda)" >&2; exit 2; }
	cargo lambda deploy spillover --iam-role "$(ROLE_ARN)" --env-file "$(ENV_FILE)"

demo-stack: image ## Build the app image, push it to the demo stack's ECR repository, deploy the demo stack; needs AWS credentials
	bash infra/demo-stack.sh

demo: venv ## Spill and return against a local moto world, with a timeline
	SPILLOVER_BIN="$$($(BUILD_SPILLOVER))" PY=$(PY) bash world/demo.sh

world: venv ## Run a local AWS world in the foreground (state in .world/; Ctrl-C stops it)
	rm -rf .world && mkdir -p .world
	$(PY) -m world serve --dir .world --task-start-delay 2 --health-delay 3

replay: ## Replay one event against the `make world` world: make replay EVENT=events/alarm-metric.json [AWS=1 [YES=1]]
	@test -n "$(EVENT)" || { echo "usage: make replay EVENT=events/alarm-metric.json [AWS=1 [YES=1]] (AWS=1: real AWS, a dry run; YES=1: write)" >&2; exit 2; }
	SPILLOVER_BIN="$$($(BUILD_SPILLOVER))" PY=$(PY) bash world/replay.sh $(if $(AWS),--aws) $(if $(YES),--yes) $(EVENT)

CONTROLLER ?= spillover
OUT ?= .loop

loop: venv ## One closed-loop scenario, late world: make loop SCENARIO=world/scenarios/spike.json [CONTROLLER=spillover|seed|none] [OUT=DIR] [SPEED=N] [INSTANT=1]
	@test -n "$(SCENARIO)" || { echo "usage: make loop SCENARIO=world/scenarios/spike.json [CONTROLLER=spillover|seed|none] [OUT=.loop] [SPEED=N] [INSTANT=1]" >&2; exit 2; }
	cargo build --quiet --bin spillover
	$(PY) -m world loop --scenario $(SCENARIO) --controller $(CONTROLLER) --out $(OUT) $(if $(SPEED),--speed $(SPEED)) $(if $(INSTANT),--instant)

bench-loop: venv ## Every scenario × spillover, seed and no controller, late world: bench/results/loop.md, loop.json, pictures [INSTANT=1: loop-instant.*]
	cargo build --quiet --bin spillover
	$(PY) -m world bench $(if $(SPEED),--speed $(SPEED)) $(if $(JOBS),--jobs $(JOBS)) $(if $(INSTANT),--instant)

bench: venv ## Measure the release binary: size, start-up time, plan latency
	bash bench/run.sh

clean: ## Remove build output and the venv
	cargo clean
	rm -rf $(VENV)

# ---- the demo app and the container images (app/, Containerfile) ---------------------------
.PHONY: image image-controller test-app test-image bench-app
# release: the image users deploy. A static debug build takes as long here (the debug
# binary is 20 times larger), so CI tests the real thing.
IMAGE_PROFILE ?= release
export IMAGE_PROFILE

# The app's tests and the image tests are part of the whole suite.
test: test-app test-image

image: ## The demo app's image (FROM scratch, static binary) -> OCI layout target/image/app:latest
	bash app/image/build.sh spillover-demo-app spillover-demo-app app/Containerfile target/image/app

image-controller: ## The controller as a Lambda container image -> OCI layout target/image/controller:latest
	bash app/image/build.sh spillover spillover Containerfile target/image/controller

test-app: ## The demo app's router, parsing and server unit tests
	cargo test -p spillover-demo-app

test-image: venv image ## Run the app image's entrypoint as a Lambda function (local Runtime API) and as a server
	$(PY) -m pytest -q app/tests

bench-app: venv image ## The app image's size and cold start as Lambda and as server (median of BENCH_RUNS=20)
	$(PY) bench/app_startup.py target/image/app:latest
