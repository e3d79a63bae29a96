"""Least privilege in infra/template.yaml and infra/wiring.yaml (the same role for a
function deployed with cargo lambda).

Every policy document in the template (the role's inline policies, any IAM policy
resource, the failure queue's resource policy) is resolved with test parameters and
checked: no write action (anything that is not Describe*/List*/Get*) may have a '*'
resource or any wildcard in its ARN, and the write actions present are exactly the
ones spillover needs.
"""

import re

import pytest

import cfn_eval
from conftest import ALARM_NAMES, LISTENER_PARAMS, RULE_PARAMS

READ_PREFIXES = ("Describe", "List", "Get")

# The log streams of one log group: the only wildcard a write may carry.
_ONE_LOG_GROUP = re.compile(r"arn:[a-z-]+:logs:[a-z0-9-]+:\d{12}:log-group:[^*?]+:\*")


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def is_read_action(action: str) -> bool:
    service, _, name = action.partition(":")
    return bool(service) and name.startswith(READ_PREFIXES)


def write_resource_problem(resource: str) -> str | None:
    """Why a resource is too broad for a write action, or None."""
    if resource == "*":
        return "'*' resource"
    if "*" in resource or "?" in resource:
        if _ONE_LOG_GROUP.fullmatch(resource):
            return None
        return f"wildcard in resource {resource!r}"
    if resource.startswith("arn:"):
        parts = resource.split(":", 5)
        if len(parts) < 6:
            return f"malformed ARN {resource!r}"
    return None


# Application Auto Scaling names a scalable target by an ID it makes up at registration:
# the one wildcard a write may carry there, and only pinned to ECS services' desired count.
_SCALABLE_TARGETS = re.compile(r"arn:[a-z-]+:application-autoscaling:[a-z0-9-]+:\d{12}:scalable-target/\*")
_ECS_DESIRED_COUNT = {
    "application-autoscaling:service-namespace": "ecs",
    "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount",
}


def pinned_to_ecs_desired_count(statement: dict) -> bool:
    equals = statement.get("Condition", {}).get("StringEquals", {})
    return all(equals.get(k) == v for k, v in _ECS_DESIRED_COUNT.items())


def statement_problems(statement: dict) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    problems = []
    if "NotAction" in statement:
        problems.append(f"NotAction grants everything else: {statement['NotAction']!r}")
    if "NotResource" in statement:
        problems.append(f"NotResource grants everything else: {statement['NotResource']!r}")
    for action in as_list(statement.get("Action")):
        if is_read_action(action):
            continue
        for resource in as_list(statement.get("Resource")):
            if _SCALABLE_TARGETS.fullmatch(resource) and pinned_to_ecs_desired_count(statement):
                continue
            problem = write_resource_problem(resource)
            if problem:
                problems.append(f"write action {action} with {problem}")
    return problems


def policy_problems(documents: dict[str, dict]) -> list[str]:
    problems = []
    for where, document in documents.items():
        for statement in as_list(document.get("Statement")):
            problems.extend(f"{where}: {p}" for p in statement_problems(statement))
    return problems


def policy_documents(stack: cfn_eval.Stack) -> dict[str, dict]:
    """Every policy document of the resolved template, keyed by where it is."""
    documents = {}
    for name, resource in stack.resources().items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                documents[f"{name}/{policy['PolicyName']}"] = policy["PolicyDocument"]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy"):
            documents[name] = props["PolicyDocument"]
    return documents


def uninspectable_grants(stack: cfn_eval.Stack) -> list[str]:
    """Grants this test cannot see into: managed policies and SAM-generated roles."""
    found = []
    for name, resource in stack.resources().items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role" and props.get("ManagedPolicyArns"):
            found.append(f"{name}: ManagedPolicyArns {props['ManagedPolicyArns']}")
        if resource["Type"] == "AWS::Serverless::Function":
            if "Policies" in props:
                found.append(f"{name}: SAM Policies (generated role)")
            if "Role" not in props:
                found.append(f"{name}: no Role (SAM generates one with logs:* on '*')")
    return found


