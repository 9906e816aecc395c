"""Resuming an execution that ended without success, in a new execution that reuses its completed work.

Step Functions' RedriveExecution restarts a failed execution in place, but only for 14 days (and moto lacks
it). segflow continues instead: a new execution of the same workflow version with the same input, whose
InitializeStateBag copies the old execution's completed node records (their outputs stay where they are, in
DynamoDB or S3). The segments then skip every node already done, so only the nodes that failed or never ran
run again: or, with ``from_node``, that node and everything after it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from segflow.domain.errors import ErrorKind, SegflowError
from segflow.domain.ids import fitted_execution_id
from segflow.domain.records import ExecutionRecord, NodeRecord
from segflow.domain.statuses import RESUMABLE_EXECUTION_STATUSES, REUSABLE_NODE_STATUSES
from segflow.dsl.graph import WorkflowGraph
from segflow.engine.skips import skippable_nodes


class ResumeRefused(SegflowError, ValueError):
    """The execution cannot be resumed (still running, succeeded, or never initialized)."""

    code = "NotResumable"
    kind: ErrorKind = "conflict"


class UnknownResumeNode(ResumeRefused):
    """``from_node`` is not a node of the execution's workflow."""

    code = "UnknownNode"
    kind = "invalid"


class AlreadyResumed(ResumeRefused):
    """Another resume of this execution started first: a failure resumes once (its side effects after the
    failure would otherwise run once per resume)."""

    code = "AlreadyResumed"
    kind = "conflict"

    def __init__(self, execution_id: str, resumed_by: str) -> None:
        by = f" as {resumed_by!r}" if resumed_by else ""
        super().__init__(
            f"execution {execution_id!r} was resumed already{by}: follow that execution (and resume it, "
            "if it fails) instead"
        )
        self.resumed_by = resumed_by


def check_resumable(execution_id: str, status: str) -> None:
    if status not in RESUMABLE_EXECUTION_STATUSES:
        raise ResumeRefused(
            f"execution {execution_id!r} is {status}: "
            f"only {', '.join(RESUMABLE_EXECUTION_STATUSES)} executions resume"
        )


def check_from_node(graph: WorkflowGraph, from_node: str | None) -> None:
    if from_node is not None and from_node not in graph.nodes:
        raise UnknownResumeNode(f"from_node {from_node!r} is not a node of workflow {graph.workflow_id!r}")


def descendants_and_self(graph: WorkflowGraph, node_id: str) -> set[str]:
    seen = {node_id}
    queue = deque([node_id])
    while queue:
        for edge in graph.outgoing[queue.popleft()]:
            if edge.target not in seen:
                seen.add(edge.target)
                queue.append(edge.target)
    return seen


def reusable_records(
    graph: WorkflowGraph, records: list[NodeRecord], from_node: str | None, resumed_from: str
) -> list[NodeRecord]:
    """The old execution's outcomes the new one keeps: completed nodes, minus ``from_node`` and what follows.

    A node after a failed one has no record (its segment stopped), so it runs again without being named; a
    node skipped because of a judgment keeps its skip only while that judgment keeps its route.
    """
    check_from_node(graph, from_node)
    rerun = descendants_and_self(graph, from_node) if from_node is not None else set()
    # A skip is kept only where this graph can skip (an execution of another definition of the workflow
    # may have skipped a node this one always runs); the execution's end counts skips among those nodes only.
    can_skip = skippable_nodes(graph)
    kept = [
        r
        for r in records
        if r.status in REUSABLE_NODE_STATUSES
        and r.node_id in graph.nodes
        and (r.status != "skipped" or r.node_id in can_skip)
    ]
    return [r.model_copy(update={"reused_from": resumed_from}) for r in kept if r.node_id not in rerun]


def resume_request(old: ExecutionRecord, from_node: str | None) -> dict[str, Any]:
    """The StartExecution input of the continuation: same tenant, same workflow (version or file)."""
    workflow: dict[str, Any] = (
        {"workflow_id": old.workflow_id, "version": old.workflow_version}
        if old.workflow_version is not None
        else {"s3_key": old.workflow_key}
    )
    resume_from: dict[str, Any] = {"execution_id": old.execution_id}
    if from_node is not None:
        resume_from["from_node"] = from_node
    return {"tenant_id": old.tenant_id, "workflow": workflow, "resume_from": resume_from}


def resumed_execution_name(tenant_id: str, execution_id: str, attempt_suffix: str) -> str:
    """``<old id>-r<suffix>``, the old id cut so that the tenant's Step Functions name fits."""
    return fitted_execution_id(tenant_id, execution_id, f"-r{attempt_suffix[:12]}")
