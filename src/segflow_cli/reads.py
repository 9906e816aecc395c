"""An execution's data as the CLI reads it: through the management API, never from the tables.

The API answers for the tenant it takes from the caller (on AWS the caller's identity, locally the
``X-Segflow-Tenant`` header ``--tenant`` sets), so another tenant's execution is unknown here exactly like a
missing one: the server decides, not a check in the CLI. A stack without the API (no ``ManagementApiUrl``
output) is refused with a message (:func:`segflow_cli.api_client.api_for`), never read around.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from segflow.api.models import ExecutionDescription, NodeState
from segflow.domain.ids import execution_id_of
from segflow.domain.statuses import TERMINAL_EXECUTION_STATUSES
from segflow.events.models import ExecutionEvent
from segflow.services.executions import Checkpoint

from segflow_cli.api_client import ApiError, ManagementApi
from segflow_cli.common import EXIT_FAILED, EXIT_INVALID, CliError
from segflow_cli.rendering.nodes import NodeView, node_views

_Answer = TypeVar("_Answer")


@dataclass(frozen=True)
class ExecutionState:
    """An execution as the API describes it now: Step Functions' status of its latest part, its node
    records, and ``description`` shaped as the renderers take it (``executionArn``, ``status``,
    ``startDate``, ``stopDate``; ``error`` and ``cause`` when it did not succeed)."""

    execution_id: str
    status: str
    workflow_id: str | None
    version: int | None
    description: dict[str, Any]
    nodes: dict[str, NodeState] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_EXECUTION_STATUSES


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def state_of(body: dict[str, Any]) -> ExecutionState:
    """The API's ``GET /executions/{id}`` answer as the CLI uses it."""
    described = ExecutionDescription.model_validate(body)
    description: dict[str, Any] = {
        "executionArn": described.execution_arn,
        "status": described.status,
        "startDate": _datetime(described.started_at),
    }
    stopped = _datetime(described.stopped_at)
    if stopped is not None:
        description["stopDate"] = stopped
    if described.error is not None or described.cause is not None:
        description["error"], description["cause"] = described.error, described.cause
    return ExecutionState(
        execution_id=described.execution_id,
        status=described.status,
        workflow_id=described.workflow_id,
        version=described.version,
        description=description,
        nodes={node.node_id: node for node in described.nodes},
    )


class ExecutionReader:
    """The reads of one caller's executions, named by the ARN the CLI printed when it started them."""

    def __init__(self, api: ManagementApi, tenant_id: str, where: str) -> None:
        self.api = api
        self.tenant_id = tenant_id  # what a local endpoint is told (on AWS the caller's identity decides)
        self.where = where

    def _ask(self, arn: str, call: Callable[[str], _Answer]) -> _Answer:
        """``call(execution_id)``; the API's not-found (another tenant's execution alike) as the CLI's."""
        try:
            return call(execution_id_of(arn))
        except ApiError as error:
            if error.status != 404:
                raise
            if error.from_gateway:  # the route itself is missing: a stack deployed before it
                raise CliError(
                    f"the management API of {self.where} cannot read this ({error.message}); "
                    "update the deployment",
                    EXIT_FAILED,
                ) from None
            if error.code == "NotFound":
                raise CliError(f"no execution {arn} at {self.where}", EXIT_INVALID) from None
            raise

    def state(self, arn: str) -> ExecutionState:
        return state_of(self._ask(arn, self.api.execution))

    def describe(self, arn: str) -> dict[str, Any]:
        return self.state(arn).description

    def node_views(self, state: ExecutionState, workflow: dict[str, Any]) -> list[NodeView]:
        """Every node of the workflow with its state (nodes not reached: pending, or not_run once ended)."""
        return node_views(workflow, state.nodes, state.finished)

    def workflow(self, arn: str) -> tuple[dict[str, Any], int | None]:
        """The workflow the execution runs (no nodes while it cannot be known) and its published version."""
        answer = self._ask(arn, self.api.execution_workflow)
        workflow_id, version = answer.get("workflow_id"), answer.get("version")
        definition = answer.get("definition")
        if isinstance(definition, dict):
            return definition, version
        return ({"workflow_id": workflow_id, "nodes": []} if version is not None else {"nodes": []}), version

    def events(self, arn: str, since_seq: int = 0) -> list[ExecutionEvent]:
        """The execution log (every state change, in order) after ``since_seq``, page after page."""
        events: list[ExecutionEvent] = []
        after: int | None = since_seq
        while after is not None:
            page = self._ask(arn, partial(self.api.events, after=after))
            events += [ExecutionEvent.model_validate(event) for event in page["events"]]
            after = page.get("next_after")
        return events

    def checkpoints(self, arn: str) -> tuple[str, list[Checkpoint]]:
        """The execution's status and every node outcome it recorded, in the order they were reached."""
        answer = self._ask(arn, self.api.checkpoints)
        return str(answer["status"]), [Checkpoint(**checkpoint) for checkpoint in answer["checkpoints"]]

    def output(self, arn: str) -> Any:
        """What a succeeded execution ended with (however large it was stored); None otherwise."""
        return self._ask(arn, self.api.execution_output).get("output")

    def wait(self, arn: str, timeout_seconds: float = 600, poll_seconds: float = 0.2) -> dict[str, Any]:
        """Describe the execution until it has ended; its description then. Raises TimeoutError."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            state = self.state(arn)
            if state.finished:
                return state.description
            if time.monotonic() > deadline:
                raise TimeoutError(f"{state.execution_id} still {state.status} after {timeout_seconds}s")
            time.sleep(poll_seconds)
