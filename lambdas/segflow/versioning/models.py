"""What the version store returns: a workflow's pointer item, its versions and its activation history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ActivationKind = Literal["publish", "activate", "rollback"]


class WorkflowSummary(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant_id: str
    workflow_id: str
    name: str
    latest_version: int
    active_version: int | None = None
    previous_active_version: int | None = None
    created_at: str
    updated_at: str
    updated_by: str


class VersionInfo(BaseModel):
    """A published version without its definition."""

    model_config = ConfigDict(defer_build=True)

    workflow_id: str
    version: int
    name: str
    description: str = ""
    sha256: str
    size_bytes: int
    node_count: int
    edge_count: int
    created_by: str
    created_at: str
    message: str = ""
    definition_key: str | None = None  # S3, when too large to keep in the item


class WorkflowVersion(VersionInfo):
    definition: dict[str, Any]


class ActivationEntry(BaseModel):
    """One change of the active version: who moved it, from where to where, and why."""

    model_config = ConfigDict(defer_build=True)

    seq: int
    kind: ActivationKind
    from_version: int | None = None
    to_version: int
    reason: str = ""
    by: str
    at: str


class RollbackResult(BaseModel):
    """The seed's result shape, plus the history entry that records it."""

    model_config = ConfigDict(defer_build=True)

    success: bool = True
    workflow_id: str
    rolled_back_to_version: int
    previous_version: int | None
    history_seq: int
