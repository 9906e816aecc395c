"""``wait``: pauses the workflow. The state machine waits (a Wait state), never a sleeping Lambda."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from segflow.nodes.base import NodeContext, NodeResult, NodeType


class WaitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    seconds: float = Field(ge=0, le=365 * 24 * 3600, description="How long to wait.")


def run_wait(context: NodeContext) -> NodeResult:
    return NodeResult(output={"waited_seconds": context.config.seconds})


NODE_TYPE = NodeType(
    type="wait",
    config_model=WaitConfig,
    description="Waits a number of seconds; the segment yields and the state machine resumes it.",
    executor=run_wait,
    placement="wait",
)
