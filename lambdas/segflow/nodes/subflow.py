"""Sub-flows: the small workflows a ``for_each`` runs per item and a ``loop`` per iteration.

A sub-flow is written like a workflow (``nodes``, ``edges``) and validated as one with its workflow. It runs
inside its node's segment, in one call: node by node in topological order, with the workflow's routing rules
(a node runs when one of its incoming edges is taken; judgments choose their arms; arms not taken are
skipped). Its templates see ``input``, ``workflow``, ``execution``, the sub-flow's own ``nodes``, and what its
owner adds (``item`` and ``index``, or ``loop``). Only node types that finish in one call may appear (not
``wait``, ``approval`` or ``deploy``). Its result is the output of its last node, or ``{node_id: output}``
when it ends in several.

Its nodes run within their owner's deadline (the owner's ``timeout_seconds`` within the invocation's): no node
starts once it has passed, a node that may not finish in the invocation's time left is not started, a retry
whose backoff would pass the deadline is not waited for, and a node cut by the deadline cuts its owner (the
owner's :class:`~segflow.domain.errors.NodeTimedOut` or :class:`~segflow.domain.errors.DeadlineReached`
passes through, never counted as an item's failure).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from segflow.domain.errors import DeadlineReached, NodeFailure
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.models import EdgeSpec, NodeSpec
from segflow.nodes.base import NodeContext, NodeResult, render_config, run_executor, time_needed
from segflow.nodes.judgment import resolve_route
from segflow.nodes.retry import NO_RETRY, next_retry
from segflow.nodes.routing import edge_taken, route_labels


class SubFlowFailed(NodeFailure):
    """A node of a sub-flow failed; ``node_id`` and ``cause_type`` say which and how."""

    error_type = "SubFlowFailed"

    def __init__(self, message: str, node_id: str, cause_type: str) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.cause_type = cause_type


class SubFlowInvalid(ValueError):
    """A sub-flow's problems, each named by its place in the sub-flow (``issues``: ValidationIssue)."""

    def __init__(self, issues: list[Any]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues[:5]))


def _merged(document: dict[str, Any], issues: list[Any], more: list[Any]) -> list[Any]:
    """Both lists of issues, in the order the sub-flow's nodes are written."""
    nodes = [n.get("node_id") for n in document.get("nodes") or [] if isinstance(n, dict)]
    rank = {f"node '{node_id}'": index for index, node_id in enumerate(nodes)}
    return sorted([*issues, *more], key=lambda issue: rank.get(issue.location, len(rank)))


class SubFlow(BaseModel):
    """``{nodes, edges}``: checked as a workflow of its own (problems named with their place in it)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)

    _graph: WorkflowGraph = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _every_problem(cls, data: Any) -> Any:
        """Every problem of the sub-flow at once, as a workflow's (before the fields stop at the first)."""
        if isinstance(data, dict) and set(data) <= {"nodes", "edges"}:
            cls._checked({"workflow_id": "subflow", **data})
        return data

    @model_validator(mode="after")
    def _valid(self) -> SubFlow:
        self._graph = self._checked(
            {
                "workflow_id": "subflow",
                "nodes": [n.model_dump(exclude_none=True) for n in self.nodes],
                "edges": [e.model_dump(exclude_none=True) for e in self.edges],
            }
        )
        return self

    @property
    def graph(self) -> WorkflowGraph:
        """The sub-flow as a validated workflow graph (built once, when the config is validated)."""
        return self._graph

    @staticmethod
    def _checked(document: dict[str, Any]) -> WorkflowGraph:
        from segflow.dsl.validation import ValidationIssue, WorkflowValidationError, validate_workflow
        from segflow.nodes import registry

        not_inline = []
        for node in document.get("nodes") or []:
            if not isinstance(node, dict) or not isinstance(node.get("type"), str):
                continue
            subtype = node.get("action_type") or node.get("target_type")
            node_type = registry.lookup(node["type"], subtype if isinstance(subtype, str) else None)
            if node_type is not None and (node_type.placement != "segment" or not node_type.inline):
                not_inline.append(
                    ValidationIssue(
                        f"node '{node.get('node_id')}'", f"a {node_type.key} cannot run inside a sub-flow"
                    )
                )
        try:
            graph = validate_workflow(document)
        except WorkflowValidationError as error:
            raise SubFlowInvalid(_merged(document, error.issues, not_inline)) from None
        if not_inline:
            raise SubFlowInvalid(not_inline)
        return graph


