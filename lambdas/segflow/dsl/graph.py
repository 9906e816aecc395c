"""The workflow as a graph: adjacency, topological order and node types, built once and shared."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from segflow.dsl.models import EdgeSpec, NodeSpec, WorkflowDefinition
from segflow.nodes.base import NodeType


@dataclass
class WorkflowGraph:
    definition: WorkflowDefinition
    nodes: dict[str, NodeSpec]
    node_types: dict[str, NodeType]
    incoming: dict[str, list[EdgeSpec]]
    outgoing: dict[str, list[EdgeSpec]]
    order: list[str] = field(default_factory=list)  # topological, stable (definition order breaks ties)
    position: dict[str, int] = field(default_factory=dict)
    references: dict[str, set[str]] = field(default_factory=dict)  # node -> node ids its templates read

    @property
    def workflow_id(self) -> str:
        return self.definition.workflow_id

    def sinks(self) -> list[str]:
        return [node_id for node_id in self.order if not self.outgoing[node_id]]


def topological_order(
    node_ids: list[str], outgoing: dict[str, list[EdgeSpec]], incoming: dict[str, list[EdgeSpec]]
) -> tuple[list[str], set[str]]:
    """Kahn's algorithm; returns the order and the nodes left on or behind a cycle."""
    indegree = {node_id: len(incoming[node_id]) for node_id in node_ids}
    ready = deque(node_id for node_id in node_ids if not incoming[node_id])
    order: list[str] = []
    while ready:
        node_id = ready.popleft()
        order.append(node_id)
        for edge in outgoing[node_id]:
            target = edge.target
            indegree[target] -= 1
            if not indegree[target]:
                ready.append(target)
    return order, {node_id for node_id, degree in indegree.items() if degree > 0}


def is_ancestor(graph: WorkflowGraph, ancestor: str, node_id: str) -> bool:
    """Whether ``ancestor`` always finishes before ``node_id`` starts; searches backwards, pruned by order."""
    floor = graph.position[ancestor]
    seen = {node_id}
    stack = [node_id]
    while stack:
        current = stack.pop()
        for edge in graph.incoming[current]:
            source = edge.source
            if source == ancestor:
                return True
            if source not in seen and graph.position[source] > floor:
                seen.add(source)
                stack.append(source)
    return False
