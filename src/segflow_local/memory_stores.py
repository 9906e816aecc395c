"""In-memory implementations of what the engine stores, for its unit tests and the benchmark's baselines.

Each class answers the engine's ports (:mod:`segflow.engine.ports`; mypy checks it at the end of this module)
with the calls and signatures of its adapter in :mod:`segflow.adapters`, and the behaviour the engine relies
on: a node's first outcome is final (a later write raises ``CheckpointConflict`` carrying
it), a segment's succeeded or failed outcome is not overwritten, the execution log numbers each execution's
events 1, 2, 3, … without a gap, a checkpoint and its event are stored together or not at all, the
execution's end is recorded once (then ``ExecutionFinished``), an approval is requested and decided once,
workflow versions are numbered from 1 and activated one change at a time. Nothing leaves the process: no
AWS, no moto.

Stored values are copies: changing a record after writing or reading it changes nothing stored, as with the
tables. Every store takes a lock, so runners in several threads may share one.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segflow.adapters.event_log import Appended
from segflow.adapters.journal import batches
from segflow.adapters.manifests import StageReads, SubmissionNotFound, plan_documents
from segflow.adapters.workflow_versions import utc_now
from segflow.domain import s3_layout
from segflow.domain.approvals import ApprovalNotPending, ApprovalNotRequested, ApprovalRecord, Decision
from segflow.domain.errors import CheckpointConflict, ExecutionFinished, ExecutionNotStarted
from segflow.domain.integrity import canonical_json, sha256_hex, verify_submission
from segflow.domain.limits import (
    DEFINITION_INLINE_MAX_BYTES,
    EVENT_PAGE_SIZE,
    EVENT_TEXT_MAX_CHARS,
    OUTPUT_INLINE_MAX_BYTES,
)
from segflow.domain.plan import PartitionPlan, SegmentBody, compact_json
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord, SegmentRecord, StoredOutput
from segflow.domain.stored_plan import PlanSummary
from segflow.events.models import EventDraft, ExecutionEvent, Progress
from segflow.versioning.errors import (
    ActiveVersionConflict,
    NoActiveVersion,
    NoPreviousVersion,
    VersionAlreadyActive,
    VersionNotFound,
    WorkflowNotFound,
)
from segflow.versioning.models import (
    ActivationEntry,
    ActivationKind,
    RollbackResult,
    VersionInfo,
    WorkflowSummary,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from segflow.engine import ports
    from segflow.nodes import services

# What ends a node: the statuses a later write may not replace (the tables' condition on NODE# items).
_NODE_OUTCOMES = frozenset({"succeeded", "failed", "skipped"})
# What ends a segment run: the statuses a later put_segment may not replace.
_SEGMENT_OUTCOMES = frozenset({"succeeded", "failed"})

_Key = tuple[str, str]


class MemoryExecutionRecords:
    """The executions table: one record per execution, per node and per segment run."""

    def __init__(self) -> None:
        # Shared with the event log and the journal over these records: a checkpoint and its event are one
        # change.
        self.lock = threading.RLock()
        self._executions: dict[_Key, ExecutionRecord] = {}
        self._nodes: dict[_Key, dict[str, NodeRecord]] = {}
        self._segments: dict[_Key, dict[tuple[int, str], SegmentRecord]] = {}

    # --- executions -------------------------------------------------------------------------------------

    def create_execution(self, record: ExecutionRecord) -> bool:
        """Create the execution once; False if it already existed (a retried initialization)."""
        key = (record.tenant_id, record.execution_id)
        with self.lock:
            if key in self._executions:
                return False
            self._executions[key] = record.model_copy(deep=True)
            return True

    def get_execution(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        with self.lock:
            found = self._executions.get((tenant_id, execution_id))
            return found.model_copy(deep=True) if found is not None else None

    def record_continuation(self, tenant_id: str, execution_id: str, part: int, execution_name: str) -> bool:
        """Note that part ``part`` of a running execution runs as ``execution_name``; False if that part was
        recorded already, or the execution is not running."""
        with self.lock:
            found = self._executions.get((tenant_id, execution_id))
            if found is None or found.status != "RUNNING" or found.parts >= part:
                return False
            found.parts, found.current_execution = part, execution_name
            return True

    def list_executions(
        self,
        tenant_id: str,
        limit: int,
        after: dict[str, Any] | None = None,
        workflow_id: str | None = None,
        status: str | None = None,
        max_reads: int = 10,
    ) -> tuple[list[ExecutionRecord], dict[str, Any] | None]:
        """Up to ``limit`` of the tenant's executions, newest first (by start, then id, as the table's index),
        of ``workflow_id`` and in ``status`` if given, after the position ``after``; and the position after
        the last one returned (None at the end). ``max_reads`` bounds the table's reads; here one suffices."""
        with self.lock:
            ordered = sorted(
                (r for (tenant, _), r in self._executions.items() if tenant == tenant_id),
                key=lambda r: f"{r.started_at}#{r.execution_id}",
                reverse=True,
            )
            if after is not None:
                ordered = [r for r in ordered if f"{r.started_at}#{r.execution_id}" < after["gsi1sk"]]
            matching = [
                r.model_copy(deep=True)
                for r in ordered
                if (workflow_id is None or r.workflow_id == workflow_id)
                and (status is None or r.status == status)
            ]
        page = matching[:limit]
        if len(matching) <= limit or not page:
            return page, None
        last = page[-1]
        return page, {"gsi1pk": f"TENANT#{tenant_id}", "gsi1sk": f"{last.started_at}#{last.execution_id}"}

    def _finish(self, tenant_id: str, execution_id: str, fields: dict[str, Any]) -> None:
        """Set the fields that end a running execution (the log's ``finish``, under the lock)."""
        key = (tenant_id, execution_id)
        current = self._executions[key]
        updates = {name: value for name, value in fields.items() if value is not None}
        self._executions[key] = ExecutionRecord.model_validate({**current.model_dump(), **updates})

    # --- nodes ------------------------------------------------------------------------------------------

    def put_node(self, tenant_id: str, execution_id: str, record: NodeRecord) -> None:
        """Write a node's record unless it holds an outcome already (succeeded, failed, skipped): then
        :class:`CheckpointConflict` carries the stored one and nothing is written."""
        with self.lock:
            self._check_no_outcome(tenant_id, execution_id, record.node_id)
            self._nodes.setdefault((tenant_id, execution_id), {})[record.node_id] = record.model_copy()

    def _check_no_outcome(self, tenant_id: str, execution_id: str, node_id: str) -> None:
        stored = self._nodes.get((tenant_id, execution_id), {}).get(node_id)
        if stored is not None and stored.status in _NODE_OUTCOMES:
            raise CheckpointConflict(stored.model_copy())

    def put_nodes(self, tenant_id: str, execution_id: str, records: list[NodeRecord]) -> None:
        """Write many node records without a condition (the table's batch write): the last of a node wins."""
        with self.lock:
            nodes = self._nodes.setdefault((tenant_id, execution_id), {})
            for record in records:
                nodes[record.node_id] = record.model_copy()

    def get_nodes(
        self,
        tenant_id: str,
        execution_id: str,
        node_ids: list[str],
        segments: Sequence[str] | None = None,
    ) -> dict[str, NodeRecord]:
        """The records of ``node_ids`` that exist (``segments`` helps the table find pages: not needed)."""
        with self.lock:
            nodes = self._nodes.get((tenant_id, execution_id), {})
            return {node_id: nodes[node_id].model_copy() for node_id in node_ids if node_id in nodes}

    def list_nodes(self, tenant_id: str, execution_id: str) -> list[NodeRecord]:
        """Every node record of the execution, by node id (the table's sort order)."""
        with self.lock:
            nodes = self._nodes.get((tenant_id, execution_id), {})
            return [nodes[node_id].model_copy() for node_id in sorted(nodes)]

    # --- segments ---------------------------------------------------------------------------------------

    def put_segment(self, tenant_id: str, execution_id: str, record: SegmentRecord) -> bool:
        """Record a segment's outcome; False (nothing written) if a succeeded or failed one is recorded."""
        with self.lock:
            segments = self._segments.setdefault((tenant_id, execution_id), {})
            stored = segments.get((record.stage, record.segment_id))
            if stored is not None and stored.status in _SEGMENT_OUTCOMES:
                return False
            segments[(record.stage, record.segment_id)] = record.model_copy()
            return True

    def list_segments(
        self, tenant_id: str, execution_id: str, stage: int, between: tuple[str, str] | None = None
    ) -> list[SegmentRecord]:
        """The segment records of one stage, by segment id (``between``: of the ids in that range)."""
        with self.lock:
            segments = self._segments.get((tenant_id, execution_id), {})
            return [
                record.model_copy()
                for (at, segment_id), record in sorted(segments.items())
                if at == stage and (between is None or between[0] <= segment_id <= between[1])
            ]


