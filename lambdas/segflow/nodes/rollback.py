"""``rollback`` with ``target_type: workflow``: the config shape of the seed DSL.

It validates today so existing workflows keep loading; it runs once the version store lands (it has no
executor yet, so a workflow using it is refused at run time with a clear error rather than faked).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from segflow.nodes.base import NodeType


class WorkflowRollbackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(min_length=1)
    version: int | str = Field(description="The version number to restore, or a {{ expr }} template.")
    reason: str = ""


NODE_TYPE = NodeType(
    type="rollback",
    subtype="workflow",
    subtype_field="target_type",
    config_model=WorkflowRollbackConfig,
    description="Restores an earlier version of a workflow as the active one.",
)
