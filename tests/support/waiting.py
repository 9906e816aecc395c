"""Waiting for a state the embedded AWS reaches on its own: poll a condition until it holds, or fail saying
what never happened. For states no event announces (a record written, a status changed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.1


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """The condition's first truthy value; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout:g} s")
        time.sleep(POLL_SECONDS)