@dataclass
class _Counter:
    seq: int = 0
    completed: int = 0


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= EVENT_TEXT_MAX_CHARS:
        return text
    return text[: EVENT_TEXT_MAX_CHARS - 1] + "…"


class MemoryEventLog:
    """The execution log over :class:`MemoryExecutionRecords`: events numbered per execution from 1, without a
    gap (a change is numbered only once it is stored, so no number is ever closed empty), with the progress
    count each event carries."""

    def __init__(self, records: MemoryExecutionRecords) -> None:
        self.records = records
        self._events: dict[_Key, list[str]] = {}  # the JSON each event was stored as; seq n at index n-1
        self._counters: dict[_Key, _Counter] = {}

    # --- writing ------------------------------------------------------------------------------------------

    def append(
        self,
        execution: ExecutionIdentity,
        drafts: list[EventDraft],
        companions: list[dict[str, Any]] | None = None,
        finish: dict[str, Any] | None = None,
        completed: int | None = None,
    ) -> Appended:
        """Number and store ``drafts``. ``finish``: the fields that end the execution (status, finished_at,
        …), set with the event only while it is RUNNING, else :class:`ExecutionFinished` and nothing is
        stored. ``completed`` sets the progress count (the execution's end knows it exactly).

        ``companions`` (DynamoDB items written in the same transaction) have no meaning here: a node's record
        and its event go through :class:`MemoryJournal`, which stores both under one lock."""
        if companions:
            raise ValueError("the in-memory log stores no table items: write checkpoints with MemoryJournal")
        if not drafts:
            return Appended([])
        key = (execution.tenant_id, execution.execution_id)
        with self.records.lock:
            record = self.records._executions.get(key)
            if record is None:
                raise ExecutionNotStarted(f"execution {execution.execution_id} has no record")
            if finish is not None and record.status != "RUNNING":
                raise ExecutionFinished(f"execution {execution.execution_id} is {record.status}")
            events = self._number(execution, drafts, completed, record.node_count)
            self._events.setdefault(key, []).extend(
                event.model_dump_json(exclude_none=True) for event in events
            )
            if finish is not None:
                self.records._finish(execution.tenant_id, execution.execution_id, finish)
            return Appended(events)

    def _number(
        self, execution: ExecutionIdentity, drafts: list[EventDraft], completed: int | None, total: int
    ) -> list[ExecutionEvent]:
        counter = self._counters.setdefault((execution.tenant_id, execution.execution_id), _Counter())
        if completed is not None:
            counter.completed = completed
        events = []
        for draft in drafts:
            counter.seq += 1
            counter.completed += 1 if draft.completes_node else 0
            shown = min(counter.completed, total) if total else counter.completed
            events.append(
                ExecutionEvent(
                    event_id=f"{execution.execution_id}:{counter.seq}",
                    seq=counter.seq,
                    execution_id=execution.execution_id,
                    instance_id=execution.execution_id,
                    workflow_id=execution.workflow_id,
                    version=execution.version,
                    tenant_id=execution.tenant_id,
                    progress=Progress(completed=max(0, shown), total=total),
                    **{
                        **draft.model_dump(exclude={"completes_node"}),
                        "reason": _cut(draft.reason),
                        "error": _cut(draft.error),
                    },
                )
            )
        return events

    # --- reading ------------------------------------------------------------------------------------------

    def read(
        self, tenant_id: str, execution_id: str, after_seq: int = 0, limit: int = EVENT_PAGE_SIZE
    ) -> list[tuple[int, str | None]]:
        """Up to ``limit`` events after ``after_seq``, in order: (seq, the JSON the event was stored as)."""
        with self.records.lock:
            stored = self._events.get((tenant_id, execution_id), [])
            page = stored[after_seq : after_seq + limit]
        return [(after_seq + offset + 1, text) for offset, text in enumerate(page)]

    def read_all(self, tenant_id: str, execution_id: str, after_seq: int = 0) -> list[ExecutionEvent]:
        with self.records.lock:
            stored = list(self._events.get((tenant_id, execution_id), [])[after_seq:])
        return [ExecutionEvent.model_validate_json(text) for text in stored]

    def latest_seq(self, tenant_id: str, execution_id: str) -> int:
        with self.records.lock:
            return len(self._events.get((tenant_id, execution_id), []))


