"""Handlers for the local Lambda runtime's own tests: ones that answer, raise, exit, hang or run late."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

# Set when ``outlive_deadline`` returns (thread mode runs it in this process).
late_answer_given = threading.Event()


def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": event, "pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}


def raise_error(event: dict[str, Any], context: Any) -> None:
    raise ValueError(f"bad value {event.get('value')!r}")


def exit_three(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


def hang(event: dict[str, Any], context: Any) -> None:
    time.sleep(60)


def outlive_deadline(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Keeps working until a moment past its deadline, then answers: too late for Lambda to pass it on."""
    while context.get_remaining_time_in_millis() > 0:
        time.sleep(0.01)
    time.sleep(0.3)
    late_answer_given.set()
    return {"late": True}
