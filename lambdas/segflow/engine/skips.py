"""Which nodes an execution that succeeds may leave skipped: the only ones whose records its end must read.

A node is skipped when none of its incoming edges is taken, and an edge is taken when its source succeeded
and the edge has no condition or the one its source (a judgment) chose
(:func:`segflow.nodes.routing.edge_taken`). In an execution that succeeds every node succeeds or is skipped,
so an edge without a condition from a node that is never skipped is always taken: a node with such an edge,
or without incoming edges, always runs. Every other node may be skipped.
"""

from __future__ import annotations

from segflow.dsl.graph import WorkflowGraph


def skippable_nodes(graph: WorkflowGraph) -> list[str]:
    """The nodes a succeeding execution may skip, in topological order (one pass over the edges)."""
    skippable: set[str] = set()
    for node_id in graph.order:
        incoming = graph.incoming[node_id]
        if incoming and all(edge.condition is not None or edge.source in skippable for edge in incoming):
            skippable.add(node_id)
    return [node_id for node_id in graph.order if node_id in skippable]