class MemoryJournal:
    """Checkpoints and their events, written together: a node's state change is in the records and the log, or
    in neither."""

    def __init__(self, records: MemoryExecutionRecords, log: MemoryEventLog) -> None:
        if log.records is not records:
            raise ValueError("the journal's log must number the events of the same records")
        self.records = records
        self.log = log

    def put_node(self, execution: ExecutionIdentity, record: NodeRecord, draft: EventDraft) -> None:
        """Raises :class:`CheckpointConflict` (nothing written) if the node's outcome is already recorded."""
        with self.records.lock:
            self.records._check_no_outcome(execution.tenant_id, execution.execution_id, record.node_id)
            self.log.append(execution, [draft])
            self.records.put_node(execution.tenant_id, execution.execution_id, record)

    def put_nodes(
        self, execution: ExecutionIdentity, changes: list[tuple[NodeRecord, EventDraft]]
    ) -> dict[str, NodeRecord]:
        """Write many checkpoints with their events (the table writes them in pages, in batches cut by
        :func:`segflow.adapters.journal.batches`); returns the outcomes recorded already, by node (those
        changes are left out, without an event)."""
        latest = list({record.node_id: (record, draft) for record, draft in changes}.values())
        already: dict[str, NodeRecord] = {}
        for batch in batches(latest):
            with self.records.lock:
                accepted: list[tuple[NodeRecord, EventDraft]] = []
                for record, draft in batch:
                    try:
                        self.records._check_no_outcome(
                            execution.tenant_id, execution.execution_id, record.node_id
                        )
                    except CheckpointConflict as conflict:
                        already[record.node_id] = conflict.stored
                        continue
                    accepted.append((record, draft))
                self.log.append(execution, [draft for _, draft in accepted])
                self.records.put_nodes(
                    execution.tenant_id, execution.execution_id, [record for record, _ in accepted]
                )
        return already

    def record_end(
        self,
        execution: ExecutionIdentity,
        draft: EventDraft,
        outcome: dict[str, Any],
        completed: int | None = None,
    ) -> None:
        """Record the execution's end (``outcome``: its status, finished_at, …) with its event; raises
        :class:`ExecutionFinished` (nothing written) if its end is recorded already."""
        self.log.append(execution, [draft], finish=outcome, completed=completed)

    def publish(self, execution: ExecutionIdentity, drafts: list[EventDraft]) -> None:
        self.log.append(execution, drafts)


