"""Bounded waiting, shared by the world's tests."""

from __future__ import annotations

import time
from typing import Any, Callable


def until(what: str, check: Callable[[], Any], timeout: float = 8.0, every: float = 0.05) -> Any:
    """`check()`'s first truthy value; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
