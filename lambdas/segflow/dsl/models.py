"""The workflow definition as users write it: ``{workflow_id, name, description, nodes, edges}``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_EDGE_CONDITION_CHARS,
    MAX_LABEL_CHARS,
    MAX_NAME_CHARS,
    MAX_NODE_ID_LENGTH,
)

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


class RetryPolicy(BaseModel):
    """How a node is retried inside its segment when it fails with a retryable error."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    max_attempts: int = Field(default=3, ge=1, le=10, description="Total attempts, the first included.")
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    backoff_rate: float = Field(default=2.0, ge=1, le=10)
    retry_on: list[str] = Field(
        default_factory=lambda: ["HttpError", "HttpTimeout", "ConnectionFailed"],
        description="Error types that are retried; others fail the node at once.",
    )


class NodeSpec(BaseModel):
    """One node. ``config`` is checked against the node type's own config model during validation."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    node_id: str = Field(min_length=1, max_length=MAX_NODE_ID_LENGTH, pattern=IDENTIFIER_PATTERN)
    type: str = Field(min_length=1)
    target_type: str | None = None
    action_type: str | None = None
    label: str | None = Field(default=None, max_length=MAX_LABEL_CHARS)
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=900)

    @property
    def subtype(self) -> str | None:
        return self.action_type or self.target_type

    @property
    def display_name(self) -> str:
        return self.label or self.node_id


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    condition: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EDGE_CONDITION_CHARS,
        description="Only on edges leaving a judgment node: the judgment result this edge is taken for "
        "('true', 'false', any label, or 'default').",
    )

    @property
    def label(self) -> str:
        suffix = f" [{self.condition}]" if self.condition is not None else ""
        return f"edge '{self.source}' -> '{self.target}'{suffix}"


class WorkflowDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workflow_id: str = Field(min_length=1, max_length=MAX_NODE_ID_LENGTH, pattern=IDENTIFIER_PATTERN)
    name: str = Field(default="", max_length=MAX_NAME_CHARS)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    nodes: list[NodeSpec]
    edges: list[EdgeSpec] = Field(default_factory=list)
