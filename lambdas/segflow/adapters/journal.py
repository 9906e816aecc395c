"""Checkpoints and their events, written together: a node's state change is in the records and in the
execution log, or in neither (one DynamoDB transaction per change, or per batch of pure nodes).

A batch is written as pages: per transaction, one item of the records per segment holding that segment's
node records (:meth:`ExecutionRecordStore.node_pages`) and the log's pages holding their events
(:meth:`EventLog.append`), compressed. A 1 KB-output node of a chain then costs a fraction of a write unit
instead of two items of a transaction (docs/architecture.md, "Checkpoints in pages").
"""

from __future__ import annotations

import json
from typing import Any

from segflow.adapters.event_log import CompanionRejected, EventLog
from segflow.adapters.execution_records import ExecutionRecordStore
from segflow.domain.limits import (
    DYNAMODB_TRANSACTION_MAX_ITEMS,
    NODE_BATCH_MAX_BYTES,
    NODE_BATCH_MAX_NODES,
    NODE_BATCH_MAX_SEGMENTS,
)
from segflow.domain.records import ExecutionIdentity, NodeRecord
from segflow.domain.statuses import TERMINAL_NODE_STATUSES
from segflow.events.models import EventDraft

Change = tuple[NodeRecord, EventDraft]


def record_bytes(record: NodeRecord) -> int:
    """About how much JSON a node record takes in a page."""
    return len(json.dumps(record.model_dump(exclude_none=True), separators=(",", ":"), ensure_ascii=False))


def batches(changes: list[Change]) -> list[list[Change]]:
    """``changes`` cut into batches that one transaction holds (nodes, bytes, segments)."""
    cut: list[list[Change]] = []
    current: list[Change] = []
    size = 0
    segments: set[str] = set()
    for record, draft in changes:
        grows = record_bytes(record)
        new_segment = record.segment_id not in segments
        if current and (
            len(current) >= NODE_BATCH_MAX_NODES
            or size + grows > NODE_BATCH_MAX_BYTES
            or (new_segment and len(segments) >= NODE_BATCH_MAX_SEGMENTS)
        ):
            cut.append(current)
            current, size, segments = [], 0, set()
        current.append((record, draft))
        size += grows
        segments.add(record.segment_id)
    if current:
        cut.append(current)
    return cut


class ExecutionJournal:
    """Node checkpoints and execution ends, each written with its event."""

    def __init__(self, records: ExecutionRecordStore, log: EventLog) -> None:
        self.records = records
        self.log = log

    def put_node(self, execution: ExecutionIdentity, record: NodeRecord, draft: EventDraft) -> None:
        """The state change of a node written one by one (it waits, asks or has side effects: its item).
        Raises :class:`CheckpointConflict` (nothing written) if the node's outcome is already recorded there.
        A node's states go one way only: pure nodes' and skips' through :meth:`put_nodes`."""
        put = {"Put": self.records.node_put(execution.tenant_id, execution.execution_id, record)}
        try:
            self.log.append(execution, [draft], [put])
        except CompanionRejected as rejected:
            raise self.records.conflict(
                execution.tenant_id, execution.execution_id, record.node_id
            ) from rejected

    def put_nodes(
        self, execution: ExecutionIdentity, changes: list[tuple[NodeRecord, EventDraft]]
    ) -> dict[str, NodeRecord]:
        """Write many checkpoints (in the order their nodes were reached) with their events, in pages.
        Returns the outcomes another attempt had recorded first, by node: those changes are left out,
        without an event."""
        latest = list({record.node_id: (record, draft) for record, draft in changes}.values())
        adopted: dict[str, NodeRecord] = {}
        for batch in batches(latest):
            adopted.update(self._put_batch(execution, batch))
        return adopted

    def _put_batch(self, execution: ExecutionIdentity, batch: list[Change]) -> dict[str, NodeRecord]:
        tenant, execution_id = execution.tenant_id, execution.execution_id
        adopted: dict[str, NodeRecord] = {}
        while batch:
            pages = self.records.node_pages(tenant, execution_id, [record for record, _ in batch])
            if len(pages) >= DYNAMODB_TRANSACTION_MAX_ITEMS:
                raise ValueError(f"{len(pages)} pages of node records exceed one transaction")
            try:
                self.log.append(execution, [draft for _, draft in batch], [{"Put": p.put} for p in pages])
                return adopted
            except CompanionRejected as rejected:
                # Another attempt of a segment wrote a page where this one starts: it ran the same nodes
                # first. Its outcomes stand; what it did not reach is written after them.
                segment_ids = sorted({pages[index].segment_id for index in rejected.indexes})
                stored = self.records.segment_nodes(tenant, execution_id, segment_ids)
                ours = {record.node_id for record, _ in batch}
                decided = {
                    node_id: record
                    for node_id, record in stored.items()
                    if node_id in ours and record.status in TERMINAL_NODE_STATUSES
                }
                if not decided:
                    raise RuntimeError(
                        f"pages of {segment_ids} failed their condition but hold none of their outcomes"
                    ) from rejected
                adopted.update(decided)
                batch = [(record, draft) for record, draft in batch if record.node_id not in decided]
        return adopted

    def record_end(
        self,
        execution: ExecutionIdentity,
        draft: EventDraft,
        outcome: dict[str, Any],
        completed: int | None = None,
    ) -> None:
        """Record the execution's end (``outcome``: its status, finished_at, … on its META item) with its
        event, in one transaction. Raises :class:`~segflow.domain.errors.ExecutionFinished` (nothing
        written) if its end is recorded already; ``completed``: the nodes finished, when counted."""
        self.log.append(execution, [draft], finish=outcome, completed=completed)

    def publish(self, execution: ExecutionIdentity, drafts: list[EventDraft]) -> None:
        """Log ``drafts`` (stored as pages of consecutive events)."""
        for start in range(0, len(drafts), NODE_BATCH_MAX_NODES):
            self.log.append(execution, drafts[start : start + NODE_BATCH_MAX_NODES])