def role_statements(stack: cfn_eval.Stack) -> list[dict]:
    (role,) = stack.of_type("AWS::IAM::Role").values()
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def actions_of(statements) -> set[str]:
    return {a for s in statements for a in as_list(s.get("Action"))}


def stack_of(template, params):
    """The template with those of `params` it declares (the wiring stack has no target groups)."""
    declared = template.get("Parameters", {})
    return cfn_eval.Stack(template, {k: v for k, v in params.items() if k in declared})


def stacks(template):
    """The configurations that change the role: listener/rule x alarm scope."""
    for params in (LISTENER_PARAMS, RULE_PARAMS):
        for scope in ("all", "configured"):
            yield stack_of(template, {**params, "DescribeAlarmsScope": scope})


# ---- the checker itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": ["arn:aws:ecs:us-east-1:123456789012:service/*"]},
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "arn:aws:ecs:us-east-1:123456789012:service/web/*"},
        {"Effect": "Allow", "Action": "elasticloadbalancing:ModifyListener", "Resource": "arn:aws:elasticloadbalancing:*:*:listener/app/web/1/2"},
        {"Effect": "Allow", "Action": "elasticloadbalancing:Modify*", "Resource": "*"},
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:sqs:us-east-1:123456789012:q"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "NotResource": "arn:aws:sqs:us-east-1:123456789012:q"},
        {"Effect": "Allow", "Action": ["ecs:DescribeServices", "ecs:UpdateService"], "Resource": "*"},
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:*"},
        {"Effect": "Allow", "Action": "application-autoscaling:RegisterScalableTarget", "Resource": "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*"},
        {"Effect": "Allow", "Action": "application-autoscaling:RegisterScalableTarget", "Resource": "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*",
         "Condition": {"StringEquals": {"application-autoscaling:service-namespace": "ecs"}}},
    ],
)
def test_checker_rejects_broad_writes(statement):
    assert statement_problems(statement)
    assert policy_problems({"snippet": {"Statement": [statement]}})


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ecs:ListTasks", "Resource": "*"},
        {"Effect": "Allow", "Action": "cloudwatch:Describe*", "Resource": "*"},
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "arn:aws:ecs:us-east-1:123456789012:service/web/web-spill"},
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/spillover/x:*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "application-autoscaling:RegisterScalableTarget", "Resource": "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*",
         "Condition": {"StringEquals": _ECS_DESIRED_COUNT}},
    ],
)
def test_checker_accepts_reads_and_narrow_writes(statement):
    assert statement_problems(statement) == []


def test_checker_finds_managed_policies_and_generated_roles():
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}},
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": ["AmazonECS_FullAccess"]}},
        }
    }
    assert len(uninspectable_grants(cfn_eval.Stack(template))) == 3


# ---- the template -----------------------------------------------------------------------------


@pytest.fixture(params=["template.yaml", "wiring.yaml"])
def role_template(request, controller_template, wiring_template):
    """Each template that creates spillover's role."""
    return {"template.yaml": controller_template, "wiring.yaml": wiring_template}[request.param]


def test_no_write_action_has_a_wildcard_resource(role_template):
    for stack in stacks(role_template):
        documents = policy_documents(stack)
        assert documents, "no policy documents found"
        assert policy_problems(documents) == []
        assert uninspectable_grants(stack) == []


@pytest.mark.parametrize(
    "params, site_action",
    [
        (LISTENER_PARAMS, "elasticloadbalancing:ModifyListener"),
        (RULE_PARAMS, "elasticloadbalancing:ModifyRule"),
    ],
)
def test_write_actions_are_exactly_the_needed_ones(role_template, params, site_action):
    stack = stack_of(role_template, params)
    writes = {a for a in actions_of(role_statements(stack)) if not is_read_action(a)}
    assert writes == {
        "ecs:UpdateService",
        "ecs:TagResource",
        "ecs:UntagResource",
        "application-autoscaling:RegisterScalableTarget",
        site_action,
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "events:PutEvents",
    }


