"""In-memory stand-ins for the execution record and node output stores, for the fat-statebag baseline.

In that design the state *is* the store: earlier nodes' outcomes arrive in the task's input and the segment's
outcomes leave in its result. These classes let segflow's real ``SegmentRunner`` (routing, templates, node
executors, judgments, aggregators) run over that state unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from segflow.adapters.outputs import StoredOutput
from segflow.domain.records import ExecutionRecord, NodeRecord, SegmentRecord


class StateRecords:
    """``ExecutionRecordStore``'s interface over the outcomes carried in the state."""

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

    def put_node(self, tenant_id: str, execution_id: str, record: NodeRecord) -> None:
        self.written[record.node_id] = record

    def put_nodes(self, tenant_id: str, execution_id: str, records: list[NodeRecord]) -> None:
        for record in records:
            self.written[record.node_id] = record

    def put_segment(self, tenant_id: str, execution_id: str, record: SegmentRecord) -> None:
        self.segments.append(record)


class StateOutputs:
    """``NodeOutputStore``'s interface: every output stays inline (it travels in the state)."""

    bucket = ""

    def load(self, inline_json: str | None, s3_key: str | None) -> Any:
        return json.loads(inline_json) if inline_json is not None else None

    def save_node_output(self, tenant_id: str, execution_id: str, node_id: str, value: Any) -> StoredOutput:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        return StoredOutput(inline_json=text, s3_key=None, size_bytes=len(text.encode()))

    def save_execution_data(self, tenant_id: str, execution_id: str, name: str, value: Any) -> StoredOutput:
        return self.save_node_output(tenant_id, execution_id, name, value)
