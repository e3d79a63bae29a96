"""Application Auto Scaling as the world plays it: target tracking against a recording
client, minute by minute."""

from __future__ import annotations

from typing import Any

from world.autoscaling import AutoScaler, target_capacity
from world.scenario import AutoScalingSpec

SPEC = AutoScalingSpec(min_capacity=0, max_capacity=8, target_requests_per_task=6000)


class FakeAas:
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def describe_scalable_targets(self, **_: Any) -> dict[str, Any]:
        return {"ScalableTargets": [{"MinCapacity": self.low, "MaxCapacity": self.high}]}


class FakeEcs:
    def __init__(self) -> None:
        self.writes: list[int] = []

    def update_service(self, **kw: Any) -> None:
        self.writes.append(kw["desiredCount"])


def minute(scaler: AutoScaler, t: float, desired: int, rps: float, healthy: int) -> int | None:
    for _ in range(60):
        scaler.observe(rps, healthy)
    return scaler.minute(t, desired)


def test_capacity_follows_requests_per_target_within_the_bounds() -> None:
    assert target_capacity(2, 12000, 6000, 0, 8) == 4
    assert target_capacity(2, 60000, 6000, 0, 8) == 8
    assert target_capacity(4, 0, 6000, 1, 8) == 1
    assert target_capacity(3, None, 6000, 0, 8) == 3  # no healthy target: no datapoint


def test_a_raised_minimum_applies_at_once_and_a_larger_scale_out_is_not_held_back() -> None:
    aas, ecs = FakeAas(2, 8), FakeEcs()
    scaler = AutoScaler(SPEC, aas, ecs)
    assert minute(scaler, 60, desired=0, rps=0, healthy=0) == 2  # the controller's minimum
    assert minute(scaler, 120, desired=2, rps=450, healthy=2) == 5  # 13,500 per target
    # One minute later, inside the scale-out cooldown, all the traffic: more at once.
    assert minute(scaler, 180, desired=5, rps=900, healthy=2) == 8
    assert ecs.writes == [2, 5, 8]


def test_scale_in_waits_for_the_cooldowns() -> None:
    aas, ecs = FakeAas(0, 8), FakeEcs()
    scaler = AutoScaler(SPEC, aas, ecs)
    assert minute(scaler, 60, desired=2, rps=900, healthy=2) == 8
    assert minute(scaler, 120, desired=8, rps=0, healthy=8) is None  # scale-out cooldown
    assert minute(scaler, 420, desired=8, rps=0, healthy=8) == 0


def test_a_raised_minimum_is_applied_between_two_policy_minutes() -> None:
    aas, ecs = FakeAas(2, 8), FakeEcs()
    scaler = AutoScaler(SPEC, aas, ecs)
    assert scaler.bounds(0) == 2
    assert scaler.bounds(2) is None
    assert ecs.writes == [2]
