"""Checkpoints and their events, written together: a node's state change is in the records and in the
execution log, or in neither (one DynamoDB transaction per change, or per batch of pure nodes)."""

from __future__ import annotations

from typing import Any

from segflow.adapters.event_log import MAX_TRANSACTION_ITEMS, CompanionRejected, EventLog
from segflow.adapters.execution_records import ExecutionRecordStore
from segflow.domain.records import ExecutionIdentity, NodeRecord
from segflow.events.models import EventDraft

# A node and its event take two items of a transaction.
NODES_PER_TRANSACTION = MAX_TRANSACTION_ITEMS // 2


class ExecutionJournal:
    """Node checkpoints and execution ends, each written with its event."""

    def __init__(self, records: ExecutionRecordStore, log: EventLog) -> None:
        self.records = records
        self.log = log

    def put_node(self, execution: ExecutionIdentity, record: NodeRecord, draft: EventDraft) -> None:
        """Raises :class:`CheckpointConflict` (nothing written) if the node's outcome is already recorded."""
        put = {"Put": self.records.node_put(execution.tenant_id, execution.execution_id, record)}
        try:
            self.log.append(execution, [draft], [put])
        except CompanionRejected as rejected:
            raise self.records.conflict(
                execution.tenant_id, execution.execution_id, record.node_id
            ) from rejected

    def put_nodes(
        self, execution: ExecutionIdentity, changes: list[tuple[NodeRecord, EventDraft]]
    ) -> list[str]:
        """Write many checkpoints with their events; returns the nodes whose outcome another attempt had
        recorded first (left as they were, without an event)."""
        latest = list({record.node_id: (record, draft) for record, draft in changes}.values())
        already: list[str] = []
        for start in range(0, len(latest), NODES_PER_TRANSACTION):
            chunk = latest[start : start + NODES_PER_TRANSACTION]
            puts = [
                {"Put": self.records.node_put(execution.tenant_id, execution.execution_id, record)}
                for record, _ in chunk
            ]
            appended = self.log.append(execution, [draft for _, draft in chunk], puts, drop_rejected=True)
            already += [chunk[index][0].node_id for index in appended.rejected]
        return already

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
        for start in range(0, len(drafts), MAX_TRANSACTION_ITEMS):
            self.log.append(execution, drafts[start : start + MAX_TRANSACTION_ITEMS])