class MemoryCheckpoints:
    """Node checkpoints without an event log, for a design that keeps none (the benchmark's fat statebag): a
    node's first outcome is still final."""

    def __init__(self, records: MemoryExecutionRecords) -> None:
        self.records = records

    def put_node(self, execution: ExecutionIdentity, record: NodeRecord, draft: EventDraft) -> None:
        """Raises :class:`CheckpointConflict` (nothing written) if the node's outcome is already recorded."""
        self.records.put_node(execution.tenant_id, execution.execution_id, record)

    def put_nodes(
        self, execution: ExecutionIdentity, changes: list[tuple[NodeRecord, EventDraft]]
    ) -> dict[str, NodeRecord]:
        """Returns the outcomes recorded already, by node (those changes are left out)."""
        already: dict[str, NodeRecord] = {}
        for record, _ in {record.node_id: (record, draft) for record, draft in changes}.values():
            try:
                self.records.put_node(execution.tenant_id, execution.execution_id, record)
            except CheckpointConflict as conflict:
                already[record.node_id] = conflict.stored
        return already


class MemoryOutputs:
    """Node outputs and execution data: inline when small, else an object keyed as in the bucket."""

    def __init__(self, inline_max_bytes: int = OUTPUT_INLINE_MAX_BYTES) -> None:
        self.inline_max_bytes = inline_max_bytes
        self._lock = threading.Lock()
        self.objects: dict[str, bytes] = {}  # key -> body, of the outputs too large to keep inline

    def save_node_output(self, tenant_id: str, execution_id: str, node_id: str, value: Any) -> StoredOutput:
        return self._save(
            lambda digest: s3_layout.node_output_key(tenant_id, execution_id, node_id, digest), value
        )

    def save_execution_data(
        self, tenant_id: str, execution_id: str, name: str, value: Any, inline_max_bytes: int | None = None
    ) -> StoredOutput:
        """The execution's input or result, inline up to ``inline_max_bytes`` (default: the store's)."""
        key = s3_layout.execution_data_key(tenant_id, execution_id, name)
        return self._save(lambda _digest: key, value, inline_max_bytes)

    def _save(
        self, key_for: Callable[[str], str], value: Any, inline_max_bytes: int | None = None
    ) -> StoredOutput:
        text = compact_json(value)
        data = text.encode()
        if len(data) <= (self.inline_max_bytes if inline_max_bytes is None else inline_max_bytes):
            return StoredOutput(inline_json=text, s3_key=None, size_bytes=len(data))
        key = key_for(hashlib.sha256(data).hexdigest())
        with self._lock:
            self.objects[key] = data
        return StoredOutput(inline_json=None, s3_key=key, size_bytes=len(data))

    def load(self, inline_json: str | None, s3_key: str | None) -> Any:
        if inline_json is not None:
            return json.loads(inline_json)
        if s3_key is not None:
            with self._lock:
                return json.loads(self.objects[s3_key])
        return None


