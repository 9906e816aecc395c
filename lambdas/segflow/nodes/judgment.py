"""``judgment``: evaluates a condition and routes to the outgoing edges whose condition matches.

Edges leaving a judgment carry ``condition``: the label they are taken for. The condition's value picks:
1. the edge whose label is the value itself (a boolean is ``true``/``false``, null ``null``, a string itself,
   a number or other JSON value its compact JSON): ``"approve"`` takes the ``approve`` edge;
2. otherwise the ``true`` or ``false`` edge, by the language's truth rule (:func:`segflow.domain.truth.truth`:
   null, 0, "", "false", [] and {} are false) — so ``0`` takes ``false`` and ``"yes"`` takes ``true``;
3. otherwise ``default``; with none of those the node fails with NoBranchMatched.
Arms that are not taken are skipped, never run.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.errors import NodeFailure
from segflow.domain.truth import truth
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
    """The route a judgment takes among its edges' ``labels``: its own label, else ``true``/``false`` by the
    truth rule, else ``default``."""
    route = result.route
    if route not in labels or route == DEFAULT_ROUTE:
        value = result.output.get("result") if isinstance(result.output, dict) else result.output
        by_truth = "true" if truth(value) else "false"
        if by_truth in labels:
            route = by_truth
        elif DEFAULT_ROUTE in labels:
            route = DEFAULT_ROUTE
        else:
            accepted = ", ".join(repr(label) for label in labels)
            raise NodeFailure(f"condition gave {route!r}, but the edges accept {accepted}", "NoBranchMatched")
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
