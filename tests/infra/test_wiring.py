"""infra/wiring.yaml: the EventBridge wiring, failure path and role for a function deployed
with `cargo lambda deploy`, kept in step with infra/template.yaml (the role: test_iam.py)."""

import pytest

import cfn_eval
from conftest import ALARM_NAMES, LISTENER_PARAMS
from test_event_pattern import alarm_rule_pattern

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:spillover"
WIRING_PARAMS = {
    "FunctionName": "spillover",
    **{k: v for k, v in LISTENER_PARAMS.items() if k not in ("LambdaTargetGroupArn", "EcsTargetGroupArn")},
}


def wiring(template, **params):
    return cfn_eval.Stack(template, {**WIRING_PARAMS, **params})


def test_before_the_function_exists_only_the_role_and_the_queue(wiring_template):
    resources = wiring(wiring_template, FunctionExists="false").resources()
    assert {r["Type"] for r in resources.values()} == {"AWS::IAM::Role", "AWS::SQS::Queue"}


def test_once_it_exists_the_rules_permissions_and_invoke_config(wiring_template):
    types = sorted(r["Type"] for r in wiring(wiring_template).resources().values())
    assert types == sorted([
        "AWS::IAM::Role", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
        "AWS::Events::Rule", "AWS::Events::Rule",
        "AWS::Lambda::Permission", "AWS::Lambda::Permission",
        "AWS::Lambda::EventInvokeConfig",
    ])


@pytest.mark.parametrize("extra", [{}, {"WarmAlarmNames": "warm-a,warm-b"}, {"AlarmNames": "one"}])
def test_the_alarm_rule_pattern_is_the_templates(controller_template, wiring_template, extra):
    """The template's pattern is routed through moto's EventBridge in test_event_pattern.py."""
    ours = alarm_rule_pattern(wiring(wiring_template, **extra))
    theirs = alarm_rule_pattern(cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, **extra}))
    assert ours == theirs
    assert ours["detail"]["alarmName"] == extra.get("AlarmNames", ALARM_NAMES).split(",") + (
        extra["WarmAlarmNames"].split(",") if "WarmAlarmNames" in extra else [])


def test_each_rule_targets_the_function_and_has_a_bound_permission(wiring_template):
    resources = wiring(wiring_template).resources()
    rules = {n: r for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert len(rules) == 2
    for name, rule in rules.items():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == FUNCTION_ARN
        assert target["DeadLetterConfig"]["Arn"] == "getatt:FailureQueue.Arn"
        (bound,) = [p for p in permissions if p["SourceArn"] == f"getatt:{name}.Arn"]
        assert bound == {"Action": "lambda:InvokeFunction", "FunctionName": "spillover",
                         "Principal": "events.amazonaws.com", "SourceArn": f"getatt:{name}.Arn"}
    (scheduled,) = [r for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    assert scheduled["Properties"]["ScheduleExpression"] == "rate(1 minute)"


def test_failed_asynchronous_invocations_go_to_the_queue(wiring_template, controller_template):
    (config,) = wiring(wiring_template).of_type("AWS::Lambda::EventInvokeConfig").values()
    props = config["Properties"]
    assert props["FunctionName"] == "spillover"
    assert props["Qualifier"] == "$LATEST"
    assert props["MaximumRetryAttempts"] == 2
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": "getatt:FailureQueue.Arn"}}
    template_fn = cfn_eval.Stack(controller_template, LISTENER_PARAMS).resources()["SpilloverFunction"]
    same = template_fn["Properties"]["EventInvokeConfig"]
    assert props["MaximumRetryAttempts"] == same["MaximumRetryAttempts"]
    assert props["MaximumEventAgeInSeconds"] == same["MaximumEventAgeInSeconds"]


def test_queue_policy_admits_only_the_two_rules(wiring_template):
    (policy,) = wiring(wiring_template).of_type("AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        "getatt:AlarmStateRule.Arn", "getatt:ReconcileRule.Arn"]


def test_the_role_arn_is_an_output_for_cargo_lambda_deploy(wiring_template):
    outputs = wiring_template["Outputs"]
    assert outputs["RoleArn"]["Value"] == {"Fn::GetAtt": ["SpilloverRole", "Arn"]}
    assert "Condition" not in outputs["RoleArn"]


def test_exactly_one_forward_site(wiring_template):
    both = wiring(wiring_template, RuleArn=LISTENER_PARAMS["ListenerArn"].replace("listener/", "listener-rule/") + "/1")
    assert cfn_eval.check_rules(both) == ["Set exactly one of ListenerArn and RuleArn."]
    assert cfn_eval.check_rules(wiring(wiring_template)) == []


def test_readme_explains_every_parameter(wiring_template):
    readme = (cfn_eval.INFRA / "README.md").read_text()
    for name in wiring_template["Parameters"]:
        assert f"| `{name}` |" in readme, f"infra/README.md does not explain {name}"


# ---- Cargo.toml's [package.metadata.lambda.*] agrees with template.yaml ----------------------


def test_cargo_lambda_metadata_matches_the_sam_templates_function(controller_template):
    import tomllib

    lam = tomllib.loads((cfn_eval.REPO / "Cargo.toml").read_text())["package"]["metadata"]["lambda"]
    deploy = lam["deploy"]
    params = controller_template["Parameters"]
    assert lam["build"]["arm64"] is True  # template.yaml: Architectures [arm64]
    assert deploy["memory"] == params["FunctionMemory"]["Default"]
    assert deploy["timeout"] == params["FunctionTimeout"]["Default"]
    assert deploy["log_retention"] == params["LogRetentionDays"]["Default"]
    env = deploy["env"]
    budget = float(env["SPILLOVER_WAIT_BUDGET_SECS"])
    margin = float(env["SPILLOVER_DEADLINE_MARGIN_MS"]) / 1000
    assert budget + margin < deploy["timeout"], "the wait and the margin must end before the function times out"
    assert env["SPILLOVER_WAIT_BUDGET_SECS"] == str(params["WaitBudgetSecs"]["Default"])
    assert env["SPILLOVER_DEADLINE_MARGIN_MS"] == str(params["DeadlineMarginMs"]["Default"])
    # Values cargo-lambda accepts (it refuses an empty one), none account-specific.
    assert all(value and ":" not in value for value in env.values())
    assert "role" not in deploy, "the role is account-specific: --iam-role, not Cargo.toml"
