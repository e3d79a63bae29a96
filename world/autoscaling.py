"""Application Auto Scaling, played by the world: the service is a scalable target with a
target-tracking policy on `ALBRequestCountPerTarget`, as a scenario's `ecs.auto_scaling`
asks. moto keeps the scalable target (so a controller can read it and raise its
`MinCapacity`), the world does what the service would: once a minute it compares the
requests per healthy target with the policy's target value and writes the desired count
within [MinCapacity, MaxCapacity] as read from moto, after the cooldowns.

Target tracking scales out in proportion to the metric (capacity × metric / target,
rounded up). The scale-out cooldown does not hold a larger scale-out back ("While the
cooldown period is in effect, the capacity that has been added by the previous scale out
event that initiated the cooldown is calculated as part of the desired capacity for the
next scale out"), and a scale-out during the scale-in cooldown happens at once; scale-in
waits for both cooldowns. The ScaleOutCooldown / ScaleInCooldown descriptions of
`TargetTrackingScalingPolicyConfiguration`, and
https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .names import CLUSTER, SERVICE
from .scenario import AutoScalingSpec

RESOURCE_ID = f"service/{CLUSTER}/{SERVICE}"
DIMENSION = "ecs:service:DesiredCount"


def target_capacity(current: int, requests_per_target: float | None, target: float,
                    low: int, high: int) -> int:
    """The capacity target tracking asks for, within [low, high]. With no healthy target
    the metric has no datapoint, and target tracking does not act on missing data."""
    if requests_per_target is None or current == 0:
        wanted = current
    else:
        wanted = math.ceil(current * requests_per_target / target - 1e-9)
    return max(low, min(high, wanted))


@dataclass
class AutoScaler:
    spec: AutoScalingSpec
    client: Any  # boto3 application-autoscaling client on moto
    ecs: Any  # boto3 ecs client on moto
    last_out: float = -1e18
    last_in: float = -1e18
    requests: float = 0.0  # requests to the ECS target group in the current minute
    healthy_seconds: float = 0.0

    def register(self) -> None:
        self.client.register_scalable_target(
            ServiceNamespace="ecs", ResourceId=RESOURCE_ID, ScalableDimension=DIMENSION,
            MinCapacity=self.spec.min_capacity, MaxCapacity=self.spec.max_capacity)
        self.client.put_scaling_policy(
            PolicyName="web-app-requests-per-target", ServiceNamespace="ecs",
            ResourceId=RESOURCE_ID, ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": self.spec.target_requests_per_task,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ALBRequestCountPerTarget"},
                "ScaleOutCooldown": int(self.spec.scale_out_cooldown_secs),
                "ScaleInCooldown": int(self.spec.scale_in_cooldown_secs),
            })

    def observe(self, to_ecs: float, healthy: int) -> None:
        self.requests += to_ecs
        self.healthy_seconds += healthy

    def bounds(self, desired: int) -> int | None:
        """A new minimum or maximum applies at once (RegisterScalableTarget scales the
        service into its bounds without waiting for the policy's alarm); the desired count
        written, or None. It is not the policy's scaling activity: no cooldown starts."""
        targets = self.client.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[RESOURCE_ID], ScalableDimension=DIMENSION,
        )["ScalableTargets"]
        if not targets:
            return None
        low, high = targets[0]["MinCapacity"], targets[0]["MaxCapacity"]
        if low <= desired <= high:
            return None
        wanted = max(low, min(high, desired))
        self.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=wanted)
        return wanted

    def minute(self, t: float, desired: int) -> int | None:
        """At the end of a world minute: the desired count to write, or None."""
        targets = self.client.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[RESOURCE_ID], ScalableDimension=DIMENSION,
        )["ScalableTargets"]
        requests, healthy = self.requests, self.healthy_seconds / 60.0
        self.requests = self.healthy_seconds = 0.0
        if not targets:
            return None  # deregistered by someone: nothing to play
        low, high = targets[0]["MinCapacity"], targets[0]["MaxCapacity"]
        per_target = requests / healthy if healthy > 0 else None
        wanted = target_capacity(desired, per_target, self.spec.target_requests_per_task,
                                 low, high)
        if desired < low or desired > high:
            # A new minimum or maximum applies at once; it is not the policy's scaling
            # activity, so it starts no cooldown.
            wanted = max(low, min(high, desired))
            self.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=wanted)
            return wanted
        elif wanted < desired and (t - self.last_in < self.spec.scale_in_cooldown_secs
                                   or t - self.last_out < self.spec.scale_out_cooldown_secs):
            return None
        # A scale-out is never held back: during the scale-out cooldown the capacity already
        # added counts in the desired count the next one starts from (`wanted` is computed
        # from it), and a scale-out after a scale-in happens at once.
        if wanted == desired:
            return None
        if wanted > desired:
            self.last_out = t
        else:
            self.last_in = t
        self.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=wanted)
        return wanted
