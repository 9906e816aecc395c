"""Handlers for the worker-process runtime's own tests: ones that answer, raise, exit or hang."""

from __future__ import annotations

import os
import time
from typing import Any


def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": event, "pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}


def raise_error(event: dict[str, Any], context: Any) -> None:
    raise ValueError(f"bad value {event.get('value')!r}")


def exit_three(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


def hang(event: dict[str, Any], context: Any) -> None:
    time.sleep(60)
