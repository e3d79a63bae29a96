"""The rest of the contract of infra/template.yaml and infra/demo.yaml: the function's
build, runtime and configuration (checked against src/config.rs), the failure path,
the outputs, and that the demo stack's outputs are exactly what the controller needs."""

import json
import re
import tomllib

import pytest

import cfn_eval
from conftest import LISTENER_PARAMS, RULE_PARAMS

CONFIG_RS = cfn_eval.REPO / "src" / "config.rs"


def function(stack):
    (fn,) = stack.of_type("AWS::Serverless::Function").values()
    return fn


def rust_config_source() -> str:
    if not CONFIG_RS.exists():
        pytest.skip("src/config.rs not present")
    return CONFIG_RS.read_text().split("#[cfg(test)]")[0]


def rust_variable_names() -> set[str]:
    return set(re.findall(r'"(SPILLOVER_[A-Z_]+)"', rust_config_source()))


def rust_number_defaults() -> dict[str, int]:
    """Defaults of vars.number(...), vars.seconds(...) and vars.millis(...) in src/config.rs."""
    found = re.findall(
        r'vars\.(?:number|seconds|millis)\(\s*"(SPILLOVER_[A-Z_]+)"\s*,\s*([0-9_]+)\s*\)', rust_config_source()
    )
    return {name: int(value.replace("_", "")) for name, value in found}


def rust_text_defaults() -> dict[str, str]:
    found = re.findall(r'vars\.text\(\s*"(SPILLOVER_[A-Z_]+)"\s*,\s*"([^"]*)"\s*\)', rust_config_source())
    return dict(found)


def as_int(value):
    """A resolved Number (parameters resolve to strings), or None when the property is absent."""
    return None if value is None else int(value)


# ---- build and runtime ------------------------------------------------------------------------


def test_function_is_built_by_cargo_lambda_for_arm64(listener_stack):
    fn = function(listener_stack)
    assert fn["Metadata"]["BuildMethod"] == "rust-cargolambda"
    props = fn["Properties"]
    crate = (cfn_eval.INFRA / props["CodeUri"]).resolve()
    assert crate == cfn_eval.REPO
    cargo = tomllib.loads((crate / "Cargo.toml").read_text())
    binaries = {b["name"] for b in cargo.get("bin", [])} or {cargo["package"]["name"]}
    assert fn["Metadata"]["BuildProperties"]["Binary"] in binaries
    assert props["Runtime"] == "provided.al2023"
    assert props["Handler"] == "bootstrap"
    assert props["Architectures"] == ["arm64"]
    assert as_int(props["ReservedConcurrentExecutions"]) == 1
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert props["Role"] == "getatt:SpilloverRole.Arn"


@pytest.mark.parametrize("value, expected", [("1", 1), ("0", None)])
def test_reserved_concurrency_is_a_parameter_and_0_leaves_it_unset(controller_template, value, expected):
    """New accounts often cannot reserve any concurrency (Lambda keeps 100 unreserved):
    ReservedConcurrency=0 must leave the property out, not reserve 0 (which would stop the
    function)."""
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ReservedConcurrency": value})
    props = function(stack)["Properties"]
    assert as_int(props.get("ReservedConcurrentExecutions")) == expected


def test_reserved_concurrency_defaults_to_one_and_accepts_nothing_but_0_or_1(controller_template):
    assert controller_template["Parameters"]["ReservedConcurrency"]["Default"] == 1
    for bad in ("2", "-1", "one"):
        with pytest.raises(cfn_eval.ParameterError):
            cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ReservedConcurrency": bad})


def test_failed_asynchronous_invocations_go_to_the_queue(listener_stack):
    config = function(listener_stack)["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert 60 <= int(config["MaximumEventAgeInSeconds"]) <= 21600
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": "getatt:FailureQueue.Arn",
    }


