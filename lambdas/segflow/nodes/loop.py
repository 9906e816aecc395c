"""``loop``: runs a sub-flow again and again until ``until`` holds, at most ``max_iterations`` times.

Each iteration's templates see ``loop.iteration`` (from 1) and ``loop.previous`` (the last iteration's result,
``initial`` before the first). After each iteration ``until`` is evaluated with ``loop`` and ``result`` (this
iteration's); a true value ends the loop (the language's truth rule, :mod:`segflow.domain.truth`: null, 0, "",
"false", [] and {} are false). Reaching ``max_iterations`` without it fails the node with the count: a loop
never stops silently with a partial answer. Once the node's deadline has passed no iteration starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.domain.errors import NodeFailure
from segflow.domain.limits import LOOP_MAX_ITERATIONS, SUB_FLOW_MAX_CONCURRENCY
from segflow.domain.truth import truth
from segflow.dsl.templates import TemplateError, expressions_in, render
from segflow.nodes.base import NodeContext, NodeResult, NodeType
from segflow.nodes.subflow import SubFlow, SubFlowFailed, SubFlowRunner


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    flow: SubFlow = Field(description="{nodes, edges} run once per iteration; templates see loop and input.")
    until: str = Field(description="A {{ template }} over loop and result (this iteration's); true stops.")
    max_iterations: int = Field(ge=1, le=LOOP_MAX_ITERATIONS)
    initial: Any = Field(default=None, description="loop.previous in the first iteration (templated).")

    @field_validator("until")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            if not expressions_in(value):
                raise ValueError("must be a {{ expression }} template")
        except TemplateError as error:
            raise ValueError(str(error)) from None
        return value


def run_loop(context: NodeContext) -> NodeResult:
    config: LoopConfig = context.config
    runner = SubFlowRunner(config.flow, context)
    previous = config.initial
    deadline = context.deadline
    for iteration in range(1, config.max_iterations + 1):
        if deadline is not None and deadline.reached():
            raise deadline.expired(f"iteration {iteration} was not started")
        loop = {"iteration": iteration, "previous": previous}
        try:
            result = runner.run(str(iteration), {"loop": loop})
        except SubFlowFailed as failure:
            raise NodeFailure(f"iteration {iteration} failed: {failure}", "IterationFailed") from failure
        try:
            done = render(config.until, {**runner.scope, "loop": loop, "result": result})
        except Exception as error:  # JMESPath raises its own errors on bad types at run time
            raise NodeFailure(
                f"config.until failed in iteration {iteration}: {error}", "TemplateEvaluationError"
            ) from error
        previous = result
        if truth(done):
            return NodeResult(output={"iterations": iteration, "result": result})
    raise NodeFailure(
        f"node '{context.node_id}': config.until did not hold after {config.max_iterations} iterations "
        f"(max_iterations {config.max_iterations}); last result: {str(previous)[:200]}",
        "LoopLimitReached",
    )


NODE_TYPE = NodeType(
    type="loop",
    config_model=LoopConfig,
    description="Repeats a sub-flow until a condition holds; fails clearly at max_iterations.",
    executor=run_loop,
    raw_fields=("flow", "until"),
    max_concurrency=SUB_FLOW_MAX_CONCURRENCY,
)
