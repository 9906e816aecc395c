"""What an execution is made of, as segflow records it: the execution, its nodes, its segment runs, and the
status vocabulary each of them uses. Plain models; the adapters store them."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from segflow.domain.statuses import ExecutionStatus, NodeStatus, SegmentRecordStatus


class ExecutionRecord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant_id: str
    execution_id: str
    workflow_id: str
    workflow_name: str = ""
    workflow_key: str = ""
    workflow_version: int | None = None
    status: ExecutionStatus = "RUNNING"
    started_at: str
    finished_at: str | None = None
    node_count: int = 0
    segment_count: int = 0
    stage_count: int = 0
    manifest_prefix: str = ""
    input_json: str | None = None
    input_key: str | None = None
    output_json: str | None = None
    output_key: str | None = None
    error: str | None = None
    cause: str | None = None
    summary: dict[str, int] | None = None
    resumed_from: str | None = None  # the execution whose completed nodes this one reused
    # The first execution of a chain of resumes (None: this one). Side effects' idempotency keys derive from
    # it, so a resume sends what its original sent with the same key (:mod:`segflow.domain.effect_keys`).
    origin_execution_id: str | None = None
    # The execution that resumed this one (set once, by a conditional write: a failure resumes once).
    resumed_by: str | None = None
    started_by: str | None = None
    # Continued past the history budget: how many times, and the Step Functions execution now running it.
    parts: int = 0
    current_execution: str | None = None

    @property
    def origin(self) -> str:
        """The execution whose side effects this one repeats with the same keys: its first, not a resume."""
        return self.origin_execution_id or self.execution_id


class NodeRecord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    node_id: str
    segment_id: str
    stage: int
    type: str
    label: str | None = None
    status: NodeStatus
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    route: str | None = None
    output_json: str | None = None
    output_key: str | None = None
    output_bytes: int | None = None
    resume_at: float | None = None
    reused_from: str | None = None  # carried over from this execution (a resume): not run again
    progress_json: str | None = None  # a polling node's checkpointed progress (nodes.base.Poll)


class SegmentRecord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    segment_id: str
    stage: int
    status: SegmentRecordStatus
    nodes_run: int = 0
    nodes_skipped: int = 0
    resume_at: float | None = None
    error: str | None = None
    approval_node: str | None = None  # status approval: the node waiting for a decision


@dataclass(frozen=True)
class ExecutionIdentity:
    tenant_id: str
    execution_id: str
    workflow_id: str
    version: int | None


@dataclass(frozen=True)
class StoredOutput:
    """Where a value was stored: inline (``inline_json``, small) or in the bucket (``s3_key``)."""

    inline_json: str | None
    s3_key: str | None
    size_bytes: int
