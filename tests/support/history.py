"""Reading a Step Functions execution history the way a payload audit does: every state input and output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PAYLOAD_FIELDS = ("input", "output", "parameters")


@dataclass(frozen=True)
class Payload:
    event_id: int
    event_type: str
    field: str
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode())

    def __str__(self) -> str:
        return f"event {self.event_id} {self.event_type}.{self.field} ({self.size} bytes)"


def payloads(events: list[dict[str, Any]]) -> Iterator[Payload]:
    """Every input, output and task parameters an event carries (in any ``*EventDetails``)."""
    for event in events:
        for key, details in event.items():
            if not key.endswith("EventDetails") or not isinstance(details, dict):
                continue
            for field in PAYLOAD_FIELDS:
                value = details.get(field)
                if isinstance(value, str):
                    yield Payload(event["id"], event["type"], field, value)


def largest_payload(events: list[dict[str, Any]]) -> Payload:
    return max(payloads(events), key=lambda payload: payload.size)


def state_name(event: dict[str, Any]) -> str | None:
    for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
        if key in event:
            return event[key].get("name")
    return None


def entered(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Inputs (parsed) of every time the state ``name`` was entered."""
    return [
        json.loads(event["stateEnteredEventDetails"]["input"])
        for event in events
        if event["type"].endswith("StateEntered") and state_name(event) == name
    ]


def exited(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Outputs (parsed) of every time the state ``name`` was exited."""
    return [
        json.loads(event["stateExitedEventDetails"]["output"])
        for event in events
        if event["type"].endswith("StateExited") and state_name(event) == name
    ]


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def lambda_inputs(events: list[dict[str, Any]], logical_id: str) -> list[dict[str, Any]]:
    """Inputs (parsed) of every invocation of the function ``logical_id`` (whichever state invoked it)."""
    return [
        json.loads(event["lambdaFunctionScheduledEventDetails"]["input"])
        for event in events
        if event["type"] == "LambdaFunctionScheduled"
        and event["lambdaFunctionScheduledEventDetails"]["resource"].endswith(f"-{logical_id}")
    ]


def segment_configs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The segment_config each ExecuteSegment invocation got: a Map item's or a Task's, or the one in the
    cursor RunFirstStage hands over (a cursor handed back to RouteStage carries none, and is left out)."""
    configs = []
    for event in lambda_inputs(events, "ExecuteSegment"):
        config = event.get("segment_config") or event.get("cursor", {}).get("segment_config")
        if config is not None:
            configs.append(config)
    return configs


def full_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def failed_lambda_causes(sfn: Any, execution_arn: str) -> list[str]:
    """``error: cause`` of every failed Lambda task in the execution's history."""
    causes = []
    for event in full_history(sfn, execution_arn):
        if event["type"] not in ("LambdaFunctionFailed", "TaskFailed"):
            continue
        details = next(v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict))
        causes.append(f"{details.get('error')}: {details.get('cause')}")
    return causes
