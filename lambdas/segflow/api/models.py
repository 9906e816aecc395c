"""Request and response bodies of the management API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.limits import APPROVAL_COMMENT_MAX_CHARS, STOP_CAUSE_MAX_CHARS, STOP_ERROR_MAX_CHARS
from segflow.domain.statuses import DescribedExecutionStatus
from segflow.events.models import ExecutionEvent
from segflow.services.executions import Checkpoint
from segflow.versioning.diff import WorkflowDiff
from segflow.versioning.models import ActivationEntry, RollbackResult, VersionInfo, WorkflowSummary


class ErrorBody(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    definition: dict[str, Any] = Field(description="The workflow: {workflow_id, name, nodes, edges}.")
    message: str = Field(default="", max_length=1_000, description="Why this version exists.")
    activate: bool = Field(default=True, description="Make the new version the active one.")
    expected_active_version: int | None = Field(
        default=None, ge=1, description="Fail with 409 unless this version is active (optimistic locking)."
    )


class PublishResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    workflow: WorkflowSummary
    version: VersionInfo


class WorkflowList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    workflows: list[WorkflowSummary]


class VersionList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    workflow: WorkflowSummary
    versions: list[VersionInfo]
    history: list[ActivationEntry]


class DiffResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    workflow_id: str
    from_version: int
    to_version: int
    diff: WorkflowDiff


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: int = Field(ge=1)
    reason: str = Field(default="", max_length=1_000)
    expected_active_version: int | None = Field(default=None, ge=1)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    to_version: int | None = Field(
        default=None, ge=1, description="The version to restore; default: the previously active one."
    )
    reason: str = Field(default="", max_length=1_000)
    expected_active_version: int | None = Field(default=None, ge=1)


class ActivationResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    result: RollbackResult
    workflow: WorkflowSummary


class StartExecutionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workflow_id: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1, description="Default: the active version at start.")
    input: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(
        default=None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$", description="Execution name."
    )


class StartExecutionResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    execution_id: str
    execution_arn: str
    workflow_id: str
    version: int | None = None  # None: an uploaded workflow file, not a published version
    resumed_from: str | None = None


class ResumeExecutionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    from_node: str | None = Field(
        default=None, min_length=1, description="Run this node and every node after it again."
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$", description="Execution name."
    )


class NodeState(BaseModel):
    model_config = ConfigDict(defer_build=True)

    node_id: str
    type: str
    label: str | None = None
    status: str
    started_at: float | None = None  # epoch seconds
    duration_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None


class ExecutionDescription(BaseModel):
    """An execution now. Before it initialized (or if it failed first) it has no nodes, and ``workflow_id``
    only when it runs a published workflow."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    execution_arn: str
    workflow_id: str | None
    version: int | None
    status: DescribedExecutionStatus
    started_at: str | None
    stopped_at: str | None = None
    node_count: int
    nodes: list[NodeState]
    output: Any = None
    output_ref: str | None = None
    error: str | None = None
    cause: str | None = None


class EventPageResponse(BaseModel):
    """Events of the execution log after ``after``, in order; ``next_after`` is the ``after`` of the next
    page (None: this page reached the end of the log as stored now)."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    events: list[ExecutionEvent]
    next_after: int | None = None


class CheckpointList(BaseModel):
    """Every node outcome the execution recorded, in the order they were reached: what a resume reuses."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    execution_arn: str
    status: DescribedExecutionStatus
    checkpoints: list[Checkpoint]


class NodeDetail(BaseModel):
    """One node's record and its output (loaded from S3 when large)."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    node_id: str
    type: str
    label: str | None = None
    status: str
    attempt: int
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    route: str | None = None
    reused_from: str | None = None
    output_ref: str | None = None
    output_bytes: int | None = None
    output: Any = None
    output_url: str | None = Field(
        default=None,
        description="For an output kept in S3 (output_ref set): a presigned GET of its JSON, working for "
        "output_url_expires_in seconds. The only way to read an output too large for an API answer "
        "(output is then null).",
    )
    output_url_expires_in: int | None = None


class ExecutionOutput(BaseModel):
    """What a succeeded execution ended with (loaded from S3 when large); None while it runs or if it did
    not succeed."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    status: DescribedExecutionStatus
    output: Any = None


class ExecutionWorkflow(BaseModel):
    """The workflow an execution runs: its submitted document or the published version it pinned (None
    while that cannot be known yet)."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    workflow_id: str | None
    version: int | None
    definition: dict[str, Any] | None


class StopExecutionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    error: str | None = Field(
        default=None, min_length=1, max_length=STOP_ERROR_MAX_CHARS, description="Why, in a word."
    )
    cause: str | None = Field(
        default=None, min_length=1, max_length=STOP_CAUSE_MAX_CHARS, description="Why, at length."
    )


class ApprovalDecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=APPROVAL_COMMENT_MAX_CHARS)


class ApprovalDecisionResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    execution_id: str
    node_id: str
    decision: Literal["approve", "reject"]
    approver: str
    comment: str | None = None
    decided_at: float
