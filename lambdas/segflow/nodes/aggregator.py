"""``aggregator``: combines the outputs of its direct predecessors (the branches of a fan-out)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from segflow.nodes.base import NodeContext, NodeResult, NodeType


class AggregatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    mode: Literal["object", "list"] = Field(
        default="object",
        description="object: {node_id: output}; list: outputs in the order of the incoming edges.",
    )


def run_aggregator(context: NodeContext) -> NodeResult:
    outputs = context.predecessor_outputs
    results: object = dict(outputs) if context.config.mode == "object" else list(outputs.values())
    return NodeResult(output={"results": results, "count": len(outputs), "branches": list(outputs)})


NODE_TYPE = NodeType(
    type="aggregator",
    config_model=AggregatorConfig,
    description="Combines the outputs of every branch that ran into one output.",
    pure=True,
    executor=run_aggregator,
    aggregates=True,
)
