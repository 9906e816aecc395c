"""``for_each``: runs a sub-flow for each item of a list, up to ``max_concurrency`` at once, and collects the
results in item order.

The items come from state through a template (``{{ nodes.load.rows }}``): they are read from the node outputs
(in S3 when large) inside the segment and never travel through a Step Functions state, so the payload stays
small however many there are. A failing item fails the node, naming the item and the sub-flow node, unless
``continue_on_error`` collects it (``{index, node_id, error}``) and goes on. Once the node's deadline has
passed no item starts: the node fails with the deadline's error (NodeTimeout, InvocationDeadline).
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.errors import NodeFailure
from segflow.domain.limits import FOR_EACH_MAX_CONCURRENCY, FOR_EACH_MAX_ITEMS, SUB_FLOW_MAX_CONCURRENCY
from segflow.nodes.base import NodeContext, NodeResult, NodeType
from segflow.nodes.subflow import SubFlow, SubFlowFailed, SubFlowRunner


class ForEachConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    items: Any = Field(description="The list to go over: a {{ template }} over state.")
    flow: SubFlow = Field(description="{nodes, edges} run for each item; its templates see item and index.")
    max_concurrency: int = Field(default=8, ge=1, le=FOR_EACH_MAX_CONCURRENCY)
    continue_on_error: bool = Field(default=False, description="Collect failing items instead of failing.")


def run_for_each(context: NodeContext) -> NodeResult:
    config: ForEachConfig = context.config
    items = config.items
    if not isinstance(items, list):
        raise NodeFailure(f"config.items must be a list, got {type(items).__name__}", "ConfigError")
    if len(items) > FOR_EACH_MAX_ITEMS:
        raise NodeFailure(f"{len(items)} items; at most {FOR_EACH_MAX_ITEMS}", "TooManyItems")
    runner = SubFlowRunner(config.flow, context)
    deadline = context.deadline

    def run_item(index: int) -> tuple[int, Any, dict[str, Any] | None]:
        if deadline is not None and deadline.reached():
            raise deadline.expired(f"item {index} of {len(items)} was not started")
        try:
            return index, runner.run(str(index), {"item": items[index], "index": index}), None
        except SubFlowFailed as failure:
            return index, None, {"index": index, "node_id": failure.node_id, "error": str(failure)}

    results: list[Any] = [None] * len(items)
    errors: list[dict[str, Any]] = []
    pool = ThreadPoolExecutor(max_workers=min(config.max_concurrency, max(1, len(items))))
    try:
        # Each item runs in this thread's context (the invocation's log keys, the node's deadline), a copy.
        runs = [pool.submit(contextvars.copy_context().run, run_item, i) for i in range(len(items))]
        for index, result, error in (run.result() for run in runs):
            results[index] = result
            if error is not None:
                errors.append(error)
    finally:
        # Past the deadline (or a failure that ends the node) no item still queued starts.
        pool.shutdown(wait=True, cancel_futures=True)
    if errors and not config.continue_on_error:
        first = errors[0]
        raise NodeFailure(
            f"item {first['index']} of {len(items)} failed: {first['error']}"
            + (f" ({len(errors) - 1} more items failed)" if len(errors) > 1 else ""),
            "ItemFailed",
        )
    return NodeResult(
        output={"results": results, "count": len(items), "failed": len(errors), "errors": errors}
    )


NODE_TYPE = NodeType(
    type="for_each",
    config_model=ForEachConfig,
    description="Runs a sub-flow per item of a list, in parallel up to max_concurrency; results in order.",
    executor=run_for_each,
    raw_fields=("flow",),
    max_concurrency=SUB_FLOW_MAX_CONCURRENCY,
)
