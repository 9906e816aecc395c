"""The node table's rows: a :class:`NodeView` per node of the workflow, from its records or its events."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class RecordedNode(Protocol):
    """What the table needs of a node's record (a NodeRecord, or the API's NodeState)."""

    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def error_type(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...


@dataclass
class NodeView:
    node_id: str
    type: str
    label: str | None
    status: str  # pending until a record exists
    duration_ms: int | None = None
    error: str | None = None


def node_type(node: Mapping[str, Any]) -> str:
    """``action:api_call``: the node's type, with its action or target type when it has one."""
    subtype = node.get("action_type") or node.get("target_type")
    return f"{node['type']}:{subtype}" if subtype else str(node["type"])


def pending_view(node: Mapping[str, Any], status: str = "pending") -> NodeView:
    return NodeView(str(node["node_id"]), node_type(node), node.get("label"), status)


def node_views(
    workflow: Mapping[str, Any], records: Mapping[str, RecordedNode], finished: bool = False
) -> list[NodeView]:
    """Every node of the workflow with its state; nodes without a record are pending, or ``not_run``
    once the execution has ``finished`` (it stopped before reaching them)."""
    views = []
    for node in workflow.get("nodes", []):
        record = records.get(node["node_id"])
        if record is None:
            views.append(pending_view(node, "not_run" if finished else "pending"))
            continue
        duration = record.duration_ms
        if duration is None and record.started_at is not None and record.status == "running":
            duration = int((time.time() - record.started_at) * 1000)
        error = f"{record.error_type}: {record.error_message}" if record.error_type else None
        views.append(
            NodeView(node["node_id"], node_type(node), node.get("label"), record.status, duration, error)
        )
    return views