def test_writes_target_the_configured_resources(listener_stack, rule_stack):
    def resources_for(stack, action):
        return [r for s in role_statements(stack) if action in as_list(s["Action"]) for r in as_list(s["Resource"])]

    service = "arn:aws:ecs:us-east-1:123456789012:service/web-app/web-app-spill"
    both_formats = [service, "arn:aws:ecs:us-east-1:123456789012:service/web-app-spill"]
    assert resources_for(listener_stack, "ecs:UpdateService") == both_formats
    assert resources_for(listener_stack, "elasticloadbalancing:ModifyListener") == [LISTENER_PARAMS["ListenerArn"]]
    assert resources_for(listener_stack, "elasticloadbalancing:ModifyRule") == []
    assert resources_for(rule_stack, "elasticloadbalancing:ModifyRule") == [RULE_PARAMS["RuleArn"]]
    assert resources_for(rule_stack, "elasticloadbalancing:ModifyListener") == []
    assert resources_for(listener_stack, "sqs:SendMessage") == ["getatt:FailureQueue.Arn"]
    assert resources_for(listener_stack, "logs:PutLogEvents") == ["getatt:SpilloverLogGroup.Arn"]
    for action in ("ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"):
        assert resources_for(listener_stack, action) == both_formats, action


@pytest.mark.parametrize(
    "bus, expected",
    [
        ("default", ["arn:aws:events:us-east-1:123456789012:event-bus/default"]),
        ("ops-events", ["arn:aws:events:us-east-1:123456789012:event-bus/ops-events"]),
        ("", []),
    ],
)
def test_notifications_may_go_to_the_one_configured_bus_only(controller_template, bus, expected):
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "NotificationBus": bus})
    granted = [r for s in role_statements(stack) if "events:PutEvents" in as_list(s["Action"]) for r in as_list(s["Resource"])]
    assert granted == expected
    env = stack.resources()["SpilloverFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SPILLOVER_EVENT_BUS"] == bus


@pytest.mark.parametrize(
    "arn, expected",
    [
        ("", "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*"),
        (
            "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0123456789abcdef0123456789abcdef",
            "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0123456789abcdef0123456789abcdef",
        ),
    ],
)
def test_the_scalable_target_write_is_pinned_to_ecs_desired_count(controller_template, arn, expected):
    stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "ScalableTargetArn": arn})
    (statement,) = [
        s for s in role_statements(stack) if "application-autoscaling:RegisterScalableTarget" in as_list(s["Action"])
    ]
    assert as_list(statement["Resource"]) == [expected]
    assert pinned_to_ecs_desired_count(statement)


def test_describe_alarms_scope_covers_the_warm_alarms(controller_template):
    stack = cfn_eval.Stack(
        controller_template,
        {**LISTENER_PARAMS, "AlarmNames": "high", "WarmAlarmNames": "warm-a,warm-b", "DescribeAlarmsScope": "configured"},
    )
    (statement,) = [s for s in role_statements(stack) if "cloudwatch:DescribeAlarms" in as_list(s["Action"])]
    assert as_list(statement["Resource"]) == [
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" for name in ("high", "warm-a", "warm-b")
    ]


def test_the_alarm_history_is_read_on_the_spill_alarms_only(controller_template):
    def history_resources(scope):
        stack = cfn_eval.Stack(
            controller_template,
            {**LISTENER_PARAMS, "AlarmNames": "high,higher", "WarmAlarmNames": "warm-a",
             "DescribeAlarmsScope": scope},
        )
        (statement,) = [
            s for s in role_statements(stack) if "cloudwatch:DescribeAlarmHistory" in as_list(s["Action"])
        ]
        assert as_list(statement["Action"]) == ["cloudwatch:DescribeAlarmHistory"]
        return as_list(statement["Resource"])

    # '*' is what composite alarms need, as for DescribeAlarms.
    assert history_resources("all") == ["*"]
    assert history_resources("configured") == [
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" for name in ("high", "higher")
    ]


def test_task_reads_are_limited_to_the_cluster(listener_stack):
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/web-app"
    for action in ("ecs:ListTasks", "ecs:DescribeTasks"):
        (statement,) = [s for s in role_statements(listener_stack) if action in as_list(s["Action"])]
        assert statement["Condition"] == {"ArnEquals": {"ecs:cluster": cluster}}
    (describe,) = [s for s in role_statements(listener_stack) if "ecs:DescribeTasks" in as_list(s["Action"])]
    assert describe["Resource"] == [
        "arn:aws:ecs:us-east-1:123456789012:task/web-app/*",
        "arn:aws:ecs:us-east-1:123456789012:task/*",
    ]


