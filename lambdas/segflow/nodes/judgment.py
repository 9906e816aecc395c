"""``judgment``: evaluates a condition and routes to the outgoing edges whose condition matches.

Edges leaving a judgment carry ``condition``: the label they are taken for. A boolean result has the labels
``true`` and ``false``; strings and numbers are their own labels; ``default`` is taken when nothing else
matches. Arms that are not taken are skipped, never run.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.errors import NodeFailure
from segflow.nodes.base import NodeContext, NodeResult, NodeType

DEFAULT_ROUTE = "default"


class JudgmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    condition: Any = Field(description="A {{ expr }} template; its value selects the outgoing edges.")


def route_label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def resolve_route(labels: list[str], result: NodeResult) -> NodeResult:
    """The route a judgment takes among its edges' ``labels``: its own label, else ``default``."""
    route = result.route
    if route not in labels or route == DEFAULT_ROUTE:
        if DEFAULT_ROUTE not in labels:
            accepted = ", ".join(repr(label) for label in labels)
            raise NodeFailure(f"condition gave {route!r}, but the edges accept {accepted}", "NoBranchMatched")
        route = DEFAULT_ROUTE
    output = dict(result.output) if isinstance(result.output, dict) else {"result": result.output}
    output["route"] = route
    return NodeResult(output=output, route=route)


def run_judgment(context: NodeContext) -> NodeResult:
    value = context.config.condition
    label = route_label(value)
    return NodeResult(output={"result": value, "route": label}, route=label)


NODE_TYPE = NodeType(
    type="judgment",
    config_model=JudgmentConfig,
    description="Routes on a condition: only the outgoing edges whose condition matches are taken.",
    pure=True,
    executor=run_judgment,
    routes=True,
)
