"""`cargo lambda deploy` with the metadata of Cargo.toml, against moto, end to end.

The documented flow (infra/README.md, "Deploy with cargo lambda"): the wiring stack with
FunctionExists=false (the role and the failure queue) into moto's CloudFormation, then
`cargo lambda deploy spillover --iam-role <RoleArn> --env-file <file>` with the arm64 zip
`make build` made (the SDK inside cargo-lambda honours AWS_ENDPOINT_URL; moto's Lambda keeps
a function without running it), then the stack again with FunctionExists=true. The function
must have what Cargo.toml says, and the rules must invoke it.

Needs the zip: `make test-deploy` builds it first (`make build`), and infra/check.sh leaves
this file out so that `make infra-check` stays offline and quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import boto3
import pytest

import cfn_eval
from conftest import LISTENER_PARAMS

# moto's CloudFormation skips the EventInvokeConfig and the queue policy, which it does not
# implement (and says so in a warning); test_wiring.py checks both offline.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto")

REGION = "us-east-1"
ENV_FILE_VARS = {  # what a user puts in their --env-file: the names and ARNs of their account
    "SPILLOVER_CLUSTER": LISTENER_PARAMS["ClusterName"],
    "SPILLOVER_SERVICE": LISTENER_PARAMS["ServiceName"],
    "SPILLOVER_LISTENER_ARN": LISTENER_PARAMS["ListenerArn"],
    "SPILLOVER_LAMBDA_TARGET_GROUP_ARN": LISTENER_PARAMS["LambdaTargetGroupArn"],
    "SPILLOVER_ECS_TARGET_GROUP_ARN": LISTENER_PARAMS["EcsTargetGroupArn"],
    "SPILLOVER_ALARM_NAMES": LISTENER_PARAMS["AlarmNames"],
}
STACK_PARAMS = {k: v for k, v in LISTENER_PARAMS.items() if k not in ("LambdaTargetGroupArn", "EcsTargetGroupArn")}


def lambda_metadata() -> dict:
    return tomllib.loads((cfn_eval.REPO / "Cargo.toml").read_text())["package"]["metadata"]["lambda"]


def lambda_dir() -> Path:
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=cfn_eval.REPO,
                         check=True, capture_output=True, text=True)
    return Path(json.loads(out.stdout)["target_directory"]) / "lambda"


@pytest.fixture
def moto_endpoint():
    """A moto server on 127.0.0.1 and a free port, stopped after the test."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        endpoint = f"http://127.0.0.1:{port}"
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        yield endpoint
    finally:
        server.stop()


def client(name: str, endpoint: str):
    return boto3.client(name, region_name=REGION, endpoint_url=endpoint)


def deploy_wiring(cfn, create: bool, function_exists: bool) -> dict[str, str]:
    params = {**STACK_PARAMS, "FunctionName": "spillover", "FunctionExists": str(function_exists).lower()}
    call = cfn.create_stack if create else cfn.update_stack
    call(StackName="spillover-wiring", TemplateBody=(cfn_eval.INFRA / "wiring.yaml").read_text(),
         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
         Capabilities=["CAPABILITY_IAM"])
    (stack,) = cfn.describe_stacks(StackName="spillover-wiring")["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack["StackStatus"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def cargo_lambda_deploy(endpoint: str, role_arn: str, env_file: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CARGO_LAMBDA"))}
    env.update({
        # cargo-lambda (and zig) from the venv that runs these tests.
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    done = subprocess.run(
        ["cargo", "lambda", "deploy", "spillover", "--iam-role", role_arn, "--env-file", str(env_file),
         "--output-format", "json"],
        cwd=cfn_eval.REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"cargo lambda deploy failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), f"no output:\n{done.stderr}"
    return json.loads(done.stdout[done.stdout.index("{"):])


def test_cargo_lambda_deploy_creates_the_function_cargo_toml_describes_and_the_wiring_reaches_it(
        moto_endpoint, tmp_path):
    built = lambda_dir() / "spillover"
    if not ((built / "bootstrap.zip").exists() or (built / "bootstrap").exists()):
        pytest.fail(f"no {built}/bootstrap.zip: run `make build` first (`make test-deploy` does)")
    cfn = client("cloudformation", moto_endpoint)
    lam = client("lambda", moto_endpoint)

    # 1. The role (and the queue) before the function.
    outputs = deploy_wiring(cfn, create=True, function_exists=False)
    role_arn = outputs["RoleArn"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="spillover")

    # 2. cargo lambda deploy, configured by Cargo.toml, the account's values from --env-file.
    env_file = tmp_path / "spillover.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in ENV_FILE_VARS.items()))
    deployed = cargo_lambda_deploy(moto_endpoint, role_arn, env_file)

    metadata = lambda_metadata()
    deploy = metadata["deploy"]
    function = lam.get_function(FunctionName="spillover")
    config = function["Configuration"]
    assert deployed["function_arn"].startswith(config["FunctionArn"])
    assert config["MemorySize"] == deploy["memory"]
    assert config["Timeout"] == deploy["timeout"]
    assert config["Role"] == role_arn
    assert config["Runtime"] == "provided.al2023"
    assert config["Handler"] == "bootstrap"
    # cargo lambda deploy reads the architecture from the binary, which `make build` made
    # with the build metadata of Cargo.toml.
    assert config["Architectures"] == (["arm64"] if metadata["build"].get("arm64") else ["x86_64"])
    assert config["Environment"]["Variables"] == {**deploy["env"], **ENV_FILE_VARS}
    assert lam.list_tags(Resource=config["FunctionArn"])["Tags"] == deploy["tags"]
    (group,) = client("logs", moto_endpoint).describe_log_groups(logGroupNamePrefix="/aws/lambda/spillover")["logGroups"]
    assert group["retentionInDays"] == deploy["log_retention"]

    # 3. The wiring, now that the function exists: both rules invoke it, each with its permission.
    outputs = deploy_wiring(cfn, create=False, function_exists=True)
    # The stack's resources as a user lists them. (moto 5.2.5 also completes the Lambda
    # permissions an update adds only once they are read here; CloudFormation has them at
    # UPDATE_COMPLETE.)
    resources = cfn.list_stack_resources(StackName="spillover-wiring")["StackResourceSummaries"]
    listed = sorted(r["LogicalResourceId"] for r in resources if r["LogicalResourceId"])
    assert {"AlarmStateRule", "ReconcileRule", "AlarmStatePermission", "ReconcilePermission",
            "SpilloverRole", "FailureQueue"} <= set(listed)
    events = client("events", moto_endpoint)
    function_arn = config["FunctionArn"]
    for rule_arn in (outputs["AlarmStateRuleArn"], outputs["ReconcileRuleArn"]):
        (target,) = events.list_targets_by_rule(Rule=rule_arn.rsplit("/", 1)[1])["Targets"]
        assert target["Arn"] == function_arn
    policy = json.loads(lam.get_policy(FunctionName="spillover")["Policy"])
    sources = sorted(s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"]
                     if s["Principal"] == {"Service": "events.amazonaws.com"})
    assert sources == sorted([outputs["AlarmStateRuleArn"], outputs["ReconcileRuleArn"]])