class MemoryManifests(StageReads):
    """The bucket side of a run: submissions, the stored plan (same keys and documents as the bucket's, read
    the same way), and reference copies."""

    bucket = "memory"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.clock = clock  # when a plan summary is written (the bucket's LastModified)
        self.documents: dict[str, str] = {}  # key -> the JSON text stored there
        self.reference_only: set[str] = set()  # keys of reference copies: never read by the engine
        self.written_at: dict[str, float] = {}  # key -> when the plan summary there was written
        self.plan_writes = 0  # objects of plans and reference copies written (a PutObject each in S3)

    def _get_json(self, key: str) -> Any:
        with self._lock:
            text = self.documents.get(key)
        if text is None:
            raise KeyError(f"no object at {key}")
        return json.loads(text)

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        with self._lock:
            text = self.documents.get(key)
        if text is None:
            raise KeyError(f"no object at {key}")
        return text.encode()[start:end]

    def submit(self, tenant_id: str, kind: str, document: Any) -> str:
        """Upload a workflow or input the way the CLI does (content-addressed, under the tenant's
        submissions); returns its key."""
        text = canonical_json(document)
        key = s3_layout.submission_key(tenant_id, sha256_hex(text.encode()), kind)
        with self._lock:
            self.documents[key] = text
        return key

    def read_submission(self, tenant_id: str, key: str) -> Any:
        """A workflow or input uploaded for this tenant; keys of other tenants are refused."""
        allowed = f"{s3_layout.SUBMISSIONS}{tenant_id}/"
        if not key.startswith(allowed):
            raise PermissionError(f"s3_key must be under {allowed}")
        with self._lock:
            text = self.documents.get(key)
        if text is None:
            raise SubmissionNotFound(f"no submission at s3://{self.bucket}/{key}")
        verify_submission(key, text.encode())
        return json.loads(text)

    def write_plan(self, prefix: str, plan: PartitionPlan) -> list[dict[str, Any]]:
        writes, index = plan_documents(prefix, plan)
        with self._lock:
            self.documents.update(writes)
            self.plan_writes += len(writes)
        return index

    def write_reference_copy(self, key: str, document: Any) -> None:
        with self._lock:
            self.documents[key] = compact_json(document)
            self.reference_only.add(key)
            self.plan_writes += 1

    def read_plan_summary(self, prefix: str) -> tuple[PlanSummary, float] | None:
        key = s3_layout.plan_summary_key(prefix)
        with self._lock:
            text, written_at = self.documents.get(key), self.written_at.get(key, 0.0)
        return (PlanSummary.model_validate_json(text), written_at) if text is not None else None

    def write_plan_summary(self, prefix: str, summary: PlanSummary) -> None:
        key = s3_layout.plan_summary_key(prefix)
        with self._lock:
            self.documents[key] = summary.model_dump_json()
            self.written_at[key] = self.clock()
            self.plan_writes += 1

    def read_body(self, key: str) -> SegmentBody:
        return SegmentBody.model_validate(self._get_json(key))

    def read_sinks(self, prefix: str) -> list[str]:
        sinks: list[str] = self._get_json(s3_layout.sinks_key(prefix))
        return sinks

    def read_json(self, key: str) -> Any:
        return self._get_json(key)


