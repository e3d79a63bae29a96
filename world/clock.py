"""World time: scenarios are written in AWS seconds; `--speed N` runs them N times faster.

World second `t` happens at wall time `start + t / speed`. Every duration the world waits
for, and every timing setting handed to a controller, is divided by the same `speed`, so a
controller sees the world it would see in AWS, only sooner.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    """Maps world seconds (from the start of a run) to wall-clock time and back."""

    speed: float = 1.0
    start_wall: float = field(default_factory=time.time)
    start_mono: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be above 0, got {self.speed}")

    def now(self) -> float:
        """World seconds since the start."""
        return (time.monotonic() - self.start_mono) * self.speed

    def wall(self, world_secs: float) -> float:
        """The Unix time (seconds) at which world second `world_secs` happens."""
        return self.start_wall + world_secs / self.speed

    def to_wall_secs(self, world_secs: float) -> float:
        """A world duration as a wall-clock duration."""
        return world_secs / self.speed

    def sleep_until(self, world_secs: float, stop: threading.Event | None = None) -> bool:
        """Sleeps until world second `world_secs`; False if `stop` was set meanwhile."""
        delay = (self.start_mono + world_secs / self.speed) - time.monotonic()
        if delay <= 0:
            return not (stop and stop.is_set())
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)
