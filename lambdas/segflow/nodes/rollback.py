"""``rollback`` with ``target_type: workflow``: make an earlier version of a workflow active again.

The seed's config shape: ``{"workflow_id": "{{current_workflow_id}}", "version": 2, "reason": "…"}``.
``version`` may also be ``"previous"`` (the version active before the current one). The change is keyed by
execution and node, so a retried segment reports the rollback it already made instead of making another.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.domain.errors import NodeFailure
from segflow.domain.limits import ROLLBACK_MAX_CONCURRENCY
from segflow.dsl.templates import expressions_in
from segflow.nodes.base import NodeContext, NodeResult, NodeType
from segflow.versioning.errors import VersionAlreadyActive, VersioningError

PREVIOUS = "previous"


class WorkflowRollbackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workflow_id: str = Field(min_length=1)
    version: int | str = Field(
        description="The version number to restore, 'previous', or a {{ expr }} template giving one."
    )
    reason: str = ""

    @field_validator("version")
    @classmethod
    def _version(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 1:
                raise ValueError("a version number is 1 or more")
            return value
        text = value.strip()
        if text.isdigit() and int(text) >= 1:
            return int(text)
        if text == PREVIOUS or expressions_in(text):
            return text
        raise ValueError(f"expected a version number, {PREVIOUS!r} or a template, got {value!r}")


def execute(context: NodeContext) -> NodeResult:
    config: WorkflowRollbackConfig = context.config
    if isinstance(config.version, str) and config.version != PREVIOUS:
        raise NodeFailure(f"version {config.version!r} is not a version number", "ConfigError")
    target = None if config.version == PREVIOUS else int(config.version)
    info = context.execution
    store = context.services.workflow_versions
    try:
        result = store.rollback(
            info.tenant_id,
            config.workflow_id,
            by=f"execution:{info.execution_id}/node:{context.node_id}",
            to_version=target,
            reason=config.reason,
            request_id=context.idempotency_key,
        )
    except VersionAlreadyActive as already:  # the wanted state holds: say so, change nothing
        return NodeResult(
            output={
                "success": True,
                "changed": False,
                "workflow_id": config.workflow_id,
                "rolled_back_to_version": already.version,
                "previous_version": already.version,
            }
        )
    except VersioningError as error:
        raise NodeFailure(str(error), error.code) from error
    return NodeResult(output={**result.model_dump(exclude={"history_seq"}), "changed": True})


NODE_TYPE = NodeType(
    type="rollback",
    subtype="workflow",
    subtype_field="target_type",
    config_model=WorkflowRollbackConfig,
    description="Makes an earlier version of a workflow active again (new executions use it).",
    executor=execute,
    max_concurrency=ROLLBACK_MAX_CONCURRENCY,
)