class MemoryApprovals:
    """Approvals: requested once (a retried segment gets the stored request), decided once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._approvals: dict[tuple[str, str, str], ApprovalRecord] = {}

    def request(self, tenant_id: str, execution_id: str, record: ApprovalRecord) -> ApprovalRecord:
        key = (tenant_id, execution_id, record.node_id)
        with self._lock:
            stored = self._approvals.setdefault(key, record.model_copy(deep=True))
            return stored.model_copy(deep=True)

    def get(self, tenant_id: str, execution_id: str, node_id: str) -> ApprovalRecord | None:
        with self._lock:
            stored = self._approvals.get((tenant_id, execution_id, node_id))
            return stored.model_copy(deep=True) if stored is not None else None

    def attach_token(self, tenant_id: str, execution_id: str, node_id: str, token: str) -> ApprovalRecord:
        """Keep the waiting state's task token, unless decided already; returns the record."""
        with self._lock:
            stored = self._approvals.get((tenant_id, execution_id, node_id))
            if stored is None:
                raise ApprovalNotRequested(f"no approval was requested for node {node_id!r}")
            if not stored.decided:
                stored.task_token = token
            return stored.model_copy(deep=True)

    def decide(
        self,
        tenant_id: str,
        execution_id: str,
        node_id: str,
        decision: Decision,
        approver: str | None,
        comment: str | None,
        at: float,
        timed_out: bool = False,
    ) -> ApprovalRecord:
        """Decide a pending approval, once. Raises ApprovalNotRequested if there is none, ApprovalNotPending
        (with the decision) if it was decided."""
        with self._lock:
            stored = self._approvals.get((tenant_id, execution_id, node_id))
            if stored is None:
                raise ApprovalNotRequested(f"node {node_id!r} has no pending approval")
            if stored.decided:
                raise ApprovalNotPending(
                    f"node {node_id!r} was decided already: {stored.decision} by "
                    f"{stored.approver or 'timeout'}",
                    stored.model_copy(deep=True),
                )
            stored.decision, stored.decided_at, stored.timed_out = decision, at, timed_out
            stored.approver = approver or None
            stored.comment = comment or None
            return stored.model_copy(deep=True)


