"""What an execution history says about a design: payload sizes, bytes moved, transitions, quota breaches.

moto 5.2.5 fails a state whose *output* exceeds 256 KB (``States.DataLimitExceeded``), but not an oversized
execution input or task parameters, and it never limits a history's length; so every limit is checked here,
from the history itself, whatever moto did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PAYLOAD_LIMIT_BYTES = 262_144  # a state's input or output, a task's parameters or result, an execution input
HISTORY_EVENT_LIMIT = 25_000  # events in one execution's history
DEFINITION_LIMIT_BYTES = 1_048_576  # a state machine definition (hard quota)

_PAYLOAD_FIELDS = ("input", "output", "parameters")


def fetch(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The whole history through the API (the benchmark reads it from the emulator: same events, faster)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events
        kwargs["nextToken"] = token


def _payloads(events: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str, int]]:
    for event in events:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                for name in _PAYLOAD_FIELDS:
                    value = details.get(name)
                    if isinstance(value, str):
                        yield event, name, len(value.encode())


@dataclass
class HistoryMetrics:
    events: int
    transitions: int  # states entered (a Map's or Parallel's inner states included)
    largest_payload: int  # bytes, over every input, output and task parameters in the history
    largest_payload_where: str
    bytes_between_states: int  # every state's input plus its output
    map_runs: int  # Distributed Map runs (their children's histories are not in this one)
    visible_lambda_tasks: dict[str, int]  # function name -> tasks scheduled in this history
    lambda_payload_bytes: int  # the events those tasks sent and the results they returned
    first_breach: str | None  # the first event over the payload limit, if any
    failure: str | None  # the execution's own error, if it failed
    seconds: float | None  # from the first event to the last (the execution's own clock)

    @property
    def over_event_limit(self) -> bool:
        return self.events > HISTORY_EVENT_LIMIT


def measure(events: list[dict[str, Any]]) -> HistoryMetrics:
    largest, where = 0, ""
    breach = None
    for event, name, size in _payloads(events):
        if size > largest:
            largest, where = size, f"{event['type']}.{name}"
        if breach is None and size > PAYLOAD_LIMIT_BYTES:
            state = _state_of(event, events)
            breach = f"{event['type']}.{name} of {state} is {size:,} B (event {event['id']})"
    moved = 0
    transitions = 0
    map_runs = 0
    tasks: dict[str, int] = {}
    lambda_bytes = 0
    failure = None
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            transitions += 1
            moved += len(event["stateEnteredEventDetails"].get("input", "").encode())
        elif kind.endswith("StateExited"):
            moved += len(event["stateExitedEventDetails"].get("output", "").encode())
        elif kind == "MapRunStarted":
            map_runs += 1
        elif kind == "LambdaFunctionScheduled":
            resource = event["lambdaFunctionScheduledEventDetails"]["resource"]
            function = resource.rsplit(":function:", 1)[-1]
            tasks[function] = tasks.get(function, 0) + 1
            lambda_bytes += len(event["lambdaFunctionScheduledEventDetails"].get("input", "").encode())
        elif kind == "LambdaFunctionSucceeded":
            lambda_bytes += len(event["lambdaFunctionSucceededEventDetails"].get("output", "").encode())
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails", {})
            failure = f"{details.get('error', '')}: {details.get('cause', '')}"[:300]
    return HistoryMetrics(
        events=len(events),
        transitions=transitions,
        largest_payload=largest,
        largest_payload_where=where,
        bytes_between_states=moved,
        map_runs=map_runs,
        visible_lambda_tasks=tasks,
        lambda_payload_bytes=lambda_bytes,
        first_breach=breach,
        failure=failure,
        seconds=_span(events),
    )


def _span(events: list[dict[str, Any]]) -> float | None:
    if not events:
        return None
    first, last = events[0].get("timestamp"), events[-1].get("timestamp")
    if isinstance(first, datetime) and isinstance(last, datetime):
        return (last - first).total_seconds()
    return None


def _state_of(event: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The state an event belongs to: its own name, or the nearest entered state before it."""
    for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
        if key in event:
            return event[key].get("name", "?")
    if event["type"] == "ExecutionStarted":
        return "the execution"
    for earlier in reversed(events[: event["id"] - 1]):
        if earlier["type"].endswith("StateEntered"):
            return earlier["stateEnteredEventDetails"].get("name", "?")
    return "?"