@pytest.mark.parametrize("reserved, expected", [("1", 1), ("0", None)])
def test_sam_translation_keeps_concurrency_and_invoke_config(controller_template, reserved, expected):
    """Run the SAM transform offline (as CloudFormation would) on the template, then
    evaluate what it produced with the parameters."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    template = json.loads(json.dumps(controller_template))
    template["Resources"]["SpilloverFunction"]["Properties"]["CodeUri"] = "s3://bucket/spillover.zip"
    params = {**LISTENER_PARAMS, "ReservedConcurrency": reserved}
    translated = transform(template, dict(params), NoManagedPolicies())
    out = translated["Resources"]
    fn = out["SpilloverFunction"]
    assert fn["Type"] == "AWS::Lambda::Function"
    resolved = cfn_eval.Stack(translated, params).resources()["SpilloverFunction"]["Properties"]
    assert as_int(resolved.get("ReservedConcurrentExecutions")) == expected
    (invoke_config,) = [r for r in out.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    assert invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailureQueue", "Arn"]
    }
    # Nothing SAM generated on its own (no extra role, rule or permission).
    assert {r["Type"] for r in out.values()} == {
        "AWS::Lambda::Function",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::Permission",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::Events::Rule",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    }
    assert sum(r["Type"] == "AWS::IAM::Role" for r in out.values()) == 1


# ---- configuration: every SPILLOVER_* variable, same defaults as the Rust side -----------------


@pytest.mark.parametrize("params, absent", [(LISTENER_PARAMS, "SPILLOVER_RULE_ARN"), (RULE_PARAMS, "SPILLOVER_LISTENER_ARN")])
def test_environment_sets_every_variable_the_code_reads(controller_template, params, absent):
    stack = cfn_eval.Stack(controller_template, params)
    env = function(stack)["Properties"]["Environment"]["Variables"]
    assert set(env) == rust_variable_names() - {absent}
    assert env["SPILLOVER_CLUSTER"] == params["ClusterName"]
    assert env["SPILLOVER_SERVICE"] == params["ServiceName"]
    assert env["SPILLOVER_ALARM_NAMES"] == params["AlarmNames"]
    assert env["SPILLOVER_LAMBDA_TARGET_GROUP_ARN"] == params["LambdaTargetGroupArn"]
    assert env["SPILLOVER_ECS_TARGET_GROUP_ARN"] == params["EcsTargetGroupArn"]
    site = "SPILLOVER_LISTENER_ARN" if "ListenerArn" in params else "SPILLOVER_RULE_ARN"
    assert env[site] == params.get("ListenerArn", params.get("RuleArn"))


def test_parameter_defaults_equal_the_code_defaults(controller_template):
    defaults = rust_number_defaults()
    assert defaults, "no vars.number(...) defaults found in src/config.rs"
    variables = controller_template["Resources"]["SpilloverFunction"]["Properties"]["Environment"]["Variables"]
    for name, default in defaults.items():
        parameter = variables[name]["Ref"]
        assert int(controller_template["Parameters"][parameter]["Default"]) == default, name
    texts = rust_text_defaults()
    assert "SPILLOVER_STEPS" in texts
    for name, default in texts.items():
        parameter = variables[name]["Ref"]
        assert controller_template["Parameters"][parameter]["Default"] == default, name


def test_wait_budget_fits_in_the_function_timeout(listener_stack):
    p = listener_stack.params
    assert int(p["WaitBudgetSecs"]) + int(p["DeadlineMarginMs"]) / 1000 < int(p["FunctionTimeout"])
    assert int(p["FunctionTimeout"]) == 300 and int(p["WaitBudgetSecs"]) == 240


@pytest.mark.parametrize(
    "params, ok",
    [
        (LISTENER_PARAMS, True),
        (RULE_PARAMS, True),
        ({**LISTENER_PARAMS, "RuleArn": RULE_PARAMS["RuleArn"]}, False),
        ({k: v for k, v in LISTENER_PARAMS.items() if k != "ListenerArn"}, False),
    ],
)
def test_exactly_one_of_listener_and_rule(controller_template, params, ok):
    failed = cfn_eval.check_rules(cfn_eval.Stack(controller_template, params))
    assert (failed == []) is ok


def test_arn_parameters_are_validated(controller_template):
    with pytest.raises(cfn_eval.ParameterError):
        cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ListenerArn": "*"})
    with pytest.raises(cfn_eval.ParameterError):
        cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "EcsTargetGroupArn": LISTENER_PARAMS["ListenerArn"]})
    with pytest.raises(cfn_eval.ParameterError):
        cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ClusterName": "arn:aws:ecs:us-east-1:123456789012:cluster/x"})


# ---- nothing fails silently ------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["", "arn:aws:sns:us-east-1:123456789012:ops"])
def test_alarms_on_the_failure_queue_and_on_errors(controller_template, topic):
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "AlarmTopicArn": topic, "SpilledAlarmMinutes": "0"})
    alarms = [a["Properties"] for a in stack.of_type("AWS::CloudWatch::Alarm").values()]
    metrics = {(a["Namespace"], a["MetricName"], a["Dimensions"][0]["Value"]) for a in alarms
               if "MetricName" in a}
    assert metrics == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "getatt:FailureQueue.QueueName"),
        ("AWS/Lambda", "Errors", "ref:SpilloverFunction"),
    }
    # And the embedded Failed + Rejected (metric math), which count what Lambda does not retry.
    assert sum("Metrics" in a for a in alarms) == 1
    for alarm in alarms:
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm.get("AlarmActions", []) == ([topic] if topic else [])


# ---- watching it: the spilled-too-long alarm and the dashboard ---------------------------------

METRICS_RS = cfn_eval.REPO / "src" / "metrics.rs"


def emitted_metric_names() -> set[str]:
    """The embedded metric names src/metrics.rs can write."""
    names = set(re.findall(r'\("(\w+)", Unit::', METRICS_RS.read_text()))
    assert "EcsTrafficShare" in names, "no metric names found in src/metrics.rs"
    return names


def test_spilled_too_long_alarm_watches_the_share_on_ecs(controller_template):
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "SpilledAlarmMinutes": "90"})
    alarm = stack.resources()["SpilledTooLongAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("spillover", "EcsTrafficShare")
    assert alarm["MetricName"] in emitted_metric_names()
    assert alarm["Dimensions"] == [{"Name": "Service", "Value": LISTENER_PARAMS["ServiceName"]}]
    # Every minute's least share above 0, for 90 minutes; minutes without a run do not count.
    assert (alarm["Statistic"], alarm["Period"]) == ("Minimum", 60)
    assert int(alarm["EvaluationPeriods"]) == int(alarm["DatapointsToAlarm"]) == 90
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["TreatMissingData"] == "missing"
    # The metric's dimension is the one the function is told to write.
    env = function(stack)["Properties"]["Environment"]["Variables"]
    assert env["SPILLOVER_METRICS_DIMENSIONS"] == f"Service={LISTENER_PARAMS['ServiceName']}"
    assert env["SPILLOVER_METRICS_NAMESPACE"] == alarm["Namespace"]


@pytest.mark.parametrize("extra", [{"SpilledAlarmMinutes": "0"}, {"Metrics": "off"}])
def test_spilled_too_long_alarm_can_be_left_out(controller_template, extra):
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, **extra})
    assert "SpilledTooLongAlarm" not in stack.resources()


def test_runs_failed_alarm_counts_the_failures_lambda_does_not_retry(controller_template):
    stack = cfn_eval.Stack(controller_template, LISTENER_PARAMS)
    alarm = stack.resources()["RunsFailedAlarm"]["Properties"]
    stats = {q["Id"]: q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"Failed", "Rejected"}
    for stat in stats.values():
        assert stat["Metric"]["MetricName"] in emitted_metric_names()
        assert stat["Metric"]["Namespace"] == "spillover"
        assert stat["Metric"]["Dimensions"] == [{"Name": "Service", "Value": LISTENER_PARAMS["ServiceName"]}]
        assert (stat["Stat"], stat["Period"]) == ("Sum", 60)
    (expression,) = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    assert expression["Expression"] == "FILL(failed, 0) + FILL(rejected, 0)"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    off = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "Metrics": "off"})
    assert "RunsFailedAlarm" not in off.resources()


def dashboard_metrics(stack) -> list[list]:
    (dashboard,) = stack.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"])
    widgets = body["widgets"]
    # One screen: two rows of three and one of two, 24 columns wide.
    assert all(w["x"] + w["width"] <= 24 and w["y"] + w["height"] <= 18 for w in widgets)
    return [m for w in widgets for m in w["properties"]["metrics"]]


@pytest.mark.parametrize("params", [LISTENER_PARAMS, RULE_PARAMS])
def test_dashboard_shows_traffic_errors_capacity_and_spillover_on_one_screen(controller_template, params):
    stack = cfn_eval.Stack(controller_template, {**params, "AppFunctionName": "web-app-fn"})
    metrics = dashboard_metrics(stack)

    def dims(metric):
        names = [x for x in metric if isinstance(x, str)]
        return names[0], names[1], dict(zip(names[2::2], names[3::2]))

    seen = [dims(m) for m in metrics]
    lambda_tg = "targetgroup/web-app-lambda/73e2d6bc24d8a067"
    ecs_tg = "targetgroup/web-app-ecs/2453ed029918f21f"
    lb = "app/web-app/50dc6c495c0c9188"
    for tg in (lambda_tg, ecs_tg):
        for name in ("RequestCount", "HTTPCode_Target_5XX_Count"):
            assert ("AWS/ApplicationELB", name, {"TargetGroup": tg, "LoadBalancer": lb}) in seen, (name, tg)
    assert ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": lb}) in seen
    assert ("AWS/ApplicationELB", "HealthyHostCount", {"TargetGroup": ecs_tg, "LoadBalancer": lb}) in seen
    for name in ("ConcurrentExecutions", "Throttles"):
        assert ("AWS/Lambda", name, {"FunctionName": "web-app-fn"}) in seen
    assert ("AWS/Lambda", "Errors", {"FunctionName": "ref:SpilloverFunction"}) in seen
    own = [(n, d) for ns, n, d in seen if ns == "spillover"]
    assert {n for n, _ in own} >= {"EcsTrafficShare", "RunningTasks", "Spilled", "Returned", "Failed", "TimeToReady"}
    assert {n for n, _ in own} <= emitted_metric_names()
    assert all(d == {"Service": params["ServiceName"]} for _, d in own)


def test_dashboard_without_the_app_function_leaves_its_widget_out(controller_template):
    metrics = dashboard_metrics(cfn_eval.Stack(controller_template, LISTENER_PARAMS))
    assert not [m for m in metrics if "ConcurrentExecutions" in m]
    assert [m for m in metrics if "EcsTrafficShare" in m]
    off = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "Dashboard": "off"})
    assert off.of_type("AWS::CloudWatch::Dashboard") == {}


def test_outputs(listener_stack):
    outputs = listener_stack.template["Outputs"]
    resolved = {k: listener_stack.resolve(v["Value"]) for k, v in outputs.items()}
    assert resolved["FunctionArn"] == "getatt:SpilloverFunction.Arn"
    assert resolved["AlarmStateRuleArn"] == "getatt:AlarmStateRule.Arn"
    assert resolved["ReconcileRuleArn"] == "getatt:ReconcileRule.Arn"
    assert resolved["FailureQueueUrl"] == "ref:FailureQueue"
    assert resolved["FailureQueueArn"] == "getatt:FailureQueue.Arn"


# ---- the demo stack -----------------------------------------------------------------------------------


@pytest.fixture
def demo(demo_template):
    return cfn_eval.Stack(demo_template, stack_name="spillover-demo")


def test_demo_outputs_are_the_controller_parameters(demo, controller_template):
    needed = {name for name, spec in controller_template["Parameters"].items() if "Default" not in spec}
    needed.add("ListenerArn")
    assert needed <= set(demo.template["Outputs"])
    outputs = {k: demo.resolve(v["Value"]) for k, v in demo.template["Outputs"].items()}
    assert outputs["ClusterName"] == "ref:Cluster"
    assert outputs["ServiceName"] == "getatt:Service.Name"
    assert outputs["ListenerArn"] == "ref:HttpListener"
    assert outputs["LambdaTargetGroupArn"] == "ref:LambdaTargetGroup"
    assert outputs["EcsTargetGroupArn"] == "ref:EcsTargetGroup"
    assert outputs["AlarmNames"] == "ref:AppConcurrencyAlarm"
    # The alarm's name is acceptable to the controller's AlarmNames parameter.
    alarm_name = demo.resources()["AppConcurrencyAlarm"]["Properties"]["AlarmName"]
    cfn_eval.check_parameter("AlarmNames", controller_template["Parameters"]["AlarmNames"], alarm_name)


def test_demo_listener_is_a_weighted_forward_lambda_1_ecs_0(demo):
    (listener,) = demo.of_type("AWS::ElasticLoadBalancingV2::Listener").values()
    (action,) = listener["Properties"]["DefaultActions"]
    assert action["Type"] == "forward"
    forward = action["ForwardConfig"]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in forward["TargetGroups"]}
    assert weights == {"ref:LambdaTargetGroup": 1, "ref:EcsTargetGroup": 0}
    assert "TargetGroupStickinessConfig" in forward
    groups = demo.of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert groups["LambdaTargetGroup"]["Properties"]["TargetType"] == "lambda"
    assert groups["LambdaTargetGroup"]["Properties"]["Targets"] == [{"Id": "getatt:AppFunction.Arn"}]
    ecs_group = groups["EcsTargetGroup"]["Properties"]
    assert ecs_group["TargetType"] == "ip" and ecs_group["HealthCheckPath"] == "/health"


def test_demo_service_is_idle_fargate_on_the_ip_target_group(demo):
    (service,) = demo.of_type("AWS::ECS::Service").values()
    props = service["Properties"]
    assert props["DesiredCount"] == 0
    assert props["LaunchType"] == "FARGATE"
    assert props["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"
    (lb,) = props["LoadBalancers"]
    assert lb["TargetGroupArn"] == "ref:EcsTargetGroup"
    (task,) = demo.of_type("AWS::ECS::TaskDefinition").values()
    assert task["Properties"]["NetworkMode"] == "awsvpc"
    assert task["Properties"]["RequiresCompatibilities"] == ["FARGATE"]
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Name"] == lb["ContainerName"]
    (vpc,) = demo.of_type("AWS::EC2::VPC").values()
    assert vpc["Properties"]["EnableDnsHostnames"] is True
    subnets = demo.of_type("AWS::EC2::Subnet").values()
    assert len({s["Properties"]["AvailabilityZone"] for s in subnets}) == 2


def test_demo_alarm_watches_demand_on_both_target_groups_not_what_lambda_serves(demo):
    (alarm,) = demo.of_type("AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert "MetricName" not in props, "a single metric (e.g. ConcurrentExecutions) sees the split"
    metrics = {m["Id"]: m for m in props["Metrics"]}
    (result,) = [m for m in metrics.values() if m.get("ReturnData")]
    assert "(lambda + ecs)" in result["Expression"]
    assert "FILL" not in result["Expression"], "a minute not yet received must not read 0"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (2, 1), "1 of the last 2 minutes"
    groups = set()
    for name in ("lambda", "ecs"):
        stat = metrics[name]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]) == (
            "AWS/ApplicationELB",
            "RequestCount",
            "Sum",
        )
        dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert dims["LoadBalancer"] == "getatt:LoadBalancer.LoadBalancerFullName"
        groups.add(dims["TargetGroup"])
    assert groups == {"getatt:LambdaTargetGroup.TargetGroupFullName", "getatt:EcsTargetGroup.TargetGroupFullName"}
    assert props["TreatMissingData"] == "notBreaching"


DIGEST = "sha256:" + "ab" * 32


def test_demo_function_and_task_run_the_same_app_image_by_digest(demo_template):
    stack = cfn_eval.Stack(demo_template, {"AppImageDigest": DIGEST}, stack_name="spillover-demo")
    fn = stack.resources()["AppFunction"]["Properties"]
    assert fn["PackageType"] == "Image"
    assert "Runtime" not in fn and "Handler" not in fn
    image = f"getatt:AppRepository.RepositoryUri@{DIGEST}"
    assert fn["Code"] == {"ImageUri": image}
    assert fn["Architectures"] == ["x86_64"]
    (task,) = stack.of_type("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == image
    assert "Command" not in container and "EntryPoint" not in container  # the image's own
    assert container["ReadonlyRootFilesystem"] is True
    assert {"Name": "PORT", "Value": "8080"} in container["Environment"]
    assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    arm = cfn_eval.Stack(demo_template, {"AppImageDigest": DIGEST, "CpuArchitecture": "ARM64"})
    assert arm.resources()["AppFunction"]["Properties"]["Architectures"] == ["arm64"]


def test_demo_repository_lets_lambda_pull_and_empties_on_delete(demo):
    repo = demo.resources()["AppRepository"]["Properties"]
    assert repo["EmptyOnDelete"] is True
    (statement,) = repo["RepositoryPolicyText"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert set(statement["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"])
    assert demo.resolve(demo.template["Outputs"]["AppRepositoryUri"]["Value"]) == "getatt:AppRepository.RepositoryUri"


def test_demo_first_deploy_before_the_push_is_a_placeholder_that_answers_503(demo, monkeypatch):
    fn = demo.resources()["AppFunction"]["Properties"]
    assert fn["PackageType"] == "Zip" and fn["Runtime"].startswith("python")
    namespace = {}
    exec(compile(fn["Code"]["ZipFile"], "index.py", "exec"), namespace)
    response = namespace["handler"]({"path": "/", "httpMethod": "GET"}, None)
    assert response["statusCode"] == 503 and "make demo-stack" in response["body"]
    (task,) = demo.of_type("AWS::ECS::TaskDefinition").values()
    assert task["Properties"]["ContainerDefinitions"][0]["Image"] == "getatt:AppRepository.RepositoryUri:latest"


def test_demo_function_can_come_from_a_zip_instead(demo_template):
    params = {"AppPackage": "zip", "AppZipBucket": "my-bucket", "AppZipKey": "app/bootstrap.zip", "AppImageDigest": DIGEST}
    fn = cfn_eval.Stack(demo_template, params).resources()["AppFunction"]["Properties"]
    assert (fn["PackageType"], fn["Runtime"], fn["Handler"]) == ("Zip", "provided.al2023", "bootstrap")
    assert fn["Code"] == {"S3Bucket": "my-bucket", "S3Key": "app/bootstrap.zip"}
    (rule,) = demo_template["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "AppPackage"}, "zip"]}


def test_demo_health_checks_are_fast_and_draining_fits_a_spill(demo):
    group = demo.resources()["EcsTargetGroup"]["Properties"]
    assert (group["HealthCheckIntervalSeconds"], group["HealthyThresholdCount"]) == (5, 2)
    assert group["HealthCheckTimeoutSeconds"] < group["HealthCheckIntervalSeconds"]
    attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == "30"
    (service,) = demo.of_type("AWS::ECS::Service").values()
    assert service["Properties"]["HealthCheckGracePeriodSeconds"] <= 10


def test_readme_explains_every_parameter(controller_template, demo_template):
    readme = (cfn_eval.INFRA / "README.md").read_text()
    for template in (controller_template, demo_template):
        for name in template["Parameters"]:
            assert f"| `{name}` |" in readme, f"infra/README.md does not explain {name}"
