import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cfn_eval  # noqa: E402

ALARM_NAMES = "web-app-concurrency-high,web-app-concurrency-percent,web-app-overloaded"
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"

# Parameter values for a controller stack that weights a listener's default action.
LISTENER_PARAMS = {
    "ClusterName": "web-app",
    "ServiceName": "web-app-spill",
    "ListenerArn": f"{ARN}:listener/app/web-app/50dc6c495c0c9188/f2f7dc8efc522ab2",
    "LambdaTargetGroupArn": f"{ARN}:targetgroup/web-app-lambda/73e2d6bc24d8a067",
    "EcsTargetGroupArn": f"{ARN}:targetgroup/web-app-ecs/2453ed029918f21f",
    "AlarmNames": ALARM_NAMES,
}

# The same, but weighting one listener rule instead.
RULE_PARAMS = {
    **{k: v for k, v in LISTENER_PARAMS.items() if k != "ListenerArn"},
    "RuleArn": f"{ARN}:listener-rule/app/web-app/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
}


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch):
    """Fake credentials and a region, so nothing here can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def controller_template():
    return cfn_eval.load(cfn_eval.INFRA / "template.yaml")


@pytest.fixture(scope="session")
def wiring_template():
    return cfn_eval.load(cfn_eval.INFRA / "wiring.yaml")


@pytest.fixture(scope="session")
def demo_template():
    return cfn_eval.load(cfn_eval.INFRA / "demo.yaml")


@pytest.fixture
def listener_stack(controller_template):
    return cfn_eval.Stack(controller_template, LISTENER_PARAMS)


@pytest.fixture
def rule_stack(controller_template):
    return cfn_eval.Stack(controller_template, RULE_PARAMS)
