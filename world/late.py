"""The late world's two queues, pure and seeded: a listener change on its way to the data
plane, and EventBridge's events on their way to the controller.

- **Listener propagation.** `DescribeListeners` shows a `ModifyListener`'s weights at once,
  but the load balancer's nodes keep the previous split for a while: "Rule updates do not
  take effect immediately, so requests could be routed using the previous rule configuration
  for a short time after you update a rule" (ALB user guide, listener rules,
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-update-rules.html);
  users of weighted target groups report about 30 s of traffic on the old split
  (argoproj/argo-rollouts#2064). AWS publishes no number: each change takes a delay drawn
  from `listener.propagation_secs` (default 5-30 s), and changes come into force in the
  order they were written (a later one never overtakes an earlier one).
- **At least once, and late.** A service with durable delivery "will successfully attempt
  to deliver events to EventBridge at least once" (EventBridge user guide, event delivery
  from AWS services,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html),
  and EventBridge retries a target with back-off and jitter (eb-rule-retry-policy): an event
  can come late, and twice. No latency is published. Each event is delivered after a delay
  drawn from `events.delivery_delay_secs`, and a share (`events.duplicate_share`) is
  delivered a second time, after a second draw.

Each queue has its own random stream (seeded from the scenario's `random_seed`), drawn once
per change or event in world time, so a run's draws do not depend on its speed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class Propagation(Generic[T]):
    """What the data plane routes by: the last written setting once its delay is over."""

    delay_secs: tuple[float, float]
    seed: int = 1
    in_force: T | None = None
    written: T | None = None
    # (world second it comes into force, the setting), in write order
    pending: list[tuple[float, T]] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/listener")

    def step(self, t: float, written: T) -> T:
        """The setting in force at world second `t`, given what `DescribeListeners` shows."""
        if self.in_force is None:  # what the world starts with is in force already
            self.in_force = self.written = written
        elif written != self.written:
            self.written = written
            low, high = self.delay_secs
            delay = self.rng.uniform(low, high) if high > 0 else 0.0
            after = self.pending[-1][0] if self.pending else t
            self.pending.append((max(t + delay, after), written))
        while self.pending and self.pending[0][0] <= t:
            self.in_force = self.pending.pop(0)[1]
        return self.in_force

    @property
    def propagating(self) -> bool:
        return bool(self.pending)


@dataclass
class Delivery:
    """One event on its way, and whether it is a second delivery of the same event."""

    due: float
    order: int
    event: dict[str, Any]
    kind: str
    duplicate: bool = False


@dataclass
class EventBus:
    """EventBridge between the alarms and the controller: late, and at least once."""

    delay_secs: tuple[float, float]
    duplicate_share: float
    seed: int = 1
    queue: list[Delivery] = field(default_factory=list)
    rng: random.Random = field(init=False)
    count: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/events")

    def _delay(self) -> float:
        low, high = self.delay_secs
        return self.rng.uniform(low, high) if high > 0 else 0.0

    def put(self, t: float, event: dict[str, Any], kind: str) -> None:
        """An event sent at world second `t`: delivered after a drawn delay, perhaps twice.
        Both draws are made whatever the share, so one scenario's draws stay the same when
        only its share changes."""
        first = self._delay()
        again = self.rng.random() < self.duplicate_share
        second = first + self._delay()
        self.queue.append(Delivery(t + first, self._next(), event, kind))
        if again:
            self.queue.append(Delivery(t + second, self._next(), event, kind, duplicate=True))
        self.queue.sort(key=lambda d: (d.due, d.order))

    def _next(self) -> int:
        self.count += 1
        return self.count

    def due(self, t: float) -> list[Delivery]:
        """The deliveries due by world second `t`, in the order they are due."""
        ready = [d for d in self.queue if d.due <= t]
        self.queue = [d for d in self.queue if d.due > t]
        return ready
