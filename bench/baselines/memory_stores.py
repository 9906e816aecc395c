"""In-memory records, checkpoints and node outputs (the engine's ports), for the fat-statebag baseline.

In that design the state *is* the store: earlier nodes' outcomes arrive in the task's input and the segment's
outcomes leave in its result, and there is no event log. These classes let segflow's real ``SegmentRunner``
(routing, templates, node executors, judgments, aggregators) run over that state unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord, SegmentRecord, StoredOutput
from segflow.events.models import EventDraft


class StateRecords:
    """The runner's records (:class:`~segflow.engine.ports.SegmentRecords`) over the outcomes in the state."""

    def __init__(self, execution: ExecutionRecord, prior: dict[str, NodeRecord]) -> None:
        self.execution = execution
        self.prior = prior
        self.written: dict[str, NodeRecord] = {}
        self.segments: list[SegmentRecord] = []

    def get_execution(self, tenant_id: str, execution_id: str) -> ExecutionRecord:
        return self.execution

    def get_nodes(self, tenant_id: str, execution_id: str, node_ids: list[str]) -> dict[str, NodeRecord]:
        known = {**self.prior, **self.written}
        return {node_id: known[node_id] for node_id in node_ids if node_id in known}

    def put_segment(self, tenant_id: str, execution_id: str, record: SegmentRecord) -> bool:
        self.segments.append(record)
        return True

    def list_segments(self, tenant_id: str, execution_id: str, stage: int) -> list[SegmentRecord]:
        return [segment for segment in self.segments if segment.stage == stage]


class StateCheckpoints:
    """The runner's checkpoints (:class:`~segflow.engine.ports.Checkpoints`): into the state, no events."""

    def __init__(self, records: StateRecords) -> None:
        self.records = records

    def put_node(self, execution: ExecutionIdentity, record: NodeRecord, draft: EventDraft) -> None:
        self.records.written[record.node_id] = record

    def put_nodes(
        self, execution: ExecutionIdentity, changes: list[tuple[NodeRecord, EventDraft]]
    ) -> list[str]:
        for record, _ in changes:
            self.records.written[record.node_id] = record
        return []


class StateOutputs:
    """Node outputs (:class:`~segflow.engine.ports.NodeOutputs`), all inline: they travel in the state."""

    bucket = ""

    def load(self, inline_json: str | None, s3_key: str | None) -> Any:
        return json.loads(inline_json) if inline_json is not None else None

    def save_node_output(self, tenant_id: str, execution_id: str, node_id: str, value: Any) -> StoredOutput:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        return StoredOutput(inline_json=text, s3_key=None, size_bytes=len(text.encode()))

    def save_execution_data(
        self, tenant_id: str, execution_id: str, name: str, value: Any, inline_max_bytes: int | None = None
    ) -> StoredOutput:
        return self.save_node_output(tenant_id, execution_id, name, value)
