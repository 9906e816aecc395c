"""The in-memory stores answer as the adapters do: same calls, same conditional writes, same numbering."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from segflow.adapters.approvals import ApprovalStore
from segflow.adapters.event_log import EventLog
from segflow.adapters.execution_records import ExecutionRecordStore
from segflow.adapters.journal import ExecutionJournal
from segflow.adapters.manifests import ManifestStore, SubmissionNotFound
from segflow.adapters.outputs import NodeOutputStore
from segflow.adapters.workflow_versions import WorkflowVersionStore
from segflow.domain.approvals import ApprovalNotPending, ApprovalNotRequested, ApprovalRecord
from segflow.domain.errors import CheckpointConflict, ExecutionFinished, ExecutionNotStarted
from segflow.domain.limits import OUTPUT_INLINE_MAX_BYTES
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord, SegmentRecord
from segflow.events.models import EventDraft
from segflow.versioning.errors import (
    ActiveVersionConflict,
    NoActiveVersion,
    NoPreviousVersion,
    VersionAlreadyActive,
    VersionNotFound,
    WorkflowNotFound,
)

from segflow_local.memory_stores import (
    MemoryApprovals,
    MemoryCheckpoints,
    MemoryEventLog,
    MemoryExecutionRecords,
    MemoryJournal,
    MemoryManifests,
    MemoryOutputs,
    MemoryWorkflowVersions,
)

PAIRS: list[tuple[type, type]] = [
    (MemoryExecutionRecords, ExecutionRecordStore),
    (MemoryEventLog, EventLog),
    (MemoryJournal, ExecutionJournal),
    (MemoryOutputs, NodeOutputStore),
    (MemoryManifests, ManifestStore),
    (MemoryApprovals, ApprovalStore),
    (MemoryWorkflowVersions, WorkflowVersionStore),
]
# What an adapter has that its in-memory twin does not, and why nothing needs it.
ADAPTER_ONLY = {
    "node_put": "a TransactWriteItems entry, for the DynamoDB journal",
    "node_pages": "TransactWriteItems entries of pages of node records, for the DynamoDB journal",
    "segment_nodes": "reads the pages a DynamoDB page write found taken (in memory: each node is checked)",
    "conflict": "reads the stored outcome after a failed DynamoDB condition",
    "finish_execution": "called by nothing: the log's finish ends an execution",
    "seal": "closes numbers a dead writer left open; the in-memory log numbers only what it stores",
    "link": "a presigned S3 URL, for the management API's answers: nothing in memory serves URLs",
    **dict.fromkeys(
        (
            "claim_resume",
            "take_over_resume",
            "release_resume",
            "resume_claim",
            "record_launch",
            "get_launch",
            "publish_keyed",
            "published",
            "request_keys",
        ),
        "the management API's (one resume per failure, reads right after a start, Idempotency-Key): the "
        "executions and workflows services run on DynamoDB only, never on the engine's in-memory stores",
    ),
}
MEMORY_ONLY = {"submit": "uploads a submission, as the CLI does with a put_object"}

EXECUTION = ExecutionIdentity("t", "e-1", "wf", None)


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__[:-1]):
        methods.update({n: f for n, f in vars(klass).items() if not n.startswith("_") and callable(f)})
    return methods


def parameters(method: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    signature = inspect.signature(method)
    params = [(p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values()][1:]
    return [*params, ("return", None, None, signature.return_annotation)]


@pytest.mark.parametrize(("memory", "adapter"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_each_store_answers_the_calls_of_its_adapter_with_the_same_signatures(
    memory: type, adapter: type
) -> None:
    ours, theirs = public_methods(memory), public_methods(adapter)

    assert sorted(set(theirs) - set(ours) - set(ADAPTER_ONLY)) == []
    assert sorted(set(ours) - set(theirs) - set(MEMORY_ONLY)) == []
    for name in set(ours) & set(theirs):
        assert parameters(ours[name]) == parameters(theirs[name]), name


def started_records(node_count: int = 3) -> MemoryExecutionRecords:
    records = MemoryExecutionRecords()
    records.create_execution(
        ExecutionRecord(
            tenant_id="t", execution_id="e-1", workflow_id="wf", started_at="now", node_count=node_count
        )
    )
    return records


def node(node_id: str, status: str, **fields: Any) -> NodeRecord:
    return NodeRecord(node_id=node_id, segment_id="s1", stage=0, type="transform", status=status, **fields)  # type: ignore[arg-type]


def draft(node_id: str | None = None, new_state: str = "running", completes: bool = False) -> EventDraft:
    kind = "node" if node_id else "execution"
    return EventDraft(
        kind=kind,
        node_id=node_id,
        previous_state="pending",
        new_state=new_state,
        timestamp=1.0,
        completes_node=completes,
    )


# --- execution records ------------------------------------------------------------------------------------


def test_a_node_s_first_outcome_is_final_and_the_conflict_carries_it() -> None:
    records = started_records()
    records.put_node("t", "e-1", node("a", "running", attempt=1))
    records.put_node("t", "e-1", node("a", "running", attempt=2))  # no outcome yet: may be written again
    records.put_node("t", "e-1", node("a", "succeeded", output_json='"first"'))

    with pytest.raises(CheckpointConflict) as conflict:
        records.put_node("t", "e-1", node("a", "failed", error_type="Late"))

    assert conflict.value.stored.output_json == '"first"'
    assert records.get_nodes("t", "e-1", ["a"])["a"].status == "succeeded"


def test_a_segment_s_outcome_is_not_overwritten_but_a_pause_is() -> None:
    records = started_records()
    assert records.put_segment("t", "e-1", SegmentRecord(segment_id="s1", stage=0, status="yielded"))
    assert records.put_segment("t", "e-1", SegmentRecord(segment_id="s1", stage=0, status="succeeded"))
    assert not records.put_segment("t", "e-1", SegmentRecord(segment_id="s1", stage=0, status="failed"))
    assert [r.status for r in records.list_segments("t", "e-1", 0)] == ["succeeded"]
    assert records.list_segments("t", "e-1", 1) == []


def test_what_is_read_is_a_copy_as_from_a_table() -> None:
    records = started_records()
    records.put_node("t", "e-1", node("a", "running"))
    records.get_nodes("t", "e-1", ["a"])["a"].status = "succeeded"
    execution = records.get_execution("t", "e-1")
    assert execution is not None
    execution.status = "FAILED"

    assert records.get_nodes("t", "e-1", ["a"])["a"].status == "running"
    stored = records.get_execution("t", "e-1")
    assert stored is not None and stored.status == "RUNNING"
    assert records.create_execution(execution) is False, "created once"


# --- the log and the journal ------------------------------------------------------------------------------


def test_events_are_numbered_from_one_without_a_gap_with_their_progress() -> None:
    log = MemoryEventLog(started_records(node_count=2))
    log.append(EXECUTION, [draft()])
    log.append(EXECUTION, [draft("a", "succeeded", completes=True), draft("b", "succeeded", completes=True)])
    log.append(EXECUTION, [draft("c", "succeeded", completes=True)])  # a third completion: shown capped

    events = log.read_all("t", "e-1")

    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.progress.completed for e in events] == [0, 1, 2, 2]
    assert log.latest_seq("t", "e-1") == 4
    assert [seq for seq, _ in log.read("t", "e-1", after_seq=1, limit=2)] == [2, 3]


def test_nothing_is_logged_for_an_execution_that_has_no_record() -> None:
    with pytest.raises(ExecutionNotStarted):
        MemoryEventLog(MemoryExecutionRecords()).append(EXECUTION, [draft()])


def test_the_end_is_recorded_once_with_its_event() -> None:
    records = started_records()
    log = MemoryEventLog(records)
    log.append(
        EXECUTION, [draft(None, "succeeded")], finish={"status": "SUCCEEDED", "error": None}, completed=3
    )

    with pytest.raises(ExecutionFinished):
        log.append(EXECUTION, [draft(None, "failed")], finish={"status": "FAILED"})

    assert [e.new_state for e in log.read_all("t", "e-1")] == ["succeeded"]
    assert log.read_all("t", "e-1")[0].progress.completed == 3
    record = records.get_execution("t", "e-1")
    assert record is not None and (record.status, record.error) == ("SUCCEEDED", None)


def test_a_checkpoint_refused_by_the_first_outcome_leaves_no_event() -> None:
    records = started_records()
    journal = MemoryJournal(records, MemoryEventLog(records))
    journal.put_node(EXECUTION, node("a", "succeeded"), draft("a", "succeeded"))

    with pytest.raises(CheckpointConflict):
        journal.put_node(EXECUTION, node("a", "failed"), draft("a", "failed"))
    already = journal.put_nodes(
        EXECUTION,
        [(node("a", "skipped"), draft("a", "skipped")), (node("b", "succeeded"), draft("b", "succeeded"))],
    )

    assert {node_id: r.status for node_id, r in already.items()} == {"a": "succeeded"}
    assert [(e.node_id, e.new_state) for e in journal.log.read_all("t", "e-1")] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
    ]


def test_writers_at_once_still_get_every_number_once() -> None:
    records = started_records(node_count=400)
    journal = MemoryJournal(records, MemoryEventLog(records))

    def write(index: int) -> None:
        journal.put_node(
            EXECUTION, node(f"n{index}", "succeeded"), draft(f"n{index}", "succeeded", completes=True)
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(400)))

    events = journal.log.read_all("t", "e-1")
    assert [e.seq for e in events] == list(range(1, 401))
    assert [e.progress.completed for e in events] == list(range(1, 401))
    assert len({e.node_id for e in events}) == 400


# --- outputs and manifests --------------------------------------------------------------------------------


def test_outputs_stay_inline_up_to_the_threshold_and_are_stored_beyond_it() -> None:
    outputs = MemoryOutputs()
    small = outputs.save_node_output("t", "e-1", "a", {"x": 1})
    large = outputs.save_node_output("t", "e-1", "b", "y" * OUTPUT_INLINE_MAX_BYTES)

    assert (small.inline_json, small.s3_key) == ('{"x":1}', None)
    assert large.inline_json is None and large.s3_key is not None and "/nodes/b/" in large.s3_key
    assert outputs.load(large.inline_json, large.s3_key) == "y" * OUTPUT_INLINE_MAX_BYTES


def test_a_submission_is_read_only_by_its_tenant() -> None:
    manifests = MemoryManifests()
    key = manifests.submit("t", "workflows", {"workflow_id": "wf"})

    assert manifests.read_submission("t", key) == {"workflow_id": "wf"}
    with pytest.raises(PermissionError):
        manifests.read_submission("other", key)
    with pytest.raises(SubmissionNotFound):
        manifests.read_submission("t", "submissions/t/workflows/missing.json")


# --- approvals --------------------------------------------------------------------------------------------


def test_an_approval_is_requested_once_and_decided_once() -> None:
    approvals = MemoryApprovals()
    first = ApprovalRecord(
        node_id="ok", message="Go?", requested_at=1, deadline=61, default_decision="reject"
    )
    assert approvals.request("t", "e-1", first) == first
    assert approvals.request("t", "e-1", first.model_copy(update={"requested_at": 5})).requested_at == 1

    decided = approvals.decide("t", "e-1", "ok", "approve", "alice", None, at=10)
    with pytest.raises(ApprovalNotPending) as late:
        approvals.decide("t", "e-1", "ok", "reject", None, None, at=61, timed_out=True)
    token = approvals.attach_token("t", "e-1", "ok", "token-1")

    assert (decided.decision, decided.approver) == ("approve", "alice")
    assert late.value.record is not None and late.value.record.decision == "approve"
    assert token.task_token is None, "a decided approval needs no token: the caller completes it at once"
    with pytest.raises(ApprovalNotRequested):
        approvals.decide("t", "e-1", "missing", "approve", "alice", None, at=10)


# --- workflow versions ------------------------------------------------------------------------------------


def definition(name: str = "one") -> dict[str, Any]:
    return {"workflow_id": "wf", "name": name, "nodes": [{"node_id": "a", "type": "transform"}], "edges": []}


def test_versions_are_numbered_from_one_and_the_active_one_resolves() -> None:
    versions = MemoryWorkflowVersions(clock=lambda: "2026-01-01T00:00:00.000Z")
    with pytest.raises(WorkflowNotFound):
        versions.resolve("t", "wf")
    versions.publish("t", definition("one"), "alice", activate=False)
    with pytest.raises(NoActiveVersion):
        versions.resolve("t", "wf")

    second, summary = versions.publish("t", definition("two"), "bob", message="ship")

    assert (second.version, summary.latest_version, summary.active_version) == (2, 2, 2)
    assert versions.resolve("t", "wf").definition["name"] == "two"
    assert versions.resolve("t", "wf", 1).definition["name"] == "one"
    assert [v.version for v in versions.list_versions("t", "wf")] == [1, 2]
    with pytest.raises(VersionNotFound):
        versions.get_version("t", "wf", 3)
    with pytest.raises(ActiveVersionConflict):
        versions.publish("t", definition("three"), "carol", expected_active_version=1)


def test_a_rollback_returns_to_the_version_active_before_and_a_retried_request_changes_nothing() -> None:
    versions = MemoryWorkflowVersions()
    versions.publish("t", definition("one"), "alice")
    with pytest.raises(NoPreviousVersion):
        versions.rollback("t", "wf", "ops")
    versions.publish("t", definition("two"), "alice")

    result = versions.rollback("t", "wf", "ops", reason="errors", request_id="r-1")
    retried = versions.rollback("t", "wf", "ops", reason="errors", request_id="r-1")

    assert (result.rolled_back_to_version, result.previous_version) == (1, 2)
    assert retried == result
    assert [(h.kind, h.from_version, h.to_version) for h in versions.history("t", "wf")] == [
        ("publish", None, 1),
        ("publish", 1, 2),
        ("rollback", 2, 1),
    ]
    with pytest.raises(VersionAlreadyActive):
        versions.activate("t", "wf", 1, "ops")


def test_checkpoints_without_a_log_still_keep_the_first_outcome() -> None:
    records = started_records()
    checkpoints = MemoryCheckpoints(records)
    checkpoints.put_node(EXECUTION, node("a", "succeeded", output_json='"first"'), draft("a", "succeeded"))

    with pytest.raises(CheckpointConflict):
        checkpoints.put_node(EXECUTION, node("a", "failed"), draft("a", "failed"))
    already = checkpoints.put_nodes(
        EXECUTION,
        [(node("a", "skipped"), draft("a", "skipped")), (node("b", "running"), draft("b", "running"))],
    )

    assert {node_id: r.output_json for node_id, r in already.items()} == {"a": '"first"'}
    assert {r.node_id: r.status for r in records.list_nodes("t", "e-1")} == {"a": "succeeded", "b": "running"}