class SubFlowRunner:
    """Runs one sub-flow many times (per item, per iteration) for the node ``owner``."""

    def __init__(self, flow: SubFlow, owner: NodeContext) -> None:
        self.graph = flow.graph
        self.owner = owner
        self.scope = {k: v for k, v in owner.template_context.items() if k != "nodes"}

    def run(self, key: str, extra: dict[str, Any]) -> Any:
        """Run the sub-flow once; ``key`` names this run in inner node ids (idempotency keys)."""
        graph = self.graph
        outputs: dict[str, Any] = {}
        status: dict[str, str] = {}
        routes: dict[str, str | None] = {}
        context = {**self.scope, **extra, "nodes": outputs}
        for node_id in graph.order:
            incoming = graph.incoming[node_id]
            taken = [
                e for e in incoming if edge_taken(e.condition, status.get(e.source), routes.get(e.source))
            ]
            if incoming and not taken:
                status[node_id] = "skipped"
                continue
            result = self._run_node(node_id, key, context, {e.source: outputs[e.source] for e in taken})
            outputs[node_id] = result.output
            routes[node_id] = result.route
            status[node_id] = "succeeded"
        ran_sinks = [n for n in graph.sinks() if status.get(n) == "succeeded"]
        if len(ran_sinks) == 1:
            return outputs[ran_sinks[0]]
        return {node_id: outputs[node_id] for node_id in ran_sinks}

    def _run_node(
        self, node_id: str, key: str, context: dict[str, Any], predecessors: dict[str, Any]
    ) -> NodeResult:
        node = self.graph.nodes[node_id]
        node_type = self.graph.node_types[node_id]
        policy = node.retry or NO_RETRY
        deadline = self.owner.deadline
        need = time_needed(node_type, node.config, node.timeout_seconds)
        attempt = 0
        while True:
            attempt += 1
            refusing = deadline.refusing(need) if deadline is not None else None
            if refusing is not None:
                assert deadline is not None
                raise refusing.passed(
                    f"node '{node_id}' was not started: it may need {need:g}s and "
                    f"{max(0.0, deadline.left()):.1f}s are left"
                )
            try:
                assert node_type.executor is not None
                result = run_executor(
                    node_type.executor,
                    NodeContext(
                        node_id=f"{self.owner.node_id}[{key}].{node_id}",
                        config=render_config(node.config, node_type, context),
                        execution=self.owner.execution,
                        predecessor_outputs=predecessors,
                        timeout_seconds=node.timeout_seconds,
                        attempt=attempt,
                        services=self.owner.services,
                        template_context={**context, "nodes": dict(context["nodes"])},
                        deadline=deadline,
                    ),
                    may_block=not node_type.pure,
                )
                if not isinstance(result, NodeResult):
                    raise NodeFailure("it did not finish in one call", "NotInline")
                if node_type.routes:
                    labels = route_labels(e.condition for e in self.graph.outgoing[node_id])
                    result = resolve_route(labels, result)
                return result
            except DeadlineReached:
                raise
            except NodeFailure as failure:
                if deadline is not None and deadline.reached():  # the owner's time is over, not the node's
                    raise deadline.expired(f"node '{node_id}': {failure.error_type}: {failure}") from failure
                retry = next_retry(policy, failure, attempt, deadline, need)
                if retry is not None:
                    if not retry.fits:
                        assert deadline is not None
                        limit = deadline.refusing(need, after=retry.delay_seconds) or deadline.binding()
                        raise limit.passed(
                            f"node '{node_id}' failed with {failure.error_type}; its retry in "
                            f"{retry.delay_seconds:g}s would pass {limit.limit_name}"
                        ) from failure
                    time.sleep(retry.delay_seconds)
                    continue
                raise SubFlowFailed(
                    f"node '{node_id}' failed with {failure.error_type}: {failure}",
                    node_id,
                    failure.error_type,
                ) from failure
            except Exception as error:  # a bug or an unexpected library error: still named
                kind = type(error).__name__
                raise SubFlowFailed(f"node '{node_id}' failed with {kind}: {error}", node_id, kind) from error