@pytest.mark.parametrize(
    "names", ["web-app-concurrency-high", ALARM_NAMES, "a,b,c,d,e"]
)
def test_describe_alarms_scope(controller_template, names):
    def alarm_resources(scope):
        stack = cfn_eval.Stack(controller_template, {**LISTENER_PARAMS, "AlarmNames": names, "DescribeAlarmsScope": scope})
        (statement,) = [s for s in role_statements(stack) if "cloudwatch:DescribeAlarms" in as_list(s["Action"])]
        return as_list(statement["Resource"])

    assert alarm_resources("all") == ["*"]
    assert alarm_resources("configured") == [
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}" for name in names.split(",")
    ]


def test_queue_policy_admits_only_the_two_rules(listener_stack):
    (policy,) = listener_stack.of_type("AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert statement["Resource"] == "getatt:FailureQueue.Arn"
    assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        "getatt:AlarmStateRule.Arn",
        "getatt:ReconcileRule.Arn",
    ]


# ---- the role grants what the Rust code calls, and nothing else -------------------------------

_SDK_SERVICE = {
    "ecs": "ecs",
    "elasticloadbalancingv2": "elasticloadbalancing",
    "cloudwatch": "cloudwatch",
    "applicationautoscaling": "application-autoscaling",
    "eventbridge": "events",
}


def sdk_calls() -> set[str]:
    """IAM actions for the SDK operations src/aws/*.rs calls on its clients."""
    calls = set()
    for path in sorted((cfn_eval.REPO / "src" / "aws").glob("*.rs")):
        text = path.read_text()
        services = set(re.findall(r"aws_sdk_(\w+)::Client", text))
        operations = set(re.findall(r"\.client\s*\.\s*([a-z_]+)\(\)", text))
        if not operations:
            continue
        assert len(services) == 1, f"{path.name}: expected one SDK client type, found {services}"
        service = _SDK_SERVICE[services.pop()]
        calls |= {f"{service}:{''.join(w.title() for w in op.split('_'))}" for op in operations}
    return calls


def test_role_grants_exactly_the_aws_calls_of_the_code(role_template):
    calls = sdk_calls()
    if not calls:
        pytest.skip("no SDK calls found under src/aws")
    listener_stack = stack_of(role_template, LISTENER_PARAMS)
    rule_stack = stack_of(role_template, RULE_PARAMS)
    granted = actions_of(role_statements(listener_stack)) | actions_of(role_statements(rule_stack))
    own = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}
    assert calls - granted == set(), "the code calls these without permission"
    assert granted - own - calls == set(), "the role grants these but the code never calls them"


# ---- both ECS ARN formats ----------------------------------------------------------------------
# Services created before 2021 keep the short ARN `service/<name>` (no cluster); tasks started
# without the `taskLongArnFormat` account setting get `task/<id>`
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids,
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-arn-migration.html).
# IAM authorizes a call against the ARN the resource has, so every grant on the service and its
# tasks must name both forms.

ECS = "arn:aws:ecs:us-east-1:123456789012"
CLUSTER_ARN = f"{ECS}:cluster/web-app"
SERVICE_ACTIONS = (
    "ecs:UpdateService",
    "ecs:DescribeServices",
    "ecs:TagResource",
    "ecs:UntagResource",
    "ecs:ListTagsForResource",
)


def _iam_glob(pattern: str, value: str) -> bool:
    """IAM's wildcard match: '*' any run of characters, '?' one; case-sensitive for ARNs."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def _conditions_hold(statement: dict, context: dict[str, str]) -> bool:
    for operator, keys in statement.get("Condition", {}).items():
        if operator not in ("StringEquals", "ArnEquals", "ArnLike", "StringLike"):
            return False  # an operator this evaluator does not know: not granted
        for key, wanted in keys.items():
            if key not in context:
                return False
            like = operator.endswith("Like")
            if not any(_iam_glob(w, context[key]) if like else w == context[key] for w in as_list(wanted)):
                return False
    return True


def allowed(statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether an Allow statement grants `action` on `resource` (no Deny in these policies)."""
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        if not any(_iam_glob(a, action) for a in as_list(statement.get("Action"))):
            continue
        if not any(_iam_glob(r, resource) for r in as_list(statement.get("Resource"))):
            continue
        if _conditions_hold(statement, context or {}):
            return True
    return False


