"""What an execution event is, and the frames of the live-events WebSocket protocol.

Every execution and node state change becomes an :class:`ExecutionEvent` with a per-execution sequence
number (``seq``, from 1, in order, never reused), stored in the execution log before anyone is told. Numbers
are consecutive except where a number holds no event (a change that was never stored): live messages name
those under ``skipped`` (:mod:`segflow.adapters.event_log`). The shape is a
superset of the seed's ``{instance_id, previous_state, new_state, reason, timestamp}``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.limits import EXECUTION_REFERENCE_MAX_CHARS
from segflow.domain.statuses import TERMINAL_EXECUTION_STATES

EventKind = Literal["execution", "node"]
# pending, running, succeeded, failed, skipped, waiting, retrying for nodes; the execution's own statuses too
# (aborted and timed_out come from Step Functions, cancelled from a stop before a node ran).


class Progress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completed: int
    total: int


class EventDraft(BaseModel):
    """A state change before the log gives it its sequence number."""

    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    node_id: str | None = None
    previous_state: str
    new_state: str
    reason: str | None = None
    timestamp: float
    duration_ms: int | None = None
    error: str | None = None
    output_ref: str | None = None
    completes_node: bool = Field(default=False, exclude=True)  # counts towards progress.completed


class ExecutionEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str  # "<execution_id>:<seq>": unique, stable across replays
    seq: int
    execution_id: str
    instance_id: str  # the seed's name for the execution id
    workflow_id: str
    version: int | None = None
    tenant_id: str
    kind: EventKind
    node_id: str | None = None
    previous_state: str
    new_state: str
    reason: str | None = None
    timestamp: float
    progress: Progress
    duration_ms: int | None = None
    error: str | None = None
    output_ref: str | None = None  # where a large output is (S3 key); outputs themselves never travel

    @property
    def ends_execution(self) -> bool:
        return self.kind == "execution" and self.new_state in TERMINAL_EXECUTION_STATES


# --- client -> server frames (``action`` selects the route) --------------------------------------------


class SubscribeFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["subscribe"]
    execution_id: str = Field(
        min_length=1, max_length=EXECUTION_REFERENCE_MAX_CHARS, description="An execution id or ARN."
    )
    since_seq: int = Field(default=0, ge=0, description="Replay stored events after this seq, then go live.")


class UnsubscribeFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["unsubscribe"]
    execution_id: str = Field(min_length=1, max_length=EXECUTION_REFERENCE_MAX_CHARS)


class PingFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["ping"]


ClientFrame = Annotated[SubscribeFrame | UnsubscribeFrame | PingFrame, Field(discriminator="action")]


# --- server -> client messages ------------------------------------------------------------------------


def events_message(execution_id: str, events: list[str], skipped: list[int] | None = None) -> str:
    """``{"type": "events", "execution_id", "events": [...]}`` from events already serialized; ``skipped``
    (only when there are any): numbers in between that hold no event (a change that was never stored), so a
    client that checks its seqs are consecutive moves past them."""
    extra = f',"skipped":{json.dumps(skipped)}' if skipped else ""
    return (
        f'{{"type":"events","execution_id":{json.dumps(execution_id)},"events":[{",".join(events)}]{extra}}}'
    )


def subscribed_message(execution_id: str, since_seq: int, latest_seq: int) -> dict[str, Any]:
    return {
        "type": "subscribed",
        "execution_id": execution_id,
        "since_seq": since_seq,
        "latest_seq": latest_seq,
    }


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
