"""The seeded topology: VPC, ALB with a weighted forward (listener default action and one
rule), a Lambda and an IP target group, an ECS cluster and Fargate service at desired 0,
and the CloudWatch alarms. The plain world seeds fixed alarms; the closed loop seeds a
scenario's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .names import (
    ACCOUNT, ALARM_HIGH, ALARM_OTHER, ALARM_PERCENT, ALARM_THROTTLES, APP_PORT, CLUSTER,
    CONTAINER, REGION, SERVICE,
)


@dataclass
class TopologyOptions:
    """What a world may vary in the topology; every duration is in the world's wall time
    (the closed loop divides AWS seconds by its speed before they get here)."""

    sticky_secs: int = 3600
    health_check_interval_secs: int = 10
    healthy_threshold: int = 2
    deregistration_delay_secs: int | None = None  # None: moto's default (300)
    function_name: str = "web-app"
    # PutMetricAlarm parameters; given the resource names (`${lambda_tg}` …) when called.
    alarms: Callable[[dict[str, str]], list[dict[str, Any]]] | None = None


@dataclass
class Topology:
    arns: dict[str, Any]
    network: dict[str, Any]
    deployment: str
    alarms: list[str]
    # the metric dimension values of the resources: function, lambda_tg, ecs_tg, load_balancer
    names: dict[str, str] = field(default_factory=dict)


def default_alarms(names: dict[str, str]) -> list[dict[str, Any]]:
    """The plain world's alarms: concurrency, concurrency share (metric math), throttles,
    and one that spillover is not configured for."""
    lambda_metric = {
        "Namespace": "AWS/Lambda",
        "Dimensions": [{"Name": "FunctionName", "Value": names["function"]}],
    }
    return [
        dict(AlarmName=ALARM_HIGH,
             AlarmDescription="Lambda ConcurrentExecutions near the account limit",
             MetricName="ConcurrentExecutions", Statistic="Maximum", Period=60,
             EvaluationPeriods=1, Threshold=900.0, ComparisonOperator="GreaterThanThreshold",
             **lambda_metric),
        dict(AlarmName=ALARM_PERCENT,
             AlarmDescription="Concurrency as a share of the reserved limit",
             EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
             Metrics=[
                 {"Id": "e1", "Expression": "100 * m1 / 1000", "Label": "ConcurrencyPercent",
                  "ReturnData": True},
                 {"Id": "m1", "ReturnData": False, "MetricStat": {
                     "Metric": {"MetricName": "ConcurrentExecutions", **lambda_metric},
                     "Period": 60, "Stat": "Maximum"}},
             ]),
        dict(AlarmName=ALARM_THROTTLES, MetricName="Throttles", Statistic="Sum", Period=60,
             EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
             **lambda_metric),
        dict(AlarmName=ALARM_OTHER, Namespace="AWS/Billing", MetricName="EstimatedCharges",
             Dimensions=[{"Name": "Currency", "Value": "USD"}], Statistic="Maximum",
             Period=21600, EvaluationPeriods=1, Threshold=100.0,
             ComparisonOperator="GreaterThanThreshold"),
    ]


def metric_dimension(arn: str, kind: str) -> str:
    """The CloudWatch dimension value of an ELB resource: `targetgroup/NAME/ID` or
    `app/NAME/ID`, the ARN's resource part after `targetgroup/` or `loadbalancer/`."""
    resource = arn.split(":", 5)[5]
    return resource.split("/", 1)[1] if kind == "load_balancer" else resource


def seed(c: dict[str, Any], opts: TopologyOptions) -> Topology:
    ec2, elb, ecs, cw = (c[k] for k in ("ec2", "elbv2", "ecs", "cloudwatch"))

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i + 1}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    sg = ec2.create_security_group(
        GroupName="web-app", Description="web-app ALB and tasks", VpcId=vpc
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": APP_PORT, "ToPort": APP_PORT,
             "UserIdGroupPairs": [{"GroupId": sg}]},
        ],
    )

    alb = elb.create_load_balancer(
        Name="web-app", Subnets=subnets, SecurityGroups=[sg],
        Scheme="internet-facing", Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]
    lambda_tg = elb.create_target_group(Name="web-app-lambda", TargetType="lambda")[
        "TargetGroups"][0]["TargetGroupArn"]
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{opts.function_name}"
    elb.register_targets(TargetGroupArn=lambda_tg, Targets=[{"Id": function_arn}])
    ecs_tg = elb.create_target_group(
        Name="web-app-ecs", TargetType="ip", Protocol="HTTP", Port=APP_PORT,
        VpcId=vpc, HealthCheckPath="/", HealthCheckIntervalSeconds=opts.health_check_interval_secs,
        HealthyThresholdCount=opts.healthy_threshold,
    )["TargetGroups"][0]["TargetGroupArn"]
    if opts.deregistration_delay_secs is not None:
        elb.modify_target_group_attributes(
            TargetGroupArn=ecs_tg,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds",
                         "Value": str(opts.deregistration_delay_secs)}],
        )

    def weighted_forward() -> list[dict[str, Any]]:
        return [{
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": lambda_tg, "Weight": 1},
                    {"TargetGroupArn": ecs_tg, "Weight": 0},
                ],
                "TargetGroupStickinessConfig": (
                    {"Enabled": True, "DurationSeconds": opts.sticky_secs}
                    if opts.sticky_secs > 0 else {"Enabled": False}
                ),
            },
        }]

    listener = elb.create_listener(
        LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=weighted_forward()
    )["Listeners"][0]["ListenerArn"]
    rule = elb.create_rule(
        ListenerArn=listener, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=weighted_forward(),
    )["Rules"][0]["RuleArn"]

    ecs.create_cluster(clusterName=CLUSTER)
    task_def = ecs.register_task_definition(
        family="web-app", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512",
        containerDefinitions=[{
            "name": CONTAINER,
            "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web-app:latest",
            "memory": 512, "essential": True,
            "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
        }],
    )["taskDefinition"]["taskDefinitionArn"]
    network = {
        "awsvpcConfiguration": {
            "subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED",
        }
    }
    service = ecs.create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=task_def, desiredCount=0,
        launchType="FARGATE", networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": ecs_tg, "containerName": CONTAINER,
                        "containerPort": APP_PORT}],
    )["service"]

    names = {
        "function": opts.function_name,
        "lambda_tg": metric_dimension(lambda_tg, "target_group"),
        "ecs_tg": metric_dimension(ecs_tg, "target_group"),
        "load_balancer": metric_dimension(alb, "load_balancer"),
    }
    alarm_params = (opts.alarms or default_alarms)(names)
    for params in alarm_params:
        cw.put_metric_alarm(**params)
    alarms = [p["AlarmName"] for p in alarm_params]
    for name in alarms:
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="world seeded")

    arns = {
        "listener": listener, "rule": rule, "lambda_tg": lambda_tg, "ecs_tg": ecs_tg,
        "service": service["serviceArn"], "cluster": service["clusterArn"], "alb": alb,
        "task_definition": task_def, "lambda_function": function_arn,
        "vpc": vpc, "subnets": subnets, "security_group": sg,
        "alarms": alarms,
    }
    return Topology(arns=arns, network=network, deployment=service["deployments"][0]["id"],
                    alarms=alarms, names=names)
