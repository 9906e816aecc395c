"""The shapes that cross the state machine: execution input, statebag, cursor, handler events and results.

Each is a pydantic model so a malformed event fails with the field named, at the edge, before any work.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segflow.domain.ids import TENANT_ID_RULE, is_tenant_id
from segflow.domain.limits import EXECUTION_NAME_MAX_CHARS
from segflow.domain.plan import SegmentConfig
from segflow.domain.stage_layout import BatchRef

DEFAULT_TENANT = "default"


class S3Pointer(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    s3_key: str = Field(min_length=1)


class WorkflowRef(BaseModel):
    """A published workflow: the version asked for, or the one active when the execution starts."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    workflow_id: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1)


class ResumeFrom(BaseModel):
    """An earlier execution of the same workflow whose completed nodes this execution reuses."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    execution_id: str = Field(min_length=1, max_length=80)
    from_node: str | None = Field(default=None, description="Run this node and all after it again.")


class Continuation(BaseModel):
    """Started by segflow itself: execution ``execution_id`` goes on from ``stage`` in a new Step Functions
    execution (part ``part``), because its history neared the event limit. Records stay keyed by
    ``execution_id``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    execution_id: str = Field(min_length=1, max_length=80)
    stage: int = Field(ge=0)
    part: int = Field(ge=1)
    wait_seconds: int = Field(default=0, ge=0)


class ExecutionRequest(BaseModel):
    """The StartExecution input contract (what other services send).

    ``workflow`` is either a published workflow (``{"workflow_id", "version"?}``) or an ad-hoc definition
    uploaded under the tenant's ``submissions/`` prefix (``{"s3_key"}``). ``resume_from`` continues an
    execution that ended without success (its input is reused when none is given).
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    tenant_id: str = DEFAULT_TENANT
    workflow: WorkflowRef | S3Pointer | None = None
    input: dict[str, Any] | None = None
    input_ref: S3Pointer | None = None
    resume_from: ResumeFrom | None = None
    continuation: Continuation | None = None
    # Who asked for the execution (the management API sets the caller; other services may say who they are).
    # Recorded with the execution and in the deployment log.
    started_by: str | None = Field(default=None, min_length=1, max_length=256)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not is_tenant_id(value):
            raise ValueError(f"tenant_id must be {TENANT_ID_RULE}")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> ExecutionRequest:
        if self.input is not None and self.input_ref is not None:
            raise ValueError("give either input or input_ref, not both")
        if self.continuation is not None:
            given = [
                f for f in ("workflow", "input", "input_ref", "resume_from") if getattr(self, f) is not None
            ]
            if given:
                raise ValueError(
                    f"a continuation carries no {', '.join(given)}: it goes on with its execution's"
                )
        elif self.workflow is None:
            raise ValueError("workflow is required: {workflow_id, version?} or {s3_key}")
        return self


class InitializeEvent(BaseModel):
    """InitializeStateBag's input: the StartExecution input, and the Step Functions execution's name
    (``<tenant>.<execution id>``, :mod:`segflow.domain.ids`) and start time."""

    model_config = ConfigDict(defer_build=True)

    request: dict[str, Any]
    execution_name: str = Field(min_length=1, max_length=EXECUTION_NAME_MAX_CHARS)
    started_at: str


class StateBag(BaseModel):
    """Pointers only: its size does not grow with the workflow, the state or the outputs."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    tenant_id: str
    workflow_id: str
    workflow_version: int | None = None  # pinned at start: activating another version never changes it
    execution_id: str
    started_at: str
    manifest_prefix: str
    stage_count: int
    segment_count: int
    node_count: int
    part: int = 0  # how many times the execution has continued in a new Step Functions execution


