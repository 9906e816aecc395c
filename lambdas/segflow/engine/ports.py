"""What the engine stores and calls, as small interfaces: the adapters (DynamoDB, S3, Step Functions, API
Gateway) satisfy them structurally, the handlers hand them in, and tests may pass in-memory ones.

Each Protocol lists exactly the methods the engine uses. What a node may touch is in
:class:`segflow.nodes.services.NodeServices` (approvals too: the runner handles approval nodes with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from segflow.domain.plan import PartitionPlan, SegmentBody
from segflow.domain.records import (
    ExecutionIdentity,
    ExecutionRecord,
    NodeRecord,
    SegmentRecord,
    StoredOutput,
)
from segflow.domain.stage_layout import BatchRef, StageEntry
from segflow.domain.stored_plan import PlanSummary
from segflow.domain.watchers import Feed
from segflow.events.models import EventDraft

# --- execution records --------------------------------------------------------------------------------------


class SegmentRecords(Protocol):
    """What the segment runner reads and writes of the records, besides its checkpoints."""

    def get_execution(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None: ...

    def get_nodes(
        self,
        tenant_id: str,
        execution_id: str,
        node_ids: list[str],
        segments: Sequence[str] | None = None,
    ) -> dict[str, NodeRecord]:
        """The records of ``node_ids`` that exist; ``segments``: the segments they belong to, when known
        (where pure nodes' pages are)."""
        ...

    def put_segment(self, tenant_id: str, execution_id: str, record: SegmentRecord) -> bool:
        """Record a segment's outcome; False (nothing written) if another attempt's outcome stands."""
        ...

    def list_segments(
        self, tenant_id: str, execution_id: str, stage: int, between: tuple[str, str] | None = None
    ) -> list[SegmentRecord]:
        """The stage's segment records; ``between``: only those whose segment ids are in that range (both
        ends included)."""
        ...


class ExecutionRecords(SegmentRecords, Protocol):
    """The execution's record, its nodes' checkpoints and its segments' outcomes."""

    def create_execution(self, record: ExecutionRecord) -> bool:
        """Create the execution's record once; False if it existed (a retried initialization)."""
        ...

    def put_nodes(self, tenant_id: str, execution_id: str, records: list[NodeRecord]) -> None:
        """Write node records without events (those a resumed execution reuses)."""
        ...

    def list_nodes(self, tenant_id: str, execution_id: str) -> list[NodeRecord]: ...


class Checkpoints(Protocol):
    """Node checkpoints, each written together with its event, or not at all."""

    def put_node(self, execution: ExecutionIdentity, record: NodeRecord, draft: EventDraft) -> None:
        """Raises :class:`~segflow.domain.errors.CheckpointConflict` (nothing written) if the node's outcome
        is already recorded."""
        ...

    def put_nodes(
        self, execution: ExecutionIdentity, changes: list[tuple[NodeRecord, EventDraft]]
    ) -> dict[str, NodeRecord]:
        """Write the changes (of pure nodes and skips, in the order they were reached) in one batch or a
        few. Returns the outcomes another attempt had recorded first, by node (left as they were)."""
        ...


class ExecutionLog(Protocol):
    """Execution-level events: its start (and the nodes a resume reuses), and its end with its outcome."""

    def publish(self, execution: ExecutionIdentity, drafts: list[EventDraft]) -> None: ...

    def record_end(
        self,
        execution: ExecutionIdentity,
        draft: EventDraft,
        outcome: dict[str, Any],
        completed: int | None = None,
    ) -> None:
        """Write the outcome (status, finished_at, … on the execution's record) with the event; raises
        :class:`~segflow.domain.errors.ExecutionFinished` if the end is recorded already."""
        ...


# --- the bucket ---------------------------------------------------------------------------------------------


class NodeOutputs(Protocol):
    """Node outputs and the execution's input and result: inline when small, else in the bucket."""

    def load(self, inline_json: str | None, s3_key: str | None) -> Any: ...

    def save_node_output(
        self, tenant_id: str, execution_id: str, node_id: str, value: Any
    ) -> StoredOutput: ...

    def save_execution_data(
        self, tenant_id: str, execution_id: str, name: str, value: Any, inline_max_bytes: int | None = None
    ) -> StoredOutput: ...


class PlanStore(Protocol):
    """Submissions in; the partition plan (manifest, stage items, bodies, sinks) out and back."""

    def read_submission(self, tenant_id: str, key: str) -> Any: ...

    def write_plan(self, prefix: str, plan: PartitionPlan) -> list[dict[str, Any]]:
        """Returns each stage's ``{count, pure, batches, bytes}``."""
        ...

    def write_reference_copy(self, key: str, document: Any) -> None: ...

    def read_stage(self, prefix: str, stage: int) -> StageEntry:
        """How the stage runs (and its configs, when its entry holds them)."""
        ...

    def read_plan_summary(self, prefix: str) -> tuple[PlanSummary, float] | None:
        """The plan's summary and when it was written (epoch seconds); None if the plan is not all stored."""
        ...

    def write_plan_summary(self, prefix: str, summary: PlanSummary) -> None:
        """Written last: the plan is complete."""
        ...

    def read_stage_summary(self, prefix: str, stage: int) -> dict[str, Any]: ...

    def read_stage_items(self, prefix: str, stage: int) -> list[dict[str, Any]]:
        """Every segment config of the stage."""
        ...

    def read_batch(self, prefix: str, batch: BatchRef) -> list[dict[str, Any]]:
        """The segment configs of one batch of a stage run as a Map."""
        ...

    def read_body(self, key: str) -> SegmentBody: ...

    def read_sinks(self, prefix: str) -> list[str]: ...


# --- published workflows ------------------------------------------------------------------------------------


class PublishedWorkflow(Protocol):
    @property
    def workflow_id(self) -> str: ...

    @property
    def definition(self) -> dict[str, Any]: ...

    @property
    def version(self) -> int: ...

    @property
    def sha256(self) -> str:
        """The digest stored when it was published (:func:`segflow.domain.integrity.document_sha256`)."""
        ...


class WorkflowVersions(Protocol):
    def resolve(self, tenant_id: str, workflow_id: str, version: int | None = None) -> PublishedWorkflow:
        """The given version, or the active one."""
        ...


# --- approvals' callbacks -----------------------------------------------------------------------------------


class TaskTokens(Protocol):
    def resume(self, token: str, output: dict[str, Any]) -> bool:
        """Complete the waiting task; False when it is gone already."""
        ...


# --- live delivery ------------------------------------------------------------------------------------------


class EventPages(Protocol):
    def read(self, tenant_id: str, execution_id: str, after_seq: int) -> list[tuple[int, str | None]]:
        """Events after ``after_seq``, one page, as (seq, stored JSON; None for a number never used)."""
        ...


class EventLogPages(Protocol):
    """The execution log, read a bounded number of events at a time: what
    :class:`~segflow.engine.live_delivery.SharedPages` reads for all the subscribers of one invocation."""

    def read(
        self, tenant_id: str, execution_id: str, after_seq: int = ..., limit: int = ...
    ) -> list[tuple[int, str | None]]:
        """Up to ``limit`` numbers after ``after_seq``, up to the first one not stored yet."""
        ...


class ExecutionFeeds(Protocol):
    """Each execution's watchers and how far its feed was pushed, under a lease one sender holds at a time."""

    def feed(self, tenant_id: str, execution_id: str) -> Feed | None: ...

    def acquire(self, tenant_id: str, execution_id: str, holder: str) -> Feed | None: ...

    def extend(self, tenant_id: str, execution_id: str, holder: str, pushed_seq: int) -> bool: ...

    def finish(
        self, tenant_id: str, execution_id: str, holder: str, pushed_seq: int, served: Iterable[str] = ...
    ) -> Feed | None: ...

    def disconnect(self, connection_id: str) -> None: ...


class LiveConnections(Protocol):
    def post(self, connection_id: str, message: str | bytes) -> None:
        """Raises :class:`~segflow.domain.errors.ConnectionGone` when the client is gone."""
        ...