@dataclass
class _Workflow:
    tenant_id: str
    workflow_id: str
    name: str
    created_at: str
    updated_at: str
    updated_by: str
    versions: list[WorkflowVersion] = field(default_factory=list)  # version n at index n-1
    active: int | None = None
    previous_active: int | None = None
    history: list[ActivationEntry] = field(default_factory=list)  # seq n at index n-1

    def summary(self) -> WorkflowSummary:
        return WorkflowSummary(
            tenant_id=self.tenant_id,
            workflow_id=self.workflow_id,
            name=self.name,
            latest_version=len(self.versions),
            active_version=self.active,
            previous_active_version=self.previous_active,
            created_at=self.created_at,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


class MemoryWorkflowVersions:
    """Published workflow versions: immutable, numbered from 1, one active version, every change of it in
    the history; an activation request with an id takes effect once."""

    def __init__(
        self, clock: Callable[[], str] = utc_now, inline_max_bytes: int = DEFINITION_INLINE_MAX_BYTES
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.inline_max_bytes = inline_max_bytes
        self._workflows: dict[tuple[str, str], _Workflow] = {}
        self._requests: dict[tuple[str, str, str], RollbackResult] = {}

    def _workflow(self, tenant_id: str, workflow_id: str) -> _Workflow:
        found = self._workflows.get((tenant_id, workflow_id))
        if found is None:
            raise WorkflowNotFound(workflow_id)
        return found

    def get_workflow(self, tenant_id: str, workflow_id: str) -> WorkflowSummary:
        with self._lock:
            return self._workflow(tenant_id, workflow_id).summary()

    def list_workflows(self, tenant_id: str) -> list[WorkflowSummary]:
        with self._lock:
            return [
                wf.summary() for (tenant, _), wf in sorted(self._workflows.items()) if tenant == tenant_id
            ]

    def list_versions(self, tenant_id: str, workflow_id: str) -> list[VersionInfo]:
        with self._lock:
            versions = self._workflow(tenant_id, workflow_id).versions
            return [VersionInfo.model_validate(v.model_dump(exclude={"definition"})) for v in versions]

    def history(self, tenant_id: str, workflow_id: str) -> list[ActivationEntry]:
        with self._lock:
            return [entry.model_copy() for entry in self._workflow(tenant_id, workflow_id).history]

    def get_version(self, tenant_id: str, workflow_id: str, version: int) -> WorkflowVersion:
        with self._lock:
            versions = self._workflow(tenant_id, workflow_id).versions
            if not 1 <= version <= len(versions):
                raise VersionNotFound(workflow_id, version)
            return versions[version - 1].model_copy(deep=True)

    def resolve(self, tenant_id: str, workflow_id: str, version: int | None = None) -> WorkflowVersion:
        """The version asked for, or the active one: what an execution pins when it starts."""
        if version is None:
            with self._lock:
                version = self._workflow(tenant_id, workflow_id).active
            if version is None:
                raise NoActiveVersion(workflow_id)
        return self.get_version(tenant_id, workflow_id, version)

    def publish(
        self,
        tenant_id: str,
        definition: dict[str, Any],
        created_by: str,
        message: str = "",
        activate: bool = True,
        expected_active_version: int | None = None,
    ) -> tuple[VersionInfo, WorkflowSummary]:
        """Store ``definition`` (already validated) as the next version; activate it unless told not to."""
        workflow_id = definition["workflow_id"]
        text = canonical_json(definition)
        data = text.encode()
        sha256 = sha256_hex(data)
        large = len(data) > self.inline_max_bytes
        with self._lock:
            now = self._clock()
            name = definition.get("name") or workflow_id
            wf = self._workflows.get((tenant_id, workflow_id))
            active = wf.active if wf is not None else None
            if expected_active_version is not None and active != expected_active_version:
                raise ActiveVersionConflict(workflow_id, expected_active_version, active)
            if wf is None:
                wf = _Workflow(tenant_id, workflow_id, name, now, now, created_by)
                self._workflows[(tenant_id, workflow_id)] = wf
            version = WorkflowVersion(
                workflow_id=workflow_id,
                version=len(wf.versions) + 1,
                name=name,
                description=definition.get("description", ""),
                sha256=sha256,
                size_bytes=len(data),
                node_count=len(definition.get("nodes", [])),
                edge_count=len(definition.get("edges", [])),
                created_by=created_by,
                created_at=now,
                message=message,
                definition_key=s3_layout.workflow_definition_key(tenant_id, workflow_id, sha256)
                if large
                else None,
                definition=json.loads(text),
            )
            wf.versions.append(version)
            wf.name, wf.updated_at, wf.updated_by = name, now, created_by
            if activate:
                self._activate(wf, version.version, "publish", message, created_by, now)
            info = VersionInfo.model_validate(version.model_dump(exclude={"definition"}))
            return info, wf.summary()

    def _activate(
        self, wf: _Workflow, to_version: int, kind: ActivationKind, reason: str, by: str, at: str
    ) -> ActivationEntry:
        entry = ActivationEntry(
            seq=len(wf.history) + 1,
            kind=kind,
            from_version=wf.active,
            to_version=to_version,
            reason=reason,
            by=by,
            at=at,
        )
        wf.history.append(entry)
        wf.previous_active, wf.active = wf.active, to_version
        wf.updated_at, wf.updated_by = at, by
        return entry

    def rollback(
        self,
        tenant_id: str,
        workflow_id: str,
        by: str,
        to_version: int | None = None,
        reason: str = "",
        expected_active_version: int | None = None,
        request_id: str | None = None,
    ) -> RollbackResult:
        """Make ``to_version`` (default: the previously active version) active again."""
        return self._change_active(
            tenant_id, workflow_id, to_version, by, reason, expected_active_version, request_id, "rollback"
        )

    def activate(
        self,
        tenant_id: str,
        workflow_id: str,
        version: int,
        by: str,
        reason: str = "",
        expected_active_version: int | None = None,
    ) -> RollbackResult:
        return self._change_active(
            tenant_id, workflow_id, version, by, reason, expected_active_version, None, "activate"
        )

    def _change_active(
        self,
        tenant_id: str,
        workflow_id: str,
        to_version: int | None,
        by: str,
        reason: str,
        expected_active_version: int | None,
        request_id: str | None,
        kind: ActivationKind,
    ) -> RollbackResult:
        with self._lock:
            if request_id is not None:
                done = self._requests.get((tenant_id, workflow_id, request_id))
                if done is not None:  # this request already took effect: report it again, change nothing
                    return done.model_copy()
            wf = self._workflow(tenant_id, workflow_id)
            if expected_active_version is not None and wf.active != expected_active_version:
                raise ActiveVersionConflict(workflow_id, expected_active_version, wf.active)
            target = to_version if to_version is not None else wf.previous_active
            if target is None:
                raise NoPreviousVersion(workflow_id)
            if not 1 <= target <= len(wf.versions):
                raise VersionNotFound(workflow_id, target)
            if target == wf.active:
                raise VersionAlreadyActive(workflow_id, target)
            previous = wf.active
            entry = self._activate(wf, target, kind, reason, by, self._clock())
            result = RollbackResult(
                workflow_id=workflow_id,
                rolled_back_to_version=target,
                previous_version=previous,
                history_seq=entry.seq,
            )
            if request_id is not None:
                self._requests[(tenant_id, workflow_id, request_id)] = result
            return result.model_copy()


if TYPE_CHECKING:  # mypy checks that each store answers the engine's ports and the nodes' services

    def _answers_the_ports(
        records: MemoryExecutionRecords,
        journal: MemoryJournal,
        checkpoints: MemoryCheckpoints,
        outputs: MemoryOutputs,
        manifests: MemoryManifests,
        approvals: MemoryApprovals,
        versions: MemoryWorkflowVersions,
    ) -> None:
        _records: ports.ExecutionRecords = records
        _journal: ports.Checkpoints = journal
        _log: ports.ExecutionLog = journal
        _checkpoints: ports.Checkpoints = checkpoints
        _outputs: ports.NodeOutputs = outputs
        _plans: ports.PlanStore = manifests
        _versions: ports.WorkflowVersions = versions
        _pages: ports.EventPages = journal.log
        _approvals: services.Approvals = approvals
        _activation: services.WorkflowActivation = versions