class ApprovalWait(BaseModel):
    """A segment stopped at an approval node: the state machine waits for a decision (a task token)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    node_id: str
    timeout_seconds: int = Field(ge=1)  # until the node's default decision applies


class Cursor(BaseModel):
    """Where the state machine is: which stage runs next and how its items reach the Map."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    stage: int
    # inline: a Map over ``items``; s3: a Distributed Map over ``items_key``; single: the stage runs as a
    # plain Task that returns the next cursor (no Map, no AdvanceStage), starting with ``segment_config``;
    # continue: the history is near its limit, a new execution takes over at ``stage``.
    mode: Literal["inline", "s3", "single", "done", "continue"]
    wait_seconds: int = 0
    max_concurrency: int = 1
    items: list[dict[str, Any]] | None = None
    items_key: str | None = None
    segment_config: dict[str, Any] | None = None
    # single mode: the stage's segments; more than one (a pure stage) run one after another in that Task.
    stage_segments: int = 1
    # Estimated history events once this cursor's states have run (segflow.engine.history_budget).
    events: int = 0
    # Set: before the stage runs again, the state machine waits for this approval (WaitForApproval).
    approval: ApprovalWait | None = None

    def starts_as_task(self) -> bool:
        """The stage runs as a plain Task that may start at once (no wait, no approval first)."""
        return (
            self.mode == "single"
            and self.wait_seconds == 0
            and self.approval is None
            and self.segment_config is not None
        )


class InitializeResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    statebag: StateBag
    cursor: Cursor


class ExecuteSegmentEvent(BaseModel):
    """What to run: a Map item's batch of a stage's segments; or one segment, as the cursor hands it over, and
    with ``advance`` the rest of its stage (a Task) and what follows."""

    model_config = ConfigDict(defer_build=True)

    statebag: StateBag
    batch: BatchRef | None = None
    segment_config: SegmentConfig | None = None
    advance: bool = False  # the stage runs as a Task: return the cursor of what runs next
    stage_segments: int = 1  # with advance: the stage's segments, this one first
    history_events: int = 0  # with advance: the cursor's events estimate
    # RunFirstStage hands over InitializeStateBag's whole cursor: run it if it is a Task stage that may start
    # at once, else hand it back unchanged.
    cursor: Cursor | None = None

    def task_stage(self) -> tuple[SegmentConfig, int, int] | None:
        """(first segment, the stage's segments, events estimate) of the stage to run here, or None: the
        cursor is for RouteStage (a Map, a wait, an approval, the end)."""
        if self.cursor is None:
            assert self.segment_config is not None  # a batch is run_map_batch's
            return self.segment_config, self.stage_segments, self.history_events
        cursor = self.cursor
        if not cursor.starts_as_task() or cursor.segment_config is None:
            return None
        return SegmentConfig.model_validate(cursor.segment_config), cursor.stage_segments, cursor.events

    @model_validator(mode="after")
    def _one_target(self) -> ExecuteSegmentEvent:
        targets = sum(value is not None for value in (self.batch, self.segment_config, self.cursor))
        if targets != 1 or (self.advance and self.batch is not None):
            raise ValueError(
                "give a batch (a Map item), a segment_config (advance: a Task running its stage) or a cursor "
                "(RunFirstStage)"
            )
        return self


SegmentStatus = Literal["succeeded", "waiting", "yielded", "approval"]


class SegmentResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    segment_id: str
    status: SegmentStatus
    nodes_run: int = 0
    nodes_skipped: int = 0
    wait_seconds: int = 0
    approval: ApprovalWait | None = None


class AdvanceStageEvent(BaseModel):
    model_config = ConfigDict(defer_build=True)

    statebag: StateBag
    stage: int
    history_events: int = 0


class RequestApprovalEvent(BaseModel):
    """WaitForApproval's payload: which approval waits, and the task token that resumes it."""

    model_config = ConfigDict(defer_build=True)

    statebag: StateBag
    node_id: str
    task_token: str = Field(min_length=1)


class ContinueEvent(BaseModel):
    """ContinueExecution's input: the cursor that did not fit the history budget."""

    model_config = ConfigDict(defer_build=True)

    statebag: StateBag
    stage: int
    wait_seconds: int = 0


class ContinueResult(BaseModel):
    """The output of an execution that continued: where the rest runs."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    status: Literal["CONTINUED"] = "CONTINUED"
    part: int
    continued_as: str  # the ARN of the execution that goes on


class FinalizeEvent(BaseModel):
    model_config = ConfigDict(defer_build=True)

    statebag: StateBag | None = None
    outcome: Literal["SUCCEEDED", "FAILED"]
    error: dict[str, Any] | None = None


class FinalizeResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    execution_id: str
    workflow_id: str
    status: Literal["SUCCEEDED", "FAILED"]
    output: Any = None
    output_ref: str | None = None
    nodes: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    cause: str | None = None