def test_the_evaluator_itself():
    statements = [{"Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": f"{ECS}:task/web-app/*",
                   "Condition": {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}}]
    task = f"{ECS}:task/web-app/0123"
    assert allowed(statements, "ecs:DescribeTasks", task, {"ecs:cluster": CLUSTER_ARN})
    assert not allowed(statements, "ecs:DescribeTasks", task)  # the condition key is missing
    assert not allowed(statements, "ecs:DescribeTasks", task, {"ecs:cluster": f"{ECS}:cluster/other"})
    assert not allowed(statements, "ecs:StopTask", task, {"ecs:cluster": CLUSTER_ARN})
    assert not allowed(statements, "ecs:DescribeTasks", f"{ECS}:task/other/0123", {"ecs:cluster": CLUSTER_ARN})


def controller_role_statements(template, params):
    return role_statements(stack_of(template, params))


@pytest.mark.parametrize("service_arn", [f"{ECS}:service/web-app/web-app-spill", f"{ECS}:service/web-app-spill"],
                         ids=["long", "short"])
@pytest.mark.parametrize("action", SERVICE_ACTIONS)
def test_every_service_action_is_granted_on_both_arn_formats(role_template, action, service_arn):
    for params in (LISTENER_PARAMS, RULE_PARAMS):
        statements = controller_role_statements(role_template, params)
        assert allowed(statements, action, service_arn), f"{action} not granted on {service_arn}"


@pytest.mark.parametrize("action", SERVICE_ACTIONS)
@pytest.mark.parametrize("other", [f"{ECS}:service/web-app/other", f"{ECS}:service/other",
                                   f"{ECS}:service/other-cluster/web-app-spill"])
def test_no_service_action_reaches_another_service(role_template, action, other):
    statements = controller_role_statements(role_template, LISTENER_PARAMS)
    assert not allowed(statements, action, other)


@pytest.mark.parametrize("task_arn", [f"{ECS}:task/web-app/0123456789abcdef", f"{ECS}:task/0123456789abcdef"],
                         ids=["long", "short"])
def test_the_clusters_tasks_are_described_in_both_arn_formats(role_template, task_arn):
    statements = controller_role_statements(role_template, LISTENER_PARAMS)
    assert allowed(statements, "ecs:DescribeTasks", task_arn, {"ecs:cluster": CLUSTER_ARN})
    assert not allowed(statements, "ecs:DescribeTasks", task_arn, {"ecs:cluster": f"{ECS}:cluster/other"})
    assert allowed(statements, "ecs:ListTasks", "*", {"ecs:cluster": CLUSTER_ARN})


# ---- the wiring stack's role is template.yaml's ----------------------------------------------


def _without_log_resource(statements: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if not (s.get("Sid") == "WriteOwnLogs" and k == "Resource")}
            for s in statements]


@pytest.mark.parametrize("params", [
    LISTENER_PARAMS,
    RULE_PARAMS,
    {**LISTENER_PARAMS, "DescribeAlarmsScope": "configured", "WarmAlarmNames": "warm-a,warm-b"},
    {**LISTENER_PARAMS, "ScalableTargetArn":
        "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0123456789abcdef"},
], ids=["listener", "rule", "configured-alarms", "scalable-target"])
def test_the_wiring_role_keeps_in_step_with_the_template(controller_template, wiring_template, params):
    """Same statements, but the log group: the template's own, or Lambda's default one."""
    template_statements = role_statements(cfn_eval.Stack(controller_template, params))
    wiring_statements = role_statements(stack_of(wiring_template, {**params, "FunctionName": "spillover"}))
    assert _without_log_resource(wiring_statements) == _without_log_resource(template_statements)
    (logs,) = [s for s in wiring_statements if s.get("Sid") == "WriteOwnLogs"]
    assert logs["Resource"] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/spillover:*"
