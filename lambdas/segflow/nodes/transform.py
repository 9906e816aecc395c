"""``transform``: builds its output from templates over the input and earlier outputs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.nodes.base import NodeContext, NodeResult, NodeType


class TransformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    output: Any = Field(description="Any JSON value; {{ expr }} templates inside it are rendered.")


def run_transform(context: NodeContext) -> NodeResult:
    return NodeResult(output=context.config.output)


NODE_TYPE = NodeType(
    type="transform",
    config_model=TransformConfig,
    description="Projection and templating: output is config.output with its templates rendered.",
    pure=True,
    executor=run_transform,
)
