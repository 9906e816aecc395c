"""The in-memory stores and the real adapters (on the embedded DynamoDB) answer the same scenarios alike.

The engine's unit tests run over :mod:`segflow_local.memory_stores`; what they prove holds for the deployed
engine only where the in-memory stores behave as the adapters do. Each scenario here runs against both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from segflow.adapters import factory
from segflow.declaration import EXECUTE_SEGMENT
from segflow.domain.approvals import ApprovalNotPending, ApprovalNotRequested, ApprovalRecord
from segflow.domain.errors import CheckpointConflict, ExecutionNotStarted
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord, SegmentRecord
from segflow.engine.execution_events import finish
from segflow.events.models import EventDraft

from segflow_local.embedded import EmbeddedAws
from segflow_local.memory_stores import MemoryApprovals, MemoryEventLog, MemoryExecutionRecords, MemoryJournal


@dataclass
class Stores:
    records: Any
    journal: Any
    approvals: Any
    execution: ExecutionIdentity

    def start(self, node_count: int = 3) -> None:
        started = ExecutionRecord(
            tenant_id=self.execution.tenant_id,
            execution_id=self.execution.execution_id,
            workflow_id=self.execution.workflow_id,
            started_at="2026-01-01T00:00:00+00:00",
            node_count=node_count,
        )
        assert self.records.create_execution(started)

    def events(self) -> list[tuple[str | None, str]]:
        found = self.journal.log.read_all(self.execution.tenant_id, self.execution.execution_id)
        seqs = [e.seq for e in found]
        assert seqs == sorted(set(seqs)), "in order, each number once"
        return [(e.node_id, e.new_state) for e in found]


@pytest.fixture(params=["memory", "embedded"])
def stores(request: pytest.FixtureRequest) -> Stores:
    execution = ExecutionIdentity("parity", f"e-{uuid.uuid4().hex[:12]}", "wf", None)
    if request.param == "memory":
        records = MemoryExecutionRecords()
        return Stores(records, MemoryJournal(records, MemoryEventLog(records)), MemoryApprovals(), execution)
    embedded: EmbeddedAws = request.getfixturevalue("embedded")
    with embedded.running_as(EXECUTE_SEGMENT.logical_id):
        adapter = factory.execution_records()
        return Stores(adapter, factory.journal(adapter), factory.approvals(), execution)


def node(node_id: str, status: str, **fields: Any) -> NodeRecord:
    return NodeRecord(node_id=node_id, segment_id="s1", stage=0, type="transform", status=status, **fields)


def draft(node_id: str | None, new_state: str, completes: bool = False) -> EventDraft:
    return EventDraft(
        kind="node" if node_id else "execution",
        node_id=node_id,
        previous_state="pending",
        new_state=new_state,
        timestamp=1.0,
        completes_node=completes,
    )


def test_a_node_s_first_outcome_is_final_and_its_event_the_only_end(stores: Stores) -> None:
    stores.start()
    for status, attempt in (("running", 1), ("running", 2), ("succeeded", 2)):
        record = node("a", status, attempt=attempt, output_json='"first"' if status == "succeeded" else None)
        stores.journal.put_node(stores.execution, record, draft("a", status))

    with pytest.raises(CheckpointConflict) as conflict:
        stores.journal.put_node(stores.execution, node("a", "failed"), draft("a", "failed"))

    assert (conflict.value.stored.status, conflict.value.stored.output_json) == ("succeeded", '"first"')
    assert stores.events() == [("a", "running"), ("a", "running"), ("a", "succeeded")]


def test_a_batch_leaves_out_the_nodes_decided_already(stores: Stores) -> None:
    # Given one attempt of a segment that recorded its first node (a batch: the table writes it as a page)
    stores.start()
    assert stores.journal.put_nodes(stores.execution, [(node("a", "skipped"), draft("a", "skipped"))]) == {}

    # When another attempt of the segment records what it ran from there
    already = stores.journal.put_nodes(
        stores.execution,
        [
            (node("a", "succeeded"), draft("a", "succeeded")),
            (node("b", "succeeded"), draft("b", "succeeded")),
        ],
    )

    # Then the first outcome stands, without a second event, and what it did not reach is stored after it
    assert {node_id: record.status for node_id, record in already.items()} == {"a": "skipped"}
    tenant, execution_id = stores.execution.tenant_id, stores.execution.execution_id
    assert {r.node_id: r.status for r in stores.records.list_nodes(tenant, execution_id)} == {
        "a": "skipped",
        "b": "succeeded",
    }
    assert stores.events() == [("a", "skipped"), ("b", "succeeded")]


def test_a_segment_s_outcome_stands_but_a_pause_is_replaced(stores: Stores) -> None:
    tenant, execution_id = stores.execution.tenant_id, stores.execution.execution_id
    written = [
        stores.records.put_segment(
            tenant, execution_id, SegmentRecord(segment_id="s1", stage=2, status=status)
        )
        for status in ("waiting", "succeeded", "failed")
    ]

    assert written == [True, True, False]
    assert [r.status for r in stores.records.list_segments(tenant, execution_id, 2)] == ["succeeded"]


def test_the_end_is_recorded_once_with_the_progress_it_knows(stores: Stores) -> None:
    stores.start(node_count=2)
    stores.journal.publish(
        stores.execution, [draft(None, "running"), draft("a", "succeeded", completes=True)]
    )

    ended = [
        finish(
            stores.journal,
            stores.execution,
            "2026-01-01T00:00:00+00:00",
            status,
            {"finished_at": "t"},
            completed=2,
        )
        for status in ("SUCCEEDED", "FAILED")
    ]

    assert ended == [True, False]
    found = stores.journal.log.read_all(stores.execution.tenant_id, stores.execution.execution_id)
    assert [(e.new_state, e.progress.completed, e.progress.total) for e in found] == [
        ("running", 0, 2),
        ("succeeded", 1, 2),
        ("succeeded", 2, 2),
    ]
    record = stores.records.get_execution(stores.execution.tenant_id, stores.execution.execution_id)
    assert record is not None and (record.status, record.finished_at) == ("SUCCEEDED", "t")


def test_nothing_is_logged_for_an_execution_without_a_record(stores: Stores) -> None:
    with pytest.raises(ExecutionNotStarted):
        stores.journal.publish(stores.execution, [draft(None, "running")])


def test_an_approval_is_asked_once_and_decided_once(stores: Stores) -> None:
    tenant, execution_id = stores.execution.tenant_id, stores.execution.execution_id
    asked = ApprovalRecord(
        node_id="ok", message="Go?", requested_at=1.0, deadline=61.0, default_decision="reject"
    )
    first = stores.approvals.request(tenant, execution_id, asked)
    retried = stores.approvals.request(tenant, execution_id, asked.model_copy(update={"requested_at": 5.0}))
    decided = stores.approvals.decide(tenant, execution_id, "ok", "approve", "alice", "fine", 10.0)

    with pytest.raises(ApprovalNotPending) as late:
        stores.approvals.decide(tenant, execution_id, "ok", "reject", None, None, 61.0, timed_out=True)
    token = stores.approvals.attach_token(tenant, execution_id, "ok", "token-1")

    assert (first.requested_at, retried.requested_at) == (1.0, 1.0)
    assert (decided.decision, decided.approver, decided.comment, decided.timed_out) == (
        "approve",
        "alice",
        "fine",
        False,
    )
    assert late.value.record is not None and late.value.record.decision == "approve"
    assert token.task_token is None and token.decision == "approve"
    with pytest.raises(ApprovalNotRequested):
        stores.approvals.attach_token(tenant, execution_id, "unknown", "token-2")


def test_a_tenant_s_executions_are_listed_newest_first_a_page_at_a_time(stores: Stores) -> None:
    tenant = f"list-{uuid.uuid4().hex[:8]}"
    for index, (workflow_id, status) in enumerate([("a", "SUCCEEDED"), ("b", "RUNNING"), ("a", "RUNNING")]):
        record = ExecutionRecord(
            tenant_id=tenant,
            execution_id=f"e-{index}",
            workflow_id=workflow_id,
            started_at=f"2026-01-01T00:00:0{index}+00:00",
            status=status,
        )
        assert stores.records.create_execution(record)

    first, position = stores.records.list_executions(tenant, limit=2)
    rest, end = stores.records.list_executions(tenant, limit=2, after=position)
    of_a, _ = stores.records.list_executions(tenant, limit=10, workflow_id="a")
    running_a, _ = stores.records.list_executions(tenant, limit=10, workflow_id="a", status="RUNNING")

    assert [r.execution_id for r in first] == ["e-2", "e-1"] and position is not None
    assert ([r.execution_id for r in rest], end) == (["e-0"], None)
    assert [r.execution_id for r in of_a] == ["e-2", "e-0"]
    assert [r.execution_id for r in running_a] == ["e-2"]
